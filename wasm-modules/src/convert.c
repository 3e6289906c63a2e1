/* convert: converts audio between s16 and f32 samples; frames already in the target format pass through. */
#include <remotemedia.h>
#include <wasm_simd128.h>

static uint8_t to;
static rm_buf out;

int rm_node_init(const rm_params *p) {
  char s[8];
  rm_param_string(p, "to", s, sizeof s, "f32");
  if (s[0] == 'f' && s[1] == '3' && s[2] == '2' && !s[3]) to = RM_F32;
  else if (s[0] == 's' && s[1] == '1' && s[2] == '6' && !s[3]) to = RM_S16;
  else return rm_fail("convert: param to must be \"f32\" or \"s16\"");
  return 0;
}

int rm_node_process(const rm_frame *f) {
  if (f->h.kind != RM_KIND_AUDIO || (f->h.format != RM_F32 && f->h.format != RM_S16))
    return rm_fail("convert: input must be f32 or s16 audio");
  rm_header h = f->h;
  if (h.format == to) {
    rm_emit(&h, 0, f->data, f->len);
    return 0;
  }
  h.format = to;
  if (to == RM_F32) {
    uint32_t n = f->len / 2;
    const int16_t *in = f->data;
    float *o = rm_buf_reserve(&out, n * 4);
    if (!o) return rm_fail("convert: out of memory");
    uint32_t i = 0;
    v128_t scale = wasm_f32x4_splat(1.0f / 32768.0f);
    for (; i + 8 <= n; i += 8) { /* the farther store first: one bounds check per base (remotemedia.h) */
      v128_t v = wasm_v128_load(in + i);
      float *y = o + i;
      wasm_v128_store(y + 4, wasm_f32x4_mul(wasm_f32x4_convert_i32x4(wasm_i32x4_extend_high_i16x8(v)), scale));
      wasm_v128_store(y, wasm_f32x4_mul(wasm_f32x4_convert_i32x4(wasm_i32x4_extend_low_i16x8(v)), scale));
    }
    for (; i < n; i++) o[i] = (float)in[i] * (1.0f / 32768.0f);
    rm_emit(&h, 0, o, n * 4);
    return 0;
  }
  uint32_t n = f->len / 4;
  const float *in = f->data;
  int16_t *o = rm_buf_reserve(&out, n * 2);
  if (!o) return rm_fail("convert: out of memory");
  uint32_t i = 0;
  /* round half away from zero: add 0.5 with v's sign, then truncate; saturating
   * conversions do the clipping and turn NaN into 0 */
  v128_t scale = wasm_f32x4_splat(32768.0f), half = wasm_f32x4_splat(0.5f), sign = wasm_i32x4_splat((int32_t)0x80000000);
  for (; i + 8 <= n; i += 8) {
    const float *x = in + i; /* the farther load first: one bounds check (remotemedia.h) */
    v128_t b = wasm_f32x4_mul(wasm_v128_load(x + 4), scale), a = wasm_f32x4_mul(wasm_v128_load(x), scale);
    a = wasm_f32x4_add(a, wasm_v128_or(half, wasm_v128_and(a, sign)));
    b = wasm_f32x4_add(b, wasm_v128_or(half, wasm_v128_and(b, sign)));
    wasm_v128_store(o + i, wasm_i16x8_narrow_i32x4(wasm_i32x4_trunc_sat_f32x4(a), wasm_i32x4_trunc_sat_f32x4(b)));
  }
  for (; i < n; i++) {
    float v = in[i] * 32768.0f;
    v = v > 32767.0f ? 32767.0f : v < -32768.0f ? -32768.0f : v; /* NaN falls through to 0 below */
    o[i] = v == v ? (int16_t)(v >= 0 ? v + 0.5f : v - 0.5f) : 0;
  }
  rm_emit(&h, 0, o, n * 2);
  return 0;
}
