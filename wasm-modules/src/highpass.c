/* highpass: Butterworth high-pass filter for interleaved f32 audio, to take out DC and rumble.
 *
 * order 2 is one biquad, order 4 two in cascade (bilinear transform, cutoff pre-warped, so the
 * response is -3 dB at cutoff_hz and falls 12 or 24 dB per octave below it). Each biquad
 * y[n] = b0 x[n] + b1 x[n-1] + b2 x[n-2] - a1 y[n-1] - a2 y[n-2] runs in two SIMD passes over a
 * channel: the feed-forward part w[n] four samples at a time, then the recursion four samples
 * at a time as y[n..n+3] = sum_j w[n+j] H_j + y[n-1] P + y[n-2] Q, where H_j is the recursion's
 * impulse response delayed by j and P, Q its response to each past output. */
#include <remotemedia.h>
#include <wasm_simd128.h>

#define MAX_SECTIONS 2

typedef struct section {
  float b0, b1, b2, a1, a2;
  v128_t h[4], p, q; /* the block recursion's columns */
} section;

static double cutoff_hz;
static int order;
static section sec[MAX_SECTIONS];
static int nsec;

static uint32_t rate, channels;
static float *state; /* per channel and section: x[n-2], x[n-1], y[n-2], y[n-1] */
static rm_buf out, xbuf, wbuf;

int rm_node_init(const rm_params *p) {
  cutoff_hz = rm_param_number(p, "cutoff_hz", 80);
  order = (int)rm_param_number(p, "order", 2);
  if (cutoff_hz <= 0) return rm_fail("highpass: param cutoff_hz must be > 0");
  if (order != 2 && order != 4) return rm_fail("highpass: param order must be 2 or 4");
  return 0;
}

static double cosine(double x) { return rm_sin(x + 1.5707963267948966); }

/* Designs the biquads for rate r: RBJ high-pass sections with Butterworth Qs. */
static int design(uint32_t r) {
  if (cutoff_hz >= r * 0.49) return rm_fail("highpass: cutoff_hz must be below the input's Nyquist");
  static const double q2[] = {0.7071067811865476}, q4[] = {0.5411961001461970, 1.3065629648763766};
  nsec = order / 2;
  double w0 = 2 * 3.141592653589793 * cutoff_hz / r, c = cosine(w0), s = rm_sin(w0);
  for (int k = 0; k < nsec; k++) {
    double alpha = s / (2 * (order == 2 ? q2[k] : q4[k])), a0 = 1 + alpha;
    section *S = &sec[k];
    S->b0 = (float)((1 + c) / 2 / a0), S->b1 = (float)(-(1 + c) / a0), S->b2 = S->b0;
    S->a1 = (float)(-2 * c / a0), S->a2 = (float)((1 - alpha) / a0);
    /* h: impulse response of 1/(1 + a1 z^-1 + a2 z^-2); p, q: output from y[-1] = 1 or y[-2] = 1 */
    float h[7] = {0, 0, 0, 1}, p[4], q[4], a1 = S->a1, a2 = S->a2;
    for (int i = 4; i < 7; i++) h[i] = -a1 * h[i - 1] - a2 * h[i - 2];
    p[0] = -a1, p[1] = -a1 * p[0] - a2, q[0] = -a2, q[1] = -a1 * q[0];
    for (int i = 2; i < 4; i++) p[i] = -a1 * p[i - 1] - a2 * p[i - 2], q[i] = -a1 * q[i - 1] - a2 * q[i - 2];
    for (int j = 0; j < 4; j++) S->h[j] = wasm_f32x4_make(h[3 - j], h[4 - j], h[5 - j], h[6 - j]); /* zeros before j */
    S->p = wasm_f32x4_make(p[0], p[1], p[2], p[3]), S->q = wasm_f32x4_make(q[0], q[1], q[2], q[3]);
  }
  return 0;
}

/* Runs section S over x[0..n) in place; st holds its x[n-2], x[n-1], y[n-2], y[n-1]. x has
 * two free floats before it and w room for n+3. */
