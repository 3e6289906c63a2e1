/* logmel: Whisper's log-mel front end (openai/whisper audio.log_mel_spectrogram) over a stream
 * of 16 kHz mono f32 audio.
 *
 * Frame t is the power spectrum of 400 samples (25 ms) around sample 160t (a 10 ms hop) under a
 * periodic Hann window, the stream reflected at its start (and, at the end of the stream, at
 * its end), as torch.stft(center=True) pads it; Whisper drops stft's last frame, so a stream of
 * L samples gives L/160 frames. The power goes through librosa's Slaney mel filterbank
 * (n_mels 80 or 128, 0 to 8 kHz, area-normalised: what Whisper ships in mel_filters.npz), then
 * log10(max(mel, 1e-10)), clamped from below at the maximum minus 8 and mapped by (x + 4) / 4.
 *
 * Whisper's maximum is over the whole input. With clamp "running" each frame goes out as soon as
 * its samples are in, clamped at the maximum so far (the same values once the loudest frame has
 * passed); with "segment" frames are kept until flush (or segment_s seconds) and go out
 * together, clamped at their own maximum: exactly log_mel_spectrogram of that segment.
 *
 * Output: f32 audio frames with channels = n_mels and sample_rate = 100, so frame-major
 * [frames][n_mels] (Whisper's models take the transpose, [n_mels][frames]).
 *
 * The DFT folds the window about its centre (x[n] +- x[400-n]) and splits the folded samples by
 * parity, so that bins k and 200 - k share their products: four SIMD dot products of about 100
 * per pair of bins, 101 x 408 multiply-adds per frame (an FFT would need fewer, with more code). */
#include <remotemedia.h>
#include <wasm_simd128.h>

#define N_FFT 400
#define HOP 160
#define HALF 200
#define BINS 201
#define KS 101 /* bins computed directly: k and 200 - k share their products */
#define NE 104 /* even folded samples n = 0, 2, ..., 200 (101) padded to a multiple of 4 */
#define NO 100 /* odd folded samples n = 1, 3, ..., 199 */
#define RATE 16000

static uint32_t n_mels;
static int segment_mode;
static uint32_t segment_frames;

static float *cos_e, *cos_o, *sin_e, *sin_o; /* [KS][NE] and [KS][NO]: cos, sin(2 pi k n / 400), n even, odd */
static float *mel_w;         /* [n_mels][BINS] */
static uint16_t *mel_lo, *mel_hi; /* nonzero bins of each filter: [lo, hi) */
static float window[N_FFT];

/* the stream */
static int started;
static float *sig;        /* samples from index sbase */
static uint32_t scap, slen;
static int64_t sbase, total, next_t; /* next_t: next frame to compute */
static int64_t t0_us;
static float running_max;
static float *seg;        /* segment mode: log10 mel of frames [seg_t0, seg_t0 + seg_n) */
static uint32_t seg_n, seg_cap;
static int64_t seg_t0;
static rm_buf out;

static double cosine(double x) { return rm_sin(x + 1.5707963267948966); }

static double hz_to_mel(double f) { /* Slaney: linear to 1 kHz, logarithmic above */
  const double f_sp = 200.0 / 3, logstep = 0.06875177742094912; /* ln(6.4) / 27 */
  return f < 1000 ? f / f_sp : 15 + rm_ln(f / 1000) / logstep;
}

static double mel_to_hz(double m) {
  const double f_sp = 200.0 / 3, logstep = 0.06875177742094912;
  return m < 15 ? f_sp * m : 1000 * rm_exp(logstep * (m - 15));
}

