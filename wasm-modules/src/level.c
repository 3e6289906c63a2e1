/* level: level, clipping and silence monitor for interleaved f32 audio.
 *
 * Audio passes through unchanged on port 0. For each window_ms window (all channels together)
 * it emits on port 1 {"event":"level","time_ms":T,"rms_db":R,"peak_db":P,"clipped":N}: the
 * window's RMS and peak in dBFS (floored at -120) and how many samples reached clip_level in
 * magnitude. A run of windows whose RMS is below silence_db that lasts silence_ms emits
 * {"event":"silence_start","time_ms":T} (T: the run's start); the next louder window emits
 * {"event":"silence_end","time_ms":T,"duration_ms":D}. With levels false only the silence
 * events and windows with clipped samples are reported. */
#include <remotemedia.h>
#include <wasm_simd128.h>

#define FLOOR_DB -120.0

static double window_ms, clip_level, silence_db, silence_ms;
static int levels;

static uint32_t rate, channels, wlen; /* window length in frames */
static uint32_t wfill;                /* frames in the current window */
static double wsum, wpeak;            /* sum of squares, peak magnitude */
static uint32_t wclip;
static int64_t total;          /* frames seen in this stream */
static int64_t t0_us;          /* timestamp of frame 0 */
static int64_t quiet_from;     /* frame index where the current run of quiet windows began, or -1 */
static int silent;             /* silence_start was emitted */
static uint32_t silence_len;   /* silence_ms in frames */

int rm_node_init(const rm_params *p) {
  window_ms = rm_param_number(p, "window_ms", 100);
  clip_level = rm_param_number(p, "clip_level", 0.999);
  silence_db = rm_param_number(p, "silence_db", -60);
  silence_ms = rm_param_number(p, "silence_ms", 500);
  levels = rm_param_bool(p, "levels", 1);
  if (window_ms < 1 || window_ms > 10000) return rm_fail("level: param window_ms must be in [1, 10000]");
  if (clip_level <= 0) return rm_fail("level: param clip_level must be > 0");
  if (silence_ms < 0) return rm_fail("level: param silence_ms must be >= 0");
  return 0;
}

static void reset(uint32_t r, uint32_t ch, int64_t ts) {
  rate = r, channels = ch, t0_us = ts;
  wlen = (uint32_t)(window_ms * r / 1000 + 0.5);
  if (!wlen) wlen = 1;
  silence_len = (uint32_t)(silence_ms * r / 1000 + 0.5);
  wfill = 0, wsum = 0, wpeak = 0, wclip = 0, total = 0, quiet_from = -1, silent = 0;
}

static double db(double x) {
  double d = x > 0 ? 20 * rm_log10(x) : FLOOR_DB;
  return d < FLOOR_DB ? FLOOR_DB : d;
}

static uint32_t fmt_uint(char *dst, uint32_t v) {
  char tmp[10];
  uint32_t n = 0, t = 0;
  do tmp[t++] = (char)('0' + v % 10), v /= 10;
  while (v);
  while (t) dst[n++] = tmp[--t];
  return n;
}

static double ms_at(int64_t frame) { return ((double)t0_us + (double)frame * 1e6 / rate) / 1000; }

static void emit_json(const char *s, uint32_t n, int64_t frame) {
  rm_emit_text(1, RM_KIND_JSON, t0_us + frame * 1000000 / rate, s, n);
}

/* Ends the window of wfill frames that ends at frame index `end`. */
static void close_window(int64_t end) {
  int64_t start = end - wfill;
  double rms_db = db(__builtin_sqrt(wsum / ((double)wfill * channels))), peak_db = db(wpeak);
  char b[160];
  uint32_t n;
  if (levels || wclip) {
    n = rm_fmt_str(b, "{\"event\":\"level\",\"time_ms\":");
    n += rm_fmt_number(b + n, ms_at(start), 3);
    n += rm_fmt_str(b + n, ",\"rms_db\":");
    n += rm_fmt_number(b + n, rms_db, 2);
    n += rm_fmt_str(b + n, ",\"peak_db\":");
    n += rm_fmt_number(b + n, peak_db, 2);
    n += rm_fmt_str(b + n, ",\"clipped\":");
    n += fmt_uint(b + n, wclip);
    b[n++] = '}';
    emit_json(b, n, start);
  }
  if (rms_db < silence_db) {
    if (quiet_from < 0) quiet_from = start;
    if (!silent && end - quiet_from >= silence_len) {
      silent = 1;
      n = rm_fmt_str(b, "{\"event\":\"silence_start\",\"time_ms\":");
      n += rm_fmt_number(b + n, ms_at(quiet_from), 3);
      b[n++] = '}';
      emit_json(b, n, quiet_from);
    }
  } else {
    if (silent) {
      n = rm_fmt_str(b, "{\"event\":\"silence_end\",\"time_ms\":");
      n += rm_fmt_number(b + n, ms_at(start), 3);
      n += rm_fmt_str(b + n, ",\"duration_ms\":");
      n += rm_fmt_number(b + n, ms_at(start) - ms_at(quiet_from), 3);
      b[n++] = '}';
      emit_json(b, n, start);
    }
    silent = 0, quiet_from = -1;
  }
  wfill = 0, wsum = 0, wpeak = 0, wclip = 0;
}

