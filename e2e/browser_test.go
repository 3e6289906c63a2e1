package e2e

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"

	"io"
	"io/fs"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	modules "github.com/remotemedia/hybrid/wasm-modules"
)

const exampleDef = "../examples/speech-frontend.yaml"

// cliRun runs `remotemedia run` on the speech WAV and returns the output audio
// (f32 bytes) and the events, one decoded JSON object each.
func cliRun(t *testing.T) ([]byte, []map[string]any) {
	t.Helper()
	dir := t.TempDir()
	out, evs := filepath.Join(dir, "out.wav"), filepath.Join(dir, "events.jsonl")
	cmd := exec.Command(bin, "run", exampleDef, "--in", speech, "--out", out, "--events", evs, "--quiet")
	if o, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("remotemedia run: %v\n%s", err, o)
	}
	var events []map[string]any
	for _, line := range strings.Split(strings.TrimSpace(readFile(t, evs)), "\n") {
		if line == "" {
			continue
		}
		var ev map[string]any
		if err := json.Unmarshal([]byte(line), &ev); err != nil {
			t.Fatalf("events.jsonl: %v: %s", err, line)
		}
		events = append(events, ev)
	}
	return wavData(t, out), events
}

// tabResult is what a run in the tab reports back.
type tabResult struct {
	SHA256   string            `json:"sha256"`
	Bytes    int               `json:"bytes"`
	Rate     int               `json:"rate"`
	Events   []map[string]any  `json:"events"`
	Hashes   map[string]string `json:"hashes"`
	Sources  int               `json:"sources"`
	FirstB64 string            `json:"head"`
}

// runInTab runs the example over the speech WAV with the script-tag API; its
// arguments are the options of RemoteMedia.load, the definition and the WAV bytes.
const runInTab = `
	const rm = await RemoteMedia.load(%s);
	const p = await rm.pipeline(%q);
	const res = await p.process({ wav: %s });
	const a = res.audio[0];
	const bytes = a ? new Uint8Array(a.samples.buffer, a.samples.byteOffset, a.samples.byteLength) : new Uint8Array();
	const sum = new Uint8Array(await crypto.subtle.digest("SHA-256", bytes));
	return { sha256: Array.from(sum, (b) => b.toString(16).padStart(2, "0")).join(""), bytes: bytes.length,
		rate: a ? a.sampleRate : 0, events: res.events, hashes: await rm.moduleHashes(), sources: res.audio.length };`

