/* remotemedia.h - header-only guest SDK for RemoteMedia WASM node modules (ABI v1,
 * docs/wasm-abi.md) written in freestanding C11 (no libc).
 *
 * A module includes this header once and implements:
 *
 *   int rm_node_init(const rm_params *p);     // 0 = ok, or return rm_fail("why")
 *   int rm_node_process(const rm_frame *f);   // 0 = ok
 *   int rm_node_flush(void);                  // optional
 *
 * Build:
 *   clang --target=wasm32 -O3 -msimd128 -nostdlib -ffreestanding -Wl,--no-entry \
 *         -Wl,--export-dynamic -Iwasm-modules/include -o gain.wasm gain.c
 *   wasm-opt --enable-simd --enable-bulk-memory --low-memory-unused \
 *            --optimize-added-constants-propagate -o gain.wasm gain.wasm
 *
 * Declaring the node type (docs/wasm-abi.md): once per module, at file scope, write the
 * type as a JSON document; the macro places it in the module's remotemedia.node custom
 * section, from which `remotemedia run --modules DIR`, a definition's `module:` and the
 * tab's rm.registerModule(url) register it:
 *
 *   RM_DECLARE_NODE({"node_type": "polarity", "doc": "Inverts f32 audio.",
 *                    "params": [{"name": "invert", "type": "boolean", "default": true}]});
 *
 * The JSON is written as is, not as a C string (the preprocessor turns it into one, so
 * it must not contain an unbalanced parenthesis). wasm-strip removes custom sections:
 * strip with `wasm-opt --strip-debug --strip-producers` instead.
 *
 * Speed under wazero: it has no guard pages, so each load and store checks its bounds,
 * unless an earlier access in the same basic block, from the same base address, reached
 * at least as far. In hot loops, address memory as base + constant (p[12], p[8], ...)
 * and touch the farthest element of each base first; clang 14 leaves the constants as
 * i32.add, and the wasm-opt step above folds them into the accesses' offsets (safe
 * because clang places nothing below address 1024). A loop over one input and one
 * output then pays two checks per iteration, however many vectors it moves.
 */
#ifndef REMOTEMEDIA_H
#define REMOTEMEDIA_H

#include <stddef.h>
#include <stdint.h>

#define RM_ABI_VERSION 1
#define RM_HEADER_SIZE 32

enum { RM_KIND_AUDIO = 1, RM_KIND_TEXT = 2, RM_KIND_JSON = 3, RM_KIND_BINARY = 4 };
enum { RM_F32 = 1, RM_S16 = 2 };
enum { RM_DEBUG = 0, RM_INFO = 1, RM_WARN = 2, RM_ERROR = 3 };

#define RM_EXPORT(name) __attribute__((export_name(name), visibility("default")))
#define RM_IMPORT(name) __attribute__((import_module("rm"), import_name(name)))
#define RM_HIDDEN __attribute__((visibility("hidden")))

/* Places the node type declaration (a JSON document written as is) in the module's
 * remotemedia.node custom section. clang ignores __attribute__((section)) for a custom
 * section, so this emits it with the assembler's .custom_section. prefix. */
#define RM_STR_(...) #__VA_ARGS__
#define RM_XSTR_(...) RM_STR_(__VA_ARGS__)
#define RM_DECLARE_NODE(...)                                                  \
  __asm__(".section .custom_section.remotemedia.node,\"\",@\n.ascii " \
          RM_XSTR_(RM_STR_(__VA_ARGS__)) "\n.text\n")

/* The fixed 32-byte frame header at the call boundary. */
typedef struct rm_header {
  uint8_t kind;
  uint8_t format;
  uint16_t channels;
  uint32_t sample_rate;
  int64_t timestamp_us;
  uint32_t port;
  uint32_t reserved;
  uint64_t seq;
} rm_header;
_Static_assert(sizeof(rm_header) == RM_HEADER_SIZE, "rm_header must be 32 bytes");

