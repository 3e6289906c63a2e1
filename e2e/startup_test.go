package e2e

import (
	"bytes"
	"compress/gzip"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/vmihailenco/msgpack/v5"
)

// startupLoad is what one load of a page that runs the example pipeline saw:
// where core.wasm came from (remotemedia.js's "core-from-*" marks), whether
// the tab has its IndexedDB cache, and what the first frame gave.
type startupLoad struct {
	Marks   []string `json:"marks"`
	Core    []string `json:"core"`    // the requests for core.wasm, by file name
	Modules int      `json:"modules"` // module requests in all
	Bundles int      `json:"bundles"` // requests for modules/bundle.msgpack
	Reads   int      `json:"reads"`   // IndexedDB reads of the modules store
	Cache   bool     `json:"cache"`
	Frames  int      `json:"frames"`
	Hint    string   `json:"hint"`
	Err     string   `json:"err"`
}

// startupPage loads the core, runs the example over one frame and reports.
// `before` runs first (to take IndexedDB away, say).
const startupPage = `<!doctype html><script src="/remotemedia.js"></script><script>
  window.result = (async () => {
    try {
      window.moduleReads = 0;
      const get = IDBObjectStore.prototype.get;
      IDBObjectStore.prototype.get = function (key) {
        if (this.name === "modules") window.moduleReads++;
        return get.call(this, key);
      };
      %s
      const rm = await RemoteMedia.load();
      const def = await fetch("/examples/speech-frontend.yaml").then((r) => r.text());
      const p = await rm.pipeline(def);
      const out = await p.process({ audio: new Float32Array(1920), sampleRate: 48000, channels: 2 });
      const modules = performance.getEntriesByType("resource").filter((r) => /\/modules\/[^/]+\.wasm$/.test(new URL(r.name).pathname));
      return { marks: performance.getEntriesByType("mark").map((m) => m.name).filter((n) => n.includes("core-from-")),
        modules: modules.length, reads: window.moduleReads,
        bundles: performance.getEntriesByType("resource").filter((r) => new URL(r.name).pathname === "/modules/bundle.msgpack").length,
        core: performance.getEntriesByType("resource").map((r) => new URL(r.name).pathname.slice(1)).filter((n) => n.startsWith("core.wasm")),
        cache: rm.info.cache, frames: out.stats.find((s) => s.id === "mono").in,
        hint: Object.keys(localStorage).filter((k) => k.startsWith("remotemedia:")).map((k) => k + "=" + localStorage.getItem(k)).join(" ") };
    } catch (e) {
      return { err: e.message };
    }
  })();
</script>`

