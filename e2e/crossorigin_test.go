package e2e

import (
	"fmt"
	"net"
	"net/http"
	"strings"
	"testing"
)

// servePage serves page at / on a listener of its own: another origin than the
// RemoteMedia server's.
func servePage(t *testing.T, l net.Listener, page string) {
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		_, _ = w.Write([]byte(page))
	})}
	go func() { _ = srv.Serve(l) }()
	t.Cleanup(func() { _ = srv.Close() })
}

// TestCrossOriginLoad: a page on another origin loads remotemedia.js, core.wasm
// and the modules from a server that allows its origin (--allow-origin) and
// runs the example there, on its own thread and in a Web Worker; from a server
// that does not allow it, RemoteMedia.load fails with an error.
func TestCrossOriginLoad(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	origin := "http://" + l.Addr().String()
	allowed := startServer(t, "--allow-origin", origin)
	refused := startServer(t)
	servePage(t, l, `<!doctype html><title>elsewhere</title>`)
	ctx := browser(t)
	navigate(t, ctx, origin+"/")

	run := func(server, opts string) string {
		t.Helper()
		return eval[string](t, ctx, fmt.Sprintf(`
			try {
				if (!globalThis.RemoteMedia) await new Promise((resolve, reject) => {
					const s = document.createElement("script");
					s.src = %[1]q + "remotemedia.js";
					s.onload = resolve;
					s.onerror = () => reject(new Error("remotemedia.js did not load"));
					document.head.appendChild(s);
				});
				const rm = await RemoteMedia.load(Object.assign({ base: %[1]q }, %[2]s));
				const def = await fetch(%[1]q + "examples/speech-frontend.yaml").then((r) => r.text());
				const p = await rm.pipeline(def);
				const res = await p.process({ audio: new Float32Array(48000 * 2).fill(0.1), sampleRate: 48000, channels: 2 });
				return "ok: " + res.stats.map((s) => s.id + " " + s.in).join(", ");
			} catch (e) {
				return "error: " + e.message;
			}`, server, opts))
	}
	for _, opts := range []string{"{}", "{ worker: true }"} {
		got := run(allowed.url, opts)
		t.Logf("load(%s) from %s on %s: %s", opts, allowed.url, origin, got)
		if !strings.HasPrefix(got, "ok: mono 50, resample 50, gain ") { // the resampler's flush may add a frame
			t.Errorf("load(%s) from an allowing server: %s", opts, got)
		}
	}

	// A fresh page (one core.wasm per page), loading from the server that does not allow the origin.
	navigate(t, ctx, origin+"/?refused")
	got := run(refused.url, "{}")
	t.Logf("from a server that does not allow %s: %s", origin, got)
	if !strings.HasPrefix(got, "error: ") || !strings.Contains(got, "--allow-origin") {
		t.Errorf("a server without --allow-origin: %s, want an error that says what to allow", got)
	}
}
