package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"math"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strings"
	"testing"
	"testing/fstest"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/remotemedia/hybrid/core/client"
	"github.com/remotemedia/hybrid/core/frame"
	"github.com/remotemedia/hybrid/core/node"
	"github.com/remotemedia/hybrid/core/wavio"
	"github.com/remotemedia/hybrid/target/server/clientws"
	"github.com/remotemedia/hybrid/target/server/live"
)

// segment is a stretch of quiet noise, or of a tone over it.
type segment struct {
	seconds float64
	tone    bool
}

// speechLikeWAV writes 48 kHz stereo bursts of a tone between stretches of
// quiet noise, so that the speech front end's VAD opens and closes.
func speechLikeWAV(t *testing.T, dir, name string, segments []segment) string {
	t.Helper()
	path := filepath.Join(dir, name)
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	const rate = 48000
	w := wavio.NewWriter(f, rate, 2)
	seed := uint32(1)
	noise := func() float32 {
		seed = seed*1664525 + 1013904223
		return (float32(seed>>8)/float32(1<<24) - 0.5) * 0.002
	}
	var samples []float32
	for i, seg := range segments {
		n := int(seg.seconds * rate)
		for k := 0; k < n; k++ {
			v := noise()
			if seg.tone {
				v += float32(0.4 * math.Sin(2*math.Pi*float64(220*(i+1))*float64(k)/rate))
			}
			samples = append(samples, v, v*0.9)
		}
	}
	if err := w.Write(samples); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return path
}

// s16In is a definition that takes the s16 audio a phone sends.
const s16In = `version: "1"
nodes:
  - {id: f32, node_type: convert, params: {to: f32}}
`

// testNodes returns the registry of the standard WASM modules, with a
// compile cache of the test's own; the host closes when the test ends.
func testNodes(t *testing.T) *node.Registry {
	t.Helper()
	ctx := context.Background()
	wf := wasmFlags{memoryPages: 256, callTimeout: time.Second, cacheDir: filepath.Join(t.TempDir(), "cache")}
	reg, h, err := wf.registry(ctx)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.Close(ctx) })
	return reg
}

// liveServer serves examples/speech-frontend.yaml and s16-in on loopback.
func liveServer(t *testing.T) string {
	t.Helper()
	return liveServerWith(t, live.Config{})
}

// liveServerWith is liveServer with cfg's limits.
func liveServerWith(t *testing.T, cfg live.Config) string {
	t.Helper()
	reg := testNodes(t)
	data, err := os.ReadFile(speechFrontend)
	if err != nil {
		t.Fatal(err)
	}
	pipes, err := live.LoadFS(fstest.MapFS{"speech-frontend.yaml": {Data: data}, "s16-in.yaml": {Data: []byte(s16In)}}, reg)
	if err != nil {
		t.Fatal(err)
	}
	metrics := prometheus.NewRegistry()
	metrics.MustRegister(collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	cfg.Registry, cfg.Pipelines, cfg.Metrics = reg, pipes, metrics
	srv, err := live.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.HandlerFor(metrics, promhttp.HandlerOpts{}))
	mux.Handle("/", srv.Handler())
	ts := httptest.NewServer(mux)
	t.Cleanup(func() {
		srv.Close()
		ts.Close()
	})
	return ts.URL
}

