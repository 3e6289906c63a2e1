/* gain: multiplies f32 audio by a gain given in dB (gain_db) or as a linear factor (linear). */
#include <remotemedia.h>
#include <wasm_simd128.h>

static float gain;
static rm_buf out;

int rm_node_init(const rm_params *p) {
  gain = rm_param_has(p, "linear") ? (float)rm_param_number(p, "linear", 1)
                                   : (float)rm_exp(rm_param_number(p, "gain_db", 0) * 0.11512925464970229); /* ln10/20 */
  return 0;
}

int rm_node_process(const rm_frame *f) {
  if (f->h.kind != RM_KIND_AUDIO || f->h.format != RM_F32) return rm_fail("gain: input must be f32 audio");
  uint32_t n = f->len / 4, i = 0;
  const float *in = f->data;
  float *o = rm_buf_reserve(&out, f->len);
  if (!o) return rm_fail("gain: out of memory");
  v128_t g = wasm_f32x4_splat(gain);
  for (; i + 16 <= n; i += 16) { /* farthest access of each base first: one bounds check each (remotemedia.h) */
    const float *x = in + i;
    float *y = o + i;
    v128_t v3 = wasm_v128_load(x + 12), v2 = wasm_v128_load(x + 8), v1 = wasm_v128_load(x + 4), v0 = wasm_v128_load(x);
    wasm_v128_store(y + 12, wasm_f32x4_mul(v3, g));
    wasm_v128_store(y + 8, wasm_f32x4_mul(v2, g));
    wasm_v128_store(y + 4, wasm_f32x4_mul(v1, g));
    wasm_v128_store(y, wasm_f32x4_mul(v0, g));
  }
  for (; i < n; i++) o[i] = in[i] * gain;
  rm_emit(&f->h, 0, o, f->len);
  return 0;
}
