/* resample: polyphase windowed-sinc (Kaiser) resampler for interleaved f32 audio, any rate pair.
 *
 * Output sample n sits at input position x = n*M/L (L/M = out/in reduced by their gcd) and is
 * sum_m in[m] * g(x - m), g a Kaiser-windowed sinc (the window method's length formula) whose
 * passband ends at pass x the lower Nyquist and whose stopband, atten_db down, starts at that
 * Nyquist: nothing above it aliases into the output. Input before the stream's start reads as
 * zeros, so output n is exactly at time t0 + n/out_rate; flush pads zeros through the filter's
 * lookahead so no input is lost. With L <= MAX_PHASES the filter is tabulated per phase; otherwise MAX_PHASES+1 rows are
 * tabulated and interpolated linearly. */
#include <remotemedia.h>
#include <wasm_simd128.h>

#define MAX_PHASES 1024

static uint32_t out_rate;
static double pass, atten_db; /* passband edge (fraction of the lower Nyquist), stopband attenuation */

/* the current stream */
static uint32_t in_rate, channels, L, M, phases, taps, half; /* taps: padded to a multiple of 4 */
static float *table, *interp;
static float *hpad; /* L = 1: the filter with 4M zeros on each side, for dec8 */
static float *hist; /* planar: channel c at hist + c*cap */
static uint32_t cap, hlen;
static int64_t hbase;                 /* input index of hist[0] */
static int64_t in_count, cur_i, n_out; /* cur_i, cur_p: position of output n_out */
static uint32_t cur_p;
static int64_t t0_us;
static rm_buf out;

int rm_node_init(const rm_params *p) {
  double r = rm_param_number(p, "rate", 16000);
  char q[8];
  rm_param_string(p, "quality", q, sizeof q, "high");
  if (r < 1000 || r > 384000) return rm_fail("resample: param rate must be in [1000, 384000]");
  out_rate = (uint32_t)r;
  if (q[0] == 'b' && q[1] == 'e' && q[2] == 's' && q[3] == 't' && !q[4]) pass = 0.94, atten_db = 110;
  else if (q[0] == 'h' && q[1] == 'i' && q[2] == 'g' && q[3] == 'h' && !q[4]) pass = 0.9, atten_db = 92;
  else if (q[0] == 'f' && q[1] == 'a' && q[2] == 's' && q[3] == 't' && !q[4]) pass = 0.7, atten_db = 62;
  else return rm_fail("resample: param quality must be \"fast\", \"high\" or \"best\"");
  return 0;
}

static double bessel_i0(double x) {
  double sum = 1, term = 1, y = x * x / 4;
  for (int k = 1; k < 200 && term > 1e-17 * sum; k++) term *= y / ((double)k * k), sum += term;
  return sum;
}

static uint32_t gcd(uint32_t a, uint32_t b) {
  while (b) {
    uint32_t t = a % b;
    a = b, b = t;
  }
  return a;
}

static void release(void) {
  rm_free(table), rm_free(interp), rm_free(hist), rm_free(hpad);
  table = interp = hist = hpad = 0;
  cap = hlen = 0;
  in_rate = 0;
}

