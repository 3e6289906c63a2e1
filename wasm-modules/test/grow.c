/* grow: grows memory one page at a time until memory.grow fails, then traps. */
#include "rmtest.h"

RM_EXPORT("rm_process") int rm_process(unsigned char *frame, int len) {
  while (__builtin_wasm_memory_grow(0, 1) != (unsigned long)-1) {
  }
  __builtin_trap();
}
