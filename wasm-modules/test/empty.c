/* empty: accepts every frame and emits nothing (the call-overhead benchmark). */
#include "rmtest.h"

RM_EXPORT("rm_process") int rm_process(const unsigned char *frame, int len) { return 0; }