/* Designs the filter for rate and sets up an empty stream starting at ts. */
static int setup(uint32_t rate, uint32_t ch, int64_t ts) {
  release();
  uint32_t g = gcd(out_rate, rate);
  L = out_rate / g, M = rate / g, channels = ch, in_rate = rate;
  double nyq = (rate < out_rate ? rate : out_rate) / 2.0;
  /* the cutoff halfway through the transition band, pass*nyq to nyq; Kaiser's length for that band */
  double fc = nyq * (1 + pass) / 2 / rate, wreal = (atten_db - 7.95) * rate / (28.72 * nyq * (1 - pass));
  double beta = 0.1102 * (atten_db - 8.7), i0b = bessel_i0(beta);
  half = (uint32_t)wreal + 1;
  taps = (2 * half + 3) & ~3u;
  phases = L <= MAX_PHASES ? L : MAX_PHASES;
  table = rm_alloc((phases + 1) * taps * 4);
  interp = rm_alloc(taps * 4);
  if (!table || !interp) return rm_fail("resample: out of memory for the filter");
  for (uint32_t ph = 0; ph <= phases; ph++) {
    float *row = table + ph * taps;
    double sum = 0;
    for (uint32_t t = 0; t < taps; t++) {
      double u = (double)half - 1 - t + (double)ph / phases, v = 0;
      if (u > -wreal && u < wreal) {
        double a = 2 * fc * u * 3.141592653589793, w = u / wreal;
        v = 2 * fc * (a == 0 ? 1 : rm_sin(a) / a) * bessel_i0(beta * __builtin_sqrt(1 - w * w)) / i0b;
      }
      row[t] = (float)v, sum += v;
    }
    for (uint32_t t = 0; t < taps; t++) row[t] = (float)(row[t] / sum);
  }
  if (L == 1) {
    hpad = rm_alloc((taps + 8 * M) * 4);
    if (!hpad) return rm_fail("resample: out of memory for the filter");
    for (uint32_t i = 0; i < taps + 8 * M; i++) hpad[i] = i >= 4 * M && i < 4 * M + taps ? table[i - 4 * M] : 0;
  }
  hbase = -(int64_t)half, hlen = half; /* zeros before the start */
  in_count = cur_i = n_out = 0, cur_p = 0, t0_us = ts;
  return 0;
}

/* Makes room for n more input samples per channel. */
static int reserve(uint32_t n) {
  if (hlen + n <= cap) return 0;
  uint32_t ncap = (hlen + n) * 2;
  float *nh = rm_alloc(ncap * channels * 4);
  if (!nh) return rm_fail("resample: out of memory");
  for (uint32_t c = 0; c < channels; c++)
    for (uint32_t i = 0; i < hlen; i++) nh[c * ncap + i] = hist ? hist[c * cap + i] : 0;
  rm_free(hist);
  hist = nh, cap = ncap;
  return 0;
}

static inline float dot(const float *x, const float *h, uint32_t n) {
  v128_t a = wasm_f32x4_splat(0), b = a, c = a, d = a;
  uint32_t i = 0;
  for (; i + 16 <= n; i += 16) { /* the farthest loads first: see dec8 */
    const float *xi = x + i, *hi = h + i;
    d = wasm_f32x4_add(d, wasm_f32x4_mul(wasm_v128_load(xi + 12), wasm_v128_load(hi + 12)));
    c = wasm_f32x4_add(c, wasm_f32x4_mul(wasm_v128_load(xi + 8), wasm_v128_load(hi + 8)));
    b = wasm_f32x4_add(b, wasm_f32x4_mul(wasm_v128_load(xi + 4), wasm_v128_load(hi + 4)));
    a = wasm_f32x4_add(a, wasm_f32x4_mul(wasm_v128_load(xi), wasm_v128_load(hi)));
  }
  for (; i < n; i += 4) a = wasm_f32x4_add(a, wasm_f32x4_mul(wasm_v128_load(x + i), wasm_v128_load(h + i)));
  a = wasm_f32x4_add(wasm_f32x4_add(a, b), wasm_f32x4_add(c, d));
  return wasm_f32x4_extract_lane(a, 0) + wasm_f32x4_extract_lane(a, 1) + wasm_f32x4_extract_lane(a, 2) +
         wasm_f32x4_extract_lane(a, 3);
}

/* Sums the lanes of a0..a3 into one vector: lane k is the sum of ak's lanes. */
static inline v128_t hsum4(v128_t a0, v128_t a1, v128_t a2, v128_t a3) {
  v128_t u0 = wasm_f32x4_add(wasm_i32x4_shuffle(a0, a1, 0, 4, 1, 5), wasm_i32x4_shuffle(a0, a1, 2, 6, 3, 7));
  v128_t u1 = wasm_f32x4_add(wasm_i32x4_shuffle(a2, a3, 0, 4, 1, 5), wasm_i32x4_shuffle(a2, a3, 2, 6, 3, 7));
  return wasm_f32x4_add(wasm_i32x4_shuffle(u0, u1, 0, 1, 4, 5), wasm_i32x4_shuffle(u0, u1, 2, 3, 6, 7));
}

/* Four outputs of one filter h at x, x+s, x+2s and x+3s: every filter load serves
 * four products, and one transpose sums the four accumulators together. */
