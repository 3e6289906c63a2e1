package e2e

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

const splitDef = "../examples/split-frontend.yaml"

// serverRun runs a catalogue pipeline over the speech WAV on the server, all
// of it there (POST /v1/pipelines/{name}/run): the audio (f32 bytes) and events.
func serverRun(t *testing.T, s *server, name string) ([]byte, []map[string]any) {
	t.Helper()
	b, err := os.ReadFile(speech)
	if err != nil {
		t.Fatal(err)
	}
	req, _ := http.NewRequest("POST", s.url+"v1/pipelines/"+name+"/run", bytes.NewReader(b))
	req.Header.Set("Content-Type", "audio/wav")
	req.Header.Set("Accept", "multipart/mixed")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		body, _ := io.ReadAll(resp.Body)
		t.Fatalf("POST /v1/pipelines/%s/run: %s %s", name, resp.Status, body)
	}
	_, params, _ := mime.ParseMediaType(resp.Header.Get("Content-Type"))
	mr := multipart.NewReader(resp.Body, params["boundary"])
	var parts [][]byte
	for {
		p, err := mr.NextPart()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(p)
		parts = append(parts, b)
	}
	if len(parts) != 2 {
		t.Fatalf("the run's answer has %d parts, want 2", len(parts))
	}
	wav := filepath.Join(t.TempDir(), "out.wav")
	if err := os.WriteFile(wav, parts[0], 0o644); err != nil {
		t.Fatal(err)
	}
	var events []map[string]any
	for _, line := range strings.Split(strings.TrimSpace(string(parts[1])), "\n") {
		if line == "" || strings.HasPrefix(line, `{"end"`) {
			continue
		}
		var ev map[string]any
		if err := json.Unmarshal([]byte(line), &ev); err != nil {
			t.Fatalf("events: %v: %s", err, line)
		}
		events = append(events, ev)
	}
	return wavData(t, wav), events
}

// splitResult is what a split run in the tab reports back.
type splitResult struct {
	SHA256  string           `json:"sha256"`
	Bytes   int              `json:"bytes"`
	Port    string           `json:"port"`
	Events  []map[string]any `json:"events"`
	Stats   []map[string]any `json:"stats"`
	Sources int              `json:"sources"`
}

// runSplitInTab runs the split example over the speech WAV in the tab; its
// arguments are the options of RemoteMedia.load, the definition, the value of
// opts.split and the WAV bytes.
const runSplitInTab = `
	const { RemoteMedia } = await import(new URL("/remotemedia.mjs", location.href));
	const rm = await RemoteMedia.load(%s);
	const p = await rm.pipeline(%q, { server: "/", split: %s });
	const res = await p.process({ wav: %s });
	const a = res.audio[0];
	const bytes = a ? new Uint8Array(a.samples.buffer, a.samples.byteOffset, a.samples.byteLength) : new Uint8Array();
	const sum = new Uint8Array(await crypto.subtle.digest("SHA-256", bytes));
	return { sha256: Array.from(sum, (b) => b.toString(16).padStart(2, "0")).join(""), bytes: bytes.length,
		port: a ? a.node + "." + a.port : "", events: res.events, stats: res.stats, sources: res.audio.length };`

