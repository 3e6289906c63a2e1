/* grow16: grows memory 16 pages at a time and writes to each new block without
 * checking what memory.grow returned: once the cap refuses, the -1 becomes the
 * address 0xffff0000 and the write traps out of bounds. The host must still
 * report the memory cap (issue 10, point 12). */
#include "rmtest.h"

RM_EXPORT("rm_process") int rm_process(unsigned char *frame, int len) {
  for (;;) {
    unsigned long old = __builtin_wasm_memory_grow(0, 16);
    *(volatile unsigned char *)(old * 65536ul) = 1;
  }
}
