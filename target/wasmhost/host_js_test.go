//go:build js && wasm

package wasmhost

import (
	"context"
	"os"
	"path/filepath"
	"syscall/js"
	"testing"
	"time"

	"github.com/remotemedia/hybrid/core/wasmnode"
	"github.com/remotemedia/hybrid/target/internal/jsutil"
)

// The tests run in Node (go test -exec=$(go env GOROOT)/lib/wasm/go_js_wasm_exec),
// whose WebAssembly API is V8's, as Chromium's is. The page loads
// web/wasi-shim.js before core.wasm; here TestMain does.
func TestMain(m *testing.M) {
	shim, _ := filepath.Abs("../../web/wasi-shim.js")
	js.Global().Get("require").Invoke(shim)
	os.Exit(m.Run())
}

// TestBeat: in remotemedia.js's worker (where __remotemediaBeat is defined) calls
// beat at most once per quarter of the deadline: the first call beats, calls
// while less than a quarter deadline has passed since the last beat do not, and
// the first call after that beats again. The test sets the time of the last beat
// instead of waiting, with a deadline of an hour, so no machine is slow enough to
// cross a quarter of it by accident.
func TestBeat(t *testing.T) {
	beats := 0
	fn := js.FuncOf(func(js.Value, []js.Value) any { beats++; return nil })
	defer fn.Release()
	js.Global().Set("__remotemediaBeat", fn)
	defer js.Global().Delete("__remotemediaBeat")
	const deadline = time.Hour
	ctx := context.Background()
	h, err := New(ctx, Config{CallTimeout: deadline})
	if err != nil {
		t.Fatal(err)
	}
	mod, err := h.Compile(ctx, "spin.wasm", mustRead(t, "testdata/spin.wasm"))
	if err != nil {
		t.Fatal(err)
	}
	in, err := mod.Instantiate(ctx, wasmnode.HostFuncs{})
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close(ctx)
	call := func(n int) {
		for range n {
			if err := in.Func("spin").Call(ctx, []uint64{0}); err != nil {
				t.Fatal(err)
			}
		}
	}
	steps := []struct {
		name      string
		lastBeat  time.Duration // before now; 0 leaves it as the calls before set it
		calls     int
		wantBeats int // in all, so far
	}{
		{name: "the first call beats, the rest of a burst does not", calls: 100, wantBeats: 1},
		{name: "less than a quarter deadline since the last beat", lastBeat: deadline/4 - time.Minute, calls: 100, wantBeats: 1},
		{name: "more than a quarter deadline since the last beat", lastBeat: deadline/4 + time.Minute, calls: 100, wantBeats: 2},
		{name: "and that beat counts from then", calls: 100, wantBeats: 2},
	}
	for _, st := range steps {
		if st.lastBeat > 0 {
			h.lastBeat = jsutil.Nanotime() - int64(st.lastBeat)
		}
		call(st.calls)
		if beats != st.wantBeats {
			t.Fatalf("%s: %d beats after %d calls, want %d", st.name, beats, st.calls, st.wantBeats)
		}
	}
	// Without the hook (the page's own thread) nothing beats.
	js.Global().Delete("__remotemediaBeat")
	h2, err := New(ctx, Config{})
	if err != nil || !h2.beat.IsUndefined() {
		t.Fatalf("host without the hook: beat %v, err %v", h2.beat, err)
	}
}

// TestNoShim: without web/wasi-shim.js, New fails with ErrNoShim.
func TestNoShim(t *testing.T) {
	shim := js.Global().Get("RemoteMediaWASI")
	js.Global().Delete("RemoteMediaWASI")
	defer js.Global().Set("RemoteMediaWASI", shim)
	if _, err := New(context.Background(), Config{}); err != ErrNoShim {
		t.Fatalf("New without the shim: %v, want ErrNoShim", err)
	}
}

func mustRead(tb testing.TB, path string) []byte {
	tb.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		tb.Fatal(err)
	}
	return b
}
