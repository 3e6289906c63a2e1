package cli

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/remotemedia/hybrid/core/client"
	"github.com/remotemedia/hybrid/core/frame"
	"github.com/remotemedia/hybrid/core/runner"
	"github.com/remotemedia/hybrid/core/sched"
	"github.com/remotemedia/hybrid/core/wavio"
	"github.com/remotemedia/hybrid/target/server/clientws"
)

// runOutputs runs examples/speech-frontend.yaml over in with `remotemedia run`
// and returns the WAV and events it writes.
func runOutputs(t *testing.T, in string) (wav, events []byte) {
	t.Helper()
	dir := t.TempDir()
	out, ev := filepath.Join(dir, "run.wav"), filepath.Join(dir, "run.jsonl")
	if code, _, stderr := runMain(t, "run", speechFrontend, "--in", in, "--out", out, "--events", ev, "--quiet"); code != 0 {
		t.Fatalf("run: exit %d: %s", code, stderr)
	}
	wav, _ = os.ReadFile(out)
	events, _ = os.ReadFile(ev)
	return wav, events
}

// Issue 11's first test, through `remotemedia serve` itself: a live session
// over the WebSocket (remotemedia stream) and the one-shot route both give the
// bytes `remotemedia run` writes for the same file.
func TestServeLiveMatchesRun(t *testing.T) {
	dir := t.TempDir()
	in := speechLikeWAV(t, dir, "in.wav", []segment{{0.6, false}, {0.8, true}, {0.7, false}, {0.5, true}, {0.6, false}})
	wantWAV, wantEvents := runOutputs(t, in)
	if len(wantEvents) == 0 || len(wantWAV) < 1000 {
		t.Fatalf("run wrote %d WAV bytes and %d event bytes: the input finds no speech", len(wantWAV), len(wantEvents))
	}
	base := "http://" + startServe(t, "--python", "off")

	out, ev := filepath.Join(dir, "live.wav"), filepath.Join(dir, "live.jsonl")
	if code, _, stderr := runMain(t, "stream", base+"/speech-frontend", "--in", in, "--out", out, "--events", ev); code != 0 {
		t.Fatalf("stream: exit %d: %s", code, stderr)
	}
	gotWAV, _ := os.ReadFile(out)
	gotEvents, _ := os.ReadFile(ev)
	if !bytes.Equal(gotWAV, wantWAV) || !bytes.Equal(gotEvents, wantEvents) {
		t.Errorf("live session: WAV %d bytes (equal %v), events %q; want run's %d bytes and %q",
			len(gotWAV), bytes.Equal(gotWAV, wantWAV), gotEvents, len(wantWAV), wantEvents)
	}

	body, _ := os.ReadFile(in)
	resp, err := http.Post(base+"/v1/pipelines/speech-frontend/run", "audio/wav", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	oneShot, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !bytes.Equal(oneShot, wantWAV) {
		t.Errorf("one-shot run: %d, %d bytes (equal %v); want 200 and run's %d bytes", resp.StatusCode, len(oneShot), bytes.Equal(oneShot, wantWAV), len(wantWAV))
	}
}

// Beyond loopback every API route needs the token: the catalogue, the one-shot
// run and the WebSocket upgrade answer 401 without it or with a wrong one.
func TestServeLiveNeedsTokenBeyondLoopback(t *testing.T) {
	t.Setenv("REMOTEMEDIA_TOKEN", "s3cret")
	addr := startServe(t, "--python", "off", "--listen", "0.0.0.0:0")
	_, port, _ := net.SplitHostPort(addr) // [::]:PORT
	base := "http://127.0.0.1:" + port
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for _, tok := range []string{"", "wrong"} {
		c := clientws.New(base, tok)
		if _, err := c.Pipelines(ctx); !isStatus(err, http.StatusUnauthorized) {
			t.Errorf("token %q: catalogue: %v, want 401", tok, err)
		}
		if _, err := c.Run(ctx, "speech-frontend", nil, client.RunOptions{}); !isStatus(err, http.StatusUnauthorized) {
			t.Errorf("token %q: one-shot run: %v, want 401", tok, err)
		}
		if _, err := c.Open(ctx, "speech-frontend"); !isStatus(err, http.StatusUnauthorized) {
			t.Errorf("token %q: live session: %v, want 401", tok, err)
		}
	}
	if pipes, err := clientws.New(base, "s3cret").Pipelines(ctx); err != nil || len(pipes) == 0 {
		t.Errorf("with the token: %d pipelines, %v", len(pipes), err)
	}
}

func isStatus(err error, code int) bool {
	var se *client.StatusError
	return errors.As(err, &se) && se.Code == code
}

var servingAt = regexp.MustCompile(`serving the demo on http://(\S+)/`)

// SIGTERM mid-session, to the real binary: the client gets the outputs of
// every frame it sent before the signal (the same as running those frames in
// process), then the session's end frame, then close 1001 "going away"; the
// server exits 0 within its drain deadline.
func TestServeSIGTERMMidSession(t *testing.T) {
	dir := t.TempDir()
	bin := filepath.Join(dir, "remotemedia")
	if out, err := exec.Command("go", "build", "-o", bin, "../cmd/remotemedia").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	srv := exec.Command(bin, "serve", "--python", "off", "--listen", "127.0.0.1:0", "--drain-timeout", "20s",
		"--wasm-cache", filepath.Join(dir, "cache"))
	stdout, _ := srv.StdoutPipe()
	var stderr bytes.Buffer
	srv.Stderr = &stderr
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- srv.Wait() }()
	t.Cleanup(func() { _ = srv.Process.Kill() })
	addr := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			if m := servingAt.FindStringSubmatch(sc.Text()); m != nil {
				addr <- m[1]
			}
		}
	}()
	var base string
	select {
	case a := <-addr:
		base = "http://" + a
	case <-time.After(60 * time.Second):
		t.Fatalf("serve did not start: %s", stderr.String())
	}

	// Frames of 48 kHz stereo with a tone from the start, so the VAD gate
	// passes audio while the session runs; sent, then SIGTERM before any eos.
	in := speechLikeWAV(t, dir, "in.wav", []segment{{0.2, false}, {1.2, true}})
	frames := wavFrames(t, in)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	s, err := clientws.New(base, "").Open(ctx, "speech-frontend")
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range frames {
		if err := s.Send(ctx, f); err != nil {
			t.Fatal(err)
		}
	}
	first, err := s.Recv(ctx) // the session runs: outputs are coming back
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	var got []client.Output
	for o, err := first, error(nil); err != io.EOF; o, err = s.Recv(ctx) {
		if err != nil {
			t.Fatalf("after %d outputs: %v", len(got), err)
		}
		if o.Frame != nil && o.Frame.Kind != frame.KindControl {
			got = append(got, o)
		}
	}
	if end := s.End(); end.Error != "" || end.FramesIn != uint64(len(frames)) {
		t.Errorf("end = %+v, want no error and %d frames in", end, len(frames))
	}
	want := inProcessOutputs(t, frames)
	if len(got) != len(want) {
		t.Fatalf("got %d outputs, want %d (every frame sent before SIGTERM)", len(got), len(want))
	}
	for i := range want {
		if got[i].Port != want[i].Port || !bytes.Equal(got[i].Frame.Data, want[i].Frame.Data) || got[i].Frame.Seq != want[i].Frame.Seq {
			t.Fatalf("output %d: %s.%s seq %d, want %s.%s seq %d with the same samples", i, got[i].Node, got[i].Port, got[i].Frame.Seq, want[i].Node, want[i].Port, want[i].Frame.Seq)
		}
	}
	var ce *client.CloseError
	if _, err := s.Recv(ctx); !errors.As(err, &ce) || ce.Code != int(websocket.StatusGoingAway) {
		// After io.EOF Recv keeps saying so; the socket's own error tells how it closed.
		if err := s.Socket().Err(); !errors.As(err, &ce) || ce.Code != int(websocket.StatusGoingAway) {
			t.Errorf("socket closed with %v, want 1001 going away", err)
		}
	}
	select {
	case err := <-exited:
		if err != nil {
			t.Errorf("serve exited: %v\n%s", err, stderr.String())
		}
	case <-time.After(30 * time.Second):
		t.Fatalf("serve did not exit within 30 s of SIGTERM\n%s", stderr.String())
	}
}