static inline v128_t dot4(const float *x, uint32_t s, const float *h, uint32_t n) {
  v128_t a0 = wasm_f32x4_splat(0), a1 = a0, a2 = a0, a3 = a0, b0 = a0, b1 = a0, b2 = a0, b3 = a0;
  uint32_t i = 0;
  for (; i + 8 <= n; i += 8) {
    v128_t hv = wasm_v128_load(h + i), hw = wasm_v128_load(h + i + 4);
    a0 = wasm_f32x4_add(a0, wasm_f32x4_mul(wasm_v128_load(x + i), hv));
    a1 = wasm_f32x4_add(a1, wasm_f32x4_mul(wasm_v128_load(x + s + i), hv));
    a2 = wasm_f32x4_add(a2, wasm_f32x4_mul(wasm_v128_load(x + 2 * s + i), hv));
    a3 = wasm_f32x4_add(a3, wasm_f32x4_mul(wasm_v128_load(x + 3 * s + i), hv));
    b0 = wasm_f32x4_add(b0, wasm_f32x4_mul(wasm_v128_load(x + i + 4), hw));
    b1 = wasm_f32x4_add(b1, wasm_f32x4_mul(wasm_v128_load(x + s + i + 4), hw));
    b2 = wasm_f32x4_add(b2, wasm_f32x4_mul(wasm_v128_load(x + 2 * s + i + 4), hw));
    b3 = wasm_f32x4_add(b3, wasm_f32x4_mul(wasm_v128_load(x + 3 * s + i + 4), hw));
  }
  a0 = wasm_f32x4_add(a0, b0), a1 = wasm_f32x4_add(a1, b1), a2 = wasm_f32x4_add(a2, b2), a3 = wasm_f32x4_add(a3, b3);
  for (; i < n; i += 4) {
    v128_t hv = wasm_v128_load(h + i);
    a0 = wasm_f32x4_add(a0, wasm_f32x4_mul(wasm_v128_load(x + i), hv));
    a1 = wasm_f32x4_add(a1, wasm_f32x4_mul(wasm_v128_load(x + s + i), hv));
    a2 = wasm_f32x4_add(a2, wasm_f32x4_mul(wasm_v128_load(x + 2 * s + i), hv));
    a3 = wasm_f32x4_add(a3, wasm_f32x4_mul(wasm_v128_load(x + 3 * s + i), hv));
  }
  return hsum4(a0, a1, a2, a3);
}

/* Integer decimation by m: groups of eight outputs, at x, x+m, ..., x+7m for the first
 * group and 8m samples further for each next one, written to o (stride apart).
 * Output k+4 starts 4m samples (m whole vectors) after output k, so each x load serves
 * two outputs, with the filter shifted by 4m taps: hp is the filter with 4m zeros on
 * each side.
 *
 * Under wazero, loads cost their bounds checks: one per load unless an earlier load in
 * the same block, from the same base, reached at least as far. So every load here is
 * base + constant (m is a constant in each copy of dec8, and the build folds the
 * constants into the loads' offsets with binaryen) and the farthest load of each base
 * comes first: unrolled four times, the loop pays about two checks per step of twelve
 * loads (clang reorders loads, so not one per base). The loop over groups is here, not
 * in produce, so that little else is live around the hot loop: 85k x86 instructions
 * per 48k-to-16k frame against 97k with one call per group (docs/wasm-abi.md; these counts
 * are for the 116-tap filter `high` had before its passband went to 0.9 of Nyquist: with
 * its 352 taps now, 172k). */
