/* trap: echoes frames but traps on the 2nd frame an instance sees. */
#include "rmtest.h"

static int frames;

RM_EXPORT("rm_process") int rm_process(unsigned char *frame, int len) {
  if (++frames == 2) __builtin_trap();
  *(unsigned int *)(frame + 16) = 0;
  rm_emit(frame, frame + 32, len);
  return 0;
}