// TestStartupCaches: a first visit fetches core.wasm from the network at once
// (the Cache API is not asked: its first open in a profile costs 50-150 ms),
// as its gzip copy inflated in the page, reads no module from IndexedDB (the
// store's keys say none is there), and keeps core.wasm in the Cache API,
// remembering so in localStorage; the next visit takes it
// from the Cache API; with localStorage cleared it goes to the network again
// and remembers again. Without IndexedDB the tab runs the pipeline uncached.
func TestStartupCaches(t *testing.T) {
	s := startServer(t)
	px := startProxy(t, s, map[string]string{
		"/start.html": strings.Replace(startupPage, "%s", "", 1),
		"/noidb.html": strings.Replace(startupPage, "%s", `Object.defineProperty(window, "indexedDB", { value: undefined });`, 1),
	})
	ctx := browser(t)
	load := func(page string) startupLoad {
		t.Helper()
		navigate(t, ctx, px.url+page)
		got := eval[startupLoad](t, ctx, "return await window.result;")
		if got.Err != "" {
			t.Fatalf("%s: %s", page, got.Err)
		}
		if got.Frames != 1 {
			t.Errorf("%s: the pipeline's first node took %d frames, want 1", page, got.Frames)
		}
		return got
	}
	// The Cache API is written in the background after the first load; wait for it.
	cached := func() {
		t.Helper()
		if _, err := chromedp.Run(ctx, chromedp.Poll[bool](`(async () => {
			const c = await caches.open("remotemedia-v1");
			return (await c.keys()).some((r) => new URL(r.url).pathname === "/core.wasm") &&
				(localStorage.getItem("remotemedia:cached:/core.wasm") || "").includes("/core.wasm?v=");
		})()`, chromedp.WithPollingTimeout(20*time.Second))); err != nil {
			t.Fatalf("core.wasm did not reach the Cache API with its localStorage note: %v", err)
		}
	}

	first := load("start.html")
	if !slices.Equal(first.Marks, []string{"remotemedia:core-from-network"}) || !first.Cache {
		t.Errorf("first visit: marks %v, IndexedDB %v; want core.wasm from the network and the cache open", first.Marks, first.Cache)
	}
	if !slices.Equal(first.Core, []string{"core.wasm.gz"}) {
		t.Errorf("first visit: requests %v, want core.wasm.gz alone (the gzip copy, inflated in the page)", first.Core)
	}
	if first.Reads != 0 || first.Modules != 0 || first.Bundles != 1 {
		t.Errorf("first visit: %d IndexedDB reads of modules, %d module requests, %d of the bundle; want none read (the store is empty), all from the one bundle", first.Reads, first.Modules, first.Bundles)
	}
	cached()
	again := load("start.html")
	if !slices.Equal(again.Marks, []string{"remotemedia:core-from-cache"}) {
		t.Errorf("second visit: marks %v, want core.wasm from the Cache API (%s)", again.Marks, again.Hint)
	}
	// The four modules of the example and dc_block, which the tab registers at init.
	if again.Modules != 0 || again.Bundles != 0 || again.Reads != 5 {
		t.Errorf("second visit: %d module requests, %d of the bundle, %d IndexedDB reads; want none, none and 5 (IndexedDB has them)", again.Modules, again.Bundles, again.Reads)
	}
	if len(again.Core) != 0 {
		t.Errorf("second visit: requests %v, want none for core.wasm (the Cache API has it)", again.Core)
	}

	eval[bool](t, ctx, `localStorage.clear(); return true;`)
	if cleared := load("start.html"); !slices.Equal(cleared.Marks, []string{"remotemedia:core-from-network"}) {
		t.Errorf("localStorage cleared: marks %v, want core.wasm from the network", cleared.Marks)
	}
	cached()
	if again := load("start.html"); !slices.Equal(again.Marks, []string{"remotemedia:core-from-cache"}) {
		t.Errorf("after the note was written again: marks %v, want the Cache API", again.Marks)
	}

	if noidb := load("noidb.html"); noidb.Cache {
		t.Errorf("without IndexedDB: rm.info.cache %v, want false", noidb.Cache)
	}
}

// TestStartupBadGzipCopy: when core.wasm.gz does not inflate to WebAssembly (a
// proxy on the way mangled it, say: not gzip, or gzip of something else), a
// first visit fetches core.wasm itself, and what the Cache API keeps for the
// next visit is that WebAssembly, not the failed copy.
func TestStartupBadGzipCopy(t *testing.T) {
	var other bytes.Buffer
	w := gzip.NewWriter(&other)
	_, _ = w.Write(bytes.Repeat([]byte("not WebAssembly "), 4096))
	_ = w.Close()
	s := startServer(t)
	for _, tc := range []struct{ name, copy string }{{"not gzip", "not gzip"}, {"gzip, not WebAssembly", other.String()}} {
		px := startProxy(t, s, map[string]string{
			"/start.html":   strings.Replace(startupPage, "%s", "", 1),
			"/core.wasm.gz": tc.copy,
		})
		ctx := browser(t)
		navigate(t, ctx, px.url+"start.html")
		got := eval[startupLoad](t, ctx, "return await window.result;")
		if got.Err != "" || got.Frames != 1 {
			t.Fatalf("%s: %q, %d frames; want the pipeline run on one frame", tc.name, got.Err, got.Frames)
		}
		if !slices.Equal(got.Core, []string{"core.wasm.gz", "core.wasm"}) {
			t.Errorf("%s: requests %v, want core.wasm.gz, then core.wasm", tc.name, got.Core)
		}
		if _, err := chromedp.Run(ctx, chromedp.Poll[bool](`Object.keys(localStorage).some((k) => k.startsWith("remotemedia:cached:"))`,
			chromedp.WithPollingTimeout(30*time.Second))); err != nil {
			t.Fatalf("%s: core.wasm not in the Cache API after a load: %v", tc.name, err)
		}
		navigate(t, ctx, px.url+"start.html")
		again := eval[startupLoad](t, ctx, "return await window.result;")
		if again.Err != "" || again.Frames != 1 || !slices.Equal(again.Marks, []string{"remotemedia:core-from-cache"}) {
			t.Fatalf("%s: the next visit: %q, %d frames, marks %v; want the pipeline run from the Cache API's copy", tc.name, again.Err, again.Frames, again.Marks)
		}
		_ = chromedp.Cancel(ctx)
	}
}

