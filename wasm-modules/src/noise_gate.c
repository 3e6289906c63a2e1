/* noise_gate: a noise gate for interleaved f32 audio.
 *
 * The audio is taken in blocks of BLOCK frames. A block whose peak (any channel) reaches
 * threshold_db opens the gate and starts hold_ms of hold; once the hold has run out with no
 * such block the gate closes. The gain moves linearly, sample by sample, between 1 (open) and
 * floor_db (closed): up over attack_ms, down over release_ms. Peak detection and the gain ramp
 * run four samples at a time (SIMD). */
#include <remotemedia.h>
#include <wasm_simd128.h>

#define BLOCK 32

static double threshold_db, attack_ms, release_ms, hold_ms, floor_db;

static uint32_t rate, channels;
static float thr, floor_gain, gain, up, down; /* up, down: gain change per frame */
static int64_t hold_left;                    /* frames of hold left */
static uint32_t hold;                        /* hold_ms in frames */
static rm_buf out;

int rm_node_init(const rm_params *p) {
  threshold_db = rm_param_number(p, "threshold_db", -45);
  attack_ms = rm_param_number(p, "attack_ms", 1);
  release_ms = rm_param_number(p, "release_ms", 100);
  hold_ms = rm_param_number(p, "hold_ms", 50);
  floor_db = rm_param_number(p, "floor_db", -80);
  if (attack_ms < 0 || release_ms < 0 || hold_ms < 0) return rm_fail("noise_gate: attack_ms, release_ms and hold_ms must be >= 0");
  if (threshold_db > 0 || floor_db > 0) return rm_fail("noise_gate: threshold_db and floor_db must be <= 0");
  return 0;
}

static float from_db(double d) { return (float)rm_exp(d * 0.11512925464970229); } /* ln 10 / 20 */

static void reset(uint32_t r, uint32_t ch) {
  rate = r, channels = ch;
  thr = from_db(threshold_db);
  floor_gain = floor_db <= -120 ? 0 : from_db(floor_db);
  double a = attack_ms * r / 1000, d = release_ms * r / 1000;
  up = a < 1 ? 1 : (float)((1 - floor_gain) / a);
  down = d < 1 ? 1 : (float)((1 - floor_gain) / d);
  hold = (uint32_t)(hold_ms * r / 1000 + 0.5);
  gain = floor_gain, hold_left = 0;
}

static float block_peak(const float *x, uint32_t n) {
  v128_t m = wasm_f32x4_splat(0);
  uint32_t i = 0;
  for (; i + 4 <= n; i += 4) m = wasm_f32x4_max(m, wasm_f32x4_abs(wasm_v128_load(x + i)));
  m = wasm_f32x4_max(m, wasm_i32x4_shuffle(m, m, 2, 3, 0, 1));
  m = wasm_f32x4_max(m, wasm_i32x4_shuffle(m, m, 1, 0, 3, 2));
  float peak = wasm_f32x4_extract_lane(m, 0);
  for (; i < n; i++) {
    float a = x[i] < 0 ? -x[i] : x[i];
    if (a > peak) peak = a;
  }
  return peak;
}

/* Multiplies n frames by a gain from g moving by step per frame, stopping at limit. */
static float apply(const float *x, float *o, uint32_t n, float g, float step, float limit) {
  uint32_t i = 0;
  if (channels == 1) {
    /* the frames before the ramp reaches its limit, four at a time */
    float left = step == 0 ? (float)n : (limit - g) / step;
    uint32_t ramp = left >= (float)n ? n : (uint32_t)left;
    v128_t gv = wasm_f32x4_add(wasm_f32x4_splat(g), wasm_f32x4_mul(wasm_f32x4_splat(step), wasm_f32x4_make(0, 1, 2, 3)));
    v128_t s4 = wasm_f32x4_splat(4 * step);
    for (; i + 4 <= ramp; i += 4, gv = wasm_f32x4_add(gv, s4)) wasm_v128_store(o + i, wasm_f32x4_mul(wasm_v128_load(x + i), gv));
    g += step * i;
    if (ramp == n || step == 0) goto scalar;
    for (; i < ramp; i++, g += step) o[i] = x[i] * g;
    g = limit;
    v128_t lv = wasm_f32x4_splat(limit);
    for (; i + 4 <= n; i += 4) wasm_v128_store(o + i, wasm_f32x4_mul(wasm_v128_load(x + i), lv));
  }
scalar:
  for (; i < n; i++) {
    for (uint32_t c = 0; c < channels; c++) o[i * channels + c] = x[i * channels + c] * g;
    g += step;
    if ((step > 0 && g > limit) || (step < 0 && g < limit)) g = limit, step = 0;
  }
  return g;
}

int rm_node_process(const rm_frame *f) {
  if (f->h.kind != RM_KIND_AUDIO || f->h.format != RM_F32) return rm_fail("noise_gate: input must be f32 audio");
  if (!f->h.channels || !f->h.sample_rate) return rm_fail("noise_gate: channels and sample_rate must be > 0");
  if (f->h.sample_rate != rate || f->h.channels != channels) reset(f->h.sample_rate, f->h.channels);
  uint32_t frames = f->len / 4 / channels;
  float *o = rm_buf_reserve(&out, f->len + 16);
  if (!o) return rm_fail("noise_gate: out of memory");
  const float *x = f->data;
  for (uint32_t i = 0; i < frames; i += BLOCK) {
    uint32_t n = frames - i < BLOCK ? frames - i : BLOCK;
    if (block_peak(x + i * channels, n * channels) >= thr) hold_left = hold + n;
    int open = hold_left > 0;
    hold_left = hold_left > n ? hold_left - n : 0;
    float target = open ? 1 : floor_gain, step = open ? up : -down;
    if (gain == target) step = 0;
    gain = apply(x + i * channels, o + i * channels, n, gain, step, target);
  }
  rm_emit(&f->h, 0, o, frames * channels * 4);
  return 0;
}
