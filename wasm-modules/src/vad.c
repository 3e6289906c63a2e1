/* vad: spectral voice activity detector for interleaved f32 audio at 8-48 kHz (docs/vad.md).
 *
 * Every 20 ms hop, the mono mix's last N samples (N a power of two: 256 up to 16 kHz, else up
 * to 23.5 ms; Hann window) are folded in two (the even bins of their spectrum) and go through a
 * real FFT of N/2, and the power spectrum is averaged in 20 bands from 150 Hz to 8 kHz (those
 * under Nyquist) and over the last two hops. Each band's noise is tracked with minima-controlled
 * recursive averaging (Cohen & Berdugo, 2001): where the smoothed band power is near its minimum
 * over the last second, only noise is there, and the noise estimate follows the band power. Each
 * band's a posteriori SNR and decision-directed a priori SNR give its log likelihood ratio of
 * speech to noise (Sohn, Kim & Sung, 1999); their mean over 20 bands, less its own running mean
 * in noise and the mode's margin, is the hop's evidence, which a two-state hidden Markov model
 * (speech persists, so does silence) turns into a speech probability.
 *
 * A decision frame (window_ms rounded to 10, 20 or 30 ms) is speech when the mean probability of
 * the hops that end in it (with 10 ms, of the hop that ends in it or right after it: the two frames
 * of a hop share it) is at least 0.5 and its level is above min_level_db. Speech starts after
 * min_speech_ms of consecutive speech frames (speech_start at the first one's start) and ends
 * after hangover_ms without one (speech_end at the last one's end). Events go out as JSON on
 * port 1; audio goes out on port 0: every frame as it is, or with gate only speech (from
 * pad_ms before speech_start through the hangover), taken from a ring of recent audio. */
#include <remotemedia.h>
#include <wasm_simd128.h>

#define NBANDS_MAX 20
#define MAX_N 1024      /* largest FFT (48 kHz) */
/* The time constants are per 20 ms hop. */
#define MIN_SUBWIN 4    /* minimum tracking: hops per sub-window ... */
#define MIN_NSUB 12     /* ... and sub-windows (about 1 s) */
#define TRACK_SMOOTH 0.49f
#define NOISE_ALPHA 0.85f
#define PRESENCE_KEEP 0.64f /* the smoothed chance of speech in a band: the last hop's weight */
#define PRESENCE_MIN 1e-6f  /* ... and under this it is 0 */
#define E_SMOOTH 0.5f  /* band power: the last hop's weight in the power the model sees */
#define DELTA 4.0f      /* smoothed power over its minimum below this: noise only */
#define DD_ALPHA 0.85f  /* decision-directed a priori SNR */
#define XI_MIN 0.003f
#define EVIDENCE_SCALE 3.0f  /* mean band log likelihood ratio to log odds ... */
#define TO_SPEECH 0.36f      /* HMM: chance that a silent hop is followed by speech ... */
#define TO_SILENCE 0.19f     /* ... and a speech hop by silence */
#define NOISE_LL -1.0f       /* log odds under which a hop counts as noise for noise_llr, ... */
#define NOISE_LLR_RATE 0.02f /* ... the evidence's running mean in noise */
#define NOISE_LLR_MAX 0.3f
#define INIT_HOPS 10    /* the noise starts as the mean of this many hops */

enum { SILENCE, PENDING, SPEECH };
enum { GROUP_MASKED, GROUP_SINGLE, GROUP_PAIRS };

static const float band_edges[NBANDS_MAX + 1] = {150,  250,  350,  450,  570,  700,  840,  1000, 1170, 1370, 1600,
                                                 1850, 2150, 2500, 2900, 3400, 4000, 4800, 5800, 7000, 8000};

static double window_ms, min_speech_ms, hangover_ms, pad_ms, min_level_db;
static int gate, frame_events;
static float min_level; /* min_level_db as a mean square */
static float margin;    /* the mode's: how far above the noise's own mean the evidence must be */

static uint32_t rate, channels, hop, wlen, min_speech, hangover, pad; /* lengths in frames */
static int state;
static int64_t total, win_start, cand_start, last_speech_end, silence, seg_start;
static int64_t frame_idx, frame_ts, ring_end;
static float *ring;
static uint32_t rcap; /* frames, a power of two */
#define RING_SLOT(i) ((uint32_t)(i) & (rcap - 1)) /* i % rcap without a 64-bit division */
static rm_buf out;

/* analysis state */
static uint32_t n_fft, m_fft, xlen, nbands, hop_fill, hops;
static float *xbuf, *win, *re, *im, *twr, *twi, *rtr, *rti, *power;
static uint16_t *rev;
static uint16_t band_lo[NBANDS_MAX], band_hi[NBANDS_MAX];
/* per band, NBANDS_MAX (a multiple of 4) of each; the bands above Nyquist get power 1 and weight 0
 * (band_valid). On the heap, reached through one pointer: see TOUCH_TOP. */
#define BAND_VECS 4 /* the widest band, 1200 Hz, is 14 bins at 22.05 and 44.1 kHz */
typedef struct {
  /* what every hop reads, first: wasm-opt folds constant offsets below 1024 into the loads */
  float smooth[NBANDS_MAX], minimum[NBANDS_MAX], sub_min[NBANDS_MAX], noise[NBANDS_MAX], prev_clean[NBANDS_MAX];
  float presence[NBANDS_MAX], prev_e[NBANDS_MAX], band_valid[NBANDS_MAX], band_width[NBANDS_MAX];
  uint32_t band_first[NBANDS_MAX]; /* the band's first bin */
  uint32_t group_vecs[NBANDS_MAX / 4]; /* the vectors the widest band of each four needs */
  uint32_t group_kind[NBANDS_MAX / 4];  /* GROUP_*: how the four bands' bins lie */
  float band_inv[NBANDS_MAX];           /* 1 / band_width */
  float band_power[NBANDS_MAX];         /* this hop's smoothed band power, from the first pass to the second */
  float mins[MIN_NSUB][NBANDS_MAX];
  v128_t band_mask[NBANDS_MAX][BAND_VECS]; /* lanes of the BAND_VECS vectors from band_first in the band */
} band_state;
static band_state *bands;
#define HOT_TOP(S) ((const float *)((S)->band_power + NBANDS_MAX) - 4) /* the last vector of what every hop reads */
static uint32_t seen; /* mono samples taken, up to n_fft */
static uint32_t sub_count, sub_idx;
static float noise_llr;
static float ll;
/* the decision frame being filled: samples in, sum of squares, hop probabilities ending in it; and
 * one complete frame that no hop ended in yet (window_ms 10), waiting for the next hop's */
static uint32_t frame_fill, frame_hops, pending;
static double frame_level, frame_prob, pending_level, last_prob;
static int64_t pending_start;

int rm_node_init(const rm_params *p) {
  window_ms = rm_param_number(p, "window_ms", 10);
  min_speech_ms = rm_param_number(p, "min_speech_ms", 60);
  hangover_ms = rm_param_number(p, "hangover_ms", 200);
  pad_ms = rm_param_number(p, "pad_ms", 30);
  min_level_db = rm_param_number(p, "min_level_db", -60);
  double mode = rm_param_number(p, "mode", 1);
  min_level = (float)rm_exp(min_level_db * 0.2302585093); /* 10^(dB/10) */
  gate = rm_param_bool(p, "gate", 1);
  frame_events = rm_param_bool(p, "frame_events", 0);
  if (window_ms < 10 || window_ms > 30) return rm_fail("vad: param window_ms must be 10 to 30 (it is rounded to 10, 20 or 30)");
  if (mode != 0 && mode != 1 && mode != 2 && mode != 3) return rm_fail("vad: param mode must be 0, 1, 2 or 3");
  if (min_speech_ms < 0 || hangover_ms < 0 || pad_ms < 0)
    return rm_fail("vad: min_speech_ms, hangover_ms and pad_ms must be >= 0");
  static const float margins[4] = {0.12f, 0.22f, 0.3f, 0.4f};
  margin = margins[(int)mode];
  return 0;
}

