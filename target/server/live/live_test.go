package live

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/remotemedia/hybrid/core/frame"
	"github.com/remotemedia/hybrid/core/runner"
	"github.com/remotemedia/hybrid/core/sched"
	"github.com/remotemedia/hybrid/core/wavio"
)

func TestCatalogue(t *testing.T) {
	_, hs := newTestServer(t, Config{})
	var got struct {
		Pipelines []Pipeline `json:"pipelines"`
	}
	if code := getJSON(t, hs.URL+"/v1/pipelines", &got); code != 200 {
		t.Fatalf("status %d", code)
	}
	var sf *Pipeline
	for i := range got.Pipelines {
		if got.Pipelines[i].Name == "speech-frontend" {
			sf = &got.Pipelines[i]
		}
	}
	if sf == nil {
		t.Fatalf("speech-frontend not listed: %+v", got.Pipelines)
	}
	b, _ := json.Marshal(map[string]any{"inputs": sf.Inputs, "outputs": sf.Outputs})
	want := `{"inputs":[{"node":"mono","port":"in","kinds":["audio"]}],"outputs":[{"node":"vad","port":"out","kinds":["audio"]},{"node":"vad","port":"events","kinds":["json"]}]}`
	if string(b) != want {
		t.Errorf("speech-frontend ports:\n%s\nwant\n%s", b, want)
	}
	if !strings.Contains(sf.Description, "16 kHz") {
		t.Errorf("description %q", sf.Description)
	}
}

// TestLiveMatchesInProcess streams speech-frontend over a WebSocket, one
// stream per socket and two streams sharing one socket, and gets exactly the
// audio bytes and events of runner.Run over the same frames.
func TestLiveMatchesInProcess(t *testing.T) {
	s, hs := newTestServer(t, Config{})
	ctx := testCtx(t)
	samples := speechLike(3)
	want := inProcess(t, s, "speech-frontend", framesOf(t, samples, 48000, 2, "ref"))

	conn := dial(t, ctx, hs, "/v1/pipelines/speech-frontend/ws")
	frames := append(framesOf(t, samples, 48000, 2, "s1"), eos("s1"))
	if err := send(ctx, conn, frames, 1); err != nil {
		t.Fatal(err)
	}
	got := collect(t, ctx, conn, "s1")["s1"]
	sameOutputs(t, "one stream", got, want)
	if got.end.Error != "" || got.end.FramesIn != uint64(len(frames)-1) || len(got.end.Stats) != 4 || got.end.Stats[3].ID != "vad" {
		t.Errorf("end frame %+v", got.end)
	}

	// Two streams interleaved on one socket, several frames per message.
	a, b := framesOf(t, samples, 48000, 2, "a"), framesOf(t, samples, 48000, 2, "b")
	var mixed []*frame.Frame
	for i := range a {
		mixed = append(mixed, a[i], b[i])
	}
	mixed = append(mixed, eos("a"), eos("b"))
	conn2 := dial(t, ctx, hs, "/v1/pipelines/speech-frontend/ws")
	errc := make(chan error, 1)
	go func() { errc <- send(ctx, conn2, mixed, 5) }()
	both := collect(t, ctx, conn2, "a", "b")
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
	sameOutputs(t, "stream a", both["a"], want)
	sameOutputs(t, "stream b", both["b"], want)

	// The stream id may be reused once its end frame has come.
	if err := send(ctx, conn, frames, 50); err != nil {
		t.Fatal(err)
	}
	sameOutputs(t, "reused stream id", collect(t, ctx, conn, "s1")["s1"], want)
}

// wavBytes is samples as a 32-bit float WAV file.
func wavBytes(t *testing.T, samples []float32, rate, channels int) []byte {
	var m memFile
	w := wavio.NewWriter(&m, rate, channels)
	if err := w.Write(samples); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return m.b
}