// TestStartupBadBundle: a first visit whose module bundle does not decode, or
// holds a module whose sha256 is not the index's, fetches those modules one by
// one and runs the pipeline all the same.
func TestStartupBadBundle(t *testing.T) {
	s := startServer(t)
	bundle := func(mods map[string][]byte) string {
		b, err := msgpack.Marshal(mods)
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	good := func(name string) []byte { return []byte(readFile(t, "../wasm-modules/build/"+name)) }
	for _, tc := range []struct {
		name, bundle string
		modules      int
	}{
		{"not msgpack", "not msgpack", 5},
		{"vad.wasm changed", bundle(map[string][]byte{"vad.wasm": []byte("\x00asm\x01\x00\x00\x00"), "to_mono.wasm": good("to_mono.wasm"),
			"resample.wasm": good("resample.wasm"), "gain.wasm": good("gain.wasm"), "dc_block.wasm": good("dc_block.wasm")}), 1},
	} {
		px := startProxy(t, s, map[string]string{"/start.html": strings.Replace(startupPage, "%s", "", 1), "/modules/bundle.msgpack": tc.bundle})
		ctx := browser(t)
		navigate(t, ctx, px.url+"start.html")
		got := eval[startupLoad](t, ctx, "return await window.result;")
		if got.Err != "" || got.Frames != 1 {
			t.Fatalf("%s: %q, %d frames; want the pipeline run on one frame", tc.name, got.Err, got.Frames)
		}
		if got.Modules != tc.modules || got.Bundles != 1 {
			t.Errorf("%s: %d module requests, %d of the bundle; want %d and 1", tc.name, got.Modules, got.Bundles, tc.modules)
		}
		_ = chromedp.Cancel(ctx)
	}
}

// TestStartupPreparesRecent: a visit prepares the modules of the node types
// the origin's last pipeline used (read from IndexedDB and compiled) right
// after init, before the page asks for a pipeline; the pipeline then reads
// none again.
func TestStartupPreparesRecent(t *testing.T) {
	s := startServer(t)
	px := startProxy(t, s, map[string]string{
		"/start.html": strings.Replace(startupPage, "%s", "", 1),
		"/load.html": `<!doctype html><script src="/remotemedia.js"></script><script>
		  window.moduleReads = 0;
		  const get = IDBObjectStore.prototype.get;
		  IDBObjectStore.prototype.get = function (key) {
		    if (this.name === "modules") window.moduleReads++;
		    return get.call(this, key);
		  };
		  window.rmP = RemoteMedia.load();
		</script>`,
	})
	ctx := browser(t)
	navigate(t, ctx, px.url+"start.html")
	if got := eval[startupLoad](t, ctx, "return await window.result;"); got.Err != "" || got.Frames != 1 {
		t.Fatalf("first visit: %q, %d frames", got.Err, got.Frames)
	}
	kept := eval[string](t, ctx, `
		const db = await new Promise((ok, fail) => { const r = indexedDB.open("remotemedia"); r.onsuccess = () => ok(r.result); r.onerror = fail; });
		return await new Promise((ok) => { const r = db.transaction("meta").objectStore("meta").get("recent-types"); r.onsuccess = () => ok(String(r.result)); });`)
	if kept != `["gain","resample","to_mono","vad"]` {
		t.Fatalf("node types kept after the first visit: %s, want the example's four", kept)
	}
	navigate(t, ctx, px.url+"load.html")
	// dc_block (registered at init) and the example's four modules, with no
	// rm.pipeline called.
	if _, err := chromedp.Run(ctx, chromedp.Poll[bool](`window.moduleReads >= 5`, chromedp.WithPollingTimeout(20*time.Second))); err != nil {
		t.Fatalf("the modules of the last pipeline's node types were not read after init: %d reads (%v)", eval[int](t, ctx, "return window.moduleReads;"), err)
	}
	frames := eval[int](t, ctx, `
		const rm = await window.rmP;
		const p = await rm.pipeline(await fetch("/examples/speech-frontend.yaml").then((r) => r.text()));
		const out = await p.process({ audio: new Float32Array(1920), sampleRate: 48000, channels: 2 });
		return out.stats.find((s) => s.id === "mono").in;`)
	if reads := eval[int](t, ctx, "return window.moduleReads;"); frames != 1 || reads != 5 {
		t.Fatalf("the pipeline after: %d frames, %d module reads in all; want 1 and 5 (none read again)", frames, reads)
	}
}