/* ---- fast math ---- */

/* Natural log to about 1e-4 relative, for x > 0. */
static inline float fast_ln(float x) {
  union { float f; uint32_t u; } v = {x};
  float e = (float)((int32_t)(v.u >> 23) - 127);
  v.u = (v.u & 0x007fffff) | 0x3f800000; /* mantissa in [1, 2) */
  float m = v.f;
  if (m > 1.41421356f) m *= 0.5f, e += 1;
  float s = (m - 1) / (m + 1), s2 = s * s;
  return 2 * s * (1 + s2 * (0.33333333f + s2 * (0.2f + s2 * 0.14285714f))) + e * 0.69314718f;
}

/* e^x to about 1e-5 relative, for |x| <= 80. */
static inline float fast_exp(float x) {
  float t = x * 1.44269504f, k = __builtin_floorf(t), f = t - k; /* 2^k * 2^f, f in [0, 1) */
  float p = 1 + f * (0.69314718f + f * (0.24022651f + f * (0.05550411f + f * (0.00961813f + f * 0.00133336f))));
  union { float f; uint32_t u; } v = {p};
  v.u += (uint32_t)((int32_t)k << 23);
  return v.f;
}

/* fast_ln of four values, to about 1.2e-5 absolute, without a division: the exponent, and ln of the
 * mantissa m in [1, 2) as a degree-5 polynomial in m - 1 (least squares on Chebyshev nodes). */
static inline v128_t fast_ln4(v128_t x) {
  v128_t e = wasm_f32x4_convert_i32x4(wasm_i32x4_sub(wasm_u32x4_shr(x, 23), wasm_i32x4_splat(127)));
  v128_t t = wasm_f32x4_sub(wasm_v128_or(wasm_v128_and(x, wasm_i32x4_splat(0x007fffff)), wasm_i32x4_splat(0x3f800000)),
                            wasm_f32x4_splat(1));
  v128_t p = wasm_f32x4_add(wasm_f32x4_splat(-0.134135433f), wasm_f32x4_mul(t, wasm_f32x4_splat(0.0313775894f)));
  p = wasm_f32x4_add(wasm_f32x4_splat(0.287826289f), wasm_f32x4_mul(t, p));
  p = wasm_f32x4_add(wasm_f32x4_splat(-0.491347927f), wasm_f32x4_mul(t, p));
  p = wasm_f32x4_add(wasm_f32x4_splat(0.999434984f), wasm_f32x4_mul(t, p));
  return wasm_f32x4_add(wasm_f32x4_mul(t, p), wasm_f32x4_mul(e, wasm_f32x4_splat(0.69314718f)));
}

/* In wazero's code a load or store checks its bounds unless an earlier one from the same base address
 * reached as far (in the same basic block or in every block before it, loops aside): touching a base's
 * highest vector first leaves the other accesses from it unchecked. The empty asm keeps the compiler from
 * moving the touch after them. */
#define TOUCH_TOP(p)                                                                                                   \
  do {                                                                                                                 \
    v128_t top_ = wasm_v128_load(p);                                                                                   \
    __asm__ volatile("" : : "r"(top_) : "memory");                                                                     \
  } while (0)

static float sigmoid(float x) { return 1 / (1 + fast_exp(x < -80 ? 80 : x > 80 ? -80 : -x)); }

/* ---- setup ---- */

static void free_analysis(void) {
  rm_free(xbuf), rm_free(win), rm_free(re), rm_free(im), rm_free(twr), rm_free(twi), rm_free(rtr), rm_free(rti);
  rm_free(power), rm_free(rev), rm_free(bands);
  xbuf = win = re = im = twr = twi = rtr = rti = power = 0, rev = 0, bands = 0;
}

static int setup_analysis(void) {
  free_analysis();
  hop = 2 * (rate / 100); /* 20 ms: two decision frames of 10 ms at any rate */
  n_fft = 256; /* 32 ms at 8 kHz; at higher rates the power of two up to 23.5 ms (1024 at 44.1-48 kHz) */
  while (n_fft * 2 <= MAX_N && n_fft * 2 <= (uint32_t)(rate * 0.0235)) n_fft *= 2;
  m_fft = n_fft / 4; /* the window folded to n_fft / 2 real samples: m_fft complex */
  xlen = n_fft > hop ? n_fft : hop; /* the hop is at xbuf's end, the FFT's input the last n_fft */
  xbuf = rm_alloc(xlen * 4), win = rm_alloc(n_fft * 4);
  re = rm_alloc(m_fft * 4), im = rm_alloc(m_fft * 4);
  twr = rm_alloc(m_fft * 4), twi = rm_alloc(m_fft * 4); /* per stage, stage tables back to back */
  rtr = rm_alloc(m_fft * 4), rti = rm_alloc(m_fft * 4); /* the real-FFT split twiddles */
  power = rm_alloc(m_fft * 4 + 64); /* + the band sums' loads past the last bin */
  rev = rm_alloc(m_fft * 2), bands = rm_alloc(sizeof(band_state));
  if (!xbuf || !win || !re || !im || !twr || !twi || !rtr || !rti || !power || !rev || !bands) return rm_fail("vad: out of memory");
  band_state *const S = bands;
  const double pi = 3.141592653589793;
  /* The tables are made once per stream: not vectorized, because clang's f64x2 code here
   * includes f64x2.neg, which wazero compiles to an x86 encoding (cmppd predicate 8) that
   * valgrind cannot decode, and the instruction counts of make bench run under valgrind. */
#pragma clang loop vectorize(disable) interleave(disable)
  for (uint32_t i = 0; i < xlen; i++) xbuf[i] = 0;
#pragma clang loop vectorize(disable) interleave(disable)
  for (uint32_t i = 0; i < n_fft; i++) {
    win[i] = (float)(0.5 - 0.5 * rm_sin(2 * pi * i / n_fft + pi / 2)); /* Hann: 0.5 - 0.5 cos */
  }
  uint32_t bits = 0;
  while ((1u << bits) < m_fft) bits++;
  for (uint32_t i = 0; i < m_fft; i++) {
    uint32_t r = 0;
    for (uint32_t b = 0; b < bits; b++)
      if (i & (1u << b)) r |= 1u << (bits - 1 - b);
    rev[i] = (uint16_t)r;
  }
  uint32_t off = 0;
  for (uint32_t half = 1; half < m_fft; half *= 2)
#pragma clang loop vectorize(disable) interleave(disable)
    for (uint32_t j = 0; j < half; j++, off++) {
      double a = -pi * j / half;
      twr[off] = (float)rm_sin(a + pi / 2), twi[off] = (float)rm_sin(a);
    }
#pragma clang loop vectorize(disable) interleave(disable)
  for (uint32_t k = 0; k < m_fft; k++) {
    double a = -4 * pi * k / n_fft;
    rtr[k] = (float)rm_sin(a + pi / 2), rti[k] = (float)rm_sin(a);
  }
  nbands = 0;
  double bin_hz = 2.0 * rate / n_fft;
  for (uint32_t b = 0; b < NBANDS_MAX && band_edges[b + 1] <= rate / 2.0; b++) {
    uint32_t lo = (uint32_t)(band_edges[b] / bin_hz + 0.5), hi = (uint32_t)(band_edges[b + 1] / bin_hz + 0.5);
    if (hi > m_fft) hi = m_fft;
    if (hi <= lo) continue;
    band_lo[nbands] = (uint16_t)lo, band_hi[nbands] = (uint16_t)hi, nbands++;
  }
  for (uint32_t b = 0; b < NBANDS_MAX; b++) {
    uint32_t width = b < nbands ? band_hi[b] - band_lo[b] : 0;
    if (width > 4 * BAND_VECS) return rm_fail("vad: a band is wider than BAND_VECS vectors");
    S->band_valid[b] = b < nbands, S->band_width[b] = width ? (float)width : 1, S->band_first[b] = b < nbands ? band_lo[b] : 0;
    for (uint32_t i = 0; i < 4 * BAND_VECS; i++) ((int32_t *)S->band_mask[b])[i] = i < width ? -1 : 0;
    S->band_inv[b] = 1 / S->band_width[b];
    if (b % 4 == 0) S->group_vecs[b / 4] = 1;
    if ((width + 3) / 4 > S->group_vecs[b / 4]) S->group_vecs[b / 4] = (width + 3) / 4;
  }
  for (uint32_t g = 0; g < NBANDS_MAX / 4; g++) { /* four bands of one bin each, or of two, side by side */
    uint32_t b = 4 * g, single = 1, pairs = 1;
    for (uint32_t l = 0; l < 4; l++) {
      uint32_t w = b + l < nbands ? band_hi[b + l] - band_lo[b + l] : 0;
      single &= w == 1 && band_lo[b + l] == band_lo[b] + l;
      pairs &= w == 2 && band_lo[b + l] == band_lo[b] + 2 * l;
    }
    S->group_kind[g] = single ? GROUP_SINGLE : pairs ? GROUP_PAIRS : GROUP_MASKED;
  }
  noise_llr = 0.05f, seen = 0, hop_fill = 0, hops = 0, ll = 0, last_prob = 0;
  frame_fill = frame_hops = pending = 0, frame_level = frame_prob = 0;
  sub_count = 0, sub_idx = 0;
  return 0;
}