// TestRunMatchesInProcess posts a WAV file and gets the WAV bytes `remotemedia
// run --out` writes (the same wavio writer over the same outputs) and its
// events, as WAV, NDJSON and multipart answers.
func TestRunMatchesInProcess(t *testing.T) {
	s, hs := newTestServer(t, Config{})
	samples := speechLike(3)
	in := wavBytes(t, samples, 48000, 2)
	wr, err := wavio.NewReader(bytes.NewReader(in), "in")
	if err != nil {
		t.Fatal(err)
	}
	src, _ := runner.NewReaderSource(wr.Read, wr.SampleRate, wr.Channels, 20, "run")
	p := s.byName["speech-frontend"]
	var ref runSink
	ref.output, ref.events = "vad.out", true
	if _, err := runner.Run(testCtx(t), &runner.Pipeline{Def: p.def, Graph: p.graph}, src, ref.write, sched.Options{QueueSize: 16, StreamID: "run"}); err != nil {
		t.Fatal(err)
	}
	wantWAV, _ := ref.finish()
	wantEvents := ref.ev.String()
	if len(wantWAV) < 1000 || strings.Count(wantEvents, "\n") < 2 {
		t.Fatalf("reference run: %d WAV bytes, events %q", len(wantWAV), wantEvents)
	}

	post := func(accept string) (*http.Response, []byte) {
		req, _ := http.NewRequestWithContext(testCtx(t), "POST", hs.URL+"/v1/pipelines/speech-frontend/run", bytes.NewReader(in))
		req.Header.Set("Content-Type", "audio/wav")
		if accept != "" {
			req.Header.Set("Accept", accept)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != 200 {
			t.Fatalf("Accept %q: status %d: %s", accept, resp.StatusCode, b)
		}
		return resp, b
	}
	resp, body := post("")
	if ct := resp.Header.Get("Content-Type"); ct != "audio/wav" || !bytes.Equal(body, wantWAV) {
		t.Errorf("WAV answer: %s, %d bytes, want audio/wav and %d identical bytes", ct, len(body), len(wantWAV))
	}
	checkNDJSON := func(what, got string) {
		lines := strings.Split(strings.TrimSuffix(got, "\n"), "\n")
		last := lines[len(lines)-1]
		if strings.Join(lines[:len(lines)-1], "\n")+"\n" != wantEvents {
			t.Errorf("%s events:\n%s\nwant\n%s", what, got, wantEvents)
		}
		var end struct{ End endBody }
		if err := json.Unmarshal([]byte(last), &end); err != nil || end.End.FramesIn != 150 || end.End.Error != "" || len(end.End.Stats) != 4 {
			t.Errorf("%s end line %s (%v)", what, last, err)
		}
	}
	_, body = post("application/x-ndjson")
	checkNDJSON("NDJSON", string(body))

	resp, body = post("multipart/mixed")
	mt, params, err := mime.ParseMediaType(resp.Header.Get("Content-Type"))
	if err != nil || mt != "multipart/mixed" {
		t.Fatalf("multipart answer: %q %v", mt, err)
	}
	mr := multipart.NewReader(bytes.NewReader(body), params["boundary"])
	var parts [][]byte
	var types []string
	for {
		part, err := mr.NextPart()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(part)
		parts, types = append(parts, b), append(types, part.Header.Get("Content-Type"))
	}
	if len(parts) != 2 || types[0] != "audio/wav" || types[1] != "application/x-ndjson" || !bytes.Equal(parts[0], wantWAV) {
		t.Fatalf("multipart parts %q", types)
	}
	checkNDJSON("multipart", string(parts[1]))
}

func TestRunErrors(t *testing.T) {
	_, hs := newTestServer(t, Config{MaxBody: 4096})
	for _, tc := range []struct {
		name, path, body string
		expect           int
		expectErr        string
	}{
		{"unknown pipeline", "/v1/pipelines/nope/run", "x", 404, `no pipeline named \"nope\" (known: `},
		{"not a WAV", "/v1/pipelines/speech-frontend/run", "hello", 400, "the request body"},
		{"too big", "/v1/pipelines/speech-frontend/run", strings.Repeat("x", 5000), 413, "over the limit of 4096 bytes"},
		{"bad frame_ms", "/v1/pipelines/speech-frontend/run?frame_ms=0", "x", 400, "frame_ms"},
		{"inline off", "/v1/inline/run", "x", 403, "--allow-inline"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp, err := http.Post(hs.URL+tc.path, "audio/wav", strings.NewReader(tc.body))
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			b, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != tc.expect || !strings.Contains(string(b), tc.expectErr) {
				t.Errorf("status %d %s, want %d and %q", resp.StatusCode, b, tc.expect, tc.expectErr)
			}
		})
	}
	// An unknown pipeline's socket is refused before the upgrade, with the known names.
	_, resp, err := websocket.Dial(testCtx(t), "ws"+strings.TrimPrefix(hs.URL, "http")+"/v1/pipelines/nope/ws", nil)
	if err == nil || resp == nil || resp.StatusCode != 404 {
		t.Fatalf("unknown pipeline socket: %v %v", resp, err)
	}
	b, _ := io.ReadAll(resp.Body)
	if !strings.Contains(string(b), "speech-frontend") {
		t.Errorf("404 body %s does not list the pipelines", b)
	}
}