static void run_section(const section *S, float *x, float *w, uint32_t n, float *st) {
  x[-2] = st[0], x[-1] = st[1];
  float nx2 = n >= 2 ? x[n - 2] : (n == 1 ? st[1] : st[0]), nx1 = n >= 1 ? x[n - 1] : st[1];
  v128_t b0 = wasm_f32x4_splat(S->b0), b1 = wasm_f32x4_splat(S->b1), b2 = wasm_f32x4_splat(S->b2);
  uint32_t i = 0;
  for (; i + 4 <= n; i += 4) { /* the feed-forward part: independent per sample */
    const float *p = x + i;
    v128_t v0 = wasm_v128_load(p), v1 = wasm_v128_load(p - 1), v2 = wasm_v128_load(p - 2);
    wasm_v128_store(w + i, wasm_f32x4_add(wasm_f32x4_mul(v0, b0), wasm_f32x4_add(wasm_f32x4_mul(v1, b1), wasm_f32x4_mul(v2, b2))));
  }
  for (; i < n; i++) w[i] = S->b0 * x[i] + S->b1 * x[i - 1] + S->b2 * x[i - 2];
  float y2 = st[2], y1 = st[3];
  i = 0;
  for (; i + 4 <= n; i += 4) { /* the recursion, four outputs per step */
    v128_t wv = wasm_v128_load(w + i);
    v128_t y = wasm_f32x4_add(wasm_f32x4_mul(wasm_f32x4_splat(y1), S->p), wasm_f32x4_mul(wasm_f32x4_splat(y2), S->q));
    y = wasm_f32x4_add(y, wasm_f32x4_mul(wasm_i32x4_shuffle(wv, wv, 0, 0, 0, 0), S->h[0]));
    y = wasm_f32x4_add(y, wasm_f32x4_mul(wasm_i32x4_shuffle(wv, wv, 1, 1, 1, 1), S->h[1]));
    y = wasm_f32x4_add(y, wasm_f32x4_mul(wasm_i32x4_shuffle(wv, wv, 2, 2, 2, 2), S->h[2]));
    y = wasm_f32x4_add(y, wasm_f32x4_mul(wasm_i32x4_shuffle(wv, wv, 3, 3, 3, 3), S->h[3]));
    wasm_v128_store(x + i, y);
    y2 = wasm_f32x4_extract_lane(y, 2), y1 = wasm_f32x4_extract_lane(y, 3);
  }
  for (; i < n; i++) {
    float y = w[i] - S->a1 * y1 - S->a2 * y2;
    x[i] = y, y2 = y1, y1 = y;
  }
  st[0] = nx2, st[1] = nx1, st[2] = y2, st[3] = y1;
}

int rm_node_process(const rm_frame *f) {
  if (f->h.kind != RM_KIND_AUDIO || f->h.format != RM_F32) return rm_fail("highpass: input must be f32 audio");
  if (!f->h.channels || !f->h.sample_rate) return rm_fail("highpass: channels and sample_rate must be > 0");
  if (f->h.sample_rate != rate || f->h.channels != channels) {
    rate = 0;
    if (design(f->h.sample_rate)) return 1;
    rm_free(state);
    state = rm_alloc(f->h.channels * MAX_SECTIONS * 4 * 4);
    if (!state) return rm_fail("highpass: out of memory");
    for (uint32_t i = 0; i < f->h.channels * MAX_SECTIONS * 4u; i++) state[i] = 0;
    rate = f->h.sample_rate, channels = f->h.channels;
  }
  uint32_t frames = f->len / 4 / channels;
  float *o = rm_buf_reserve(&out, f->len + 16);
  float *xb = rm_buf_reserve(&xbuf, (frames + 8) * 4), *w = rm_buf_reserve(&wbuf, (frames + 8) * 4);
  if (!o || !xb || !w) return rm_fail("highpass: out of memory");
  const float *in = f->data;
  for (uint32_t c = 0; c < channels; c++) {
    float *x = xb + 4; /* 16-byte aligned, with room for x[-2], x[-1] */
    if (channels == 1) rm_memcpy(x, in, frames * 4);
    else
      for (uint32_t i = 0; i < frames; i++) x[i] = in[i * channels + c];
    for (int k = 0; k < nsec; k++) run_section(&sec[k], x, w, frames, state + (c * MAX_SECTIONS + k) * 4);
    if (channels == 1) rm_memcpy(o, x, frames * 4);
    else
      for (uint32_t i = 0; i < frames; i++) o[i * channels + c] = x[i];
  }
  rm_emit(&f->h, 0, o, frames * channels * 4);
  return 0;
}