// TestStreamMatchesRun: streaming a file through the server's live session
// writes the same WAV and events bytes as running it in process.
func TestStreamMatchesRun(t *testing.T) {
	dir := t.TempDir()
	in := speechLikeWAV(t, dir, "in.wav", []segment{{0.6, false}, {0.8, true}, {0.7, false}, {0.5, true}, {0.6, false}})
	base := liveServer(t)

	runOut, runEv := filepath.Join(dir, "run.wav"), filepath.Join(dir, "run.jsonl")
	if code, _, stderr := runMain(t, "run", speechFrontend, "--in", in, "--out", runOut, "--events", runEv, "--quiet"); code != 0 {
		t.Fatalf("run: exit %d: %s", code, stderr)
	}
	for _, realtime := range []bool{false, true} {
		name := "fast"
		args := []string{"stream", base + "/speech-frontend", "--in", in}
		if realtime {
			name = "realtime"
			args = append(args, "--realtime")
		}
		t.Run(name, func(t *testing.T) {
			out, ev := filepath.Join(dir, name+".wav"), filepath.Join(dir, name+".jsonl")
			code, _, stderr := runMain(t, append(args, "--out", out, "--events", ev)...)
			if code != 0 {
				t.Fatalf("stream: exit %d: %s", code, stderr)
			}
			for _, pair := range [][2]string{{runOut, out}, {runEv, ev}} {
				want, err1 := os.ReadFile(pair[0])
				got, err2 := os.ReadFile(pair[1])
				if err1 != nil || err2 != nil {
					t.Fatal(err1, err2)
				}
				if !bytes.Equal(got, want) {
					t.Errorf("%s (%d bytes) differs from run's %s (%d bytes)", filepath.Base(pair[1]), len(got), filepath.Base(pair[0]), len(want))
				}
			}
			if ev, _ := os.ReadFile(runEv); !strings.Contains(string(ev), "speech_start") {
				t.Errorf("the input made no speech_start event: %s", ev)
			}
			if !regexp.MustCompile(`round trip \(send of a frame to the arrival of the output audio it completes\): p50 \S+, p99 \S+ over [1-9]\d* of 160 frames`).MatchString(stderr) {
				t.Errorf("stderr does not report the round trip of the 160 frames:\n%s", stderr)
			}
		})
	}
}

// TestStreamLoad: four sessions for one second on loopback, one socket each
// and two to a socket, lose no frame.
func TestStreamLoad(t *testing.T) {
	dir := t.TempDir()
	// Shorter than the duration: the sessions loop over it.
	in := speechLikeWAV(t, dir, "in.wav", []segment{{0.2, false}, {0.3, true}})
	base := liveServer(t)
	for _, mux := range []string{"1", "2"} {
		t.Run("mux"+mux, func(t *testing.T) {
			code, stdout, stderr := runMain(t, "stream", base+"/speech-frontend", "--in", in, "--sessions", "4", "--duration", "1s", "--mux", mux)
			if code != 0 {
				t.Fatalf("exit %d: %s%s", code, stdout, stderr)
			}
			t.Log(stdout)
			sockets := map[string]string{"1": "4", "2": "2"}[mux]
			for _, want := range []string{
				"sessions: 4 asked, 4 opened on " + sockets + " sockets (" + mux + " per socket), 4 held for 1s",
				"frames: 200 sent, 0 lost",
				"0 dropped by the pipeline's loss policy",
				"round trip: p50 ",
				"server memory per session: ",
				"server CPU: ",
				"load tool CPU: ",
			} {
				if !strings.Contains(stdout, want) {
					t.Errorf("stdout lacks %q:\n%s", want, stdout)
				}
			}
			if m := regexp.MustCompile(`over (\d+) frames`).FindStringSubmatch(stdout); m == nil || m[1] == "0" {
				t.Errorf("no round trip measured:\n%s", stdout)
			}
			if !regexp.MustCompile(`server memory per session: -?\d+ KiB \(resident [\d.]+ MiB before`).MatchString(stdout) ||
				!regexp.MustCompile(`server CPU: [\d.]+ µs per frame taken in`).MatchString(stdout) {
				t.Errorf("the server's memory and CPU were not measured from /metrics:\n%s", stdout)
			}
		})
	}
}

