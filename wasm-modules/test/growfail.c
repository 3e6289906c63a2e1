/* growfail: the first frame asks for more memory than any cap allows and, when
 * memory.grow refuses, fails the frame through rm.error; every later frame traps.
 * The refusal belongs to the first call only: the later traps are plain traps,
 * not the memory cap. */
#include "rmtest.h"

static int frames;

RM_EXPORT("rm_process") int rm_process(unsigned char *frame, int len) {
  if (frames++ == 0) {
    if (__builtin_wasm_memory_grow(0, 65536) == (unsigned long)-1) {
      static const char msg[] = "growfail.wasm: no memory for this frame";
      rm_error(msg, rm_strlen(msg));
      return 3;
    }
    return 0;
  }
  __builtin_trap();
}
