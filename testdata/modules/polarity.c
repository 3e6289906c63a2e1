/* polarity.c - a node module written outside the tree from wasm-modules/include/remotemedia.h
 * alone: it declares its own node type, so `remotemedia run --modules DIR`, a definition's
 * `module: ./polarity.wasm` and the tab's rm.registerModule(url) register it (the tests in
 * target/server/cli/modules_test.go and e2e/custom_module_test.go build it with clang).
 *
 * It multiplies f32 audio by -1 (or passes it through with invert false), in place in its
 * input buffer, and every `report_every` frames emits {"frames": N, "peak": P} on `stats`. */
#include "remotemedia.h"

RM_DECLARE_NODE({
  "node_type": "polarity",
  "doc": "Inverts the polarity of f32 audio; reports the peak level on stats.",
  "inputs": [{"name": "in", "kinds": ["audio"]}],
  "outputs": [
    {"name": "out", "kinds": ["audio"], "doc": "the audio, inverted"},
    {"name": "stats", "kinds": ["json"], "doc": "{frames, peak} every report_every frames"}
  ],
  "params": [
    {"name": "invert", "type": "boolean", "default": true, "doc": "invert the polarity (false: pass through)"},
    {"name": "report_every", "type": "integer", "default": 25, "min": 1, "max": 100000, "doc": "frames between two stats events"}
  ],
  "example": {"invert": true}
});

static int invert, every, frames;
static float peak;

int rm_node_init(const rm_params *p) {
  invert = rm_param_bool(p, "invert", 1);
  every = (int)rm_param_number(p, "report_every", 25);
  return 0;
}

int rm_node_process(const rm_frame *f) {
  if (f->h.kind != RM_KIND_AUDIO || f->h.format != RM_F32) return rm_fail("polarity: want f32 audio");
  float *s = (float *)f->data; /* the guest may write its input buffer (docs/wasm-abi.md) */
  uint32_t n = f->len / 4;
  for (uint32_t i = 0; i < n; i++) {
    float a = s[i] < 0 ? -s[i] : s[i];
    if (a > peak) peak = a;
    if (invert) s[i] = -s[i];
  }
  rm_emit(&f->h, 0, s, f->len);
  if (++frames % every == 0) {
    char buf[64];
    uint32_t len = rm_fmt_str(buf, "{\"frames\":");
    len += rm_fmt_number(buf + len, frames, 0);
    len += rm_fmt_str(buf + len, ",\"peak\":");
    len += rm_fmt_number(buf + len, peak, 4);
    buf[len++] = '}';
    rm_emit_text(1, RM_KIND_JSON, f->h.timestamp_us, buf, len);
  }
  return 0;
}