// TestStreamRefusals: a bad URL, an unknown pipeline and a server that is not
// there each fail with a message naming the problem.
func TestStreamRefusals(t *testing.T) {
	dir := t.TempDir()
	in := toneWAV(t, dir, "in.wav", 0.1)
	base := liveServer(t)
	out := filepath.Join(dir, "out.wav")
	tests := []struct {
		name       string
		args       []string
		expectCode int
		expect     string
	}{
		{"no name", []string{base, "--in", in, "--out", out}, 2, "names no pipeline"},
		{"not http", []string{"ftp://h/x", "--in", in, "--out", out}, 2, "want http://HOST:PORT/NAME"},
		{"no outputs", []string{base + "/speech-frontend", "--in", in}, 2, "give --out, --events or both"},
		{"load with outputs", []string{base + "/speech-frontend", "--in", in, "--out", out, "--sessions", "2", "--duration", "1s"}, 2, "load mode (--sessions, --duration) writes no outputs"},
		{"load without duration", []string{base + "/speech-frontend", "--in", in, "--sessions", "2"}, 2, "load mode needs one"},
		{"unknown pipeline", []string{base + "/nope", "--in", in, "--out", out}, 1, `has no pipeline "nope" (it has: s16-in, speech-frontend)`},
		{"bad format", []string{base + "/speech-frontend", "--in", in, "--out", out, "--format", "u8"}, 2, `--format "u8": want f32 or s16`},
		// on_error: continue, as run: the errors are listed and the files kept
		{"s16 to a pipeline that takes f32", []string{base + "/speech-frontend", "--in", in, "--out", filepath.Join(dir, "kept.wav"), "--format", "s16"}, 1, "finished with 5 node errors (first: sched: node \"mono\": wasm: node \"mono\" (to_mono.wasm): rm_process: wasm: node reported an error: status 1: to_mono: input must be f32 audio)"},
		{"unknown pipeline, load", []string{base + "/nope", "--in", in, "--sessions", "2", "--duration", "1s"}, 1, "server answered 404"},
		{"no output of that name", []string{base + "/speech-frontend", "--in", in, "--out", "vad.nope=" + out}, 2, "vad.nope is not an output of the pipeline that carries audio (audio outputs: vad.out)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, stdout, stderr := runMain(t, append([]string{"stream"}, tt.args...)...)
			if code != tt.expectCode || !strings.Contains(stderr, tt.expect) {
				t.Fatalf("exit %d, stderr %q (stdout %q); want exit %d and %q", code, stderr, stdout, tt.expectCode, tt.expect)
			}
		})
	}
	if _, err := os.Stat(out); !os.IsNotExist(err) {
		t.Errorf("a refused stream left %s", out)
	}
}

func TestSplitPipelineURL(t *testing.T) {
	tests := []struct{ given, base, name string }{
		{"http://127.0.0.1:8080/speech-frontend", "http://127.0.0.1:8080", "speech-frontend"},
		{"https://h/api/x", "https://h/api", "x"},
		{"ws://h:1/v1/pipelines/x/ws", "http://h:1", "x"},
		{"wss://h/v1/pipelines/x", "https://h", "x"},
	}
	for _, tt := range tests {
		base, name, err := splitPipelineURL(tt.given)
		if err != nil || base != tt.base || name != tt.name {
			t.Errorf("splitPipelineURL(%q) = %q, %q, %v; want %q, %q", tt.given, base, name, err, tt.base, tt.name)
		}
	}
}

// TestRoundTripMatchesByMediaTime: a frame's round trip ends at the output
// audio it completes; pre-roll, events and repeats do not count again.
func TestRoundTripMatchesByMediaTime(t *testing.T) {
	t0 := time.Unix(0, 0)
	audio := func(tsMS, ms int64) *frame.Frame {
		return frame.NewAudioF32(frame.Header{Timestamp: tsMS * 1000}, 1000, 1, make([]float32, ms))
	}
	l := newLatencies()
	for i := int64(0); i < 6; i++ {
		l.sent(audio(20*i, 20), t0.Add(time.Duration(i)*20*time.Millisecond))
	}
	at := func(ms int) time.Time { return t0.Add(time.Duration(ms) * time.Millisecond) }
	l.arrived(audio(10, 50), at(65))                                                // pre-roll 10..60 ms: completed by frame 2 (40..60), sent at 40
	l.arrived(frame.NewJSON(frame.Header{Timestamp: 10_000}, []byte(`{}`)), at(70)) // events do not count
	l.arrived(audio(60, 20), at(83))                                                // frame 3, sent at 60
	l.arrived(audio(70, 10), at(90))                                                // frame 3 again: already answered
	l.arrived(audio(80, 15), at(110))                                               // ends at 95, inside frame 4, sent at 80
	want := []time.Duration{25 * time.Millisecond, 23 * time.Millisecond, 30 * time.Millisecond}
	if !slices.Equal(l.rtts, want) {
		t.Fatalf("round trips = %v, want %v", l.rtts, want)
	}
	if p50, p99 := percentiles(l.rtts); p50 != 25*time.Millisecond || p99 != 30*time.Millisecond {
		t.Errorf("p50, p99 = %v, %v; want 25ms, 30ms", p50, p99)
	}
}