static int reset(uint32_t r, uint32_t ch) {
  rate = r, channels = ch;
  if (setup_analysis()) return 1;
  wlen = rate / 100 * (uint32_t)(window_ms / 10 + 0.5);
  min_speech = (uint32_t)(min_speech_ms * r / 1000 + 0.5);
  hangover = (uint32_t)(hangover_ms * r / 1000 + 0.5);
  pad = (uint32_t)(pad_ms * r / 1000 + 0.5);
  state = SILENCE;
  total = win_start = cand_start = last_speech_end = silence = seg_start = 0;
  rm_free(ring);
  ring = 0, rcap = 0;
  return 0;
}

/* ---- FFT ---- */

/* The low halves of a and b, and their high halves: i32x4 shuffles (0, 1, 4, 5) and (2, 3, 6, 7) as an
 * extract and a replace of a 64-bit lane. wazero compiles any shuffle to two pshufb, their masks' loads and a
 * por (seven x86 instructions); these are two. The empty asm keeps clang from folding them back into a shuffle. */
static inline v128_t lo_halves(v128_t a, v128_t b) {
  int64_t h = wasm_i64x2_extract_lane(b, 0);
  __asm__("" : "+r"(h));
  return wasm_i64x2_replace_lane(a, 1, h);
}
static inline v128_t hi_halves(v128_t a, v128_t b) {
  int64_t h = wasm_i64x2_extract_lane(a, 1);
  __asm__("" : "+r"(h));
  return wasm_i64x2_replace_lane(b, 0, h);
}

/* For fft_first_stages and spectrum64: the window, the fold and the first two stages for z[n .. n+3]
 * of each quarter (q apart), transposed: r/i[l] are the four values at rev[n + l]. The quarters are
 * loaded from the top down, so that wazero checks the lower loads against the first. */
static inline __attribute__((always_inline)) void pack4(const float *x, const float *w, uint32_t fold, uint32_t n,
                                                        uint32_t q, v128_t r[4], v128_t i[4]) {
  v128_t zr[4], zi[4];
#pragma clang loop unroll(full)
  for (int32_t k = 3; k >= 0; k--) {
    const uint32_t at = 2 * (n + (uint32_t)k * q);
    v128_t xb4 = wasm_v128_load(x + fold + at + 4), xa4 = wasm_v128_load(x + at + 4);
    v128_t xb = wasm_v128_load(x + fold + at), xa = wasm_v128_load(x + at);
    /* Hann: w[j + N/2] = 1 - w[j], so x[j] w[j] + x[j + N/2] w[j + N/2] = x[j + N/2] + w[j] (x[j] - x[j + N/2]) */
    v128_t b = wasm_f32x4_add(xb4, wasm_f32x4_mul(wasm_v128_load(w + at + 4), wasm_f32x4_sub(xa4, xb4)));
    v128_t a = wasm_f32x4_add(xb, wasm_f32x4_mul(wasm_v128_load(w + at), wasm_f32x4_sub(xa, xb)));
    zr[k] = wasm_i32x4_shuffle(a, b, 0, 2, 4, 6), zi[k] = wasm_i32x4_shuffle(a, b, 1, 3, 5, 7);
  }
  v128_t a0r = wasm_f32x4_add(zr[0], zr[2]), a0i = wasm_f32x4_add(zi[0], zi[2]);
  v128_t a1r = wasm_f32x4_sub(zr[0], zr[2]), a1i = wasm_f32x4_sub(zi[0], zi[2]);
  v128_t a2r = wasm_f32x4_add(zr[1], zr[3]), a2i = wasm_f32x4_add(zi[1], zi[3]);
  v128_t a3r = wasm_f32x4_sub(zr[1], zr[3]), a3i = wasm_f32x4_sub(zi[1], zi[3]);
  v128_t o0r = wasm_f32x4_add(a0r, a2r), o0i = wasm_f32x4_add(a0i, a2i);
  v128_t o2r = wasm_f32x4_sub(a0r, a2r), o2i = wasm_f32x4_sub(a0i, a2i);
  v128_t o1r = wasm_f32x4_add(a1r, a3i), o1i = wasm_f32x4_sub(a1i, a3r); /* a1 - i a3 */
  v128_t o3r = wasm_f32x4_sub(a1r, a3i), o3i = wasm_f32x4_add(a1i, a3r); /* a1 + i a3 */
  /* transpose: lane l of o0..o3 becomes the four values at rev[n + l] */
  v128_t t0 = wasm_i32x4_shuffle(o0r, o1r, 0, 4, 1, 5), t1 = wasm_i32x4_shuffle(o2r, o3r, 0, 4, 1, 5);
  v128_t t2 = wasm_i32x4_shuffle(o0r, o1r, 2, 6, 3, 7), t3 = wasm_i32x4_shuffle(o2r, o3r, 2, 6, 3, 7);
  v128_t u0 = wasm_i32x4_shuffle(o0i, o1i, 0, 4, 1, 5), u1 = wasm_i32x4_shuffle(o2i, o3i, 0, 4, 1, 5);
  v128_t u2 = wasm_i32x4_shuffle(o0i, o1i, 2, 6, 3, 7), u3 = wasm_i32x4_shuffle(o2i, o3i, 2, 6, 3, 7);
  r[0] = lo_halves(t0, t1), i[0] = lo_halves(u0, u1);
  r[1] = hi_halves(t0, t1), i[1] = hi_halves(u0, u1);
  r[2] = lo_halves(t2, t3), i[2] = lo_halves(u2, u3);
  r[3] = hi_halves(t2, t3), i[3] = hi_halves(u2, u3);
}

