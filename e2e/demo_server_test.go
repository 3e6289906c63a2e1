package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/remotemedia/hybrid/internal/wer"
)

// demoReady waits until the demo page has loaded core.wasm.
func demoReady(t *testing.T, ctx context.Context) {
	t.Helper()
	if _, err := chromedp.Run(ctx, chromedp.Poll[bool](`document.getElementById("status").dataset.state === "ready"`,
		chromedp.WithPollingTimeout(60*time.Second))); err != nil {
		t.Fatalf("demo did not become ready: %v", err)
	}
}

// screenshot keeps a full-page screenshot in e2e/out/NAME.png.
func screenshot(t *testing.T, ctx context.Context, name string) {
	t.Helper()
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll("out", 0o755); err != nil {
		t.Fatal(err)
	}
	path, _ := filepath.Abs(filepath.Join("out", name+".png"))
	if err := os.WriteFile(path, png, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshot: %s", path)
}

// demoSplitRun is what the demo shows after a file run of a split definition.
type demoSplitRun struct {
	Events    []map[string]any `json:"events"`
	SHA256    string           `json:"sha256"`
	Bytes     int              `json:"bytes"`
	Markers   []string         `json:"markers"`   // node:placement, from the drawn graph
	Placement string           `json:"placement"` // the placement line
	EventRows int              `json:"eventRows"`
	Status    string           `json:"status"`
	Errors    string           `json:"errors"`
	Examples  []string         `json:"examples"` // the example list
}

const readDemoSplitRun = `
	const res = demo.result, a = res && res.audio[0];
	const bytes = a ? new Uint8Array(a.samples.buffer, a.samples.byteOffset, a.samples.byteLength) : new Uint8Array();
	const sum = new Uint8Array(await crypto.subtle.digest("SHA-256", bytes));
	return { events: res ? res.events : [], sha256: Array.from(sum, (b) => b.toString(16).padStart(2, "0")).join(""), bytes: bytes.length,
		markers: [...document.querySelectorAll("#graph g[data-placement]")].map((g) => g.dataset.node + ":" + g.dataset.placement),
		placement: document.getElementById("placement").textContent,
		eventRows: document.querySelectorAll("#events tbody tr").length,
		status: document.getElementById("status").textContent,
		errors: document.getElementById("errors").innerText,
		examples: [...document.getElementById("examples").options].map((o) => o.textContent) };`

// TestDemoSplit: the demo page picks examples/split-frontend.yaml from the
// server's example list and runs it over the speech WAV split (its vad on the
// server, by the catalogue name, with no --allow-inline): the page's result
// has the same events and audio bytes as the server's own run of the whole
// pipeline, and the graph marks vad as run on the server. An edited definition
// goes inline, which this server refuses: the page says what to do. A server
// without Python says the voice example cannot run there before anything
// starts. The screenshot is kept in e2e/out/demo-split.png.
func TestDemoSplit(t *testing.T) {
	s := startServer(t)
	wantAudio, wantEvents := serverRun(t, s, "split-frontend")
	ctx := browser(t)
	navigate(t, ctx, s.url)
	demoReady(t, ctx)

	eval[bool](t, ctx, fmt.Sprintf(`await demo.loadExample("split-frontend"); await demo.useFile(%s, "speech.wav"); return !!(await demo.run());`, jsBytes(t, speech)))
	got := eval[demoSplitRun](t, ctx, readDemoSplitRun)
	t.Logf("placement %q, markers %v, %d events, status %q", got.Placement, got.Markers, len(got.Events), got.Status)
	if len(wantEvents) < 4 || !reflect.DeepEqual(got.Events, wantEvents) {
		t.Errorf("events differ:\ndemo:   %v\nserver: %v", got.Events, wantEvents)
	}
	if got.Bytes != len(wantAudio) || got.SHA256 != sha256Hex(wantAudio) {
		t.Errorf("audio differs: demo %d bytes sha256 %s, server %d bytes sha256 %s", got.Bytes, got.SHA256, len(wantAudio), sha256Hex(wantAudio))
	}
	if got.EventRows != len(wantEvents) {
		t.Errorf("the events list has %d rows, want %d", got.EventRows, len(wantEvents))
	}
	if strings.Join(got.Markers, ",") != "mono:tab,resample:tab,vad:server,level:tab" {
		t.Errorf("graph placement markers %v, want vad on the server and the rest in the tab", got.Markers)
	}
	if !strings.Contains(got.Placement, "vad on the server (the server's catalogue pipeline split-frontend)") {
		t.Errorf("placement line %q", got.Placement)
	}
	if !slices.Contains(got.Examples, "split-frontend") || !slices.Contains(got.Examples, "speech-frontend") {
		t.Errorf("example list %v, want the server's catalogue", got.Examples)
	}
	screenshot(t, ctx, "demo-split")

	// Edited: sent inline, refused with 403 by a server without --allow-inline.
	eval[bool](t, ctx, `document.getElementById("def").value += "\n# edited\n"; await demo.run(); return true;`)
	edited := eval[demoSplitRun](t, ctx, readDemoSplitRun)
	if !strings.Contains(edited.Errors, "403") || !strings.Contains(edited.Errors, "remotemedia serve --allow-inline") ||
		!strings.Contains(edited.Errors, "Load the example unchanged") || !strings.HasPrefix(edited.Status, "failed") {
		t.Errorf("an edited split definition on a server without --allow-inline: status %q, errors %q; want the 403 and what to do", edited.Status, edited.Errors)
	}

	t.Run("python off", func(t *testing.T) {
		off := startServer(t, "--python", "off")
		navigate(t, ctx, off.url)
		demoReady(t, ctx)
		res := eval[demoSplitRun](t, ctx, `await demo.loadExample("voice"); await demo.mic();`+readDemoSplitRun)
		t.Logf("errors %q, examples %v", res.Errors, res.Examples)
		if !strings.Contains(res.Errors, "voice cannot run here: the server runs without Python (remotemedia serve --python off)") ||
			!strings.HasPrefix(res.Status, "failed") {
			t.Errorf("voice on a server without Python: status %q, errors %q", res.Status, res.Errors)
		}
		if !slices.Contains(res.Examples, "voice (not offered by this server)") {
			t.Errorf("example list %v, want voice marked as not offered", res.Examples)
		}
		// The server has no Python node API (GET /v1/nodes is 404), and split placement still works.
		eval[bool](t, ctx, fmt.Sprintf(`await demo.loadExample("split-frontend"); await demo.useFile(%s, "speech.wav"); return !!(await demo.run());`, jsBytes(t, speech)))
		split := eval[demoSplitRun](t, ctx, readDemoSplitRun)
		if !reflect.DeepEqual(split.Events, wantEvents) || strings.Join(split.Markers, ",") != "mono:tab,resample:tab,vad:server,level:tab" {
			t.Errorf("split-frontend on a server without Python: status %q, errors %q, markers %v, events %v; want the events of the server's run",
				split.Status, split.Errors, split.Markers, split.Events)
		}
	})
}

// voiceLog is the demo's conversation after a microphone run (demo.voice).
type voiceLog struct {
	Turns []struct {
		TSUS  float64 `json:"ts_us"`
		Text  string  `json:"text"`
		Node  string  `json:"node"`
		Reply string  `json:"reply"`
	} `json:"turns"`
	BargeIns int `json:"bargeIns"`
	Stops    []struct {
		Why     string `json:"why"`
		Stopped int    `json:"stopped"`
	} `json:"stops"`
	Played   int      `json:"played"`
	Dropped  int      `json:"dropped"`
	Segments int      `json:"segments"` // drawn on the speech strip: the utterances
	Lines    []string `json:"lines"`
	Markers  []string `json:"markers"`
	Status   string   `json:"status"`
	Errors   string   `json:"errors"`
}

// TestDemoVoiceMicrophone: the demo picks examples/voice.yaml and runs it from
// a fake microphone (espeak-ng speaking two sentences, silence between) split
// across the tab and the server (Whisper and the TTS there): one transcript per
// utterance, shown as it comes, reply audio played, and the second utterance
// barges in. It needs Python with faster-whisper on the server (skipped
// otherwise, failed in CI).
func TestDemoVoiceMicrophone(t *testing.T) {
	s := startServer(t)
	resp, err := http.Get(s.url + "v1/pipelines")
	if err != nil {
		t.Fatal(err)
	}
	var cat struct {
		Pipelines []struct{ Name string } `json:"pipelines"`
	}
	err = json.NewDecoder(resp.Body).Decode(&cat)
	resp.Body.Close()
	if err != nil {
		t.Fatal(err)
	}
	offered := false
	for _, p := range cat.Pipelines {
		offered = offered || p.Name == "voice"
	}
	if !offered {
		if os.Getenv("CI") != "" {
			t.Fatal("the server does not offer voice: Python or Whisper is missing (scripts/deps.sh installs them)")
		}
		t.Skip("the server does not offer voice: Python or Whisper is missing (scripts/deps.sh installs them)")
	}

	sentences := []string{"Turn on the kitchen lights.", "Please remind me to call the dentist tomorrow morning at nine."}
	dir := t.TempDir()
	sil, wav := filepath.Join(dir, "sil.wav"), filepath.Join(dir, "voice-mic.wav")
	parts := []string{"-D", sil}
	for i, text := range sentences {
		p := filepath.Join(dir, fmt.Sprintf("s%d.wav", i))
		if out, err := exec.Command("espeak-ng", "-w", p, text).CombinedOutput(); err != nil {
			t.Fatalf("espeak-ng: %v\n%s", err, out)
		}
		parts = append(parts, p, sil)
	}
	// 2.5 s of silence around each sentence: the first reply has time to be made and played.
	if out, err := exec.Command("sox", "-n", "-r", "22050", "-c", "1", "-b", "16", sil, "trim", "0", "2.5").CombinedOutput(); err != nil {
		t.Fatalf("sox: %v\n%s", err, out)
	}
	if out, err := exec.Command("sox", append(parts, "-r", "48000", "-c", "1", "-b", "16", wav)...).CombinedOutput(); err != nil {
		t.Fatalf("sox: %v\n%s", err, out)
	}

	ctx := browser(t,
		chromedp.Flag("use-fake-device-for-media-stream", true),
		chromedp.Flag("use-fake-ui-for-media-stream", true),
		chromedp.Flag("use-file-for-fake-audio-capture", wav+"%noloop"),
		chromedp.Flag("autoplay-policy", "no-user-gesture-required"),
	)
	navigate(t, ctx, s.url)
	demoReady(t, ctx)
	eval[bool](t, ctx, `await demo.loadExample("voice"); document.getElementById("mic").click(); return true;`)
	// Both transcripts, and reply audio for the first.
	if _, err := chromedp.Run(ctx, chromedp.Poll[bool](`!!demo.voice && demo.voice.turns.length >= 2 && demo.voice.played > 0`,
		chromedp.WithPollingTimeout(50*time.Second))); err != nil {
		t.Errorf("no two transcripts and reply audio within 50 s: %v", err)
	}
	eval[bool](t, ctx, `if (demo.capturing) document.getElementById("mic").click(); return true;`)
	if _, err := chromedp.Run(ctx, chromedp.Poll[bool](`document.getElementById("status").dataset.state !== "running"`,
		chromedp.WithPollingTimeout(30*time.Second))); err != nil {
		t.Fatalf("the microphone did not stop: %v", err)
	}
	got := eval[voiceLog](t, ctx, `return { ...(demo.voice || {}),
		segments: demo.timeline.segments.filter((s) => s.utterance && s.end !== null).length,
		lines: [...document.querySelectorAll("#turns li")].map((li) => li.textContent),
		markers: [...document.querySelectorAll("#graph g[data-placement=server]")].map((g) => g.dataset.node),
		status: document.getElementById("status").textContent, errors: document.getElementById("errors").innerText };`)
	t.Logf("conversation: %q; barge-ins %d, stops %+v, reply chunks played %d, dropped %d; server nodes %v; status %q",
		got.Lines, got.BargeIns, got.Stops, got.Played, got.Dropped, got.Markers, got.Status)
	if got.Errors != "" {
		t.Errorf("errors shown: %s", got.Errors)
	}
	if len(got.Turns) != len(sentences) {
		t.Fatalf("%d transcripts for %d utterances: %+v", len(got.Turns), len(sentences), got.Turns)
	}
	var prev float64
	for i, turn := range got.Turns {
		rate := wer.Rate(sentences[i], turn.Text)
		t.Logf("utterance %d at %.2f s: %q (word error rate %.0f%%), reply from %q", i+1, turn.TSUS/1e6, turn.Text, 100*rate, turn.Reply)
		if turn.Node != "transcript" || rate > 0.3 || turn.TSUS <= prev {
			t.Errorf("transcript %d: %+v: want transcript.out, at most 30%% word errors, after the one before", i+1, turn)
		}
		prev = turn.TSUS
	}
	if got.Turns[0].Reply != "short_reply" { // "Turn on the kitchen lights." is short: the len(text) <= 40 branch
		t.Errorf("the first utterance's reply came from %q, want short_reply", got.Turns[0].Reply)
	}
	if got.Segments != len(sentences) {
		t.Errorf("%d utterances drawn on the speech strip, want %d", got.Segments, len(sentences))
	}
	if got.Played == 0 {
		t.Error("no reply audio was played")
	}
	// The second utterance came after a reply had gone out: speech_buffer reports a barge-in and the page stops playback.
	if got.BargeIns != 1 || len(got.Stops) != 1 || !strings.HasPrefix(got.Stops[0].Why, "barge-in at") {
		t.Errorf("barge-ins %d, stops %+v: want one barge-in, stopping playback once", got.BargeIns, got.Stops)
	}
	if strings.Join(got.Markers, ",") != "asr,short_reply,sentences,long_reply" {
		t.Errorf("server nodes marked %v, want asr, short_reply, sentences, long_reply", got.Markers)
	}
	screenshot(t, ctx, "demo-voice")
}