/* One input frame: its header and its payload (16-byte aligned). */
typedef struct rm_frame {
  rm_header h;
  const void *data;
  uint32_t len; /* payload bytes */
} rm_frame;

/* The node's params: a flat UTF-8 JSON object (not NUL-terminated). */
typedef struct rm_params {
  const char *json;
  uint32_t len;
} rm_params;

/* ---- host imports ---- */
RM_IMPORT("emit") void rm_host_emit(const void *header, const void *data, uint32_t len);
RM_IMPORT("log") void rm_host_log(int32_t level, const char *msg, uint32_t len);
RM_IMPORT("error") void rm_host_error(const char *msg, uint32_t len);

/* ---- what the module implements ---- */
RM_HIDDEN int rm_node_init(const rm_params *p);
RM_HIDDEN int rm_node_process(const rm_frame *f);
RM_HIDDEN __attribute__((weak)) int rm_node_flush(void);

/* ---- small utilities ---- */
static inline uint32_t rm_strlen(const char *s) {
  uint32_t n = 0;
  while (s[n]) n++;
  return n;
}
static inline int rm_memeq(const void *a, const void *b, uint32_t n) {
  const unsigned char *x = a, *y = b;
  for (uint32_t i = 0; i < n; i++)
    if (x[i] != y[i]) return 0;
  return 1;
}

/* The compiler lowers struct copies and some loops to memcpy/memset calls. With
 * -mbulk-memory they become memory.copy/memory.fill instructions; without it these
 * fallbacks are linked in. */
#ifndef __wasm_bulk_memory__
__attribute__((weak, visibility("hidden"), no_builtin("memcpy"))) void *memcpy(void *dst, const void *src, size_t n) {
  unsigned char *d = dst;
  const unsigned char *s = src;
  while (n--) *d++ = *s++;
  return dst;
}
__attribute__((weak, visibility("hidden"), no_builtin("memmove"))) void *memmove(void *dst, const void *src, size_t n) {
  unsigned char *d = dst;
  const unsigned char *s = src;
  if (d < s)
    while (n--) *d++ = *s++;
  else
    while (n--) d[n] = s[n];
  return dst;
}
__attribute__((weak, visibility("hidden"), no_builtin("memset"))) void *memset(void *dst, int c, size_t n) {
  unsigned char *d = dst;
  while (n--) *d++ = (unsigned char)c;
  return dst;
}
#endif
static inline void rm_memcpy(void *dst, const void *src, uint32_t n) { __builtin_memcpy(dst, src, n); }

/* Logs a NUL-terminated line at level (RM_DEBUG..RM_ERROR). */
static inline void rm_log(int level, const char *msg) { rm_host_log(level, msg, rm_strlen(msg)); }

/* Sets the error message of the current call and returns 1: `return rm_fail("bad rate");` */
static inline int rm_fail(const char *msg) {
  rm_host_error(msg, rm_strlen(msg));
  return 1;
}

/* ---- allocator: power-of-two size classes over __heap_base, grown with memory.grow ---- */
extern unsigned char __heap_base;
static uintptr_t rm_heap_top_;
static void *rm_free_lists_[32];

#define RM_BLOCK_HEADER 16u

static inline unsigned rm_size_class_(uint32_t size) {
  uint32_t need = size + RM_BLOCK_HEADER;
  unsigned c = 5; /* 32-byte minimum block */
  while (c < 31 && (1u << c) < need) c++;
  return c;
}