/* The FFT's first two radix-2 stages, fused with the window, the fold and the bit-reversed packing:
 * with y[j] = x[j] w[j] + x[j + N/2] w[j + N/2] the windowed samples folded in two (a real FFT of y
 * is the windowed spectrum's even bins), the m_fft complex values z[n] = y[2n] + i y[2n+1] go to
 * re/im in bit-reversed order,
 * where the first two stages combine z[n], z[n+M/4], z[n+M/2], z[n+3M/4] (for n < M/4) into the
 * four values at rev[n]. Four n at a time: one radix-4 butterfly per lane, then a 4x4 transpose
 * so that each lane's four results are one v128 store. (wazero checks the bounds of every load
 * and store, so the fewer, the faster: this is about 200 of them where the scalar packing and
 * two scalar stages took about 1,900.) */
static void fft_first_stages(void) {
  const uint32_t q = m_fft / 4, fold = n_fft / 2;
  const float *x = xbuf + xlen - n_fft, *w = win;
  for (uint32_t n = 0; n < q; n += 4) {
    v128_t r[4], i[4];
    pack4(x, w, fold, n, q, r, i);
    uint32_t p0 = rev[n], p1 = rev[n + 1], p2 = rev[n + 2], p3 = rev[n + 3];
    wasm_v128_store(re + p0, r[0]), wasm_v128_store(im + p0, i[0]);
    wasm_v128_store(re + p1, r[1]), wasm_v128_store(im + p1, i[1]);
    wasm_v128_store(re + p2, r[2]), wasm_v128_store(im + p2, i[2]);
    wasm_v128_store(re + p3, r[3]), wasm_v128_store(im + p3, i[3]);
  }
}

/* One radix-2 stage of butterflies of span half (>= 4), twiddles at wr/wi. */
static void fft_stage2(uint32_t half, const float *wr, const float *wi) {
  for (uint32_t i = 0; i < m_fft; i += 2 * half) {
    float *ar = re + i, *ai = im + i, *br = re + i + half, *bi = im + i + half;
    for (uint32_t j = 0; j < half; j += 4) {
      v128_t xr = wasm_v128_load(br + j), xi = wasm_v128_load(bi + j);
      v128_t cr = wasm_v128_load(wr + j), ci = wasm_v128_load(wi + j);
      v128_t tr = wasm_f32x4_sub(wasm_f32x4_mul(xr, cr), wasm_f32x4_mul(xi, ci));
      v128_t ti = wasm_f32x4_add(wasm_f32x4_mul(xr, ci), wasm_f32x4_mul(xi, cr));
      v128_t yr = wasm_v128_load(ar + j), yi = wasm_v128_load(ai + j);
      wasm_v128_store(ar + j, wasm_f32x4_add(yr, tr));
      wasm_v128_store(ai + j, wasm_f32x4_add(yi, ti));
      wasm_v128_store(br + j, wasm_f32x4_sub(yr, tr));
      wasm_v128_store(bi + j, wasm_f32x4_sub(yi, ti));
    }
  }
}

/* The radix-4 butterfly on x[0..3] (real r, imaginary i), in place: a radix-2 stage on (x0, x1)
 * and (x2, x3) with twiddle u, then (x0, x2) with v and (x1, x3) with -i v. */
static inline __attribute__((always_inline)) void radix4(v128_t r[4], v128_t i[4], v128_t ur, v128_t ui, v128_t vr,
                                                         v128_t vi) {
  v128_t tr = wasm_f32x4_sub(wasm_f32x4_mul(r[1], ur), wasm_f32x4_mul(i[1], ui));
  v128_t ti = wasm_f32x4_add(wasm_f32x4_mul(r[1], ui), wasm_f32x4_mul(i[1], ur));
  v128_t sr = wasm_f32x4_sub(wasm_f32x4_mul(r[3], ur), wasm_f32x4_mul(i[3], ui));
  v128_t si = wasm_f32x4_add(wasm_f32x4_mul(r[3], ui), wasm_f32x4_mul(i[3], ur));
  v128_t a1r = wasm_f32x4_add(r[0], tr), a1i = wasm_f32x4_add(i[0], ti);
  v128_t b1r = wasm_f32x4_sub(r[0], tr), b1i = wasm_f32x4_sub(i[0], ti);
  v128_t c1r = wasm_f32x4_add(r[2], sr), c1i = wasm_f32x4_add(i[2], si);
  v128_t d1r = wasm_f32x4_sub(r[2], sr), d1i = wasm_f32x4_sub(i[2], si);
  tr = wasm_f32x4_sub(wasm_f32x4_mul(c1r, vr), wasm_f32x4_mul(c1i, vi));
  ti = wasm_f32x4_add(wasm_f32x4_mul(c1r, vi), wasm_f32x4_mul(c1i, vr));
  sr = wasm_f32x4_sub(wasm_f32x4_mul(d1r, vr), wasm_f32x4_mul(d1i, vi));
  si = wasm_f32x4_add(wasm_f32x4_mul(d1r, vi), wasm_f32x4_mul(d1i, vr)); /* -i (sr + i si) = si - i sr */
  r[3] = wasm_f32x4_sub(b1r, si), i[3] = wasm_f32x4_add(b1i, sr);
  r[2] = wasm_f32x4_sub(a1r, tr), i[2] = wasm_f32x4_sub(a1i, ti);
  r[1] = wasm_f32x4_add(b1r, si), i[1] = wasm_f32x4_sub(b1i, sr);
  r[0] = wasm_f32x4_add(a1r, tr), i[0] = wasm_f32x4_add(a1i, ti);
}

/* Two radix-2 stages, of span half and 2 half, in one pass (a radix-4 butterfly per lane):
 * half the loads and stores of two passes. The second stage's twiddle at j + half is -i times
 * the one at j. */
static void fft_stage4(uint32_t half, const float *w1r, const float *w1i, const float *w2r, const float *w2i) {
  float *const re0 = re, *const im0 = im;
  const uint32_t m = m_fft;
  for (uint32_t j = 0; j < half; j += 4) { /* the twiddles once per j, for every block */
    const v128_t ur = wasm_v128_load(w1r + j), ui = wasm_v128_load(w1i + j);
    const v128_t vr = wasm_v128_load(w2r + j), vi = wasm_v128_load(w2i + j);
    for (uint32_t i = j; i < m; i += 4 * half) {
      float *pr = re0 + i, *pi = im0 + i;
      v128_t r[4], q[4];
      for (uint32_t k = 4; k-- > 0;) /* the top first: wazero checks the rest against it */
        r[k] = wasm_v128_load(pr + k * half), q[k] = wasm_v128_load(pi + k * half);
      radix4(r, q, ur, ui, vr, vi);
      for (uint32_t k = 4; k-- > 0;)
        wasm_v128_store(pr + k * half, r[k]), wasm_v128_store(pi + k * half, q[k]);
    }
  }
}

/* The FFT of the folded window: m_fft complex values (y's even and odd samples),
 * radix-2 decimation in time, stages paired into radix-4 passes; the result in re/im in
 * natural order. */
static void fft(void) {
  fft_first_stages();
  uint32_t off = 3; /* stage tables of half 1 and 2 */
  uint32_t half = 4;
  for (; 2 * half < m_fft; off += 3 * half, half *= 4)
    fft_stage4(half, twr + off, twi + off, twr + off + half, twi + off + half);
  if (half < m_fft) fft_stage2(half, twr + off, twi + off);
}

/* The FFT and the power spectrum for m_fft 64 (8 and 16 kHz), the 32 vectors of the FFT held in
 * locals: in wazero's code a load or store of linear memory checks its bounds (several x86
 * instructions) where a spilled local costs one, so fft() and the split, which go through re/im,
 * took 6.0k x86 instructions per hop at 16 kHz where this takes 2.9k (docs/vad.md). The same
 * arithmetic as fft_first_stages, fft_stage4 and the split in spectrum, with constant indices. */