// wavFrames cuts a WAV file into the frames run and stream send.
func wavFrames(t *testing.T, path string) []*frame.Frame {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	r, err := wavio.NewReader(f, path)
	if err != nil {
		t.Fatal(err)
	}
	src, err := runner.NewReaderSource(r.Read, r.SampleRate, r.Channels, runner.DefaultFrameMS, "run")
	if err != nil {
		t.Fatal(err)
	}
	var frames []*frame.Frame
	for {
		fr, err := src.Next()
		if err == io.EOF {
			return frames
		}
		if err != nil {
			t.Fatal(err)
		}
		frames = append(frames, fr) // each frame owns its samples
	}
}

// inProcessOutputs runs speech-frontend.yaml over frames in this process.
func inProcessOutputs(t *testing.T, frames []*frame.Frame) []client.Output {
	t.Helper()
	ctx := context.Background()
	reg := testNodes(t)
	data, _ := os.ReadFile(speechFrontend)
	p, err := runner.Load(data, reg)
	if err != nil {
		t.Fatal(err)
	}
	i := 0
	var outs []client.Output
	src := sourceFunc(func() (*frame.Frame, error) {
		if i == len(frames) {
			return nil, io.EOF
		}
		i++
		return frames[i-1], nil
	})
	_, err = runner.Run(ctx, p, src, func(o sched.Output) error {
		if o.Frame != nil && o.Frame.Kind != frame.KindControl {
			outs = append(outs, client.Output{Node: o.Node, Port: o.Port, Frame: o.Frame})
		}
		return nil
	}, sched.Options{StreamID: "run"})
	if err != nil {
		t.Fatal(err)
	}
	return outs
}