// concurrentReference streams speech-frontend on a socket of its own and
// checks its outputs once done: the session that must not be affected.
func concurrentReference(t *testing.T, s interface{}, ctx context.Context, conn *websocket.Conn, want *result, frames []*frame.Frame) func() {
	var wg sync.WaitGroup
	var got *result
	var sendErr error
	wg.Add(1)
	go func() {
		defer wg.Done()
		sendErr = send(ctx, conn, frames, 1)
	}()
	done := make(chan struct{})
	go func() {
		defer close(done)
		got = collectNoFatal(ctx, conn, "ok")
	}()
	return func() {
		t.Helper()
		wg.Wait()
		<-done
		if sendErr != nil {
			t.Fatalf("the other session: %v", sendErr)
		}
		if got == nil || got.end == nil || got.end.Error != "" {
			t.Fatalf("the other session did not complete: %+v", got)
		}
		sameOutputs(t, "the other session", got, want)
	}
}

// collectNoFatal is collect for a goroutine: nil on error.
func collectNoFatal(ctx context.Context, conn *websocket.Conn, sid string) *result {
	res := newResult()
	for {
		_, msg, err := conn.Read(ctx)
		if err != nil {
			return nil
		}
		for len(msg) > 0 {
			f, n, err := frame.UnmarshalPrefix(msg)
			if err != nil {
				return nil
			}
			msg = msg[n:]
			switch {
			case f.Meta["end"] == true:
				var end endBody
				_ = json.Unmarshal(f.Data, &end)
				res.end = &end
				return res
			case f.Meta["error"] == true:
				res.errs = append(res.errs, string(f.Data))
			default:
				port, _ := f.Meta["port"].(string)
				res.add(port, f)
			}
		}
	}
}

// TestProtocolErrors: a malformed frame, a text message, an oversized message:
// each closes its socket with its code and a reason, while a session on
// another socket completes with identical outputs.
func TestProtocolErrors(t *testing.T) {
	s, hs := newTestServer(t, Config{MaxMessage: 64 << 10})
	samples := speechLike(2)
	want := inProcess(t, s, "speech-frontend", framesOf(t, samples, 48000, 2, "ref"))
	good := append(framesOf(t, samples, 48000, 2, "ok"), eos("ok"))
	for _, tc := range []struct {
		name       string
		typ        websocket.MessageType
		msg        []byte
		expect     websocket.StatusCode
		expectText string
	}{
		{"malformed frame", websocket.MessageBinary, []byte{0x81, 0xa1, 'v', 0x09}, websocket.StatusUnsupportedData, "frame"},
		{"truncated frame", websocket.MessageBinary, mustMarshal(t, framesOf(t, samples[:1920], 48000, 2, "x")[0])[:100], websocket.StatusUnsupportedData, "truncated"},
		{"text message", websocket.MessageText, []byte("hello"), websocket.StatusUnsupportedData, "binary"},
		{"oversized message", websocket.MessageBinary, make([]byte, 100<<10), websocket.StatusMessageTooBig, "message over the limit of 65536 bytes"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := testCtx(t)
			other := dial(t, ctx, hs, "/v1/pipelines/speech-frontend/ws")
			check := concurrentReference(t, s, ctx, other, want, good)
			bad := dial(t, ctx, hs, "/v1/pipelines/speech-frontend/ws")
			if err := send(ctx, bad, framesOf(t, samples[:96000], 48000, 2, "bad"), 1); err != nil {
				t.Fatal(err)
			}
			_ = bad.Write(ctx, tc.typ, tc.msg)
			ce := closeStatus(ctx, bad)
			if ce.Code != tc.expect || !strings.Contains(ce.Reason, tc.expectText) {
				t.Errorf("closed with %d %q, want %d and %q", ce.Code, ce.Reason, tc.expect, tc.expectText)
			}
			check()
		})
	}
}