#define V64 16 /* vectors of the 64-point FFT */

/* radix4 on the vectors a, a + s, a + 2s, a + 3s of R and I. */
static inline void bfly4(v128_t *R, v128_t *I, uint32_t a, uint32_t s, v128_t ur, v128_t ui, v128_t vr, v128_t vi) {
  v128_t r[4] = {R[a], R[a + s], R[a + 2 * s], R[a + 3 * s]}, q[4] = {I[a], I[a + s], I[a + 2 * s], I[a + 3 * s]};
  radix4(r, q, ur, ui, vr, vi);
  for (uint32_t k = 4; k-- > 0;)
    R[a + k * s] = r[k], I[a + k * s] = q[k];
}

/* 6-bit reversal, folded by the compiler where n is constant. */
static inline uint32_t rev6(uint32_t n) {
  return (n & 1) << 5 | (n & 2) << 3 | (n & 4) << 1 | (n & 8) >> 1 | (n & 16) >> 3 | (n & 32) >> 5;
}

/* The power spectrum of the folded window into power[0 .. 64] (bin 64 is past the end: power has room). */
static void spectrum64(void) {
  v128_t R[V64], I[V64];
  const float *x = xbuf + xlen - n_fft, *w = win, *wr1 = twr, *wi1 = twi, *wr2 = rtr, *wi2 = rti;
  float *P = power;
  TOUCH_TOP(x + 252);
  TOUCH_TOP(w + 124);
  TOUCH_TOP(wr1 + 43);
  TOUCH_TOP(wi1 + 43);
  TOUCH_TOP(wr2 + 32);
  TOUCH_TOP(wi2 + 32);
  TOUCH_TOP(P + 61);
  /* window, fold, packing and the first two stages, as fft_first_stages */
#pragma clang loop unroll(full)
  for (int32_t n = 12; n >= 0; n -= 4) {
    v128_t r[4], i[4];
    pack4(x, w, 128, (uint32_t)n, 16, r, i);
    const uint32_t p = rev6((uint32_t)n) / 4; /* rev(n + 1) = rev(n) + 32, rev(n + 2) = rev(n) + 16, rev(n + 3) = rev(n) + 48 */
    R[p] = r[0], I[p] = i[0];
    R[p + 8] = r[1], I[p + 8] = i[1];
    R[p + 4] = r[2], I[p + 4] = i[2];
    R[p + 12] = r[3], I[p + 12] = i[3];
  }
  /* stages of half 4 and 8 (tables at 3 and 7), then 16 and 32 (at 15 and 31) */
  {
    const v128_t vr = wasm_v128_load(wr1 + 7), vi = wasm_v128_load(wi1 + 7);
    const v128_t ur = wasm_v128_load(wr1 + 3), ui = wasm_v128_load(wi1 + 3);
#pragma clang loop unroll(full)
    for (uint32_t a = 0; a < V64; a += 4) bfly4(R, I, a, 1, ur, ui, vr, vi);
  }
#pragma clang loop unroll(full)
  for (int32_t j = 3; j >= 0; j--) {
    v128_t vr = wasm_v128_load(wr1 + 31 + 4 * j), vi = wasm_v128_load(wi1 + 31 + 4 * j);
    bfly4(R, I, (uint32_t)j, 4, wasm_v128_load(wr1 + 15 + 4 * j), wasm_v128_load(wi1 + 15 + 4 * j), vr, vi);
  }
  /* split, as in spectrum, for k = 0, 4, .. 32: Z[M-k] .. Z[M-k-3] from two vectors (Z[64] is Z[0]) */
#pragma clang loop unroll(full)
  for (int32_t vv = 8; vv >= 0; vv--) {
    const uint32_t v = (uint32_t)vv, k = 4 * v;
    v128_t cr = wasm_i32x4_shuffle(R[(16 - v) % 16], R[15 - v], 0, 7, 6, 5);
    v128_t ci = wasm_i32x4_shuffle(I[(16 - v) % 16], I[15 - v], 0, 7, 6, 5);
    v128_t zr = R[v], zi = I[v], wr = wasm_v128_load(wr2 + k), wi = wasm_v128_load(wi2 + k);
    v128_t er = wasm_f32x4_add(zr, cr), ei = wasm_f32x4_sub(zi, ci);
    v128_t or_ = wasm_f32x4_add(zi, ci), oi = wasm_f32x4_sub(cr, zr);
    v128_t tr = wasm_f32x4_sub(wasm_f32x4_mul(wr, or_), wasm_f32x4_mul(wi, oi));
    v128_t ti = wasm_f32x4_add(wasm_f32x4_mul(wr, oi), wasm_f32x4_mul(wi, or_));
    v128_t pr = wasm_f32x4_add(er, tr), pi = wasm_f32x4_add(ei, ti), mr = wasm_f32x4_sub(er, tr), mi = wasm_f32x4_sub(ei, ti);
    v128_t pm = wasm_f32x4_add(wasm_f32x4_mul(mr, mr), wasm_f32x4_mul(mi, mi));
    wasm_v128_store(P + k, wasm_f32x4_add(wasm_f32x4_mul(pr, pr), wasm_f32x4_mul(pi, pi)));
    wasm_v128_store(P + (61 - k), wasm_i32x4_shuffle(pm, pm, 3, 2, 1, 0));
  }
}

/* The power spectrum of the folded window into power[] for any m_fft: fft(), then the split into the real
 * FFT's power spectrum: with Z the half-size complex FFT, E = (Z[k] + conj Z[M-k]) / 2,
 * O = (Z[k] - conj Z[M-k]) / 2i and T = W^k O, X[k] = E + T and X[M-k] = conj(E - T); four k at a time
 * (from 1 to M/2, which also gives the bins from M/2 to M-1), the mirrored lanes reversed. Through
 * locals, as a store to linear memory would otherwise make clang load the globals again. */
__attribute__((noinline)) static void spectrum(void) {
  fft();
  const float *R = re, *I = im, *WR = rtr, *WI = rti;
  float *P = power;
  const uint32_t M = m_fft, kend = band_hi[nbands - 1];
#pragma clang loop unroll_count(4) /* wazero: a loop pass costs about as much as its body here */
  for (uint32_t k = 1; k < kend && k <= M / 2; k += 4) {
    const float *cre = R + (M - k - 3), *cim = I + (M - k - 3); /* bins M-k-3 .. M-k */
    v128_t cr = wasm_v128_load(cre), ci = wasm_v128_load(cim);
    cr = wasm_i32x4_shuffle(cr, cr, 3, 2, 1, 0), ci = wasm_i32x4_shuffle(ci, ci, 3, 2, 1, 0); /* lanes k.. of Z[M-k] */
    v128_t zr = wasm_v128_load(R + k), zi = wasm_v128_load(I + k);
    v128_t wr = wasm_v128_load(WR + k), wi = wasm_v128_load(WI + k);
    v128_t er = wasm_f32x4_add(zr, cr), ei = wasm_f32x4_sub(zi, ci); /* 2E */
    v128_t or_ = wasm_f32x4_add(zi, ci), oi = wasm_f32x4_sub(cr, zr); /* 2O */
    v128_t tr = wasm_f32x4_sub(wasm_f32x4_mul(wr, or_), wasm_f32x4_mul(wi, oi)); /* 2T */
    v128_t ti = wasm_f32x4_add(wasm_f32x4_mul(wr, oi), wasm_f32x4_mul(wi, or_));
    v128_t pr = wasm_f32x4_add(er, tr), pi = wasm_f32x4_add(ei, ti), mr = wasm_f32x4_sub(er, tr), mi = wasm_f32x4_sub(ei, ti);
    v128_t pm = wasm_f32x4_add(wasm_f32x4_mul(mr, mr), wasm_f32x4_mul(mi, mi));
    wasm_v128_store(P + k, wasm_f32x4_add(wasm_f32x4_mul(pr, pr), wasm_f32x4_mul(pi, pi)));
    wasm_v128_store(P + (M - k - 3), wasm_i32x4_shuffle(pm, pm, 3, 2, 1, 0));
  }
}

