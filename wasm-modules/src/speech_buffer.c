/* speech_buffer: cuts f32 audio into utterances at the vad node's events (RemoteMedia's VADTriggeredBuffer).
 *
 * Port 0 takes the audio (the vad's `out` with gate: false passes all of it, which gives the pre-roll;
 * gated audio works too, without pre-roll), port 1 the vad's `events`. The audio from pre_roll_ms before a
 * speech_start through post_roll_ms after its speech_end leaves on port 0 as one frame whose timestamp is the
 * utterance's first sample; speech shorter than min_speech_ms is dropped; speech longer than max_speech_ms is
 * sent in pieces of max_speech_ms as it comes. Each utterance (or dropped one) is described on port 1:
 * {"event":"utterance"|"dropped","start_ms":S,"end_ms":E,"speech_ms":D}.
 *
 * Barge-in (barge_in_ms > 0): once an utterance has gone out, speech that the vad has not ended barge_in_ms
 * after its onset is the user talking over the reply: {"event":"barge_in","time_ms":onset,"start_ms":S} goes out on port 1 (a client
 * stops playing reply audio stamped before S) and a cancel control frame on port 0, which discards the
 * queued work of every node after this one (ASR, TTS, the reply audio) before the new utterance follows.
 *
 * The audio is kept in one linear buffer of frames [base, total) (absolute frame indices): while idle it is
 * trimmed to the pre-roll, while in speech to the utterance's start. An event's time maps to a frame index
 * through the latest audio frame's timestamp, as the vad computes it; audio that does not follow on from the
 * buffered audio (gated input) replaces it while idle. Idle, the buffer keeps pre_roll_ms plus KEEP_MS, because
 * the vad's speech_start comes min_speech_ms (and a frame) after the time it names. */
#include <remotemedia.h>

#define KEEP_MS 1000
#define KIND_CONTROL 6 /* a control frame: the op in the format byte (docs/wasm-abi.md) */
#define OP_CANCEL 3

static double pre_roll_ms, post_roll_ms, min_speech_ms, max_speech_ms, barge_in_ms;
static uint32_t turns; /* utterances sent */
static int barged;     /* the current speech has barged in */

static uint32_t rate, channels;
static float *buf;
static uint32_t cap;             /* frames buf holds */
static int64_t base, total;      /* buf[0] is frame index base; total is one past the last frame */
static int64_t frame_idx, frame_ts; /* the latest audio frame's first index and timestamp (µs) */
static int in_speech, end_pending; /* end_pending: speech_end seen, waiting for post-roll audio */
static int start_pending;        /* speech_start seen before the audio it names (gated input) */
static int64_t seg_start;        /* first frame of the utterance (pre-roll included) */
static int64_t end_idx;          /* with end_pending: the utterance's last frame + 1 */
static double speech_start_ms, speech_end_ms, seg_start_ms;

int rm_node_init(const rm_params *p) {
  pre_roll_ms = rm_param_number(p, "pre_roll_ms", 300);
  post_roll_ms = rm_param_number(p, "post_roll_ms", 100);
  min_speech_ms = rm_param_number(p, "min_speech_ms", 250);
  max_speech_ms = rm_param_number(p, "max_speech_ms", 30000);
  barge_in_ms = rm_param_number(p, "barge_in_ms", 0);
  if (pre_roll_ms < 0 || post_roll_ms < 0 || min_speech_ms < 0)
    return rm_fail("speech_buffer: pre_roll_ms, post_roll_ms and min_speech_ms must be >= 0");
  if (max_speech_ms < 100) return rm_fail("speech_buffer: max_speech_ms must be >= 100");
  if (barge_in_ms < 0) return rm_fail("speech_buffer: barge_in_ms must be >= 0");
  return 0;
}

static int64_t frames_of(double ms) { return (int64_t)(ms * rate / 1000 + 0.5); }

/* The frame index of time t (ms), through the latest frame's timestamp, kept within [base, total]. */
static int64_t index_of(double t) {
  double d = (t * 1000 - (double)frame_ts) * rate / 1e6;
  int64_t i = frame_idx + (int64_t)(d < 0 ? d - 0.5 : d + 0.5);
  return i < base ? base : i > total ? total : i;
}