static inline __attribute__((always_inline)) void dec8(const float *x, const uint32_t m, const float *hp,
                                                       uint32_t n, float *o, uint32_t stride, uint32_t groups) {
  const uint32_t steps = (n + 4 * m) / 8, tail = (n + 4 * m) % 8; /* tail: 0 or 4 */
  for (; groups; groups--, x += 8 * m, o += 8 * stride) {
    v128_t a[4] = {wasm_f32x4_splat(0), a[0], a[0], a[0]}, b[4] = {a[0], a[0], a[0], a[0]};
    const float *xi = x, *hi_ = hp;
#pragma clang loop unroll_count(4) /* 116 taps: 67k instructions a frame; 78k without, 72k at 2, 69k at 8 */
    for (uint32_t s = steps; s; s--, xi += 8, hi_ += 8) {
      v128_t y[4], h1 = wasm_v128_load(hi_ + 4 * m + 4), h0 = wasm_v128_load(hi_ + 4);
      for (int k = 3; k >= 0; k--) y[k] = wasm_v128_load(xi + k * m + 4); /* the farthest first */
      for (int k = 0; k < 4; k++) {
        a[k] = wasm_f32x4_add(a[k], wasm_f32x4_mul(y[k], h1));
        b[k] = wasm_f32x4_add(b[k], wasm_f32x4_mul(y[k], h0));
      }
      h1 = wasm_v128_load(hi_ + 4 * m), h0 = wasm_v128_load(hi_);
      for (int k = 3; k >= 0; k--) y[k] = wasm_v128_load(xi + k * m);
      for (int k = 0; k < 4; k++) {
        a[k] = wasm_f32x4_add(a[k], wasm_f32x4_mul(y[k], h1));
        b[k] = wasm_f32x4_add(b[k], wasm_f32x4_mul(y[k], h0));
      }
    }
    if (tail) {
      v128_t y[4], h1 = wasm_v128_load(hi_ + 4 * m), h0 = wasm_v128_load(hi_);
      for (int k = 3; k >= 0; k--) y[k] = wasm_v128_load(xi + k * m);
      for (int k = 0; k < 4; k++) {
        a[k] = wasm_f32x4_add(a[k], wasm_f32x4_mul(y[k], h1));
        b[k] = wasm_f32x4_add(b[k], wasm_f32x4_mul(y[k], h0));
      }
    }
    v128_t lo = hsum4(a[0], a[1], a[2], a[3]), hi = hsum4(b[0], b[1], b[2], b[3]);
    if (stride == 1) {
      wasm_v128_store(o + 4, hi), wasm_v128_store(o, lo);
      continue;
    }
    o[0] = wasm_f32x4_extract_lane(lo, 0), o[stride] = wasm_f32x4_extract_lane(lo, 1);
    o[2 * stride] = wasm_f32x4_extract_lane(lo, 2), o[3 * stride] = wasm_f32x4_extract_lane(lo, 3);
    o[4 * stride] = wasm_f32x4_extract_lane(hi, 0), o[5 * stride] = wasm_f32x4_extract_lane(hi, 1);
    o[6 * stride] = wasm_f32x4_extract_lane(hi, 2), o[7 * stride] = wasm_f32x4_extract_lane(hi, 3);
  }
}

/* dec8 with the common decimation factors as constants (48k to 24k, 16k, 12k, 8k). */
static void dec8_any(const float *x, uint32_t m, const float *hp, uint32_t n, float *o, uint32_t stride,
                     uint32_t groups) {
  switch (m) {
  case 2: dec8(x, 2, hp, n, o, stride, groups); break;
  case 3: dec8(x, 3, hp, n, o, stride, groups); break;
  case 4: dec8(x, 4, hp, n, o, stride, groups); break;
  case 6: dec8(x, 6, hp, n, o, stride, groups); break;
  default: dec8(x, m, hp, n, o, stride, groups);
  }
}

/* Computes every output whose taps are available (and, with limit, only those before input
 * index limit), emits them as one frame and drops history no longer needed. */