/* ---- per hop analysis ---- */

/* The power sums of bands b .. b+3. Four bands of one bin each side by side are one load, of two bins
 * each two loads and a pairwise add (at 16 kHz the first eight bands are single bins, the next four
 * pairs); otherwise each band's bins are masked vectors from its first bin (power has room), as many
 * as the group's widest band needs, summed and transposed. */
static inline v128_t band_sums(const band_state *S, const float *P, uint32_t b) {
  const float *p0 = P + S->band_first[b];
  switch (S->group_kind[b / 4]) {
  case GROUP_SINGLE: return wasm_v128_load(p0);
  case GROUP_PAIRS: {
    v128_t lo = wasm_v128_load(p0), hi = wasm_v128_load(p0 + 4);
    return wasm_f32x4_add(wasm_i32x4_shuffle(lo, hi, 0, 2, 4, 6), wasm_i32x4_shuffle(lo, hi, 1, 3, 5, 7));
  }
  }
  v128_t acc[4];
  const v128_t *mask = S->band_mask[b];
  const uint32_t vecs = S->group_vecs[b / 4];
  TOUCH_TOP((const float *)(mask + 4 * BAND_VECS - 1));
#pragma clang loop unroll(full)
  for (uint32_t l = 0; l < 4; l++) {
    const float *p = P + S->band_first[b + l];
    const v128_t *m = mask + l * BAND_VECS;
    v128_t a = wasm_f32x4_splat(0);
    switch (vecs) { /* the highest load first */
    case 4: a = wasm_v128_and(wasm_v128_load(p + 12), m[3]); /* fall through */
    case 3: a = wasm_f32x4_add(a, wasm_v128_and(wasm_v128_load(p + 8), m[2])); /* fall through */
    case 2: a = wasm_f32x4_add(a, wasm_v128_and(wasm_v128_load(p + 4), m[1])); /* fall through */
    default: a = wasm_f32x4_add(a, wasm_v128_and(wasm_v128_load(p), m[0]));
    }
    acc[l] = a;
  }
  v128_t t0 = wasm_f32x4_add(wasm_i32x4_shuffle(acc[0], acc[1], 0, 4, 1, 5), wasm_i32x4_shuffle(acc[0], acc[1], 2, 6, 3, 7));
  v128_t t1 = wasm_f32x4_add(wasm_i32x4_shuffle(acc[2], acc[3], 0, 4, 1, 5), wasm_i32x4_shuffle(acc[2], acc[3], 2, 6, 3, 7));
  return wasm_f32x4_add(lo_halves(t0, t1), hi_halves(t0, t1));
}

/* Returns the speech probability of the hop that just filled xbuf's end. */
static float analyse(void) {
  band_state *const S = bands;
  const float *P = power;
  if (m_fft == 64) spectrum64();
  else spectrum();
  /* four bands at a time: their mean power, then the noise per band, minima-controlled recursive averaging,
   * started with the mean of the first INIT_HOPS (the bands above Nyquist have power 1 and no say in llr).
   * A loop, not unrolled: this call runs once per frame, and five unrolled passes made the machine code of
   * the whole call too large for the CPU's instruction cache, so it came from L2 each frame (docs/vad.md). */
  v128_t llr4 = wasm_f32x4_splat(0);
  TOUCH_TOP(HOT_TOP(S));
#pragma clang loop unroll(disable)
  for (uint32_t b = 0; b < NBANDS_MAX; b += 4) {
    v128_t e = wasm_f32x4_add(wasm_f32x4_mul(band_sums(S, P, b), wasm_v128_load(S->band_inv + b)), wasm_f32x4_splat(1e-10f));
    e = wasm_v128_bitselect(e, wasm_f32x4_splat(1), wasm_f32x4_ne(wasm_v128_load(S->band_valid + b), wasm_f32x4_splat(0)));
    v128_t nz = wasm_v128_load(S->noise + b);
    { /* the power over two hops (one folded window is a noisy estimate) */
      v128_t pe = hops ? wasm_v128_load(S->prev_e + b) : e;
      wasm_v128_store(S->prev_e + b, e);
      e = wasm_f32x4_add(wasm_f32x4_mul(wasm_f32x4_splat(1 - E_SMOOTH), e), wasm_f32x4_mul(wasm_f32x4_splat(E_SMOOTH), pe));
    }
    if (hops < INIT_HOPS) {
      if (!hops) {
        wasm_v128_store(S->prev_clean + b, wasm_f32x4_splat(0)), wasm_v128_store(S->presence + b, wasm_f32x4_splat(0));
        nz = wasm_f32x4_splat(0);
      }
      nz = wasm_f32x4_add(nz, wasm_f32x4_div(wasm_f32x4_sub(e, nz), wasm_f32x4_splat((float)(hops + 1))));
      wasm_v128_store(S->smooth + b, nz), wasm_v128_store(S->minimum + b, nz), wasm_v128_store(S->sub_min + b, nz);
      for (uint32_t s = 0; s < MIN_NSUB; s++) wasm_v128_store(S->mins[s] + b, nz);
    } else {
      v128_t sm = wasm_f32x4_add(wasm_f32x4_mul(wasm_f32x4_splat(TRACK_SMOOTH), wasm_v128_load(S->smooth + b)),
                                 wasm_f32x4_mul(wasm_f32x4_splat(1 - TRACK_SMOOTH), e));
      v128_t mn = wasm_f32x4_pmin(wasm_v128_load(S->minimum + b), sm);
      wasm_v128_store(S->smooth + b, sm);
      wasm_v128_store(S->sub_min + b, wasm_f32x4_pmin(wasm_v128_load(S->sub_min + b), sm));
      wasm_v128_store(S->minimum + b, mn);
      v128_t present = wasm_v128_and(wasm_f32x4_gt(sm, wasm_f32x4_mul(wasm_f32x4_splat(DELTA), mn)), wasm_f32x4_splat(1));
      v128_t pr = wasm_f32x4_add(wasm_f32x4_mul(wasm_f32x4_splat(PRESENCE_KEEP), wasm_v128_load(S->presence + b)),
                                 wasm_f32x4_mul(wasm_f32x4_splat(1 - PRESENCE_KEEP), present));
      /* to 0 under PRESENCE_MIN: decaying on in noise it would become subnormal after about 200 hops, and
       * arithmetic on subnormals is many times slower (WebAssembly has no flush to zero) */
      pr = wasm_v128_and(pr, wasm_f32x4_gt(pr, wasm_f32x4_splat(PRESENCE_MIN)));
      wasm_v128_store(S->presence + b, pr);
      v128_t a = wasm_f32x4_add(wasm_f32x4_splat(NOISE_ALPHA),
                                wasm_f32x4_mul(wasm_f32x4_splat(1 - NOISE_ALPHA), wasm_f32x4_pmax(pr, present)));
      nz = wasm_f32x4_add(wasm_f32x4_mul(a, nz), wasm_f32x4_mul(wasm_f32x4_sub(wasm_f32x4_splat(1), a), e));
    }
    wasm_v128_store(S->noise + b, nz);
    wasm_v128_store(S->band_power + b, e);
  }
  /* the likelihoods, in a second pass: each group's chain of divisions is long, and the passes of this
   * loop do not wait on each other, so the CPU runs them side by side */
#pragma clang loop unroll(disable)
  for (uint32_t b = 0; b < NBANDS_MAX; b += 4) {
    const v128_t e = wasm_v128_load(S->band_power + b), nz = wasm_v128_load(S->noise + b);
    const v128_t inz = wasm_f32x4_div(wasm_f32x4_splat(1), nz);
    v128_t gamma = wasm_f32x4_pmin(wasm_f32x4_mul(e, inz), wasm_f32x4_splat(1000));
    v128_t ml = wasm_f32x4_pmax(wasm_f32x4_splat(0), wasm_f32x4_sub(gamma, wasm_f32x4_splat(1)));
    v128_t xi = wasm_f32x4_add(wasm_f32x4_mul(wasm_f32x4_mul(wasm_f32x4_splat(DD_ALPHA), wasm_v128_load(S->prev_clean + b)), inz),
                               wasm_f32x4_mul(wasm_f32x4_splat(1 - DD_ALPHA), ml));
    xi = wasm_f32x4_pmax(wasm_f32x4_splat(XI_MIN), xi);
    v128_t g = wasm_f32x4_div(xi, wasm_f32x4_add(wasm_f32x4_splat(1), xi));
    wasm_v128_store(S->prev_clean + b, wasm_f32x4_mul(wasm_f32x4_mul(g, g), e));
    v128_t l = wasm_f32x4_sub(wasm_f32x4_mul(gamma, g), fast_ln4(wasm_f32x4_add(wasm_f32x4_splat(1), xi)));
    llr4 = wasm_f32x4_add(llr4, wasm_f32x4_mul(l, wasm_v128_load(S->band_valid + b)));
  }
  float llr = wasm_f32x4_extract_lane(llr4, 0) + wasm_f32x4_extract_lane(llr4, 1) + wasm_f32x4_extract_lane(llr4, 2) +
              wasm_f32x4_extract_lane(llr4, 3);
  if (++sub_count == MIN_SUBWIN) { /* close a sub-window: the minimum is over the last MIN_NSUB of them */
    sub_count = 0;
    float(*mins)[NBANDS_MAX] = S->mins;
    TOUCH_TOP(HOT_TOP(S));
    TOUCH_TOP(mins[MIN_NSUB - 1] + NBANDS_MAX - 4);
#pragma clang loop unroll(disable)
    for (uint32_t b = 0; b < NBANDS_MAX; b += 4) {
      v128_t sm = wasm_v128_load(S->smooth + b), m = sm;
      wasm_v128_store(mins[sub_idx] + b, wasm_v128_load(S->sub_min + b)), wasm_v128_store(S->sub_min + b, sm);
      for (uint32_t s = 0; s < MIN_NSUB; s++) m = wasm_f32x4_pmin(m, wasm_v128_load(mins[s] + b));
      wasm_v128_store(S->minimum + b, m);
    }
    sub_idx = (sub_idx + 1) % MIN_NSUB;
  }
  hops++;
  llr /= (float)NBANDS_MAX; /* bands above Nyquist count as no evidence */
  /* the evidence has a small positive mean in noise (larger with fewer bins per band): track it
   * over the hops the model calls noise, and measure the evidence from there */
  if (ll < NOISE_LL && hops > INIT_HOPS) {
    noise_llr += NOISE_LLR_RATE * (llr - noise_llr);
    if (noise_llr > NOISE_LLR_MAX) noise_llr = NOISE_LLR_MAX;
  }
  /* two-state HMM on the evidence: log odds of speech */
  float x = EVIDENCE_SCALE * (llr - noise_llr - margin);
  float o = ll > 30 ? 30 : ll < -30 ? -30 : ll, q = fast_exp(o); /* prior odds from the last hop */
  float prior = (TO_SPEECH + (1 - TO_SILENCE) * q) / ((1 - TO_SPEECH) + TO_SILENCE * q);
  ll = x + fast_ln(prior);
  return sigmoid(ll);
}