// TestSplitPlacement: examples/split-frontend.yaml started in a tab with split
// placement runs its vad on the server (one live session) and the rest in the
// tab, and gives the same audio bytes and events as the server's run of the
// whole definition over the same WAV: with the server's catalogue copy of the
// vad (by name), with the definition sent inline, and from a Web Worker.
func TestSplitPlacement(t *testing.T) {
	s := startServer(t, "--allow-inline")
	wantAudio, wantEvents := serverRun(t, s, "split-frontend")
	if len(wantAudio) == 0 || len(wantEvents) < 4 {
		t.Fatalf("the server's run gave %d audio bytes and %d events: the fixture has no speech?", len(wantAudio), len(wantEvents))
	}
	ctx := browser(t)
	navigate(t, ctx, s.url+"healthz") // a page of the server's origin with nothing else loaded
	def := readFile(t, splitDef)
	for _, tc := range []struct{ name, load, split string }{
		{name: "catalogue", load: "", split: `"split-frontend"`},
		{name: "inline", load: "", split: "true"},
		{name: "worker", load: "{ worker: true }", split: `"split-frontend"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := eval[splitResult](t, ctx, fmt.Sprintf(runSplitInTab, tc.load, def, tc.split, jsBytes(t, speech)))
			if got.Sources != 1 || got.Port != "level.out" {
				t.Errorf("tab: %d audio outputs, the first %q; want level.out only", got.Sources, got.Port)
			}
			if got.Bytes != len(wantAudio) || got.SHA256 != sha256Hex(wantAudio) {
				t.Errorf("audio differs: tab %d bytes sha256 %s, server %d bytes sha256 %s", got.Bytes, got.SHA256, len(wantAudio), sha256Hex(wantAudio))
			}
			if !reflect.DeepEqual(got.Events, wantEvents) {
				t.Errorf("events differ:\ntab:    %v\nserver: %v", got.Events, wantEvents)
			}
			var ids []string
			in := map[string]float64{}
			for _, st := range got.Stats {
				id, _ := st["id"].(string)
				ids = append(ids, id)
				in[id], _ = st["in"].(float64)
			}
			if strings.Join(ids, ",") != "mono,resample,vad,level" || in["vad"] == 0 || in["level"] == 0 {
				t.Errorf("stats of %q (frames in: %v), want both sides' four nodes, the server's vad and the tab's level fed", ids, in)
			}
			t.Logf("%s: %d bytes of level.out (sha256 %s…), %d events, as the server's run", tc.name, got.Bytes, got.SHA256[:16], len(got.Events))
		})
	}

	// p.open, fed blocks of the WAV's samples (s16 / 32768, as the WAV reader
	// converts them): the same bytes and events again, as they come.
	t.Run("open", func(t *testing.T) {
		got := eval[splitResult](t, ctx, fmt.Sprintf(`
			const { RemoteMedia } = await import(new URL("/remotemedia.mjs", location.href));
			const rm = await RemoteMedia.load();
			const p = await rm.pipeline(%q, { server: "/", split: "split-frontend" });
			const wav = new DataView(%s);
			let off = 12;
			while (String.fromCharCode(wav.getUint8(off), wav.getUint8(off + 1), wav.getUint8(off + 2), wav.getUint8(off + 3)) !== "data") off += 8 + wav.getUint32(off + 4, true);
			const n = wav.getUint32(off + 4, true) / 2, pcm = new Float32Array(n);
			for (let i = 0; i < n; i++) pcm[i] = wav.getInt16(off + 8 + 2 * i, true) / 32768;
			const chunks = [], events = [];
			const s = await p.open((o) => { if (o.kind === "audio") chunks.push(o.samples.slice()); else events.push(o); }, { sampleRate: 48000, channels: 2 });
			for (let i = 0; i < n; i += 4800) await s.push(pcm.subarray(i, Math.min(n, i + 4800)));
			const stats = await s.end();
			const all = new Float32Array(chunks.reduce((k, c) => k + c.length, 0));
			let k = 0;
			for (const c of chunks) all.set(c, k), k += c.length;
			const bytes = new Uint8Array(all.buffer);
			const sum = new Uint8Array(await crypto.subtle.digest("SHA-256", bytes));
			return { sha256: Array.from(sum, (b) => b.toString(16).padStart(2, "0")).join(""), bytes: bytes.length,
				port: "level.out", events, stats, sources: 1 };`, def, jsBytes(t, speech)))
		if got.Bytes != len(wantAudio) || got.SHA256 != sha256Hex(wantAudio) {
			t.Errorf("audio differs: tab %d bytes sha256 %s, server %d bytes sha256 %s", got.Bytes, got.SHA256, len(wantAudio), sha256Hex(wantAudio))
		}
		if !reflect.DeepEqual(got.Events, wantEvents) {
			t.Errorf("events differ:\ntab:    %v\nserver: %v", got.Events, wantEvents)
		}
		if len(got.Stats) != 4 {
			t.Errorf("end() gave the stats of %d nodes, want 4", len(got.Stats))
		}
	})

	// A catalogue name the server does not have: the server's own answer, though
	// a browser does not say why a WebSocket was refused. A definition with no
	// node for the server runs wholly in the tab.
	t.Run("refused and nothing to split", func(t *testing.T) {
		got := eval[struct {
			Err    string `json:"err"`
			Events int    `json:"events"`
		}](t, ctx, fmt.Sprintf(`
			const { RemoteMedia } = await import(new URL("/remotemedia.mjs", location.href));
			const rm = await RemoteMedia.load();
			const p = await rm.pipeline(%q, { server: "/", split: "nope" });
			let err = "";
			try { await p.process({ wav: %s }); } catch (e) { err = String(e.message || e); }
			const whole = await rm.pipeline(%q, { server: "/", split: true });
			const res = await whole.process({ wav: %s });
			return { err, events: res.events.length };`, def, jsBytes(t, speech), readFile(t, "../examples/speech-frontend.yaml"), jsBytes(t, speech)))
		if !strings.Contains(got.Err, "404") || !strings.Contains(got.Err, `no pipeline named "nope"`) {
			t.Errorf("split: \"nope\" failed with %q, want the server's 404 naming the pipeline", got.Err)
		}
		if got.Events < 4 {
			t.Errorf("speech-frontend with split: true gave %d events, want its speech events (run in the tab)", got.Events)
		}
	})

	// A Python node goes to the server with split placement, with no hint.
	t.Run("python", func(t *testing.T) {
		got := eval[struct {
			Rate, Channels, Frames int
			Samples                []float32
			Stats                  []string
		}](t, ctx, `
			const { RemoteMedia } = await import(new URL("/remotemedia.mjs", location.href));
			const rm = await RemoteMedia.load();
			const p = await rm.pipeline({
				version: "1",
				nodes: [
					{ id: "half", node_type: "gain", params: { linear: 0.5 } },
					{ id: "py", node_type: "AudioTransform", params: { output_sample_rate: 48000, output_channels: 1 } },
				],
				connections: [{ from: "half", to: "py" }],
			}, { server: "/", split: true });
			const audio = new Float32Array(960 * 2 * 3);
			for (let i = 0; i < audio.length; i += 2) { audio[i] = 0.5; audio[i + 1] = 0.25; }
			const res = await p.process({ audio, sampleRate: 48000, channels: 2 });
			const a = res.audio[0];
			return { rate: a.sampleRate, channels: a.channels, frames: a.frames, samples: Array.from(a.samples.slice(0, 4)),
				stats: res.stats.map((s) => s.id + ":" + s.in) };`)
		if got.Rate != 48000 || got.Channels != 1 || got.Frames != 3 || strings.Join(got.Stats, ",") != "half:3,py:3" {
			t.Fatalf("got %+v, want 3 mono 48 kHz frames, half and py taking 3 frames each", got)
		}
		for _, v := range got.Samples {
			if v < 0.1874 || v > 0.1876 { // (0.5 + 0.25) / 2 * 0.5
				t.Fatalf("samples %v, want 0.1875 (gain 0.5 in the tab, then the server's Python down-mix)", got.Samples)
			}
		}
	})

	// The live sessions were the server's.
	resp, err := http.Get(s.url + "metrics")
	if err != nil {
		t.Fatal(err)
	}
	metrics, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	// Inline: the inline and python subtests' sessions (speech-frontend had nothing for the server).
	if !strings.Contains(string(metrics), "\nremotemedia_live_sessions_total{pipeline=\"inline\",result=\"ok\"} 2\n") {
		t.Errorf("GET /metrics: want 2 ended inline live sessions:\n%s", metrics)
	}
}
