/* Minimal ABI v1 glue for the host's test modules, written from docs/wasm-abi.md
 * alone (the real guest SDK is wasm-modules/include/remotemedia.h). */
#ifndef RMTEST_H
#define RMTEST_H

#define RM_EXPORT(name) __attribute__((export_name(name)))
#define RM_IMPORT(name) __attribute__((import_module("rm"), import_name(name)))

RM_IMPORT("emit") void rm_emit(const void *header, const void *data, int len);
RM_IMPORT("error") void rm_error(const char *msg, int len);

extern unsigned char __heap_base;
static unsigned long rm_heap_top;

/* A bump allocator: 16-byte aligned, grows memory when needed, never frees. */
RM_EXPORT("rm_alloc") void *rm_alloc(int size) {
  if (!rm_heap_top) rm_heap_top = (unsigned long)&__heap_base;
  unsigned long p = (rm_heap_top + 15) & ~15ul;
  unsigned long end = p + (unsigned long)size;
  unsigned long have = __builtin_wasm_memory_size(0) * 65536ul;
  if (end > have) {
    unsigned long pages = (end - have + 65535) / 65536;
    if (__builtin_wasm_memory_grow(0, pages) == (unsigned long)-1) return 0;
  }
  rm_heap_top = end;
  return (void *)p;
}

RM_EXPORT("rm_abi_version") int rm_abi_version(void) { return 1; }

RM_EXPORT("rm_init") int rm_init(const char *params, int len) { return 0; }

static int rm_strlen(const char *s) {
  int n = 0;
  while (s[n]) n++;
  return n;
}

#endif
