/* echo: emits every input frame unchanged on port 0. */
#include "rmtest.h"

RM_EXPORT("rm_free") void rm_free(void *p) {}

RM_EXPORT("rm_process") int rm_process(unsigned char *frame, int len) {
  unsigned int *port = (unsigned int *)(frame + 16);
  *port = 0;
  rm_emit(frame, frame + 32, len);
  return 0;
}
