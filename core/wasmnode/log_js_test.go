//go:build js

package wasmnode

import (
	"bytes"
	"errors"
	"log"
	"testing"
)

func TestLoggerJS(t *testing.T) {
	var buf bytes.Buffer
	log.SetOutput(&buf)
	log.SetFlags(0)
	t.Cleanup(func() { log.SetOutput(nil); log.SetFlags(log.LstdFlags) })
	l := newLogger("vad", "vad.wasm")
	l.log(2, "ring grew")
	l.log(9, "odd level")
	l.warn("closing wasm instance", errors.New("trap"))
	want := "WARN ring grew node=vad module=vad.wasm\nINFO odd level node=vad module=vad.wasm\n" +
		"WARN closing wasm instance node=vad module=vad.wasm err=trap\n"
	if buf.String() != want {
		t.Errorf("logged %q, want %q", buf.String(), want)
	}
}
