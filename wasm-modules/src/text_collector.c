/* text_collector: collects streaming text into sentences (RemoteMedia's TextCollectorNode).
 *
 * Text arrives in pieces (tokens of a reply, or whole replies); each sentence leaves as one text frame as soon
 * as it is complete, so a TTS node after it can speak the first sentence while the rest is still coming. A
 * sentence ends at '.', '!' or '?' (with any closing quotes or brackets after it) followed by white space or by
 * the end of the piece, and at a line break. A sentence shorter than min_chars is joined with the next; text
 * reaching max_chars without an end is cut at its last space. What is left goes out on flush. Sentences are
 * trimmed of surrounding white space; each carries the timestamp of the piece that completed it. */
#include <remotemedia.h>

static uint32_t min_chars, max_chars;
static char *acc;
static uint32_t len, cap;
static int64_t ts;

int rm_node_init(const rm_params *p) {
  double mn = rm_param_number(p, "min_chars", 0), mx = rm_param_number(p, "max_chars", 400);
  if (mn < 0 || mx < 16 || mx > 1e6) return rm_fail("text_collector: min_chars must be >= 0, max_chars 16 to 1000000");
  min_chars = (uint32_t)mn, max_chars = (uint32_t)mx;
  return 0;
}

static int space(char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; }
static int closer(char c) { return c == '"' || c == '\'' || c == ')' || c == ']' || c == '}'; }

/* Emits acc[0:n) trimmed, if anything is left of it, and forgets it. */
static void take(uint32_t n) {
  uint32_t a = 0, b = n;
  while (a < b && space(acc[a])) a++;
  while (b > a && space(acc[b - 1])) b--;
  if (b > a) rm_emit_text(0, RM_KIND_TEXT, ts, acc + a, b - a);
  __builtin_memmove(acc, acc + n, len - n);
  len -= n;
}

/* The length of the first complete sentence of at least min_chars in acc, or 0. */
static uint32_t sentence_end(void) {
  for (uint32_t i = 0; i < len; i++) {
    char c = acc[i];
    uint32_t j = i + 1;
    if (c == '.' || c == '!' || c == '?') {
      while (j < len && (acc[j] == '.' || acc[j] == '!' || acc[j] == '?' || closer(acc[j]))) j++;
      if (j < len && !space(acc[j])) {
        i = j - 1;
        continue; /* "3.14", "e.g": not an end */
      }
    } else if (c != '\n') {
      continue;
    }
    uint32_t a = 0;
    while (a < j && space(acc[a])) a++;
    if (j - a >= min_chars && j > a) return j;
    i = j - 1;
  }
  return 0;
}

int rm_node_process(const rm_frame *f) {
  if (f->h.kind != RM_KIND_TEXT) return rm_fail("text_collector: input must be text");
  if (len + f->len > cap) {
    uint32_t ncap = (len + f->len) * 2 + 64;
    char *n = rm_alloc(ncap);
    if (!n) return rm_fail("text_collector: out of memory");
    rm_memcpy(n, acc, len);
    rm_free(acc);
    acc = n, cap = ncap;
  }
  rm_memcpy(acc + len, f->data, f->len);
  len += f->len;
  ts = f->h.timestamp_us;
  for (uint32_t n; (n = sentence_end()) > 0;) take(n);
  while (len >= max_chars) { /* no end in sight: cut at the last space before max_chars */
    uint32_t cut = max_chars;
    while (cut > max_chars / 2 && !space(acc[cut - 1])) cut--;
    if (cut == max_chars / 2) cut = max_chars;
    take(cut);
  }
  return 0;
}

int rm_node_flush(void) {
  if (len) take(len);
  return 0;
}