func mustMarshal(t *testing.T, f *frame.Frame) []byte {
	b, err := frame.Marshal(f)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestSlowReader: a client that stops reading has its socket dropped after
// the write timeout and its session cancelled (its nodes closed); a session on
// another socket completes.
func TestSlowReader(t *testing.T) {
	s, hs := newTestServer(t, Config{WriteTimeout: 300 * time.Millisecond})
	ctx := testCtx(t)
	samples := speechLike(2)
	want := inProcess(t, s, "speech-frontend", framesOf(t, samples, 48000, 2, "ref"))
	other := dial(t, ctx, hs, "/v1/pipelines/speech-frontend/ws")

	before := closed.Load()
	slow := dial(t, ctx, hs, "/v1/pipelines/blow/ws") // 1 MiB out per frame in; never read
	go func() { _ = send(ctx, slow, framesOf(t, speechLike(10), 48000, 2, "slow"), 1) }()
	// The socket's sessions end (their nodes closed) once the write times out.
	for closed.Load() == before {
		if ctx.Err() != nil {
			t.Fatal("the slow reader's session was never closed")
		}
		time.Sleep(5 * time.Millisecond)
	}
	check := concurrentReference(t, s, ctx, other, want, append(framesOf(t, samples, 48000, 2, "ok"), eos("ok")))
	check()
	for testutil.ToFloat64(s.m.closeCodes.WithLabelValues("write_timeout")) != 1 { // counted once the socket is gone
		if ctx.Err() != nil {
			t.Fatal("the slow reader's socket was not counted as closed by the write timeout")
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// TestDrain: the client is told the server is shutting down; every frame it
// sent before its eos is taken (those still in flight when the drain began
// too), then come their outputs, the end frame and close 1001; a new socket
// or run is refused with 503.
func TestDrain(t *testing.T) {
	s, hs := newTestServer(t, Config{DrainGrace: time.Minute}) // only the client's eos ends the input
	ctx := testCtx(t)
	frames := framesOf(t, speechLike(3), 48000, 2, "s1")
	want := inProcess(t, s, "speech-frontend", framesOf(t, speechLike(3), 48000, 2, "ref"))
	conn := dial(t, ctx, hs, "/v1/pipelines/speech-frontend/ws")
	if err := send(ctx, conn, frames[:1], 1); err != nil { // the session is open
		t.Fatal(err)
	}
	in := s.m.framesIn.WithLabelValues("speech-frontend")
	for testutil.ToFloat64(in) < 1 {
		if ctx.Err() != nil {
			t.Fatal("the server did not open the session")
		}
		time.Sleep(2 * time.Millisecond)
	}
	drained := make(chan error, 1)
	go func() { drained <- s.Drain(ctx) }()
	// The rest goes out as the drain begins: the server reads it before the eos.
	if err := send(ctx, conn, frames[1:], 1); err != nil {
		t.Fatal(err)
	}
	got := collectWith(t, ctx, conn, func(sid string) {
		if err := send(ctx, conn, []*frame.Frame{eos(sid)}, 1); err != nil {
			t.Error(err)
		}
	}, "s1")["s1"]
	sameOutputs(t, "drained session", got, want)
	if got.end.Error != "" || got.end.FramesIn != uint64(len(frames)) || got.draining != 1 {
		t.Errorf("end frame %+v after %d draining notices, want no error, %d frames in, 1 notice", got.end, got.draining, len(frames))
	}
	if ce := closeStatus(ctx, conn); ce.Code != websocket.StatusGoingAway || ce.Reason != "going away" {
		t.Errorf("closed with %d %q, want 1001 going away", ce.Code, ce.Reason)
	}
	if err := <-drained; err != nil {
		t.Fatal(err)
	}
	_, resp, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(hs.URL, "http")+"/v1/pipelines/speech-frontend/ws", nil)
	if err == nil || resp == nil || resp.StatusCode != 503 {
		t.Errorf("socket after drain: %v %v", resp, err)
	}
	r2, err := http.Post(hs.URL+"/v1/pipelines/speech-frontend/run", "audio/wav", strings.NewReader("x"))
	if err != nil {
		t.Fatal(err)
	}
	r2.Body.Close()
	if r2.StatusCode != 503 {
		t.Errorf("run after drain: %d", r2.StatusCode)
	}
}

// TestDrainGrace: a client that ignores the notice (it keeps its stream open)
// has its session's input ended after the drain grace; its session flushes
// and ends, and a new stream on the draining socket is refused with a reason.
func TestDrainGrace(t *testing.T) {
	s, hs := newTestServer(t, Config{DrainGrace: 20 * time.Millisecond})
	ctx := testCtx(t)
	frames := framesOf(t, speechLike(1), 48000, 2, "s1")
	conn := dial(t, ctx, hs, "/v1/pipelines/speech-frontend/ws")
	if err := send(ctx, conn, frames, 1); err != nil {
		t.Fatal(err)
	}
	in := s.m.framesIn.WithLabelValues("speech-frontend")
	for testutil.ToFloat64(in) < float64(len(frames)) {
		if ctx.Err() != nil {
			t.Fatal("the server did not take the frames in")
		}
		time.Sleep(2 * time.Millisecond)
	}
	drained := make(chan error, 1)
	go func() { drained <- s.Drain(ctx) }()
	var once sync.Once
	got := collectWith(t, ctx, conn, func(string) {
		once.Do(func() { // a new stream while draining
			if err := send(ctx, conn, framesOf(t, speechLike(0.1), 48000, 2, "s2"), 1); err != nil {
				t.Error(err)
			}
		})
	}, "s1", "s2")
	if end := got["s1"].end; end.Error != "" || end.FramesIn != uint64(len(frames)) || len(got["s1"].audio) == 0 {
		t.Errorf("s1: end %+v, %d audio ports, want a flushed session of %d frames", end, len(got["s1"].audio), len(frames))
	}
	if end := got["s2"].end; !strings.Contains(end.Error, "shutting down") || end.FramesIn != 0 {
		t.Errorf("s2 opened while draining: end %+v, want refused as the server shuts down", end)
	}
	if err := <-drained; err != nil {
		t.Fatal(err)
	}
}

// TestDrainDeadline: Drain gives up at its context's end, cancels what is
// left and closes the sockets.
func TestDrainDeadline(t *testing.T) {
	s, hs := newTestServer(t, Config{})
	ctx := testCtx(t)
	conn := dial(t, ctx, hs, "/v1/pipelines/blow/ws") // never read: the session cannot flush
	if err := send(ctx, conn, framesOf(t, speechLike(2), 48000, 2, "s"), 1); err != nil {
		t.Fatal(err)
	}
	dctx, cancel := context.WithTimeout(ctx, 200*time.Millisecond)
	defer cancel()
	if err := s.Drain(dctx); err != context.DeadlineExceeded {
		t.Fatalf("Drain: %v, want the deadline", err)
	}
}

func TestLimits(t *testing.T) {
	s, hs := newTestServer(t, Config{MaxSessionsPerConn: 1, MaxSessions: 2})
	ctx := testCtx(t)
	f := framesOf(t, speechLike(0.1), 48000, 2, "")
	with := func(sid string) []*frame.Frame {
		out := make([]*frame.Frame, len(f))
		for i := range f {
			c := *f[i]
			c.StreamID = sid
			out[i] = &c
		}
		return out
	}
	conn := dial(t, ctx, hs, "/v1/pipelines/speech-frontend/ws")
	if err := send(ctx, conn, append(with("a"), with("b")...), 1); err != nil {
		t.Fatal(err)
	}
	got := collect(t, ctx, conn, "b")["b"] // b is refused at once; a stays open
	if !strings.Contains(got.end.Error, "maximum of 1 sessions") || len(got.errs) != 1 {
		t.Errorf("refused stream: end %+v, errors %q", got.end, got.errs)
	}
	// b's frames are ignored until its eos; then a's end comes as usual.
	if err := send(ctx, conn, append(with("b"), eos("b"), eos("a")), 1); err != nil {
		t.Fatal(err)
	}
	if got := collect(t, ctx, conn, "a")["a"]; got.end.Error != "" || got.end.FramesIn != uint64(len(f)) {
		t.Errorf("stream a: %+v", got.end)
	}

	// The total: two sessions held, a third socket is refused before the upgrade.
	c1 := dial(t, ctx, hs, "/v1/pipelines/speech-frontend/ws")
	c2 := dial(t, ctx, hs, "/v1/pipelines/speech-frontend/ws")
	for _, c := range []*websocket.Conn{c1, c2} {
		if err := send(ctx, c, with("x"), 1); err != nil {
			t.Fatal(err)
		}
	}
	for s.sessionsHeld() < 2 {
		if ctx.Err() != nil {
			t.Fatal("sessions not opened")
		}
		time.Sleep(2 * time.Millisecond)
	}
	_, resp, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(hs.URL, "http")+"/v1/pipelines/speech-frontend/ws", nil)
	if err == nil || resp == nil || resp.StatusCode != 429 {
		t.Fatalf("third socket: %v %v", resp, err)
	}
	b, _ := io.ReadAll(resp.Body)
	if !strings.Contains(string(b), "maximum of 2 sessions") {
		t.Errorf("429 body %s", b)
	}
}

func (s *Server) sessionsHeld() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.total
}

func TestIdleAndSessionLength(t *testing.T) {
	t.Run("idle", func(t *testing.T) {
		_, hs := newTestServer(t, Config{IdleTimeout: 100 * time.Millisecond})
		ctx := testCtx(t)
		conn := dial(t, ctx, hs, "/v1/pipelines/speech-frontend/ws")
		if ce := closeStatus(ctx, conn); ce.Code != websocket.StatusNormalClosure || ce.Reason != "idle" {
			t.Errorf("closed with %d %q, want 1000 idle", ce.Code, ce.Reason)
		}
	})
	t.Run("session length", func(t *testing.T) {
		_, hs := newTestServer(t, Config{MaxSessionLength: 500 * time.Millisecond})
		ctx := testCtx(t)
		conn := dial(t, ctx, hs, "/v1/pipelines/speech-frontend/ws")
		if err := send(ctx, conn, framesOf(t, speechLike(0.1), 48000, 2, "s"), 1); err != nil {
			t.Fatal(err)
		}
		got := collect(t, ctx, conn, "s")["s"]
		if !strings.Contains(got.end.Error, "session length limit reached") || !strings.Contains(got.end.Error, "500ms") {
			t.Errorf("end error %q", got.end.Error)
		}
		// The stream failed before its eos: its frames up to its eos are
		// ignored, not taken as a new session; after the eos the id is free.
		f := framesOf(t, speechLike(0.1), 48000, 2, "s") // 5 frames, ignored
		g := f[:3]                                       // then a new session of 3
		if err := send(ctx, conn, slices.Concat(f, []*frame.Frame{eos("s")}, g, []*frame.Frame{eos("s")}), 1); err != nil {
			t.Fatal(err)
		}
		got = collect(t, ctx, conn, "s")["s"]
		if got.end.Error != "" || got.end.FramesIn != uint64(len(g)) {
			t.Errorf("the session after the eos: %+v, want %d frames in", got.end, len(g))
		}
	})
}

// TestSessionEndClosesNodes: a session's end closes its nodes (a Python node's
// remote session with them), whether its input ended or its socket went away.
func TestSessionEndClosesNodes(t *testing.T) {
	s, hs := newTestServer(t, Config{})
	ctx := testCtx(t)
	f := framesOf(t, speechLike(0.1), 48000, 2, "m")
	before := closed.Load()
	conn := dial(t, ctx, hs, "/v1/pipelines/model/ws")
	if err := send(ctx, conn, append(f, eos("m")), 1); err != nil {
		t.Fatal(err)
	}
	collect(t, ctx, conn, "m")
	if closed.Load() != before+1 {
		t.Errorf("closed %d nodes, want 1", closed.Load()-before)
	}
	before = closed.Load()
	if err := send(ctx, conn, f, 1); err != nil { // a new session, then the client goes
		t.Fatal(err)
	}
	for s.sessionsHeld() == 0 {
		if ctx.Err() != nil {
			t.Fatal("no session")
		}
		time.Sleep(2 * time.Millisecond)
	}
	conn.Close(websocket.StatusNormalClosure, "")
	for s.sessionsHeld() > 0 {
		if ctx.Err() != nil {
			t.Fatal("the session outlived its socket")
		}
		time.Sleep(2 * time.Millisecond)
	}
	if closed.Load() != before+1 {
		t.Errorf("closed %d nodes after the socket went, want 1", closed.Load()-before)
	}
}

func TestInline(t *testing.T) {
	operator := `{"version":"1","nodes":[{"id":"m","node_type":"model","params":{"model_path":"/etc/passwd","level":2}},{"id":"g","node_type":"gain","params":{"gain_db":3}}],"connections":[{"from":"m","to":"g"}]}`
	t.Run("off", func(t *testing.T) {
		_, hs := newTestServer(t, Config{})
		_, resp, err := websocket.Dial(testCtx(t), "ws"+strings.TrimPrefix(hs.URL, "http")+"/v1/inline/ws", nil)
		if err == nil || resp == nil || resp.StatusCode != 403 {
			t.Fatalf("inline socket without --allow-inline: %v %v", resp, err)
		}
		b, _ := io.ReadAll(resp.Body)
		if !strings.Contains(string(b), "has not allowed inline definitions") {
			t.Errorf("403 body %s", b)
		}
	})
	t.Run("operator param", func(t *testing.T) {
		_, hs := newTestServer(t, Config{AllowInline: true})
		ctx := testCtx(t)
		conn := dial(t, ctx, hs, "/v1/inline/ws")
		if err := conn.Write(ctx, websocket.MessageText, []byte(operator)); err != nil {
			t.Fatal(err)
		}
		_, msg, err := conn.Read(ctx)
		if err != nil {
			t.Fatal(err)
		}
		f, err := frame.Unmarshal(msg)
		if err != nil || f.Meta["error"] != true || !strings.Contains(string(f.Data), "nodes[0].params.model_path: operator-only") {
			t.Fatalf("error frame %v %v", f, err)
		}
		if ce := closeStatus(ctx, conn); ce.Code != websocket.StatusPolicyViolation || !strings.Contains(ce.Reason, "nodes[0].params.model_path") {
			t.Errorf("closed with %d %q, want 1008 naming the param", ce.Code, ce.Reason)
		}
		// The one-shot inline route says the same.
		var body bytes.Buffer
		mw := multipart.NewWriter(&body)
		_ = mw.WriteField("definition", operator)
		fw, _ := mw.CreateFormFile("audio", "in.wav")
		fw.Write(wavBytes(t, speechLike(0.1), 48000, 2))
		mw.Close()
		resp, err := http.Post(hs.URL+"/v1/inline/run", mw.FormDataContentType(), &body)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 400 || !strings.Contains(string(b), "nodes[0].params.model_path") {
			t.Errorf("inline run: %d %s", resp.StatusCode, b)
		}
	})
	t.Run("allowed", func(t *testing.T) {
		s, hs := newTestServer(t, Config{AllowInline: true})
		ctx := testCtx(t)
		samples := speechLike(2)
		want := inProcess(t, s, "speech-frontend", framesOf(t, samples, 48000, 2, "ref"))
		def, _ := json.Marshal(s.byName["speech-frontend"].def)
		conn := dial(t, ctx, hs, "/v1/inline/ws")
		if err := conn.Write(ctx, websocket.MessageText, def); err != nil {
			t.Fatal(err)
		}
		if err := send(ctx, conn, append(framesOf(t, samples, 48000, 2, "i"), eos("i")), 1); err != nil {
			t.Fatal(err)
		}
		sameOutputs(t, "inline", collect(t, ctx, conn, "i")["i"], want)
	})
}

// TestMetrics: the collectors register on the given registry and count.
func TestMetrics(t *testing.T) {
	reg := prometheus.NewRegistry()
	_, hs := newTestServer(t, Config{Metrics: reg})
	ctx := testCtx(t)
	conn := dial(t, ctx, hs, "/v1/pipelines/speech-frontend/ws")
	f := framesOf(t, speechLike(0.2), 48000, 2, "s")
	if err := send(ctx, conn, append(f, eos("s")), 1); err != nil {
		t.Fatal(err)
	}
	collect(t, ctx, conn, "s")
	n, err := testutil.GatherAndCount(reg, "remotemedia_node_work_seconds", "remotemedia_pipeline_frames_in_total", "remotemedia_ws_received_bytes_total")
	if err != nil || n != 4+1+1 {
		t.Errorf("series: %d, %v", n, err)
	}
	if err := testutil.GatherAndCompare(reg, strings.NewReader(`
# HELP remotemedia_pipeline_frames_in_total Data frames pushed into sessions, by pipeline.
# TYPE remotemedia_pipeline_frames_in_total counter
remotemedia_pipeline_frames_in_total{pipeline="speech-frontend"} 10
`), "remotemedia_pipeline_frames_in_total"); err != nil {
		t.Error(err)
	}
}

func TestReady(t *testing.T) {
	s, _ := newTestServer(t, Config{})
	if err := s.Ready(); !errors.Is(err, ErrNotReady) {
		t.Errorf("Ready before Prepare: %v", err)
	}
	if err := s.Prepare(testCtx(t)); err != nil {
		t.Fatal(err)
	}
	if err := s.Ready(); err != nil {
		t.Errorf("Ready after Prepare: %v", err)
	}
	if err := s.Drain(testCtx(t)); err != nil {
		t.Fatal(err)
	}
	if err := s.Ready(); !errors.Is(err, ErrDraining) {
		t.Errorf("Ready after Drain: %v", err)
	}
}

// TestOrigin: a page of another origin may not open a socket unless
// Config.AllowOrigins names it (the server's guard checks it too).
func TestOrigin(t *testing.T) {
	_, hs := newTestServer(t, Config{AllowOrigins: []string{"https://app.example"}})
	ctx := testCtx(t)
	url := "ws" + strings.TrimPrefix(hs.URL, "http") + "/v1/pipelines/speech-frontend/ws"
	for _, tc := range []struct {
		origin string
		expect int
	}{{"https://evil.example", 403}, {"https://app.example", 101}} {
		conn, resp, err := websocket.Dial(ctx, url, &websocket.DialOptions{HTTPHeader: http.Header{"Origin": {tc.origin}}})
		if resp == nil || resp.StatusCode != tc.expect {
			t.Errorf("Origin %s: %v %v, want HTTP %d", tc.origin, resp, err, tc.expect)
		}
		if conn != nil {
			conn.CloseNow()
		}
	}
}

// TestFatalNodeError: a node that cannot go on (its Python worker died) fails
// its own session, whose end frame gives the reason; another session on the
// same socket completes.
func TestFatalNodeError(t *testing.T) {
	_, hs := newTestServer(t, Config{})
	ctx := testCtx(t)
	conn := dial(t, ctx, hs, "/v1/pipelines/model/ws")
	a, b := framesOf(t, speechLike(0.2), 48000, 2, "dies"), framesOf(t, speechLike(0.2), 48000, 2, "lives")
	var mixed []*frame.Frame
	for i := range a {
		mixed = append(mixed, a[i], b[i])
	}
	mixed = append(mixed, eos("dies"), eos("lives"))
	if err := send(ctx, conn, mixed, 1); err != nil {
		t.Fatal(err)
	}
	got := collect(t, ctx, conn, "dies", "lives")
	if e := got["dies"].end.Error; !strings.Contains(e, "the Python worker running it died") || !strings.Contains(e, `node "m"`) {
		t.Errorf("failed session's end: %q", e)
	}
	if end := got["lives"].end; end.Error != "" || end.FramesIn != uint64(len(b)) || len(got["lives"].audio["m.out"]) != len(b)*1920*4 {
		t.Errorf("other session: %+v, %d audio bytes", end, len(got["lives"].audio["m.out"]))
	}
}
