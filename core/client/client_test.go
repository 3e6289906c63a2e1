package client

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/remotemedia/hybrid/core/frame"
)

// testCtx is bounded by the test's deadline, or 30 s.
func testCtx(t *testing.T) context.Context {
	t.Helper()
	d, ok := t.Deadline()
	if !ok {
		d = time.Now().Add(30 * time.Second)
	}
	ctx, cancel := context.WithDeadline(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

// fakeConn is the server end of a socket in memory: what the client writes
// arrives on written; what the test puts on toClient the client reads.
type fakeConn struct {
	written  chan []byte
	toClient chan []byte
	readErr  chan error
	gate     chan struct{} // when set, each Write waits for a value
	entered  chan struct{} // when set, each Write says it has begun
	closed   chan struct{}
}

func newFakeConn() *fakeConn {
	return &fakeConn{written: make(chan []byte, 1024), toClient: make(chan []byte, 64), readErr: make(chan error, 1), closed: make(chan struct{})}
}

func (c *fakeConn) Write(ctx context.Context, msg []byte) error {
	if c.entered != nil {
		c.entered <- struct{}{}
	}
	if c.gate != nil {
		select {
		case <-c.gate:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	c.written <- append([]byte(nil), msg...)
	return nil
}

func (c *fakeConn) Read(ctx context.Context) ([]byte, error) {
	select {
	case m := <-c.toClient:
		return m, nil
	case err := <-c.readErr:
		return nil, err
	case <-ctx.Done():
		return nil, ctx.Err()
	case <-c.closed:
		return nil, errors.New("closed")
	}
}

func (c *fakeConn) Close() error {
	select {
	case <-c.closed:
	default:
		close(c.closed)
	}
	return nil
}

// frames decodes a message of concatenated frames.
func frames(t *testing.T, msg []byte) []*frame.Frame {
	t.Helper()
	var out []*frame.Frame
	for len(msg) > 0 {
		f, n, err := frame.UnmarshalPrefix(msg)
		if err != nil {
			t.Fatalf("decoding a message: %v", err)
		}
		out = append(out, f)
		msg = msg[n:]
	}
	return out
}

// message encodes frames into one message.
func message(t *testing.T, fs ...*frame.Frame) []byte {
	t.Helper()
	var b []byte
	for _, f := range fs {
		var err error
		if b, err = frame.AppendMarshal(b, f); err != nil {
			t.Fatal(err)
		}
	}
	return b
}

func jsonFrame(sid string, meta map[string]any, v any) *frame.Frame {
	b, _ := json.Marshal(v)
	return frame.NewJSON(frame.Header{StreamID: sid, Meta: meta}, b)
}

func TestSessionOutputsErrorsAndEnd(t *testing.T) {
	ctx := testCtx(t)
	conn := newFakeConn()
	sock := NewSocket(conn)
	defer sock.Close()
	sess, err := sock.Open("a")
	if err != nil {
		t.Fatal(err)
	}
	in := frame.NewAudioS16(frame.Header{Seq: 3, Timestamp: 60000}, 16000, 1, []int16{1, 2, 3})
	if err := sess.Send(ctx, in); err != nil {
		t.Fatal(err)
	}
	if err := sess.CloseInput(ctx); err != nil {
		t.Fatal(err)
	}
	var got []*frame.Frame
	for len(got) < 2 {
		select {
		case m := <-conn.written:
			got = append(got, frames(t, m)...)
		case <-ctx.Done():
			t.Fatal("the frames were not written")
		}
	}
	if got[0].StreamID != "a" || got[0].Seq != 3 || got[0].Timestamp != 60000 || len(got[0].Data) != 6 {
		t.Errorf("data frame arrived as %+v", got[0].Header)
	}
	if !got[1].IsControl(frame.EndOfStream) || got[1].StreamID != "a" {
		t.Errorf("second frame = %v %v, want eos of stream a", got[1].Kind, got[1].Op)
	}

	out := frame.NewAudioF32(frame.Header{StreamID: "a", Seq: 3, Timestamp: 60000, Meta: map[string]any{"port": "vad.out"}}, 16000, 1, []float32{0.5})
	ev := jsonFrame("a", map[string]any{"port": "vad.events", "keep": "x"}, map[string]any{"event": "speech_start"})
	nodeErr := jsonFrame("a", map[string]any{"error": true, "port": "vad"}, NodeError{Node: "vad", Seq: 4, TSUS: 80000, Error: "boom"})
	end := jsonFrame("a", map[string]any{"end": true}, End{FramesIn: 1, Dropped: 2, Stats: []NodeStats{{ID: "vad", In: 1, Out: 2, WorkP99US: 7}}})
	conn.toClient <- message(t, out, ev)
	conn.toClient <- message(t, nodeErr, end)

	o, err := sess.Recv(ctx)
	if err != nil || o.Node != "vad" || o.Port != "out" || o.Frame == nil || o.Frame.Meta != nil || o.Frame.F32()[0] != 0.5 {
		t.Fatalf("first output = %+v, %v; want vad.out audio without meta", o, err)
	}
	o, err = sess.Recv(ctx)
	if err != nil || o.Port != "events" || string(o.Frame.Data) != `{"event":"speech_start"}` || o.Frame.Meta["keep"] != "x" || o.Frame.Meta["port"] != nil {
		t.Fatalf("second output = %+v, %v", o, err)
	}
	o, err = sess.Recv(ctx)
	if err != nil || o.Error == nil || *o.Error != (NodeError{Node: "vad", Seq: 4, TSUS: 80000, Error: "boom"}) || o.Frame != nil {
		t.Fatalf("third output = %+v, %v; want vad's error", o, err)
	}
	if _, err := sess.Recv(ctx); err != io.EOF {
		t.Fatalf("Recv after the end = %v, want io.EOF", err)
	}
	e := sess.End()
	if e == nil || e.FramesIn != 1 || e.Dropped != 2 || len(e.Stats) != 1 || e.Stats[0].WorkP99US != 7 {
		t.Fatalf("End = %+v", e)
	}
	if err := sess.Send(ctx, frame.NewText(frame.Header{}, "late")); !errors.Is(err, ErrEnded) {
		t.Errorf("Send after the end = %v, want ErrEnded", err)
	}
	if _, err := sock.Open("a"); err != nil {
		t.Errorf("reopening stream a after its end: %v", err)
	}
}

func TestSessionsShareASocket(t *testing.T) {
	ctx := testCtx(t)
	conn := newFakeConn()
	sock := NewSocket(conn)
	defer sock.Close()
	a, _ := sock.Open("a")
	b, _ := sock.Open("b")
	if _, err := sock.Open("a"); err == nil {
		t.Fatal("a second session with stream id a was opened")
	}
	conn.toClient <- message(t,
		frame.NewText(frame.Header{StreamID: "b", Seq: 1, Meta: map[string]any{"port": "n.out"}}, "to b"),
		frame.NewText(frame.Header{StreamID: "x", Meta: map[string]any{"port": "n.out"}}, "stray"),
		frame.NewText(frame.Header{StreamID: "a", Seq: 2, Meta: map[string]any{"port": "n.out"}}, "to a"),
		jsonFrame("b", map[string]any{"end": true}, End{Error: "node n failed"}))
	o, err := a.Recv(ctx)
	if err != nil || string(o.Frame.Data) != "to a" {
		t.Fatalf("a got %+v, %v", o, err)
	}
	if end, err := b.Wait(ctx); !errors.Is(err, ErrSessionFailed) || end == nil || !strings.Contains(err.Error(), "node n failed") {
		t.Fatalf("b.Wait = %+v, %v; want ErrSessionFailed naming the reason", end, err)
	}
}

func TestSendBatchesWhileTheSocketWrites(t *testing.T) {
	ctx := testCtx(t)
	conn := newFakeConn()
	conn.gate, conn.entered = make(chan struct{}), make(chan struct{}, 2)
	sock := NewSocket(conn)
	defer sock.Close()
	sess, _ := sock.Open("s")
	if err := sess.Send(ctx, frame.NewText(frame.Header{Seq: 0}, "first")); err != nil {
		t.Fatal(err)
	}
	// The writer takes "first" and waits at the gate; the next frames queue
	// behind it.
	select {
	case <-conn.entered:
	case <-ctx.Done():
		t.Fatal("the writer never took the first frame")
	}
	for i := 1; i <= 10; i++ {
		if err := sess.Send(ctx, frame.NewText(frame.Header{Seq: uint64(i)}, "more")); err != nil {
			t.Fatal(err)
		}
	}
	conn.gate <- struct{}{}
	conn.gate <- struct{}{}
	first, second := frames(t, <-conn.written), frames(t, <-conn.written)
	if len(first) != 1 || len(second) != 10 {
		t.Fatalf("messages held %d and %d frames, want 1 and 10", len(first), len(second))
	}
	for i, f := range second {
		if f.Seq != uint64(i+1) || f.StreamID != "s" {
			t.Fatalf("frame %d of the batch: seq %d stream %q", i, f.Seq, f.StreamID)
		}
	}
}

func TestSendWaitsForTheSocket(t *testing.T) {
	conn := newFakeConn()
	conn.gate = make(chan struct{}) // the server reads nothing
	sock := NewSocket(conn)
	defer sock.Close()
	sess, _ := sock.Open("s")
	ctx, cancel := context.WithCancel(context.Background())
	cancel() // Send queues while there is room, then gives up at once
	big := make([]byte, 32<<10)
	for i := 0; i < 100; i++ {
		err := sess.Send(ctx, &frame.Frame{Kind: frame.KindBinary, Data: big})
		if errors.Is(err, context.Canceled) {
			if q := i * len(big); q < maxPending || q > 2*maxPending+len(big) {
				t.Fatalf("Send waited after %d bytes, want it to wait past %d bytes queued", q, maxPending)
			}
			return
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	t.Fatal("Send queued 3.2 MB for a socket that writes nothing")
}

func TestServerCloseNamesCodeAndReason(t *testing.T) {
	ctx := testCtx(t)
	conn := newFakeConn()
	sock := NewSocket(conn)
	sess, _ := sock.Open("s")
	conn.readErr <- &CloseError{Code: 1003, Reason: "frame: unknown kind \"video\""}
	_, err := sess.Recv(ctx)
	var ce *CloseError
	if !errors.Is(err, ErrClosed) || !errors.As(err, &ce) || ce.Code != 1003 {
		t.Fatalf("Recv = %v, want ErrClosed with a 1003 CloseError", err)
	}
	want := `server closed the socket with 1003 (unsupported data): frame: unknown kind "video"`
	if !strings.Contains(err.Error(), want) {
		t.Errorf("error %q does not contain %q", err, want)
	}
	if err := sess.Send(ctx, frame.NewText(frame.Header{}, "x")); !errors.As(err, &ce) {
		t.Errorf("Send after the close = %v, want the CloseError", err)
	}
}

func TestMalformedServerMessageStopsTheSocket(t *testing.T) {
	ctx := testCtx(t)
	conn := newFakeConn()
	sock := NewSocket(conn)
	sess, _ := sock.Open("s")
	conn.toClient <- message(t, frame.NewText(frame.Header{StreamID: "s"}, "no port"))
	_, err := sess.Recv(ctx)
	if !errors.Is(err, ErrResponse) || !strings.Contains(err.Error(), `no meta port "node.port"`) {
		t.Fatalf("Recv = %v, want ErrResponse naming the missing port", err)
	}
}

// fakeDoer answers every request with resp and records the request.
type fakeDoer struct {
	resp *Response
	req  *Request
}

func (d *fakeDoer) Do(_ context.Context, r *Request) (*Response, error) {
	d.req = r
	return d.resp, nil
}

func TestHTTPErrorsNameTheServersMessage(t *testing.T) {
	tests := []struct {
		name   string
		given  Response
		expect string
	}{
		{"json", Response{Status: 404, Body: []byte(`{"error":"no pipeline \"x\"; known: speech-frontend"}`)}, `server answered 404: no pipeline "x"; known: speech-frontend`},
		{"echo", Response{Status: 404, Body: []byte(`{"message":"Not Found"}`)}, "server answered 404: Not Found"},
		{"text", Response{Status: 401, Body: []byte("missing bearer token\n")}, "server answered 401: missing bearer token"},
		{"empty", Response{Status: 429}, "server answered 429: (no message)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := &Client{BaseURL: "http://h", Token: "tok", Doer: &fakeDoer{resp: &tt.given}}
			_, err := c.Run(testCtx(t), "x", []byte("RIFF"), RunOptions{})
			var se *StatusError
			if !errors.Is(err, ErrRefused) || !errors.As(err, &se) || se.Code != tt.given.Status {
				t.Fatalf("err = %v, want a StatusError %d", err, tt.given.Status)
			}
			if !strings.Contains(err.Error(), tt.expect) {
				t.Errorf("err %q does not contain %q", err, tt.expect)
			}
		})
	}
}

func TestRunAnswers(t *testing.T) {
	ndjson := `{"node":"vad","port":"events","seq":5,"ts_us":100000,"kind":"json","data":{"event":"speech_start"}}` + "\n" +
		`{"end":{"error":"","frames_in":50,"dropped":0,"stats":[{"id":"vad","in":50,"out":60}]}}` + "\n"
	multi := "--B\r\nContent-Type: audio/wav\r\n\r\nRIFFdata\r\n--B\r\nContent-Type: application/x-ndjson\r\n\r\n" + ndjson + "\r\n--B--\r\n"
	tests := []struct {
		name      string
		accept    string
		given     Response
		expectWAV string
		expectEv  int
		expectEnd bool
		expectErr string
	}{
		{"wav", "", Response{Status: 200, ContentType: "audio/wav", Body: []byte("RIFFdata")}, "RIFFdata", 0, false, ""},
		{"ndjson", AcceptNDJSON, Response{Status: 200, ContentType: "application/x-ndjson", Body: []byte(ndjson)}, "", 1, true, ""},
		{"multipart", AcceptMultipart, Response{Status: 200, ContentType: `multipart/mixed; boundary=B`, Body: []byte(multi)}, "RIFFdata", 1, true, ""},
		{"no end", AcceptNDJSON, Response{Status: 200, ContentType: "application/x-ndjson", Body: []byte("{}\n")}, "", 0, false, "without an end line"},
		{"html", "", Response{Status: 200, ContentType: "text/html", Body: []byte("<p>")}, "", 0, false, `unexpected content type "text/html"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := &fakeDoer{resp: &tt.given}
			c := &Client{BaseURL: "http://h", Token: "tok", Doer: d}
			res, err := c.Run(testCtx(t), "speech frontend", []byte("RIFF"), RunOptions{Accept: tt.accept, FrameMS: 10, Output: "vad.out"})
			if d.req.URL != "http://h/v1/pipelines/speech%20frontend/run?frame_ms=10&output=vad.out" || d.req.Token != "tok" || d.req.Method != "POST" {
				t.Errorf("request = %+v", d.req)
			}
			if tt.expectErr != "" {
				if !errors.Is(err, ErrResponse) || !strings.Contains(err.Error(), tt.expectErr) {
					t.Fatalf("err = %v, want ErrResponse containing %q", err, tt.expectErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if string(res.WAV) != tt.expectWAV || len(res.Events) != tt.expectEv || (res.End != nil) != tt.expectEnd {
				t.Fatalf("result = wav %q, %d events, end %+v", res.WAV, len(res.Events), res.End)
			}
			if tt.expectEv > 0 && (res.Events[0].Seq != 5 || string(res.Events[0].Data) != `{"event":"speech_start"}`) {
				t.Errorf("event = %+v", res.Events[0])
			}
			if tt.expectEnd && (res.End.FramesIn != 50 || res.End.Stats[0].Out != 60) {
				t.Errorf("end = %+v", res.End)
			}
		})
	}
}

func TestPipelines(t *testing.T) {
	body := `{"pipelines":[{"name":"speech-frontend","description":"d","inputs":[{"node":"mono","port":"in","kinds":["audio"]}],"outputs":[{"node":"vad","port":"out","kinds":["audio"]},{"node":"vad","port":"events","kinds":["json"]}]}]}`
	d := &fakeDoer{resp: &Response{Status: 200, ContentType: "application/json", Body: []byte(body)}}
	c := &Client{BaseURL: "http://h", Doer: d}
	list, err := c.Pipelines(testCtx(t))
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != 1 || list[0].Name != "speech-frontend" || list[0].Inputs[0].Node != "mono" || list[0].Outputs[1].Port != "events" || list[0].Outputs[1].Kinds[0] != "json" {
		t.Fatalf("pipelines = %+v", list)
	}
	if d.req.URL != "http://h/v1/pipelines" || d.req.Method != "GET" {
		t.Errorf("request = %+v", d.req)
	}
}

func TestSocketSendGoesOutInOneMessage(t *testing.T) {
	ctx := testCtx(t)
	conn := newFakeConn()
	sock := NewSocket(conn)
	defer sock.Close()
	var fs []*frame.Frame
	for _, sid := range []string{"a", "b", "c"} {
		fs = append(fs, frame.NewText(frame.Header{StreamID: sid, Seq: 9}, "tick"))
	}
	if err := sock.Send(ctx, fs...); err != nil {
		t.Fatal(err)
	}
	got := frames(t, <-conn.written)
	if len(got) != 3 || got[0].StreamID != "a" || got[1].StreamID != "b" || got[2].StreamID != "c" {
		t.Fatalf("one Send of 3 frames wrote a message of %d frames", len(got))
	}
}

// TestEndBeforeEOSFreesTheStreamID: a session the server ends before its
// input ended (refused, failed) keeps its id taken there until an eos; the
// client sends it. One that sent its eos gets no second one.
func TestEndBeforeEOSFreesTheStreamID(t *testing.T) {
	ctx := testCtx(t)
	conn := newFakeConn()
	sock := NewSocket(conn)
	defer sock.Close()
	refused, _ := sock.Open("refused")
	done, _ := sock.Open("done")
	if err := refused.Send(ctx, frame.NewText(frame.Header{}, "x")); err != nil {
		t.Fatal(err)
	}
	if err := done.CloseInput(ctx); err != nil {
		t.Fatal(err)
	}
	var sent []*frame.Frame
	for len(sent) < 2 {
		sent = append(sent, frames(t, <-conn.written)...)
	}
	conn.toClient <- message(t,
		jsonFrame("refused", map[string]any{"error": true}, NodeError{Error: "live: limit reached"}),
		jsonFrame("refused", map[string]any{"end": true}, End{Error: "live: limit reached"}),
		jsonFrame("done", map[string]any{"end": true}, End{}))
	if _, err := refused.Wait(ctx); !errors.Is(err, ErrSessionFailed) {
		t.Fatalf("refused.Wait = %v, want ErrSessionFailed", err)
	}
	if _, err := done.Wait(ctx); err != nil {
		t.Fatal(err)
	}
	// A marker frame after the ends: everything written before it is what
	// the ends caused.
	if err := sock.Send(ctx, frame.NewText(frame.Header{StreamID: "marker"}, "m")); err != nil {
		t.Fatal(err)
	}
	var after []*frame.Frame
	for len(after) == 0 || after[len(after)-1].StreamID != "marker" {
		after = append(after, frames(t, <-conn.written)...)
	}
	if len(after) != 2 || after[0].StreamID != "refused" || !after[0].IsControl(frame.EndOfStream) {
		var got []string
		for _, f := range after {
			got = append(got, f.StreamID+":"+f.Kind.String())
		}
		t.Fatalf("after the ends the client wrote %v, want one eos for stream refused, then the marker", got)
	}
}

// TestDrainingNoticeEndsTheInput: the server's notice that it is shutting
// down makes the client send the stream's eos once (after the frames already
// queued), refuse further data frames with ErrDraining on both the session
// and the socket (the socket's other sessions' frames still go), take a
// CloseInput as done, and still deliver the outputs up to the end frame.
func TestDrainingNoticeEndsTheInput(t *testing.T) {
	ctx := testCtx(t)
	conn := newFakeConn()
	sock := NewSocket(conn)
	defer sock.Close()
	a, _ := sock.Open("a")
	b, _ := sock.Open("b")
	if err := a.Send(ctx, frame.NewText(frame.Header{}, "before")); err != nil {
		t.Fatal(err)
	}
	if sent := frames(t, <-conn.written); len(sent) != 1 || string(sent[0].Data) != "before" {
		t.Fatalf("first message: %v", sent)
	}
	conn.toClient <- message(t, jsonFrame("a", map[string]any{"draining": true}, map[string]string{"message": "shutting down"}))
	var eos []*frame.Frame
	for len(eos) == 0 {
		eos = append(eos, frames(t, <-conn.written)...)
	}
	if len(eos) != 1 || eos[0].StreamID != "a" || !eos[0].IsControl(frame.EndOfStream) || !a.Draining() || b.Draining() {
		t.Fatalf("after the notice the client wrote %v (a draining %v, b %v), want stream a's eos", eos, a.Draining(), b.Draining())
	}
	if err := a.Send(ctx, frame.NewText(frame.Header{}, "after")); !errors.Is(err, ErrDraining) {
		t.Errorf("a.Send after the notice = %v, want ErrDraining", err)
	}
	if err := a.CloseInput(ctx); err != nil {
		t.Errorf("a.CloseInput after the notice = %v, want nil (the eos has gone)", err)
	}
	err := sock.Send(ctx, frame.NewText(frame.Header{StreamID: "a"}, "after"), frame.NewText(frame.Header{StreamID: "b"}, "b1"))
	if !errors.Is(err, ErrDraining) {
		t.Errorf("sock.Send with a frame of the draining session = %v, want ErrDraining", err)
	}
	if sent := frames(t, <-conn.written); len(sent) != 1 || sent[0].StreamID != "b" {
		t.Fatalf("the socket wrote %v, want only stream b's frame", sent)
	}
	conn.toClient <- message(t,
		jsonFrame("a", map[string]any{"port": "vad.events"}, map[string]string{"event": "speech_end"}),
		jsonFrame("a", map[string]any{"end": true}, End{FramesIn: 1}))
	if o, err := a.Recv(ctx); err != nil || o.Port != "events" {
		t.Fatalf("output after the notice: %+v %v", o, err)
	}
	if end, err := a.Wait(ctx); err != nil || end.FramesIn != 1 {
		t.Fatalf("end %+v %v", end, err)
	}
}
