/* fail: rejects every frame with a message through rm.error. */
#include "rmtest.h"

RM_EXPORT("rm_process") int rm_process(unsigned char *frame, int len) {
  static const char msg[] = "fail.wasm: this node rejects every frame";
  rm_error(msg, rm_strlen(msg));
  return 7;
}