int rm_node_init(const rm_params *p) {
  double nm = rm_param_number(p, "n_mels", 80), seg_s = rm_param_number(p, "segment_s", 30);
  char c[10];
  rm_param_string(p, "clamp", c, sizeof c, "running");
  if (nm != 80 && nm != 128) return rm_fail("logmel: param n_mels must be 80 or 128");
  if (rm_memeq(c, "running", 8)) segment_mode = 0;
  else if (rm_memeq(c, "segment", 8)) segment_mode = 1;
  else return rm_fail("logmel: param clamp must be \"running\" or \"segment\"");
  if (seg_s < 0.01 || seg_s > 600) return rm_fail("logmel: param segment_s must be in [0.01, 600]");
  n_mels = (uint32_t)nm, segment_frames = (uint32_t)(seg_s * 100 + 0.5);

  cos_e = rm_alloc(KS * NE * 4), sin_e = rm_alloc(KS * NE * 4), cos_o = rm_alloc(KS * NO * 4), sin_o = rm_alloc(KS * NO * 4);
  mel_w = rm_alloc(n_mels * BINS * 4);
  mel_lo = rm_alloc(n_mels * 2), mel_hi = rm_alloc(n_mels * 2);
  if (!cos_e || !sin_e || !cos_o || !sin_o || !mel_w || !mel_lo || !mel_hi)
    return rm_fail("logmel: out of memory for the tables");
  for (uint32_t n = 0; n < N_FFT; n++) window[n] = (float)(0.5 - 0.5 * cosine(2 * 3.141592653589793 * n / N_FFT));
  for (uint32_t k = 0; k < KS; k++)
    for (uint32_t n = 0; n <= HALF + 6; n++) {
      double a = 2 * 3.141592653589793 * ((k * n) % N_FFT) / N_FFT; /* exact angles */
      float c = n <= HALF ? (float)cosine(a) : 0, si = n >= 1 && n < HALF ? (float)rm_sin(a) : 0;
      if (n % 2 == 0 && n / 2 < NE) cos_e[k * NE + n / 2] = c, sin_e[k * NE + n / 2] = si;
      if (n % 2 == 1 && n / 2 < NO) cos_o[k * NO + n / 2] = c, sin_o[k * NO + n / 2] = si;
    }
  /* librosa.filters.mel(sr=16000, n_fft=400, n_mels, htk=False, norm="slaney") */
  double mels[130], lo = hz_to_mel(0), hi = hz_to_mel(RATE / 2.0);
  for (uint32_t i = 0; i < n_mels + 2; i++) mels[i] = mel_to_hz(lo + (hi - lo) * i / (n_mels + 1));
  for (uint32_t i = 0; i < n_mels; i++) {
    double enorm = 2 / (mels[i + 2] - mels[i]);
    mel_lo[i] = BINS, mel_hi[i] = 0;
    for (uint32_t k = 0; k < BINS; k++) {
      double f = (double)k * RATE / N_FFT;
      double lower = (f - mels[i]) / (mels[i + 1] - mels[i]), upper = (mels[i + 2] - f) / (mels[i + 2] - mels[i + 1]);
      double w = lower < upper ? lower : upper;
      mel_w[i * BINS + k] = w > 0 ? (float)(w * enorm) : 0;
      if (w > 0 && k < mel_lo[i]) mel_lo[i] = (uint16_t)k;
      if (w > 0) mel_hi[i] = (uint16_t)(k + 1);
    }
    if (mel_lo[i] > mel_hi[i]) mel_lo[i] = mel_hi[i];
  }
  return 0;
}

/* The dot product of n floats (a multiple of 4), SIMD. */
static inline float dot(const float *a, const float *b, uint32_t n) {
  v128_t s0 = wasm_f32x4_splat(0), s1 = s0;
  uint32_t i = 0;
  for (; i + 8 <= n; i += 8) { /* the farther loads first: one bounds check per base (remotemedia.h) */
    s1 = wasm_f32x4_add(s1, wasm_f32x4_mul(wasm_v128_load(a + i + 4), wasm_v128_load(b + i + 4)));
    s0 = wasm_f32x4_add(s0, wasm_f32x4_mul(wasm_v128_load(a + i), wasm_v128_load(b + i)));
  }
  if (i < n) s0 = wasm_f32x4_add(s0, wasm_f32x4_mul(wasm_v128_load(a + i), wasm_v128_load(b + i)));
  s0 = wasm_f32x4_add(s0, s1);
  return wasm_f32x4_extract_lane(s0, 0) + wasm_f32x4_extract_lane(s0, 1) + wasm_f32x4_extract_lane(s0, 2) +
         wasm_f32x4_extract_lane(s0, 3);
}