static double time_ms(int64_t idx) { return ((double)frame_ts + (double)(idx - frame_idx) * 1e6 / rate) / 1000; }

/* The ring holds frame index i at ring[RING_SLOT(i) * channels]; a span of n frames from
 * idx is at most two pieces: first frames at idx's slot, the rest at the ring's start. */
static uint32_t ring_first(int64_t idx, uint32_t n) {
  uint32_t room = rcap - RING_SLOT(idx);
  return n < room ? n : room;
}

static void ring_put(int64_t idx, const float *src, uint32_t n) {
  uint32_t first = ring_first(idx, n), ch4 = channels * 4;
  rm_memcpy(ring + RING_SLOT(idx) * channels, src, first * ch4);
  if (n > first) rm_memcpy(ring, src + first * channels, (n - first) * ch4);
}

static void ring_get(int64_t idx, float *dst, uint32_t n) {
  uint32_t first = ring_first(idx, n), ch4 = channels * 4;
  rm_memcpy(dst, ring + RING_SLOT(idx) * channels, first * ch4);
  if (n > first) rm_memcpy(dst + first * channels, ring, (n - first) * ch4);
}

/* Emits ring frames [a, b) as one audio frame on port 0. */
static int emit_audio(int64_t a, int64_t b) {
  if (b <= a) return 0;
  uint32_t n = (uint32_t)(b - a);
  if (ring_first(a, n) == n) { /* in one piece: emitted from the ring (rm.emit copies it, or shares the input's
                                  bytes when they are the same: docs/wasm-abi.md) */
    rm_emit_f32(0, rate, (uint16_t)channels, (int64_t)(time_ms(a) * 1000 + 0.5), ring + RING_SLOT(a) * channels, n * channels);
    return 0;
  }
  float *o = rm_buf_reserve(&out, n * channels * 4);
  if (!o) return rm_fail("vad: out of memory");
  ring_get(a, o, n);
  rm_emit_f32(0, rate, (uint16_t)channels, (int64_t)(time_ms(a) * 1000 + 0.5), o, n * channels);
  return 0;
}

enum { EV_START, EV_END, EV_FRAME };
static const char *const event_names[] = {"speech_start", "speech_end", "frame"};

/* Emits {"event":name,"time_ms":T[,"duration_ms":D],"has_speech":..,"probability":P,
 * "is_speech_start":..,"is_speech_end":..}; from < 0 leaves out duration_ms. */
__attribute__((noinline)) static void emit_event(int kind, int64_t at, int64_t from, int has_speech, double prob) {
  char buf[224];
  uint32_t n = rm_fmt_str(buf, "{\"event\":\"");
  n += rm_fmt_str(buf + n, event_names[kind]);
  n += rm_fmt_str(buf + n, "\",\"time_ms\":");
  double t = time_ms(at);
  n += rm_fmt_number(buf + n, t, 3);
  if (from >= 0) {
    n += rm_fmt_str(buf + n, ",\"duration_ms\":");
    n += rm_fmt_number(buf + n, t - time_ms(from), 3);
  }
  n += rm_fmt_str(buf + n, has_speech ? ",\"has_speech\":true" : ",\"has_speech\":false");
  n += rm_fmt_str(buf + n, ",\"probability\":");
  n += rm_fmt_number(buf + n, prob, 3);
  n += rm_fmt_str(buf + n, kind == EV_START ? ",\"is_speech_start\":true" : ",\"is_speech_start\":false");
  n += rm_fmt_str(buf + n, kind == EV_END ? ",\"is_speech_end\":true}" : ",\"is_speech_end\":false}");
  rm_emit_text(1, RM_KIND_JSON, (int64_t)(t * 1000 + 0.5), buf, n);
}

static int end_speech(int64_t audio_end) {
  if (gate && emit_audio(seg_start, audio_end)) return 1;
  emit_event(EV_END, last_speech_end, cand_start, 0, last_prob);
  state = SILENCE;
  return 0;
}