func sha256Hex(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

// TestParity: the example definition over the same WAV in the tab and under
// `remotemedia run` gives byte-identical audio and identical events, from
// module bytes whose sha256 match the server's index and the embedded files.
// Then, with the module URLs unreachable, a reload still runs it from the
// IndexedDB cache with the same result.
func TestParity(t *testing.T) {
	cliAudio, cliEvents := cliRun(t)
	if len(cliAudio) == 0 || len(cliEvents) == 0 {
		t.Fatalf("the CLI produced %d audio bytes and %d events: the fixture has no speech?", len(cliAudio), len(cliEvents))
	}
	s := startServer(t)
	px := startProxy(t, s, map[string]string{"/blank.html": `<!doctype html><script src="/remotemedia.js"></script>`})
	ctx := browser(t)
	navigate(t, ctx, px.url+"blank.html")
	script := fmt.Sprintf(runInTab, "", readFile(t, exampleDef), jsBytes(t, speech))
	got := eval[tabResult](t, ctx, script)

	if got.Sources != 1 || got.Rate != 16000 {
		t.Errorf("tab: %d audio outputs at %d Hz, want 1 at 16000", got.Sources, got.Rate)
	}
	if got.Bytes != len(cliAudio) || got.SHA256 != sha256Hex(cliAudio) {
		t.Errorf("audio differs: tab %d bytes sha256 %s, CLI %d bytes sha256 %s", got.Bytes, got.SHA256, len(cliAudio), sha256Hex(cliAudio))
	}
	if !reflect.DeepEqual(got.Events, cliEvents) {
		t.Errorf("events differ:\ntab: %v\nCLI: %v", got.Events, cliEvents)
	}
	t.Logf("parity: %d bytes of 16 kHz audio (sha256 %s…), %d events", got.Bytes, got.SHA256[:16], len(got.Events))

	// Module bytes: the tab's hashes = /modules/index.json = the embedded files.
	resp, err := http.Get(s.url + "modules/index.json")
	if err != nil {
		t.Fatal(err)
	}
	var index map[string]string
	err = json.NewDecoder(resp.Body).Decode(&index)
	resp.Body.Close()
	if err != nil {
		t.Fatal(err)
	}
	if len(got.Hashes) < 4 {
		t.Errorf("the tab loaded %d modules, want the 4 of the example: %v", len(got.Hashes), got.Hashes)
	}
	for name, h := range got.Hashes {
		b, err := fs.ReadFile(modules.FS(), name)
		if err != nil {
			t.Fatalf("embedded %s: %v", name, err)
		}
		if h != index[name] || h != sha256Hex(b) {
			t.Errorf("%s: tab sha256 %s, index %s, embedded %s", name, h, index[name], sha256Hex(b))
		}
	}

	// Offline: module URLs unreachable, the page reloaded, the same result.
	px.blockModules.Store(true)
	navigate(t, ctx, px.url+"blank.html")
	again := eval[tabResult](t, ctx, script)
	if again.SHA256 != got.SHA256 || !reflect.DeepEqual(again.Events, got.Events) {
		t.Errorf("offline run differs: sha256 %s, %d events", again.SHA256, len(again.Events))
	}

	// In a Web Worker (still offline): the same bytes.
	inWorker := eval[tabResult](t, ctx, fmt.Sprintf(runInTab, "{ worker: true }", readFile(t, exampleDef), jsBytes(t, speech)))
	if inWorker.SHA256 != got.SHA256 || !reflect.DeepEqual(inWorker.Events, got.Events) {
		t.Errorf("worker run differs: sha256 %s, %d events", inWorker.SHA256, len(inWorker.Events))
	}
}

// TestScriptTag: the API from a plain page, as a user would write it.
func TestScriptTag(t *testing.T) {
	s := startServer(t)
	page := `<!doctype html>
<html><body>
<pre id="out">working…</pre>
<script src="/remotemedia.js"></script>
<script>
  (async () => {
    const rm = await RemoteMedia.load();
    const p = await rm.pipeline({
      version: "1",
      nodes: [{ id: "loud", node_type: "gain", params: { linear: 2 } }],
    });
    const audio = new Float32Array([0.1, -0.2, 0.25, 0.5]);
    const out = await p.process({ audio, sampleRate: 48000, channels: 1 });
    const stats = await p.stats();
    p.close();
    document.getElementById("out").textContent = JSON.stringify({
      samples: Array.from(out.audio[0].samples), node: out.audio[0].node, rate: out.audio[0].sampleRate,
      statsIn: stats[0].in,
    });
  })().catch((e) => { document.getElementById("out").textContent = "error: " + e.message; });
</script>
</body></html>`
	px := startProxy(t, s, map[string]string{"/user.html": page})
	ctx := browser(t)
	navigate(t, ctx, px.url+"user.html")
	text, err := chromedp.Run(ctx, chromedp.Poll[string](`(() => { const t = document.getElementById("out").textContent; return t === "working…" ? null : t; })()`,
		chromedp.WithPollingTimeout(60*time.Second)))
	if err != nil {
		t.Fatal(err)
	}
	var got struct {
		Samples []float32
		Node    string
		Rate    int
		StatsIn int
	}
	if err := json.Unmarshal([]byte(text), &got); err != nil {
		t.Fatalf("page says %q", text)
	}
	want := []float32{0.2, -0.4, 0.5, 1}
	if !reflect.DeepEqual(got.Samples, want) || got.Node != "loud" || got.Rate != 48000 || got.StatsIn != 1 {
		t.Fatalf("got %+v, want samples %v from node loud at 48000 Hz, 1 frame in", got, want)
	}
}

// TestMicrophone: Chromium's fake capture plays the speech WAV into
// getUserMedia; p.stream yields the VAD events, on the page's thread and in a
// Web Worker. The browser resamples the
// microphone, so the counts are compared with the CLI's roughly, not exactly.
func TestMicrophone(t *testing.T) {
	_, cliEvents := cliRun(t)
	count := func(evs []map[string]any, name string) int {
		n := 0
		for _, ev := range evs {
			if d, ok := ev["data"].(map[string]any); ok && d["event"] == name {
				n++
			}
		}
		return n
	}
	s := startServer(t)
	wantStarts := count(cliEvents, "speech_start")
	for _, opts := range []string{"", "{ worker: true }"} {
		t.Run("load("+opts+")", func(t *testing.T) {
			ctx := browser(t,
				chromedp.Flag("use-fake-device-for-media-stream", true),
				chromedp.Flag("use-fake-ui-for-media-stream", true),
				chromedp.Flag("use-file-for-fake-audio-capture", speech+"%noloop"),
				chromedp.Flag("autoplay-policy", "no-user-gesture-required"),
			)
			navigate(t, ctx, s.url)
			evs := eval[[]map[string]any](t, ctx, fmt.Sprintf(`
				const rm = await RemoteMedia.load(%s);
				const p = await rm.pipeline(%q);
				const ms = await navigator.mediaDevices.getUserMedia({ audio: true });
				const it = p.stream(ms);
				const events = [];
				const stopAt = setTimeout(() => it.stop(), 9000); // the file is about 7.5 s long
				for await (const o of it) if (o.kind !== "audio") events.push(o);
				clearTimeout(stopAt);
				return events;`, opts, readFile(t, exampleDef)))
			starts, ends := count(evs, "speech_start"), count(evs, "speech_end")
			t.Logf("microphone: %d speech_start, %d speech_end (CLI on the file: %d starts)", starts, ends, wantStarts)
			if starts < 1 || starts > wantStarts+2 || ends < starts-1 || ends > starts {
				t.Fatalf("microphone: %d speech_start and %d speech_end, want about %d of each: %v", starts, ends, wantStarts, evs)
			}
		})
	}
}

// TestDemoErrorsAndScreenshot: on the demo page a bad definition lists each
// problem with its path, a trapping module shows its error, the page then
// still runs the example, and a screenshot of it is saved to e2e/out/demo.png.
func TestDemoErrorsAndScreenshot(t *testing.T) {
	s := startServer(t)
	ctx := browser(t)
	navigate(t, ctx, s.url)
	if _, err := chromedp.Run(ctx, chromedp.Poll[bool](`document.getElementById("status").dataset.state === "ready"`,
		chromedp.WithPollingTimeout(60*time.Second))); err != nil {
		t.Fatalf("demo did not become ready: %v", err)
	}
	example := eval[string](t, ctx, `return document.getElementById("def").value;`)
	if example != readFile(t, exampleDef) {
		t.Fatalf("the textarea is not prefilled with examples/speech-frontend.yaml:\n%s", example)
	}
	eval[bool](t, ctx, fmt.Sprintf(`await demo.useFile(%s, "speech.wav"); return true;`, jsBytes(t, speech)))

	runDemo := func(def string) (state, errors string) {
		t.Helper()
		type out struct{ State, Errors string }
		r := eval[out](t, ctx, fmt.Sprintf(`
			document.getElementById("def").value = %q;
			await demo.run();
			return { state: document.getElementById("status").dataset.state, errors: document.getElementById("errors").innerText };`, def))
		return r.State, r.Errors
	}

	bad := `version: "1"
nodes:
  - id: mono
    node_type: to_mono
  - id: rs
    node_type: resampel
  - id: g
    node_type: gain
    params: {gain_db: 500}
connections:
  - {from: mono, to: nowhere}
`
	state, errs := runDemo(bad)
	t.Logf("bad definition, as the page shows it:\n%s", errs)
	for _, want := range []string{"nodes[1]", "resampel", "nodes[2].params.gain_db", "connections[0]"} {
		if !strings.Contains(errs, want) {
			t.Errorf("bad definition: errors shown %q do not mention %q", errs, want)
		}
	}
	if state != "failed" {
		t.Errorf("bad definition: status %q, want failed", state)
	}

	trap, err := os.ReadFile("../wasm-modules/build/test/trap.wasm")
	if err != nil {
		t.Fatalf("trap.wasm: %v (make -C wasm-modules/test)", err)
	}
	eval[bool](t, ctx, fmt.Sprintf(`await demo.rm.registerModule("trap", new Uint8Array(%s)); return true;`, jsBytes(t, writeTemp(t, trap))))
	_, errs = runDemo("version: \"1\"\nnodes:\n  - id: boom\n    node_type: trap\n")
	t.Logf("trapping module, as the page shows it:\n%s", errs)
	if !strings.Contains(errs, "boom") || !strings.Contains(errs, "trap") {
		t.Errorf("trapping module: errors shown %q, want the node and the trap", errs)
	}

	state, errs = runDemo(example)
	summary := eval[string](t, ctx, `return document.getElementById("summary").textContent;`)
	if state != "done" || errs != "" || !strings.Contains(summary, "speech segment") {
		t.Fatalf("after the errors the example does not run: state %q, errors %q, summary %q", state, errs, summary)
	}
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll("out", 0o755); err != nil {
		t.Fatal(err)
	}
	path, _ := filepath.Abs(filepath.Join("out", "demo.png"))
	if err := os.WriteFile(path, png, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("demo after a run (%s): screenshot saved to %s", summary, path)
}

func writeTemp(t *testing.T, b []byte) string {
	p := filepath.Join(t.TempDir(), "m.wasm")
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestPythonNode: a definition mixing a WASM node and a Python node (served by
// the server's Python workers through core/pynode's HTTP API over fetch).
func TestPythonNode(t *testing.T) {
	s := startServer(t)
	resp, err := http.Get(s.url + "v1/nodes")
	if err != nil {
		t.Fatalf("GET /v1/nodes: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("the server has no Python node API (GET /v1/nodes: %s): are Python and the remotemedia package installed?", resp.Status)
	}
	ctx := browser(t)
	navigate(t, ctx, s.url)
	type out struct {
		Rate, Channels, Frames int
		Samples                []float32
		Errors                 []string
	}
	got := eval[out](t, ctx, `
		const rm = await RemoteMedia.load();
		const p = await rm.pipeline({
			version: "1",
			nodes: [
				{ id: "half", node_type: "gain", params: { linear: 0.5 } },
				{ id: "py", node_type: "AudioTransform", runtime_hint: "python", params: { output_sample_rate: 48000, output_channels: 1 } },
			],
			connections: [{ from: "half", to: "py" }],
		}, { server: "/" });
		const audio = new Float32Array(960 * 2 * 3);
		for (let i = 0; i < audio.length; i += 2) { audio[i] = 0.5; audio[i + 1] = 0.25; }
		const res = await p.process({ audio, sampleRate: 48000, channels: 2 });
		const a = res.audio[0];
		return { rate: a.sampleRate, channels: a.channels, frames: a.frames, samples: Array.from(a.samples.slice(0, 4)),
			errors: res.events.filter((e) => e.kind === "error").map((e) => e.error) };`)
	if len(got.Errors) > 0 || got.Rate != 48000 || got.Channels != 1 || got.Frames != 3 {
		t.Fatalf("got %+v, want 3 mono 48 kHz frames and no errors", got)
	}
	// The Python session streamed over a WebSocket, not one fetch per frame.
	resp, err = http.Get(s.url + "metrics")
	if err != nil {
		t.Fatal(err)
	}
	metrics, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.Contains(string(metrics), "\npyproxy_websockets_opened_total 1\n") {
		t.Errorf("GET /metrics: want pyproxy_websockets_opened_total 1, got:\n%s", metrics)
	}
	for _, v := range got.Samples {
		if v < 0.1874 || v > 0.1876 { // (0.5 + 0.25) / 2 * 0.5
			t.Fatalf("samples %v, want 0.1875 (gain 0.5 in WASM, then the Python down-mix)", got.Samples)
		}
	}
}

// TestWorkerDeadline: with RemoteMedia.load({worker: true}) a node call that
// never returns is stopped about one deadline later with a "timeout" error, the
// page keeps running meanwhile, and the same pipeline objects (including one
// of a custom module) work afterwards in a fresh worker.
func TestWorkerDeadline(t *testing.T) {
	s := startServer(t)
	ctx := browser(t)
	navigate(t, ctx, s.url)
	type result struct {
		First, After, Again, Again2 []float32
		Code, Msg                   string
		MS                          float64
		Ticks                       int
		BadKind, BadPath            string
	}
	r := eval[result](t, ctx, fmt.Sprintf(`
		const rm = await RemoteMedia.load({ worker: true, callTimeoutMs: 300 });
		const loopWasm = new Uint8Array(%s);
		await rm.registerModule("loop", loopWasm);
		const spin = await rm.pipeline({ version: "1", nodes: [{ id: "spin", node_type: "loop" }] });
		const gain = await rm.pipeline({ version: "1", nodes: [{ id: "g", node_type: "gain", params: { linear: 2 } }] });
		const quiet = { audio: new Float32Array([0.25, 0.125]), sampleRate: 16000, channels: 1 };
		const first = await spin.process(quiet);
		let ticks = 0;
		const tick = setInterval(() => ticks++, 20);
		const t0 = performance.now();
		let err = null;
		try { await spin.process({ audio: new Float32Array([0.9, 0.1]), sampleRate: 16000, channels: 1 }); } catch (e) { err = e; }
		const ms = performance.now() - t0;
		clearInterval(tick);
		await rm.registerModule("loop2", loopWasm); // the first call after the stop: starts the new worker
		const after = await gain.process({ audio: new Float32Array([0.25]), sampleRate: 48000, channels: 1 });
		const again = await spin.process(quiet);
		const spin2 = await rm.pipeline({ version: "1", nodes: [{ id: "spin2", node_type: "loop2" }] });
		const again2 = await spin2.process(quiet);
		let bad = {};
		try { await rm.pipeline("version: \"1\"\nnodes:\n  - {id: a, node_type: nope}\n"); } catch (e) { bad = e; }
		return { badKind: String(bad.kind), badPath: bad.problems ? bad.problems[0].path : "", first: Array.from(first.audio[0].samples), after: Array.from(after.audio[0].samples), again: Array.from(again.audio[0].samples), again2: Array.from(again2.audio[0].samples),
		         code: err ? String(err.code) : "", msg: err ? err.message : "", ms, ticks };`,
		jsBytes(t, "../wasm-modules/build/test/loop.wasm")))
	t.Logf("the spinning call failed after %.0f ms: %s", r.MS, r.Msg)
	if r.Code != "timeout" || !strings.Contains(r.Msg, "300 ms deadline") {
		t.Errorf("spinning node: error code %q, message %q; want code timeout naming the 300 ms deadline", r.Code, r.Msg)
	}
	if r.MS < 300 || r.MS > 3000 {
		t.Errorf("spinning node failed after %.0f ms, want between the deadline (300 ms) and 3 s", r.MS)
	}
	if r.Ticks < 5 {
		t.Errorf("the page's timers ran %d times while the worker spun: the page was not responsive", r.Ticks)
	}
	if want := []float32{0.25, 0.125}; !reflect.DeepEqual(r.First, want) || !reflect.DeepEqual(r.Again, want) || !reflect.DeepEqual(r.Again2, want) {
		t.Errorf("loop module echo before/after the timeout, and registered after it: %v / %v / %v, want %v", r.First, r.Again, r.Again2, want)
	}
	if want := []float32{0.5}; !reflect.DeepEqual(r.After, want) {
		t.Errorf("gain after the timeout: %v, want %v", r.After, want)
	}
	if r.BadKind != "invalid" || !strings.HasPrefix(r.BadPath, "nodes[0]") {
		t.Errorf("a bad definition through the worker: kind %q, first problem at %q; want invalid at nodes[0]", r.BadKind, r.BadPath)
	}
}
