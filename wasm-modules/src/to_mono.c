/* to_mono: mixes interleaved f32 audio down to one channel by averaging; mono passes through. */
#include <remotemedia.h>
#include <wasm_simd128.h>

static rm_buf out;

int rm_node_init(const rm_params *p) {
  (void)p;
  return 0;
}

int rm_node_process(const rm_frame *f) {
  if (f->h.kind != RM_KIND_AUDIO || f->h.format != RM_F32) return rm_fail("to_mono: input must be f32 audio");
  uint32_t ch = f->h.channels;
  if (ch == 0) return rm_fail("to_mono: channels must be > 0");
  if (ch == 1) {
    rm_emit(&f->h, 0, f->data, f->len);
    return 0;
  }
  uint32_t frames = f->len / 4 / ch, i = 0;
  const float *in = f->data;
  float *o = rm_buf_reserve(&out, frames * 4 + 4);
  if (!o) return rm_fail("to_mono: out of memory");
  if (ch == 2) {
    v128_t half = wasm_f32x4_splat(0.5f);
    for (; i + 8 <= frames; i += 8) { /* farthest access of each base first: one bounds check each (remotemedia.h) */
      const float *x = in + 2 * i;
      float *y = o + i;
      v128_t d = wasm_v128_load(x + 12), c = wasm_v128_load(x + 8), b = wasm_v128_load(x + 4), a = wasm_v128_load(x);
      v128_t l1 = wasm_i32x4_shuffle(c, d, 0, 2, 4, 6), r1 = wasm_i32x4_shuffle(c, d, 1, 3, 5, 7);
      v128_t l0 = wasm_i32x4_shuffle(a, b, 0, 2, 4, 6), r0 = wasm_i32x4_shuffle(a, b, 1, 3, 5, 7);
      wasm_v128_store(y + 4, wasm_f32x4_mul(wasm_f32x4_add(l1, r1), half));
      wasm_v128_store(y, wasm_f32x4_mul(wasm_f32x4_add(l0, r0), half));
    }
    for (; i < frames; i++) o[i] = (in[2 * i] + in[2 * i + 1]) * 0.5f;
  } else {
    float inv = 1.0f / (float)ch;
    for (; i < frames; i++) {
      float s = 0;
      for (uint32_t c = 0; c < ch; c++) s += in[i * ch + c];
      o[i] = s * inv;
    }
  }
  rm_header h = f->h;
  h.channels = 1;
  rm_emit(&h, 0, o, frames * 4);
  return 0;
}