/* Returns 16-byte aligned memory for size bytes, or 0 when memory cannot grow. */
RM_EXPORT("rm_alloc") void *rm_alloc(uint32_t size) {
  if (size > 0x40000000u) return 0;
  unsigned c = rm_size_class_(size);
  void *blk = rm_free_lists_[c];
  if (blk) {
    rm_free_lists_[c] = *(void **)((unsigned char *)blk + RM_BLOCK_HEADER);
    return (unsigned char *)blk + RM_BLOCK_HEADER;
  }
  if (!rm_heap_top_) rm_heap_top_ = ((uintptr_t)&__heap_base + 15u) & ~(uintptr_t)15u;
  uintptr_t end = rm_heap_top_ + ((uintptr_t)1 << c);
  uintptr_t have = __builtin_wasm_memory_size(0) * 65536u;
  if (end > have) {
    uintptr_t pages = (end - have + 65535u) / 65536u;
    if (__builtin_wasm_memory_grow(0, pages) == (size_t)-1) return 0;
  }
  blk = (void *)rm_heap_top_;
  *(uint32_t *)blk = c;
  rm_heap_top_ = end;
  return (unsigned char *)blk + RM_BLOCK_HEADER;
}

/* Gives back memory from rm_alloc (0 is ignored). */
RM_EXPORT("rm_free") void rm_free(void *ptr) {
  if (!ptr) return;
  unsigned char *blk = (unsigned char *)ptr - RM_BLOCK_HEADER;
  unsigned c = *(uint32_t *)blk;
  *(void **)ptr = rm_free_lists_[c];
  rm_free_lists_[c] = blk;
}

/* A growable scratch buffer owned by the module. */
typedef struct rm_buf {
  void *p;
  uint32_t cap;
} rm_buf;

/* Returns b's memory with room for size bytes (contents not kept), or 0 when out of memory. */
static inline void *rm_buf_reserve(rm_buf *b, uint32_t size) {
  if (size <= b->cap && b->p) return b->p;
  rm_free(b->p);
  b->p = rm_alloc(size);
  b->cap = b->p ? size : 0;
  return b->p;
}

/* ---- emitting ---- */

/* Emits data on port with h's other fields. */
static inline void rm_emit(const rm_header *h, uint32_t port, const void *data, uint32_t len) {
  rm_header o = *h;
  o.port = port;
  o.seq = 0;
  rm_host_emit(&o, data, len);
}

/* Emits interleaved f32 audio: n samples in total (frames * channels). */
static inline void rm_emit_f32(uint32_t port, uint32_t rate, uint16_t channels, int64_t ts_us, const float *samples,
                               uint32_t n) {
  rm_header o = {RM_KIND_AUDIO, RM_F32, channels, rate, ts_us, port, 0, 0};
  rm_host_emit(&o, samples, n * 4u);
}

/* Emits a JSON (kind RM_KIND_JSON) or text (RM_KIND_TEXT) frame. */
static inline void rm_emit_text(uint32_t port, uint8_t kind, int64_t ts_us, const char *s, uint32_t len) {
  rm_header o = {kind, 0, 0, 0, ts_us, port, 0, 0};
  rm_host_emit(&o, s, len);
}

/* ---- entry points ---- */
RM_EXPORT("rm_abi_version") int32_t rm_abi_version(void) { return RM_ABI_VERSION; }

RM_EXPORT("rm_init") int32_t rm_init(const char *json, uint32_t len) {
  rm_params p = {json, len};
  return rm_node_init(&p);
}

RM_EXPORT("rm_process") int32_t rm_process(const unsigned char *frame, uint32_t len) {
  rm_frame f;
  rm_memcpy(&f.h, frame, RM_HEADER_SIZE);
  f.data = frame + RM_HEADER_SIZE;
  f.len = len;
  return rm_node_process(&f);
}

RM_EXPORT("rm_flush") int32_t rm_flush(void) { return rm_node_flush ? rm_node_flush() : 0; }

/* ---- flat JSON object param reader ---- */

static inline const char *rm_json_ws_(const char *s, const char *e) {
  while (s < e && (*s == ' ' || *s == '\t' || *s == '\n' || *s == '\r')) s++;
  return s;
}

/* Skips a string starting at its opening quote; returns the position after the closing quote. */
static inline const char *rm_json_skip_string_(const char *s, const char *e) {
  for (s++; s < e; s++) {
    if (*s == '\\') s++;
    else if (*s == '"') return s + 1;
  }
  return e;
}