/* Sample i of the stream, reflected at its start and (when end) at its end. */
static float sample(int64_t i, int end) {
  if (i < 0) i = -i;
  if (end && i >= total) i = 2 * (total - 1) - i;
  if (i < sbase || i >= sbase + slen) return 0; /* a stream shorter than the reflection */
  return sig[i - sbase];
}

/* Computes frame t's log10 mel energies into o[n_mels]. */
static void frame_logmel(int64_t t, int end, float *o) {
  float x[N_FFT], ae[NE], ao[NO], be[NE], bo[NO], power[BINS];
  int64_t start = t * HOP - HALF;
  if (start >= sbase && start + N_FFT <= sbase + slen) {
    const float *s = sig + (start - sbase);
    for (uint32_t n = 0; n < N_FFT; n++) x[n] = s[n] * window[n];
  } else
    for (uint32_t n = 0; n < N_FFT; n++) x[n] = sample(start + n, end) * window[n];
  /* fold the window about its centre: X[k] = sum a[n] cos(2 pi k n / N) - i sum b[n] sin(2 pi k n / N)
   * over n = 0..200, a[n] = x[n] + x[N-n], b[n] = x[n] - x[N-n] (a[0] = x[0], a[200] = x[200]); split
   * by the parity of n */
  ae[0] = x[0], be[0] = 0, ae[HALF / 2] = x[HALF], be[HALF / 2] = 0;
  for (uint32_t n = 1; n < HALF; n++) {
    float p = x[n] + x[N_FFT - n], m = x[n] - x[N_FFT - n];
    if (n % 2) ao[n / 2] = p, bo[n / 2] = m;
    else ae[n / 2] = p, be[n / 2] = m;
  }
  for (uint32_t n = HALF / 2 + 1; n < NE; n++) ae[n] = be[n] = 0;
  /* bin 200 - k has the same products, the odd ones negated: cos, sin(2 pi (200-k) n / N) =
   * (-1)^n cos, -(-1)^n sin(2 pi k n / N) */
  for (uint32_t k = 0; k < KS; k++) {
    float ce = dot(ae, cos_e + k * NE, NE), co = dot(ao, cos_o + k * NO, NO);
    float se = dot(be, sin_e + k * NE, NE), so = dot(bo, sin_o + k * NO, NO);
    power[k] = (ce + co) * (ce + co) + (se + so) * (se + so);
    power[HALF - k] = (ce - co) * (ce - co) + (se - so) * (se - so);
  }
  for (uint32_t m = 0; m < n_mels; m++) {
    const float *w = mel_w + m * BINS;
    float e = 0;
    for (uint32_t k = mel_lo[m]; k < mel_hi[m]; k++) e += w[k] * power[k];
    o[m] = (float)rm_log10(e > 1e-10f ? e : 1e-10f);
  }
}

/* Clamps n frames of log10 energies at max - 8 and maps them by (x + 4) / 4, in place. */
static void finish_values(float *v, uint32_t n, float max) {
  v128_t floor = wasm_f32x4_splat(max - 8), four = wasm_f32x4_splat(4), quarter = wasm_f32x4_splat(0.25f);
  uint32_t i = 0;
  for (; i + 4 <= n; i += 4)
    wasm_v128_store(v + i, wasm_f32x4_mul(wasm_f32x4_add(wasm_f32x4_max(wasm_v128_load(v + i), floor), four), quarter));
  for (; i < n; i++) v[i] = ((v[i] > max - 8 ? v[i] : max - 8) + 4) * 0.25f;
}