/* Steps the state machine with the decision frame [a, a+wlen) of speech probability prob. */
__attribute__((noinline)) static int decide(int64_t a, double prob, int speech) {
  int64_t b = a + wlen;
  last_prob = prob;
  if (frame_events) emit_event(EV_FRAME, a, -1, state == SPEECH || (speech && state == PENDING), prob);
  if (state == SPEECH) {
    if (speech) {
      last_speech_end = b, silence = 0;
      return 0;
    }
    silence += wlen;
    return silence >= hangover ? end_speech(b) : 0;
  }
  if (!speech) {
    state = SILENCE;
    return 0;
  }
  if (state == SILENCE) cand_start = a, state = PENDING;
  if (b - cand_start >= min_speech) {
    state = SPEECH, last_speech_end = b, silence = 0;
    int64_t oldest = ring_end - (int64_t)rcap; /* the ring's oldest frame */
    seg_start = cand_start - (int64_t)pad;
    if (seg_start < oldest) seg_start = oldest;
    if (seg_start < 0) seg_start = 0;
    emit_event(EV_START, cand_start, -1, 1, prob);
  }
  return 0;
}

/* Makes the ring hold at least need frames (a power of two), keeping the most recent ones at their indices.
 * Out of line, as the other paths a frame rarely takes (decide, emit_event, the spectrum at other rates):
 * the code every frame runs stays together and small. */
__attribute__((noinline)) static int grow_ring(uint32_t need) {
  uint32_t ncap = 1;
  while (ncap < need) ncap *= 2;
  float *nr = rm_alloc(ncap * channels * 4);
  if (!nr) return rm_fail("vad: out of memory");
  int64_t from = total - (int64_t)rcap > 0 ? total - rcap : 0;
  for (int64_t i = from; i < total; i++)
    for (uint32_t c = 0; c < channels; c++) nr[((uint32_t)i & (ncap - 1)) * channels + c] = ring[RING_SLOT(i) * channels + c];
  rm_free(ring);
  ring = nr, rcap = ncap;
  return 0;
}

static inline int reserve_ring(uint32_t need) { return need <= rcap ? 0 : grow_ring(need); }

/* The sum of squares of x[0 .. n). */
static double sum_squares(const float *x, uint32_t n) {
  v128_t a = wasm_f32x4_splat(0), a2 = a;
  uint32_t i = 0;
  for (; i + 16 <= n; i += 16) { /* four loads a pass, the highest first (see TOUCH_TOP) */
    v128_t v3 = wasm_v128_load(x + i + 12), v2 = wasm_v128_load(x + i + 8);
    v128_t v1 = wasm_v128_load(x + i + 4), v0 = wasm_v128_load(x + i);
    a = wasm_f32x4_add(a, wasm_f32x4_add(wasm_f32x4_mul(v0, v0), wasm_f32x4_mul(v1, v1)));
    a2 = wasm_f32x4_add(a2, wasm_f32x4_add(wasm_f32x4_mul(v2, v2), wasm_f32x4_mul(v3, v3)));
  }
  for (; i + 4 <= n; i += 4) {
    v128_t v = wasm_v128_load(x + i);
    a = wasm_f32x4_add(a, wasm_f32x4_mul(v, v));
  }
  a = wasm_f32x4_add(a, a2);
  double s = (double)wasm_f32x4_extract_lane(a, 0) + wasm_f32x4_extract_lane(a, 1) + wasm_f32x4_extract_lane(a, 2) +
             wasm_f32x4_extract_lane(a, 3);
  for (; i < n; i++) s += (double)x[i] * x[i];
  return s;
}

/* The mean square of the mono mix of the decision frame [a, a + wlen): with gate, from the ring and only
 * when asked (a frame's level matters only where its probability is at least 0.5); else level, summed as
 * the frame came in. */
static double frame_level_of(int64_t a, double level) {
  if (!gate) return level;
  double s = 0;
  for (uint32_t done = 0; done < wlen;) {
    uint32_t n = ring_first(a + done, wlen - done);
    const float *x = ring + RING_SLOT(a + done) * channels;
    if (channels == 1) s += sum_squares(x, n);
    else
      for (uint32_t i = 0; i < n; i++) {
        float m = 0;
        for (uint32_t c = 0; c < channels; c++) m += x[i * channels + c];
        m /= channels;
        s += (double)m * m;
      }
    done += n;
  }
  return s / wlen;
}

/* Appends n frames of in (mixed to mono) to the analysis buffer's hop, and without gate their sum of
 * squares to the decision frame's. */
static void take(const float *in, uint32_t n) {
  float *dst = xbuf + xlen - hop + hop_fill;
  if (channels == 1) rm_memcpy(dst, in, n * 4);
  else
    for (uint32_t i = 0; i < n; i++) {
      float s = 0;
      for (uint32_t c = 0; c < channels; c++) s += in[i * channels + c];
      dst[i] = s / channels;
    }
  hop_fill += n, frame_fill += n;
  if (!gate) frame_level += sum_squares(dst, n);
}

int rm_node_process(const rm_frame *f) {
  if (f->h.kind != RM_KIND_AUDIO || f->h.format != RM_F32) return rm_fail("vad: input must be f32 audio");
  if (!f->h.channels || !f->h.sample_rate) return rm_fail("vad: channels and sample_rate must be > 0");
  if (f->h.sample_rate < 8000 || f->h.sample_rate > 48000) return rm_fail("vad: sample_rate must be 8000 to 48000 Hz");
  if (f->h.sample_rate != rate || f->h.channels != channels) {
    if (state == SPEECH && rm_node_flush()) return 1;
    if (reset(f->h.sample_rate, f->h.channels)) return 1;
  }
  const float *in = f->data;
  uint32_t frames = f->len / 4 / channels;
  if (!gate) rm_emit(&f->h, 0, f->data, f->len);
  else {
    if (reserve_ring(frames + min_speech + pad + 2 * wlen + 16)) return 1;
    ring_put(total, in, frames);
  }
  ring_end = total + frames;
  frame_idx = total, frame_ts = f->h.timestamp_us;
  for (uint32_t pos = 0; pos < frames;) {
    uint32_t n = frames - pos;
    if (n > hop - hop_fill) n = hop - hop_fill;
    if (n > wlen - frame_fill) n = wlen - frame_fill;
    take(in + pos * channels, n);
    pos += n;
    if (hop_fill == hop) { /* a hop ends: its probability goes to the frames it ends in (or after) */
      seen += hop;
      double p = seen >= n_fft ? analyse() : 0;
      if (xlen > hop) rm_memcpy(xbuf, xbuf + hop, (xlen - hop) * 4); /* memory.copy: overlap is fine */
      hop_fill = 0;
      if (pending) {
        pending = 0;
        if (decide(pending_start, p, p >= 0.5 && frame_level_of(pending_start, pending_level) > min_level)) return 1;
      }
      frame_prob += p, frame_hops++;
    }
    if (frame_fill == wlen) {
      int64_t a = win_start;
      double level = frame_level / wlen; /* without gate */
      win_start += wlen, frame_fill = 0, frame_level = 0;
      if (!frame_hops) {
        pending = 1, pending_start = a, pending_level = level;
        continue;
      }
      double prob = frame_prob / frame_hops;
      frame_prob = 0, frame_hops = 0;
      if (decide(a, prob, prob >= 0.5 && frame_level_of(a, level) > min_level)) return 1;
    }
  }
  total = frame_idx + frames;
  if (gate && state == SPEECH && total > seg_start) {
    if (emit_audio(seg_start, total)) return 1;
    seg_start = total;
  }
  return 0;
}

int rm_node_flush(void) {
  if (state == SPEECH) return end_speech(total);
  state = SILENCE;
  return 0;
}