// TestClientAgainstServer: the Go client's one-shot run gives run's bytes in
// each answer form, and the server's refusals and close codes come back as
// errors naming them.
func TestClientAgainstServer(t *testing.T) {
	dir := t.TempDir()
	in := speechLikeWAV(t, dir, "in.wav", []segment{{0.4, false}, {0.6, true}, {0.5, false}})
	runOut, runEv := filepath.Join(dir, "run.wav"), filepath.Join(dir, "run.jsonl")
	if code, _, stderr := runMain(t, "run", speechFrontend, "--in", in, "--out", runOut, "--events", runEv, "--quiet"); code != 0 {
		t.Fatalf("run: exit %d: %s", code, stderr)
	}
	wantWAV, _ := os.ReadFile(runOut)
	wantEv, _ := os.ReadFile(runEv)
	body, _ := os.ReadFile(in)
	base := liveServer(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	c := clientws.New(base, "")

	list, err := c.Pipelines(ctx)
	if err != nil || len(list) != 2 || list[1].Name != "speech-frontend" || len(list[1].Outputs) != 2 {
		t.Fatalf("Pipelines = %+v, %v", list, err)
	}
	for _, accept := range []string{client.AcceptWAV, client.AcceptNDJSON, client.AcceptMultipart} {
		res, err := c.Run(ctx, "speech-frontend", body, client.RunOptions{Accept: accept})
		if err != nil {
			t.Fatalf("Run %s: %v", accept, err)
		}
		if accept != client.AcceptNDJSON && !bytes.Equal(res.WAV, wantWAV) {
			t.Errorf("Run %s: the WAV (%d bytes) differs from run's (%d bytes)", accept, len(res.WAV), len(wantWAV))
		}
		if accept != client.AcceptWAV {
			var ev bytes.Buffer
			for _, e := range res.Events {
				b, _ := json.Marshal(e)
				ev.Write(append(b, '\n'))
			}
			if ev.String() != string(wantEv) {
				t.Errorf("Run %s: events\n%s\nwant run's\n%s", accept, ev.String(), wantEv)
			}
			if res.End == nil || res.End.FramesIn != 75 || res.End.Error != "" {
				t.Errorf("Run %s: end = %+v, want 75 frames in", accept, res.End)
			}
		}
	}

	var se *client.StatusError
	if _, err := c.Run(ctx, "nope", body, client.RunOptions{}); !errors.As(err, &se) || se.Code != 404 || !strings.Contains(se.Message, "speech-frontend") {
		t.Errorf("Run of an unknown pipeline = %v, want a 404 naming the known ones", err)
	}
	if _, err := c.Open(ctx, "nope"); !errors.As(err, &se) || se.Code != 404 {
		t.Errorf("Open of an unknown pipeline = %v, want a 404", err)
	}

	// A malformed frame closes the socket with 1003 and the codec's reason;
	// a session on another socket goes on.
	other, err := c.Open(ctx, "speech-frontend")
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	conn, err := clientws.Dial(ctx, base+"/v1/pipelines/speech-frontend/ws", "")
	if err != nil {
		t.Fatal(err)
	}
	bad := client.NewSocket(conn)
	defer bad.Close()
	sess, _ := bad.Open("x")
	if err := conn.Write(ctx, []byte{0x81, 0xa1, 'v', 0x07}); err != nil { // {v: 7}
		t.Fatal(err)
	}
	_, err = sess.Recv(ctx)
	var ce *client.CloseError
	if !errors.As(err, &ce) || ce.Code != 1003 || ce.Reason == "" || !errors.Is(err, client.ErrClosed) {
		t.Fatalf("after a malformed frame, Recv = %v; want a 1003 close with a reason", err)
	}
	src, _, closer, err := openInput(in, 20)
	if err != nil {
		t.Fatal(err)
	}
	defer closer.Close()
	lat := newLatencies()
	var n int
	if err := sendAll(ctx, other, src, false, time.Now(), lat, &n); err != nil {
		t.Fatal(err)
	}
	end, err := other.Wait(ctx)
	if err != nil || end.FramesIn != 75 {
		t.Fatalf("the other session: end %+v, %v; want 75 frames in", end, err)
	}
}

// TestStreamSendsS16: --format s16 sends 2-byte samples, as a phone does.
func TestStreamSendsS16(t *testing.T) {
	dir := t.TempDir()
	in := toneWAV(t, dir, "in.wav", 0.5)
	base := liveServer(t)
	out := filepath.Join(dir, "out.wav")
	if code, _, stderr := runMain(t, "stream", base+"/s16-in", "--in", in, "--out", out, "--format", "s16", "--quiet"); code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	_, want := readWAV(t, in)
	_, got := readWAV(t, out)
	if len(got) != len(want) {
		t.Fatalf("%d samples came back, want %d", len(got), len(want))
	}
	for i := range got {
		if d := math.Abs(float64(got[i] - want[i])); d > 1.0/32768 {
			t.Fatalf("sample %d: %v, want %v within one s16 step", i, got[i], want[i])
		}
	}
}

// TestStreamSaysWhenTheServerStopsEarly: a server that drains mid-stream ends
// the session before the input did; stream fails saying so and writes nothing.
func TestStreamSaysWhenTheServerStopsEarly(t *testing.T) {
	dir := t.TempDir()
	in := toneWAV(t, dir, "in.wav", 30) // at real-time pace: the drain comes long before its end
	ctx := context.Background()
	reg := testNodes(t)
	data, err := os.ReadFile(speechFrontend)
	if err != nil {
		t.Fatal(err)
	}
	pipes, err := live.LoadFS(fstest.MapFS{"speech-frontend.yaml": {Data: data}}, reg)
	if err != nil {
		t.Fatal(err)
	}
	metrics := prometheus.NewRegistry()
	srv, err := live.New(live.Config{Registry: reg, Pipelines: pipes, Metrics: metrics})
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(srv.Handler())
	defer ts.Close()
	defer srv.Close()
	testDone := make(chan struct{})
	defer close(testDone)
	go func() { // drain once the session runs
		for live := 0.0; live < 1; {
			select {
			case <-testDone:
				return
			default:
			}
			mfs, _ := metrics.Gather()
			for _, mf := range mfs {
				if mf.GetName() == "remotemedia_live_sessions" {
					for _, m := range mf.GetMetric() {
						live += m.GetGauge().GetValue()
					}
				}
			}
			runtime.Gosched()
		}
		srv.Drain(ctx)
	}()
	out := filepath.Join(dir, "out.wav")
	code, _, stderr := runMain(t, "stream", ts.URL+"/speech-frontend", "--in", in, "--realtime", "--out", out)
	if code != 1 || !strings.Contains(stderr, "the server shut down mid-stream: it took") {
		t.Fatalf("exit %d, stderr %q; want 1 and a message that the server stopped early", code, stderr)
	}
	if names := dirNames(t, dir); !slices.Equal(names, []string{"in.wav"}) {
		t.Errorf("the directory holds %v, want no output", names)
	}
}

// TestClientReusesARefusedStreamID: a stream the server refuses (here: over
// the sessions a socket may carry) gets its reason, and its id serves again
// once a slot is free.
func TestClientReusesARefusedStreamID(t *testing.T) {
	base := liveServerWith(t, live.Config{MaxSessionsPerConn: 1})
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	sock, err := clientws.New(base, "").Connect(ctx, "speech-frontend")
	if err != nil {
		t.Fatal(err)
	}
	defer sock.Close()
	tone := func(seq uint64) *frame.Frame {
		return frame.NewAudioF32(frame.Header{Seq: seq, Timestamp: int64(seq) * 20000}, 16000, 1, make([]float32, 320))
	}
	a, _ := sock.Open("a")
	b, _ := sock.Open("b")
	if err := a.Send(ctx, tone(0)); err != nil {
		t.Fatal(err)
	}
	if err := b.Send(ctx, tone(0)); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Wait(ctx); !errors.Is(err, client.ErrSessionFailed) || !strings.Contains(err.Error(), "this connection carries its maximum of 1 sessions") {
		t.Fatalf("b.Wait = %v, want the refusal", err)
	}
	if err := a.CloseInput(ctx); err != nil {
		t.Fatal(err)
	}
	if end, err := a.Wait(ctx); err != nil || end.FramesIn != 1 {
		t.Fatalf("a: end %+v, %v", end, err)
	}
	b, err = sock.Open("b")
	if err != nil {
		t.Fatal(err)
	}
	for seq := uint64(0); seq < 3; seq++ {
		if err := b.Send(ctx, tone(seq)); err != nil {
			t.Fatal(err)
		}
	}
	if err := b.CloseInput(ctx); err != nil {
		t.Fatal(err)
	}
	if end, err := b.Wait(ctx); err != nil || end.FramesIn != 3 {
		t.Fatalf("stream b again: end %+v, %v; want 3 frames in", end, err)
	}
}