static void emit_rows(const float *v, uint32_t rows, int64_t t) {
  rm_emit_f32(0, 100, (uint16_t)n_mels, t0_us + t * 10000, v, rows * n_mels);
}

static int flush_segment(void) {
  if (!seg_n) return 0;
  uint32_t n = seg_n * n_mels;
  float max = seg[0];
  for (uint32_t i = 1; i < n; i++)
    if (seg[i] > max) max = seg[i];
  finish_values(seg, n, max);
  emit_rows(seg, seg_n, seg_t0);
  seg_t0 += seg_n, seg_n = 0;
  return 0;
}

/* Computes frames up to (not including) frame `upto`. */
static int compute(int64_t upto, int end) {
  if (upto <= next_t) return 0;
  uint32_t rows = (uint32_t)(upto - next_t);
  if (segment_mode) {
    while (next_t < upto) {
      if (seg_n + 1 > seg_cap) {
        uint32_t ncap = seg_cap ? seg_cap * 2 : 256;
        if (ncap > segment_frames) ncap = segment_frames;
        float *ns = rm_alloc(ncap * n_mels * 4);
        if (!ns) return rm_fail("logmel: out of memory for the segment");
        if (seg) rm_memcpy(ns, seg, seg_n * n_mels * 4);
        rm_free(seg);
        seg = ns, seg_cap = ncap;
      }
      frame_logmel(next_t++, end, seg + seg_n * n_mels);
      if (++seg_n == segment_frames) flush_segment();
    }
  } else {
    float *o = rm_buf_reserve(&out, rows * n_mels * 4);
    if (!o) return rm_fail("logmel: out of memory");
    for (uint32_t r = 0; r < rows; r++) {
      float *row = o + r * n_mels;
      frame_logmel(next_t + r, end, row);
      for (uint32_t m = 0; m < n_mels; m++)
        if (row[m] > running_max) running_max = row[m];
      finish_values(row, n_mels, running_max);
    }
    emit_rows(o, rows, next_t);
    next_t = upto;
  }
  /* drop the samples no later frame needs (frame next_t starts at next_t*HOP - HALF; once it
   * is past 0 the reflection at the start is behind us), a block at a time */
  int64_t keep = next_t * HOP - HALF;
  if (keep - sbase >= 4096) {
    uint32_t drop = (uint32_t)(keep - sbase);
    __builtin_memmove(sig, sig + drop, (slen - drop) * 4);
    slen -= drop, sbase += drop;
  }
  return 0;
}

int rm_node_process(const rm_frame *f) {
  if (f->h.kind != RM_KIND_AUDIO || f->h.format != RM_F32 || f->h.channels != 1 || f->h.sample_rate != RATE)
    return rm_fail("logmel: input must be 16 kHz mono f32 audio (put to_mono and resample before it)");
  uint32_t n = f->len / 4;
  if (!started) started = 1, t0_us = f->h.timestamp_us, running_max = -1e30f;
  if (slen + n > scap) {
    uint32_t ncap = (slen + n) * 2;
    float *ns = rm_alloc(ncap * 4);
    if (!ns) return rm_fail("logmel: out of memory");
    if (sig) rm_memcpy(ns, sig, slen * 4);
    rm_free(sig);
    sig = ns, scap = ncap;
  }
  rm_memcpy(sig + slen, f->data, n * 4);
  slen += n, total += n;
  /* frame t needs samples up to t*HOP + HALF - 1, and the reflection at the start needs HALF */
  int64_t ready = total < HALF + 1 ? 0 : (total - HALF) / HOP + 1;
  return compute(ready, 0);
}

int rm_node_flush(void) {
  if (!started) return 0;
  int rc = compute(total / HOP, 1);
  if (!rc && segment_mode) rc = flush_segment();
  /* the next stream starts afresh */
  started = 0, slen = 0, sbase = 0, total = 0, next_t = 0, seg_n = 0, seg_t0 = 0;
  return rc;
}