static double ms_of(int64_t idx) { return ((double)frame_ts + (double)(idx - frame_idx) * 1e6 / rate) / 1000; }

/* Forgets the frames before idx. */
static void drop_before(int64_t idx) {
  if (idx <= base) return;
  if (idx > total) idx = total;
  uint32_t keep = (uint32_t)(total - idx);
  __builtin_memmove(buf, buf + (uint32_t)(idx - base) * channels, keep * channels * 4);
  base = idx;
}

static int append(const float *in, uint32_t n) {
  uint32_t have = (uint32_t)(total - base);
  if (have + n > cap) {
    uint32_t ncap = (have + n) * 2;
    float *nb = rm_alloc(ncap * channels * 4);
    if (!nb) return rm_fail("speech_buffer: out of memory (raise the node's memory cap or lower max_speech_ms)");
    rm_memcpy(nb, buf, have * channels * 4);
    rm_free(buf);
    buf = nb, cap = ncap;
  }
  rm_memcpy(buf + have * channels, in, n * channels * 4);
  total += n;
  return 0;
}

static void describe(const char *what, double start, double end, double speech) {
  char j[160];
  uint32_t n = rm_fmt_str(j, "{\"event\":\"");
  n += rm_fmt_str(j + n, what);
  n += rm_fmt_str(j + n, "\",\"start_ms\":");
  n += rm_fmt_number(j + n, start, 3);
  n += rm_fmt_str(j + n, ",\"end_ms\":");
  n += rm_fmt_number(j + n, end, 3);
  n += rm_fmt_str(j + n, ",\"speech_ms\":");
  n += rm_fmt_number(j + n, speech < 0 ? 0 : speech, 3);
  j[n++] = '}';
  rm_emit_text(1, RM_KIND_JSON, (int64_t)(start * 1000 + 0.5), j, n);
}

/* Emits frames [a, b) as one utterance stamped start_ms. */
static void emit_utterance(int64_t a, int64_t b, double start_ms, double speech) {
  if (b <= a) return;
  turns++;
  rm_emit_f32(0, rate, (uint16_t)channels, (int64_t)(start_ms * 1000 + 0.5), buf + (uint32_t)(a - base) * channels,
              (uint32_t)(b - a) * channels);
  describe("utterance", start_ms, start_ms + (double)(b - a) * 1000 / rate, speech);
}

/* Says that the speech going on talks over the reply to an earlier utterance, and cancels that reply. */
static void barge_in(void) {
  char j[128];
  uint32_t n = rm_fmt_str(j, "{\"event\":\"barge_in\",\"time_ms\":");
  n += rm_fmt_number(j + n, speech_start_ms, 3);
  n += rm_fmt_str(j + n, ",\"start_ms\":");
  n += rm_fmt_number(j + n, seg_start_ms, 3);
  j[n++] = '}';
  int64_t ts = (int64_t)(speech_start_ms * 1000 + 0.5);
  rm_emit_text(1, RM_KIND_JSON, ts, j, n);
  rm_header cancel = {KIND_CONTROL, OP_CANCEL, 0, 0, ts, 0, 0, 0};
  rm_host_emit(&cancel, 0, 0);
  barged = 1;
}

/* Ends the utterance at frame end (exclusive), speech having lasted speech ms. */
static void finish(int64_t end, double speech) {
  if (speech >= min_speech_ms) emit_utterance(seg_start, end, seg_start_ms, speech);
  else describe("dropped", seg_start_ms, seg_start_ms + (double)(end - seg_start) * 1000 / rate, speech);
  in_speech = 0, end_pending = 0, start_pending = 0;
}

static void reset(uint32_t r, uint32_t ch) {
  rate = r, channels = ch;
  rm_free(buf);
  buf = 0, cap = 0, base = total = frame_idx = 0, frame_ts = 0;
  in_speech = 0, end_pending = 0, start_pending = 0;
}

/* Starts the utterance of the speech_start at speech_start_ms in the buffered audio. */
static void start_utterance(void) {
  seg_start = index_of(speech_start_ms - pre_roll_ms);
  seg_start_ms = ms_of(seg_start);
  drop_before(seg_start);
  start_pending = 0;
}

