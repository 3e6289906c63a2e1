/* vad: energy voice activity detector for interleaved f32 audio.
 *
 * Each window_ms window's mean-square level (dBFS) is compared with an adaptive noise floor
 * that drops at once to a quieter window and rises by RISE_DB_PER_S otherwise. A window is
 * speech when its level > max(floor + threshold_db, min_level_db). Speech starts after
 * min_speech_ms of consecutive speech windows (speech_start at the first one's start) and ends
 * after hangover_ms without one (speech_end at the last one's end). Events go out as JSON on
 * port 1; audio goes out on port 0: every frame as it is, or with gate only speech (from the
 * first speech window through the hangover), taken from a ring of recent audio. */
#include <remotemedia.h>
#include <wasm_simd128.h>

#define RISE_DB_PER_S 0.5

enum { SILENCE, PENDING, SPEECH };

static double threshold_db, min_level_db, window_ms, min_speech_ms, hangover_ms;
static int gate;

static uint32_t rate, channels, wlen, min_speech, hangover; /* lengths in frames */
static int state, have_floor;
static double floor_db, acc;
static uint32_t acc_n;
static int64_t total, win_start, cand_start, last_speech_end, silence, seg_start;
static int64_t frame_idx, frame_ts;
static float *ring;
static uint32_t rcap; /* frames */
static rm_buf out;

int rm_node_init(const rm_params *p) {
  threshold_db = rm_param_number(p, "threshold_db", 9);
  min_level_db = rm_param_number(p, "min_level_db", -50);
  window_ms = rm_param_number(p, "window_ms", 10);
  min_speech_ms = rm_param_number(p, "min_speech_ms", 60);
  hangover_ms = rm_param_number(p, "hangover_ms", 200);
  gate = rm_param_bool(p, "gate", 1);
  if (window_ms <= 0) return rm_fail("vad: param window_ms must be > 0");
  if (min_speech_ms < 0 || hangover_ms < 0) return rm_fail("vad: min_speech_ms and hangover_ms must be >= 0");
  return 0;
}

static void reset(uint32_t r, uint32_t ch) {
  rate = r, channels = ch;
  wlen = (uint32_t)(window_ms * r / 1000 + 0.5);
  if (!wlen) wlen = 1;
  min_speech = (uint32_t)(min_speech_ms * r / 1000 + 0.5);
  hangover = (uint32_t)(hangover_ms * r / 1000 + 0.5);
  state = SILENCE, have_floor = 0, acc = 0, acc_n = 0;
  total = win_start = cand_start = last_speech_end = silence = seg_start = 0;
  rm_free(ring);
  ring = 0, rcap = 0;
}

static double time_ms(int64_t idx) { return ((double)frame_ts + (double)(idx - frame_idx) * 1e6 / rate) / 1000; }

/* The ring holds frame index i at ring[(i % rcap) * channels]; a span of n frames from
 * idx is at most two pieces: first frames at idx's slot, the rest at the ring's start. */
static uint32_t ring_first(int64_t idx, uint32_t n) {
  uint32_t room = rcap - (uint32_t)(idx % rcap);
  return n < room ? n : room;
}

static void ring_put(int64_t idx, const float *src, uint32_t n) {
  uint32_t first = ring_first(idx, n), ch4 = channels * 4;
  rm_memcpy(ring + (uint32_t)(idx % rcap) * channels, src, first * ch4);
  rm_memcpy(ring, src + first * channels, (n - first) * ch4);
}

static void ring_get(int64_t idx, float *dst, uint32_t n) {
  uint32_t first = ring_first(idx, n), ch4 = channels * 4;
  rm_memcpy(dst, ring + (uint32_t)(idx % rcap) * channels, first * ch4);
  rm_memcpy(dst + first * channels, ring, (n - first) * ch4);
}

/* Emits ring frames [a, b) as one audio frame on port 0. */
static int emit_audio(int64_t a, int64_t b) {
  if (b <= a) return 0;
  uint32_t n = (uint32_t)(b - a);
  float *o = rm_buf_reserve(&out, n * channels * 4);
  if (!o) return rm_fail("vad: out of memory");
  ring_get(a, o, n);
  rm_emit_f32(0, rate, (uint16_t)channels, (int64_t)(time_ms(a) * 1000 + 0.5), o, n * channels);
  return 0;
}

