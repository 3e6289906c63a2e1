/* loop: spins forever when the frame's first f32 sample is > 0.5, else echoes. */
#include "rmtest.h"

static volatile int spins;

RM_EXPORT("rm_process") int rm_process(unsigned char *frame, int len) {
  if (len >= 4 && *(const float *)(frame + 32) > 0.5f)
    for (;;) spins++;
  *(unsigned int *)(frame + 16) = 0;
  rm_emit(frame, frame + 32, len);
  return 0;
}