static int on_audio(const rm_frame *f) {
  if (f->h.format != RM_F32) return rm_fail("speech_buffer: audio must be f32 (put a convert node first)");
  if (!f->h.channels || !f->h.sample_rate) return rm_fail("speech_buffer: channels and sample_rate must be > 0");
  if (f->h.sample_rate != rate || f->h.channels != channels) {
    int pending = in_speech && start_pending; /* a speech_start came before the first audio */
    if (in_speech && !pending) finish(total, ms_of(total) - speech_start_ms);
    reset(f->h.sample_rate, f->h.channels);
    in_speech = start_pending = pending;
  }
  uint32_t n = f->len / 4 / channels;
  if ((!in_speech || start_pending) && total > base) {
    int64_t gap = f->h.timestamp_us - (int64_t)(ms_of(total) * 1000 + 0.5);
    if (gap > 2000 || gap < -2000) base = total; /* not contiguous: the old audio is no pre-roll of this */
  }
  frame_idx = total, frame_ts = f->h.timestamp_us;
  if (append(f->data, n)) return 1;
  if (in_speech && start_pending) start_utterance();
  if (barge_in_ms > 0 && in_speech && !start_pending && !end_pending && !barged && turns > 0 &&
      ms_of(total) - speech_start_ms >= barge_in_ms)
    barge_in();
  if (in_speech && end_pending && total >= end_idx) finish(end_idx, speech_end_ms - speech_start_ms);
  if (in_speech && !end_pending) {
    int64_t max = frames_of(max_speech_ms);
    while (total - seg_start >= max) { /* a long utterance goes out in pieces as it comes */
      emit_utterance(seg_start, seg_start + max, seg_start_ms, ms_of(seg_start + max) - speech_start_ms);
      speech_start_ms = seg_start_ms = ms_of(seg_start + max);
      seg_start += max;
      barged = 1; /* the same speech goes on: no barge-in over its own first piece */
    }
  }
  if (in_speech) drop_before(seg_start);
  else if (total - base > 2 * frames_of(pre_roll_ms + KEEP_MS) + n) drop_before(total - frames_of(pre_roll_ms + KEEP_MS));
  return 0;
}

static int on_event(const rm_frame *f) {
  if (f->h.kind != RM_KIND_JSON && f->h.kind != RM_KIND_TEXT) return rm_fail("speech_buffer: events must be JSON");
  rm_params e = {(const char *)f->data, f->len};
  char name[16];
  rm_param_string(&e, "event", name, sizeof name, "");
  double t = rm_param_number(&e, "time_ms", -1);
  if (t < 0) return 0; /* not a vad event */
  if (rm_memeq(name, "speech_start", 13)) {
    if (in_speech && end_pending) finish(end_idx < total ? end_idx : total, speech_end_ms - speech_start_ms);
    if (in_speech) return 0;
    in_speech = 1, end_pending = 0, start_pending = 1, barged = 0;
    speech_start_ms = t;
    if (rate && ms_of(total) > t) start_utterance(); /* else when its audio comes */
  } else if (rm_memeq(name, "speech_end", 11) && in_speech && !end_pending && !start_pending) {
    speech_end_ms = t;
    int64_t want = frame_idx + (int64_t)(((t + post_roll_ms) * 1000 - (double)frame_ts) * rate / 1e6 + 0.5);
    if (want < seg_start) want = seg_start;
    end_idx = want, end_pending = 1;
    if (total >= end_idx) finish(end_idx, t - speech_start_ms);
  }
  return 0;
}

int rm_node_process(const rm_frame *f) {
  if (f->h.port == 1) return on_event(f);
  if (f->h.kind != RM_KIND_AUDIO) return rm_fail("speech_buffer: port in takes audio");
  return on_audio(f);
}

int rm_node_flush(void) {
  if (in_speech && start_pending) in_speech = 0; /* no audio came */
  if (in_speech) {
    int64_t end = end_pending && end_idx < total ? end_idx : total;
    finish(end, (end_pending ? speech_end_ms : ms_of(total)) - speech_start_ms);
  }
  return 0;
}
