/* passthrough: emits every frame unchanged on its one output. A definition uses it as a named tap: a port
 * that feeds other nodes (a transcript routed to TTS) can also be an output of the pipeline through one. */
#include <remotemedia.h>

int rm_node_init(const rm_params *p) {
  (void)p;
  return 0;
}

int rm_node_process(const rm_frame *f) {
  rm_emit(&f->h, 0, f->data, f->len);
  return 0;
}