static int produce(int64_t limit) {
  int64_t last = hbase + hlen - 1, look = (int64_t)taps - half;
  uint32_t n = 0, maxn = (uint32_t)((int64_t)(hlen + 1) * L / M + 2);
  float *o = rm_buf_reserve(&out, maxn * channels * 4);
  if (!o) return rm_fail("resample: out of memory");
  int64_t first = n_out;
  /* Integer decimation (L = 1, e.g. 48k to 16k): one filter for every output, eight and then four at a time. */
  if (L == 1) { /* groups of eight: the last input each needs is at most min(last - look, limit - 1) */
    int64_t room = (last - look < limit - 1 ? last - look : limit - 1) - cur_i - 7 * (int64_t)M;
    uint32_t groups = room < 0 ? 0 : (uint32_t)(room / (8 * (int64_t)M) + 1);
    if (groups > (maxn - n) / 8) groups = (maxn - n) / 8;
    if (groups) {
      uint32_t off = (uint32_t)(cur_i - half + 1 - hbase);
      for (uint32_t c = 0; c < channels; c++)
        dec8_any(hist + c * cap + off, M, hpad, taps, o + n * channels + c, channels, groups);
      n += 8 * groups, n_out += 8 * groups, cur_i += 8 * (int64_t)groups * M;
    }
  }
  while (L == 1 && cur_i + 3 * (int64_t)M + look <= last && cur_i + 3 * (int64_t)M < limit && n + 4 <= maxn) {
    uint32_t off = (uint32_t)(cur_i - half + 1 - hbase);
    for (uint32_t c = 0; c < channels; c++) {
      v128_t r = dot4(hist + c * cap + off, M, table, taps);
      o[n * channels + c] = wasm_f32x4_extract_lane(r, 0);
      o[(n + 1) * channels + c] = wasm_f32x4_extract_lane(r, 1);
      o[(n + 2) * channels + c] = wasm_f32x4_extract_lane(r, 2);
      o[(n + 3) * channels + c] = wasm_f32x4_extract_lane(r, 3);
    }
    n += 4, n_out += 4, cur_i += 4 * (int64_t)M;
  }
  while (cur_i + look <= last && cur_i < limit && n < maxn) {
    const float *h = interp;
    if (L <= MAX_PHASES) h = table + cur_p * taps;
    else {
      double x = (double)cur_p * phases / L;
      uint32_t r = (uint32_t)x;
      float a = (float)(x - r);
      const float *h0 = table + r * taps, *h1 = h0 + taps;
      for (uint32_t t = 0; t < taps; t++) interp[t] = h0[t] + a * (h1[t] - h0[t]);
    }
    uint32_t off = (uint32_t)(cur_i - half + 1 - hbase);
    for (uint32_t c = 0; c < channels; c++) o[n * channels + c] = dot(hist + c * cap + off, h, taps);
    n++, n_out++;
    cur_i += M / L, cur_p += M % L; /* constant divisions: hoisted out of the loop */
    if (cur_p >= L) cur_p -= L, cur_i++;
  }
  if (n) rm_emit_f32(0, out_rate, (uint16_t)channels, t0_us + first * 1000000 / out_rate, o, n * channels);
  int64_t keep = cur_i - half + 1;
  if (keep > hbase) {
    uint32_t drop = (uint32_t)(keep - hbase > hlen ? hlen : keep - hbase);
    for (uint32_t c = 0; c < channels; c++) {
      float *hc = hist + c * cap;
      __builtin_memmove(hc, hc + drop, (hlen - drop) * 4); /* memory.copy */
    }
    hlen -= drop, hbase += drop;
  }
  return 0;
}

/* Emits the tail of the current stream and forgets it. */
static int finish(void) {
  if (!in_rate) return 0;
  uint32_t pad = taps;
  if (reserve(pad)) return 1;
  for (uint32_t c = 0; c < channels; c++)
    for (uint32_t i = 0; i < pad; i++) hist[c * cap + hlen + i] = 0;
  hlen += pad;
  int rc = produce(in_count);
  release();
  return rc;
}

int rm_node_process(const rm_frame *f) {
  if (f->h.kind != RM_KIND_AUDIO || f->h.format != RM_F32) return rm_fail("resample: input must be f32 audio");
  if (!f->h.channels || !f->h.sample_rate) return rm_fail("resample: channels and sample_rate must be > 0");
  if (f->h.sample_rate == out_rate) {
    if (finish()) return 1;
    rm_emit(&f->h, 0, f->data, f->len);
    return 0;
  }
  if (f->h.sample_rate != in_rate || f->h.channels != channels) {
    if (finish() || setup(f->h.sample_rate, f->h.channels, f->h.timestamp_us)) return 1;
  }
  uint32_t frames = f->len / 4 / channels;
  if (reserve(frames)) return 1;
  const float *in = f->data;
  if (channels == 1) rm_memcpy(hist + hlen, in, frames * 4);
  else
    for (uint32_t c = 0; c < channels; c++) {
      float *hc = hist + c * cap + hlen;
      for (uint32_t i = 0; i < frames; i++) hc[i] = in[i * channels + c];
    }
  hlen += frames, in_count += frames;
  return produce(INT64_MAX);
}

int rm_node_flush(void) { return finish(); }