static void emit_event(const char *name, int64_t at, int64_t from) {
  char buf[96];
  uint32_t n = rm_fmt_str(buf, "{\"event\":\"");
  n += rm_fmt_str(buf + n, name);
  n += rm_fmt_str(buf + n, "\",\"time_ms\":");
  double t = time_ms(at);
  n += rm_fmt_number(buf + n, t, 3);
  if (from >= 0) {
    n += rm_fmt_str(buf + n, ",\"duration_ms\":");
    n += rm_fmt_number(buf + n, t - time_ms(from), 3);
  }
  buf[n++] = '}';
  rm_emit_text(1, RM_KIND_JSON, (int64_t)(t * 1000 + 0.5), buf, n);
}

static int end_speech(int64_t audio_end) {
  if (gate && emit_audio(seg_start, audio_end)) return 1;
  emit_event("speech_end", last_speech_end, cand_start);
  state = SILENCE;
  return 0;
}

/* Classifies the window [a, a+wlen) whose mean square is ms and steps the state machine. */
static int window(int64_t a, double ms) {
  int64_t b = a + wlen;
  double level = 10 * rm_log10(ms + 1e-12);
  if (!have_floor) floor_db = level, have_floor = 1;
  double need = floor_db + threshold_db > min_level_db ? floor_db + threshold_db : min_level_db;
  int speech = level > need;
  if (level < floor_db) floor_db = level;
  else floor_db += RISE_DB_PER_S * wlen / rate;
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
    state = SPEECH, last_speech_end = b, silence = 0, seg_start = cand_start;
    emit_event("speech_start", cand_start, -1);
  }
  return 0;
}

static double sum_squares(const float *x, uint32_t n) {
  v128_t a = wasm_f32x4_splat(0), b = wasm_f32x4_splat(0);
  uint32_t i = 0;
  for (; i + 8 <= n; i += 8) { /* the farther load first: one bounds check (remotemedia.h) */
    const float *p = x + i;
    v128_t v = wasm_v128_load(p + 4), u = wasm_v128_load(p);
    a = wasm_f32x4_add(a, wasm_f32x4_mul(u, u));
    b = wasm_f32x4_add(b, wasm_f32x4_mul(v, v));
  }
  a = wasm_f32x4_add(a, b);
  double s = (double)wasm_f32x4_extract_lane(a, 0) + wasm_f32x4_extract_lane(a, 1) + wasm_f32x4_extract_lane(a, 2) +
             wasm_f32x4_extract_lane(a, 3);
  for (; i < n; i++) s += (double)x[i] * x[i];
  return s;
}

/* Makes the ring hold at least need frames, keeping the most recent ones at their indices. */
static int reserve_ring(uint32_t need) {
  if (need <= rcap) return 0;
  uint32_t ncap = need * 2;
  float *nr = rm_alloc(ncap * channels * 4);
  if (!nr) return rm_fail("vad: out of memory");
  int64_t from = total - (int64_t)rcap > 0 ? total - rcap : 0;
  for (int64_t i = from; i < total; i++)
    for (uint32_t c = 0; c < channels; c++) nr[(uint32_t)(i % ncap) * channels + c] = ring[(uint32_t)(i % rcap) * channels + c];
  rm_free(ring);
  ring = nr, rcap = ncap;
  return 0;
}

int rm_node_process(const rm_frame *f) {
  if (f->h.kind != RM_KIND_AUDIO || f->h.format != RM_F32) return rm_fail("vad: input must be f32 audio");
  if (!f->h.channels || !f->h.sample_rate) return rm_fail("vad: channels and sample_rate must be > 0");
  if (f->h.sample_rate != rate || f->h.channels != channels) {
    if (state == SPEECH && rm_node_flush()) return 1;
    reset(f->h.sample_rate, f->h.channels);
  }
  const float *in = f->data;
  uint32_t frames = f->len / 4 / channels;
  if (!gate) rm_emit(&f->h, 0, f->data, f->len);
  else {
    if (reserve_ring(frames + min_speech + 2 * wlen + 16)) return 1;
    ring_put(total, in, frames);
  }
  frame_idx = total, frame_ts = f->h.timestamp_us;
  for (uint32_t pos = 0; pos < frames;) {
    uint32_t take = wlen - acc_n < frames - pos ? wlen - acc_n : frames - pos;
    acc += sum_squares(in + pos * channels, take * channels);
    acc_n += take, pos += take;
    if (acc_n == wlen) {
      int64_t a = win_start;
      win_start += wlen;
      if (window(a, acc / ((double)wlen * channels))) return 1;
      acc = 0, acc_n = 0;
    }
  }
  total = frame_idx + frames;
  if (gate && state == SPEECH && win_start > seg_start) {
    if (emit_audio(seg_start, win_start)) return 1;
    seg_start = win_start;
  }
  return 0;
}

int rm_node_flush(void) {
  if (state == SPEECH) return end_speech(total);
  state = SILENCE;
  return 0;
}