static inline const char *rm_json_skip_value_(const char *s, const char *e) {
  if (s < e && *s == '"') return rm_json_skip_string_(s, e);
  if (s < e && (*s == '{' || *s == '[')) {
    int depth = 0;
    while (s < e) {
      if (*s == '"') {
        s = rm_json_skip_string_(s, e);
        continue;
      }
      if (*s == '{' || *s == '[') depth++;
      else if ((*s == '}' || *s == ']') && --depth == 0) return s + 1;
      s++;
    }
    return e;
  }
  while (s < e && *s != ',' && *s != '}' && *s != ' ' && *s != '\n' && *s != '\t' && *s != '\r') s++;
  return s;
}

/* Returns the start of key's value in the top-level object (0 when absent or null). */
static inline const char *rm_param_find(const rm_params *p, const char *key, const char **end) {
  const char *s = p->json, *e = p->json + p->len;
  uint32_t klen = rm_strlen(key);
  *end = e;
  s = rm_json_ws_(s, e);
  if (s >= e || *s != '{') return 0;
  for (s++;;) {
    s = rm_json_ws_(s, e);
    if (s >= e || *s != '"') return 0;
    const char *k = s + 1, *kend = rm_json_skip_string_(s, e) - 1;
    s = rm_json_ws_(kend + 1, e);
    if (s >= e || *s != ':') return 0;
    s = rm_json_ws_(s + 1, e);
    int match = (uint32_t)(kend - k) == klen && rm_memeq(k, key, klen);
    if (match) {
      if (e - s >= 4 && rm_memeq(s, "null", 4)) return 0;
      return s;
    }
    s = rm_json_ws_(rm_json_skip_value_(s, e), e);
    if (s >= e || *s != ',') return 0;
    s++;
  }
}

/* Reports whether key is present (and not null). */
static inline int rm_param_has(const rm_params *p, const char *key) {
  const char *end;
  return rm_param_find(p, key, &end) != 0;
}

/* Parses a JSON number at s; *ok is cleared when there is none. */
static inline double rm_parse_number(const char *s, const char *e, int *ok) {
  double sign = 1, v = 0, scale = 1;
  int digits = 0, ex = 0, exsign = 1;
  if (s < e && *s == '-') sign = -1, s++;
  while (s < e && *s >= '0' && *s <= '9') v = v * 10 + (*s++ - '0'), digits++;
  if (s < e && *s == '.')
    for (s++; s < e && *s >= '0' && *s <= '9'; s++) scale /= 10, v += (*s - '0') * scale, digits++;
  if (s < e && (*s == 'e' || *s == 'E')) {
    s++;
    if (s < e && (*s == '+' || *s == '-')) exsign = *s++ == '-' ? -1 : 1;
    while (s < e && *s >= '0' && *s <= '9') ex = ex * 10 + (*s++ - '0');
  }
  for (; ex > 0; ex--) v = exsign > 0 ? v * 10 : v / 10;
  *ok = digits > 0;
  return sign * v;
}

/* Returns the number at key, or def when absent or not a number. */
static inline double rm_param_number(const rm_params *p, const char *key, double def) {
  const char *end, *v = rm_param_find(p, key, &end);
  int ok = 0;
  double x = v ? rm_parse_number(v, end, &ok) : 0;
  return ok ? x : def;
}

/* Returns the boolean at key (1/0), or def when absent or not a boolean. */
static inline int rm_param_bool(const rm_params *p, const char *key, int def) {
  const char *end, *v = rm_param_find(p, key, &end);
  if (v && end - v >= 4 && rm_memeq(v, "true", 4)) return 1;
  if (v && end - v >= 5 && rm_memeq(v, "false", 5)) return 0;
  return def;
}