type sourceFunc func() (*frame.Frame, error)

func (f sourceFunc) Next() (*frame.Frame, error) { return f() }

// Python nodes in served pipelines (issue 11 point 5): a session that ends
// closes its Python session on the server's proxy, and a worker's death fails
// only the session that had a node on it, with the reason, while a WASM
// session on the same server finishes untouched.
func TestServePythonSessions(t *testing.T) {
	needPython(t)
	dir := t.TempDir()
	failing, module := failingPipeline(t, dir, "Die", "continue", "after: 20")
	defs := filepath.Join(dir, "defs")
	if err := os.Mkdir(defs, 0o755); err != nil {
		t.Fatal(err)
	}
	speech, _ := os.ReadFile(speechFrontend)
	die, _ := os.ReadFile(failing)
	for name, data := range map[string][]byte{
		"speech-frontend.yaml": speech,
		"die.yaml":             die,
		"pass.yaml":            bytes.ReplaceAll(die, []byte("node_type: Die"), []byte("node_type: Raise")), // raises after 20 frames
	} {
		if err := os.WriteFile(filepath.Join(defs, name), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	base := "http://" + startServe(t, "--python", "on", "--module", module, "--definitions", defs)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	c := clientws.New(base, "")
	frames := wavFrames(t, speechLikeWAV(t, dir, "in.wav", []segment{{0.3, false}, {1.0, true}, {0.3, false}}))

	// A Python session that ends normally closes its proxy session.
	end := streamAll(ctx, t, c, "pass", frames[:10])
	if end.Error != "" || end.FramesIn != 10 {
		t.Fatalf("pass pipeline: end %+v, want no error and 10 frames", end)
	}
	if open := metricValue(t, scrapeMetrics(t, base, nil), "pyproxy_sessions"); open != 0 {
		t.Errorf("pyproxy_sessions = %v after the session ended, want 0", open)
	}

	// The worker dies under one session while a WASM session runs beside it.
	wasm, err := c.Open(ctx, "speech-frontend")
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range frames[:len(frames)/2] {
		if err := wasm.Send(ctx, f); err != nil {
			t.Fatal(err)
		}
	}
	died := streamAll(ctx, t, c, "die", frames)
	if !strings.Contains(died.Error, "died") || !strings.Contains(died.Error, "the node's session is gone") {
		t.Errorf("die pipeline: end error %q, want the worker's death", died.Error)
	}
	t.Logf("the session on the dead worker ended with: %s", died.Error)
	for _, f := range frames[len(frames)/2:] {
		if err := wasm.Send(ctx, f); err != nil {
			t.Fatal(err)
		}
	}
	if err := wasm.CloseInput(ctx); err != nil {
		t.Fatal(err)
	}
	if end, err := wasm.Wait(ctx); err != nil || end.FramesIn != uint64(len(frames)) {
		t.Errorf("the WASM session beside it: %+v, %v; want every frame and no error", end, err)
	}
}

// streamAll sends frames through a new session of pipeline, ends its input
// (unless the session ended first) and returns its end.
func streamAll(ctx context.Context, t *testing.T, c *client.Client, pipeline string, frames []*frame.Frame) *client.End {
	t.Helper()
	s, err := c.Open(ctx, pipeline)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	for _, f := range frames {
		if err := s.Send(ctx, f); err != nil {
			break // the session ended (its end frame says why)
		}
	}
	_ = s.CloseInput(ctx)
	end, err := s.Wait(ctx)
	if end == nil {
		t.Fatalf("%s: no end frame: %v", pipeline, err)
	}
	return end
}