/* Adds n samples to the window's sums: SIMD over four accumulators of each. */
static void accumulate(const float *x, uint32_t n) {
  v128_t s0 = wasm_f32x4_splat(0), s1 = s0, m0 = s0, m1 = s0, c = wasm_i32x4_splat(0);
  v128_t lim = wasm_f32x4_splat((float)clip_level);
  uint32_t i = 0;
  for (; i + 8 <= n; i += 8) {
    const float *p = x + i;
    v128_t b = wasm_f32x4_abs(wasm_v128_load(p + 4)), a = wasm_f32x4_abs(wasm_v128_load(p));
    s0 = wasm_f32x4_add(s0, wasm_f32x4_mul(a, a)), s1 = wasm_f32x4_add(s1, wasm_f32x4_mul(b, b));
    m0 = wasm_f32x4_max(m0, a), m1 = wasm_f32x4_max(m1, b);
    c = wasm_i32x4_sub(c, wasm_f32x4_ge(a, lim)); /* a true lane is -1 */
    c = wasm_i32x4_sub(c, wasm_f32x4_ge(b, lim));
  }
  s0 = wasm_f32x4_add(s0, s1), m0 = wasm_f32x4_max(m0, m1);
  double sum = (double)wasm_f32x4_extract_lane(s0, 0) + wasm_f32x4_extract_lane(s0, 1) +
               wasm_f32x4_extract_lane(s0, 2) + wasm_f32x4_extract_lane(s0, 3);
  m0 = wasm_f32x4_max(m0, wasm_i32x4_shuffle(m0, m0, 2, 3, 0, 1));
  m0 = wasm_f32x4_max(m0, wasm_i32x4_shuffle(m0, m0, 1, 0, 3, 2));
  float peak = wasm_f32x4_extract_lane(m0, 0);
  uint32_t clipped = (uint32_t)(wasm_i32x4_extract_lane(c, 0) + wasm_i32x4_extract_lane(c, 1) +
                                wasm_i32x4_extract_lane(c, 2) + wasm_i32x4_extract_lane(c, 3));
  for (; i < n; i++) {
    float a = x[i] < 0 ? -x[i] : x[i];
    sum += (double)a * a;
    if (a > peak) peak = a;
    clipped += a >= (float)clip_level;
  }
  wsum += sum, wclip += clipped;
  if (peak > wpeak) wpeak = peak;
}

int rm_node_process(const rm_frame *f) {
  if (f->h.kind != RM_KIND_AUDIO || f->h.format != RM_F32) return rm_fail("level: input must be f32 audio");
  if (!f->h.channels || !f->h.sample_rate) return rm_fail("level: channels and sample_rate must be > 0");
  if (f->h.sample_rate != rate || f->h.channels != channels) {
    if (rate && wfill) close_window(total);
    reset(f->h.sample_rate, f->h.channels, f->h.timestamp_us);
  }
  rm_emit(&f->h, 0, f->data, f->len);
  const float *x = f->data;
  uint32_t frames = f->len / 4 / channels;
  while (frames) {
    uint32_t take = wlen - wfill < frames ? wlen - wfill : frames;
    accumulate(x, take * channels);
    x += take * channels, frames -= take, wfill += take, total += take;
    if (wfill == wlen) close_window(total);
  }
  return 0;
}

int rm_node_flush(void) {
  if (rate && wfill) close_window(total);
  return 0;
}
