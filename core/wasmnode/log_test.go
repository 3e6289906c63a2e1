//go:build !js

package wasmnode

import (
	"bytes"
	"errors"
	"log/slog"
	"strings"
	"testing"
)

func TestLogger(t *testing.T) {
	var buf bytes.Buffer
	old := slog.Default()
	slog.SetDefault(slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug,
		ReplaceAttr: func(_ []string, a slog.Attr) slog.Attr {
			if a.Key == slog.TimeKey {
				return slog.Attr{}
			}
			return a
		}})))
	t.Cleanup(func() { slog.SetDefault(old) })
	l := newLogger("vad", "vad.wasm")
	l.log(0, "ring grew")
	l.log(9, "odd level")
	l.warn("closing wasm instance", errors.New("trap"))
	want := []string{
		`level=DEBUG msg="ring grew" node=vad module=vad.wasm`,
		`level=INFO msg="odd level" node=vad module=vad.wasm`,
		`level=WARN msg="closing wasm instance" node=vad module=vad.wasm err=trap`,
	}
	if got := strings.Split(strings.TrimSpace(buf.String()), "\n"); strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("logged\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}