/* Copies the string at key (escapes kept as written, NUL-terminated, truncated to
 * cap-1 bytes) into buf, or def when absent or not a string; returns its length. */
static inline uint32_t rm_param_string(const rm_params *p, const char *key, char *buf, uint32_t cap, const char *def) {
  const char *end, *v = rm_param_find(p, key, &end), *s;
  uint32_t n = 0;
  if (!cap) return 0;
  if (v && *v == '"') {
    end = rm_json_skip_string_(v, end) - 1;
    s = v + 1;
  } else {
    s = def;
    end = def + rm_strlen(def);
  }
  while (s < end && n + 1 < cap) buf[n++] = *s++;
  buf[n] = 0;
  return n;
}

/* ---- formatting ---- */

/* Writes v with up to `decimals` decimals (trailing zeros trimmed, at least one kept); returns the length. */
static inline uint32_t rm_fmt_number(char *dst, double v, int decimals) {
  uint32_t n = 0;
  double scale = 1;
  for (int i = 0; i < decimals; i++) scale *= 10;
  if (v < 0) dst[n++] = '-', v = -v;
  uint64_t fixed = (uint64_t)(v * scale + 0.5), ip = fixed / (uint64_t)scale, fp = fixed % (uint64_t)scale;
  char tmp[24];
  int t = 0;
  do tmp[t++] = (char)('0' + ip % 10), ip /= 10;
  while (ip);
  while (t) dst[n++] = tmp[--t];
  dst[n++] = '.';
  for (int i = decimals - 1; i >= 0; i--) tmp[i] = (char)('0' + fp % 10), fp /= 10;
  int last = decimals - 1;
  while (last > 0 && tmp[last] == '0') last--;
  if (decimals == 0) tmp[0] = '0', last = 0;
  for (int i = 0; i <= last; i++) dst[n++] = tmp[i];
  return n;
}

/* Appends the NUL-terminated s at dst; returns its length. */
static inline uint32_t rm_fmt_str(char *dst, const char *s) {
  uint32_t n = rm_strlen(s);
  rm_memcpy(dst, s, n);
  return n;
}

/* ---- math (no libm): double precision to about 1e-15 relative ---- */

static inline double rm_exp(double x) {
  if (x < -745) return 0;
  if (x > 709) x = 709;
  double k = __builtin_floor(x * 1.4426950408889634 + 0.5);
  double r = x - k * 0.6931471805599453;
  double term = 1, sum = 1;
  for (int i = 1; i < 18; i++) term *= r / i, sum += term;
  union { double d; uint64_t u; } two = {.u = (uint64_t)((int64_t)k + 1023) << 52};
  return sum * two.d;
}

static inline double rm_ln(double x) {
  if (x <= 0) return -1e308;
  union { double d; uint64_t u; } b = {.d = x};
  int e = (int)((b.u >> 52) & 0x7ff) - 1023;
  b.u = (b.u & 0x000fffffffffffffull) | 0x3ff0000000000000ull; /* mantissa in [1,2) */
  double m = b.d;
  if (m > 1.4142135623730951) m *= 0.5, e++;
  double s = (m - 1) / (m + 1), s2 = s * s, term = s, sum = 0;
  for (int i = 1; i < 40; i += 2) sum += term / i, term *= s2;
  return 2 * sum + e * 0.6931471805599453;
}

static inline double rm_log10(double x) { return rm_ln(x) * 0.4342944819032518; }

static inline double rm_sin(double x) {
  const double pi = 3.141592653589793, twopi = 6.283185307179586;
  x -= twopi * __builtin_floor(x / twopi + 0.5); /* [-pi, pi] */
  if (x > pi / 2) x = pi - x;
  else if (x < -pi / 2) x = -pi - x;
  double x2 = x * x, term = x, sum = x;
  for (int i = 1; i < 12; i++) term *= -x2 / ((2 * i) * (2 * i + 1)), sum += term;
  return sum;
}

#endif /* REMOTEMEDIA_H */
