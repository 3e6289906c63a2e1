package live

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"testing/fstest"
	"time"

	"github.com/coder/websocket"

	"github.com/remotemedia/hybrid/core/frame"
	"github.com/remotemedia/hybrid/core/node"
	"github.com/remotemedia/hybrid/core/runner"
	"github.com/remotemedia/hybrid/core/sched"
	"github.com/remotemedia/hybrid/core/wasmnode"
	"github.com/remotemedia/hybrid/examples"
	"github.com/remotemedia/hybrid/target/wasmhost"
	modules "github.com/remotemedia/hybrid/wasm-modules"
)

// testRegistry is the standard WASM registry (wazero, the embedded modules)
// plus the Go test node types below.
var testRegistry *node.Registry

// closed counts Close calls of the Go test nodes (a session's end closes its
// nodes, and so a Python node's remote session).
var closed atomic.Int64

func TestMain(m *testing.M) {
	ctx := context.Background()
	h, err := wasmhost.New(ctx, wasmhost.Config{Trusted: modules.Hashes()})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	reg := node.NewRegistry()
	if err := wasmnode.Register(reg, h, modules.Loader{}, wasmnode.Standard); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	registerTestNodes(reg)
	reg.SetRemote(RemoteNodes(slog.New(slog.DiscardHandler)))
	testRegistry = reg
	code := m.Run()
	h.Close(ctx)
	os.Exit(code)
}

// registerTestNodes adds "blow" (each input frame becomes a binary frame of
// `size` bytes), "model" (passes audio through; its model_path is
// operator-only) and "hold" (keeps every frame and emits them all at the end
// of the stream), Go nodes that count their Close calls.
func registerTestNodes(reg *node.Registry) {
	audio := []frame.Kind{frame.KindAudio}
	reg.MustRegister(node.Spec{
		Type: "blow", Runtime: node.RuntimeGo, Doc: "test: big outputs",
		Params:  []node.Param{{Name: "size", Type: node.ParamInteger, Default: int64(1 << 20), Doc: "bytes per output"}},
		Inputs:  []node.Port{{Name: "in", Kinds: audio}},
		Outputs: []node.Port{{Name: "out", Kinds: []frame.Kind{frame.KindBinary}}},
		New: func(_ context.Context, cfg node.Config) (node.Node, error) {
			return &testNode{size: int(cfg.Params["size"].(int64))}, nil
		},
	})
	reg.MustRegister(node.Spec{
		Type: "model", Runtime: node.RuntimeGo, Doc: "test: an operator-only param",
		Params: []node.Param{
			{Name: "model_path", Type: node.ParamString, Default: "/models/x", Operator: true, Doc: "operator-only"},
			{Name: "level", Type: node.ParamNumber, Default: 1.0, Doc: "client-settable"},
		},
		Inputs:  []node.Port{{Name: "in", Kinds: audio}},
		Outputs: []node.Port{{Name: "out", Kinds: audio}},
		New: func(_ context.Context, cfg node.Config) (node.Node, error) {
			return &testNode{dies: cfg.StreamID == "dies"}, nil
		},
	})
	reg.MustRegister(node.Spec{
		Type: "hold", Runtime: node.RuntimeGo, Doc: "test: keeps its input until the end",
		Inputs:  []node.Port{{Name: "in", Kinds: audio}},
		Outputs: []node.Port{{Name: "out", Kinds: audio}},
		New: func(context.Context, node.Config) (node.Node, error) {
			return &testNode{hold: true}, nil
		},
	})
}

type testNode struct {
	size int
	dies bool // fails with node.ErrFatal at its third frame (its stream id is "dies")
	hold bool // keeps the frames until Flush
	held []*frame.Frame
}

func (n *testNode) Process(_ context.Context, _ int, in *frame.Frame, emit node.Emit) error {
	if n.dies && in.Seq == 2 {
		return fmt.Errorf("%w: the Python worker running it died (exit status 3)", node.ErrFatal)
	}
	if n.hold {
		n.held = append(n.held, in)
		return nil
	}
	if n.size == 0 {
		emit(0, in)
		return nil
	}
	emit(0, &frame.Frame{Header: in.Header, Kind: frame.KindBinary, Data: make([]byte, n.size)})
	return nil
}

func (n *testNode) Flush(_ context.Context, emit node.Emit) error {
	for _, f := range n.held {
		emit(0, f)
	}
	n.held = nil
	return nil
}

func (n *testNode) Close() error {
	closed.Add(1)
	return nil
}

const holdDef = `version: "1"
metadata: {name: hold}
nodes:
  - {id: h, node_type: hold}
`

const blowDef = `version: "1"
metadata: {name: blow}
nodes:
  - {id: b, node_type: blow}
`

// voiceDef takes what a browser or phone sends, 16 kHz mono s16.
const voiceDef = `version: "1"
metadata: {name: voice}
nodes:
  - {id: f32, node_type: convert}
  - {id: gain, node_type: gain, params: {gain_db: 6}}
  - {id: vad, node_type: vad, params: {gate: true}}
connections:
  - {from: f32, to: gain}
  - {from: gain, to: vad}
`

const modelDef = `version: "1"
metadata: {name: model}
nodes:
  - {id: m, node_type: model}
`

// newTestServer serves the bundled examples and the test definitions.
func newTestServer(t testing.TB, cfg Config) (*Server, *httptest.Server) {
	t.Helper()
	ex, err := LoadFS(examples.FS, testRegistry)
	if err != nil && !strings.Contains(err.Error(), "transcribe.yaml") { // its Python node is not registered here
		t.Fatal(err)
	}
	more, err := LoadFS(fstest.MapFS{"blow.yaml": {Data: []byte(blowDef)}, "model.yaml": {Data: []byte(modelDef)}, "voice.yaml": {Data: []byte(voiceDef)}, "hold.yaml": {Data: []byte(holdDef)}}, testRegistry)
	if err != nil {
		t.Fatal(err)
	}
	cfg.Registry = testRegistry
	cfg.Pipelines = append(ex, more...)
	s, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(s.Handler())
	t.Cleanup(func() {
		hs.CloseClientConnections()
		hs.Close()
		_ = s.Close()
	})
	return s, hs
}

// testCtx is bounded by the test's deadline, and by a minute.
func testCtx(t testing.TB) context.Context {
	deadline := time.Now().Add(time.Minute)
	if tt, ok := t.(interface{ Deadline() (time.Time, bool) }); ok {
		if d, ok := tt.Deadline(); ok && d.Before(deadline) {
			deadline = d.Add(-time.Second)
		}
	}
	ctx, cancel := context.WithDeadline(context.Background(), deadline)
	t.Cleanup(cancel)
	return ctx
}

// speechLike is seconds of 48 kHz stereo: low noise with tone bursts, so the
// VAD of speech-frontend finds speech and silence.
func speechLike(seconds float64) []float32 {
	n := int(seconds * 48000)
	out := make([]float32, 2*n)
	seed := uint32(1)
	for i := range n {
		seed = seed*1664525 + 1013904223
		noise := (float64(seed>>8)/float64(1<<24) - 0.5) * 0.002
		t := float64(i) / 48000
		v := noise
		if math.Mod(t, 1.0) >= 0.3 && math.Mod(t, 1.0) < 0.7 {
			v += 0.3 * math.Sin(2*math.Pi*300*t) * (1 + 0.5*math.Sin(2*math.Pi*3*t))
		}
		out[2*i], out[2*i+1] = float32(v), float32(v*0.8)
	}
	return out
}

// framesOf cuts samples into the 20 ms frames of stream sid, as run does.
func framesOf(t testing.TB, samples []float32, rate, channels int, sid string) []*frame.Frame {
	t.Helper()
	src, err := runner.NewPCMSource(samples, rate, channels, 20, sid)
	if err != nil {
		t.Fatal(err)
	}
	var fs []*frame.Frame
	for {
		f, err := src.Next()
		if err == io.EOF {
			return fs
		}
		if err != nil {
			t.Fatal(err)
		}
		fs = append(fs, f)
	}
}

// result is what came out of a session: audio bytes and events by port
// ("vad.out"), node errors, and the end frame.
type result struct {
	audio  map[string][]byte
	events map[string][]string // "seq ts data" per frame
	errs   []string
	end    *endBody
	// draining counts the server's notices that it is shutting down.
	draining int
}

func newResult() *result { return &result{audio: map[string][]byte{}, events: map[string][]string{}} }

func (r *result) add(port string, f *frame.Frame) {
	switch f.Kind {
	case frame.KindAudio:
		r.audio[port] = append(r.audio[port], f.Data...)
	case frame.KindControl:
	default:
		r.events[port] = append(r.events[port], fmt.Sprintf("%d %d %s", f.Seq, f.Timestamp, f.Data))
	}
}

// inProcess runs the pipeline over the frames with runner.Run.
func inProcess(t *testing.T, s *Server, name string, frames []*frame.Frame) *result {
	t.Helper()
	p := s.byName[name]
	res := newResult()
	src := &sliceSource{frames: frames}
	_, err := runner.Run(testCtx(t), &runner.Pipeline{Def: p.def, Graph: p.graph}, src, func(o sched.Output) error {
		if o.Err != nil {
			res.errs = append(res.errs, o.Err.Error())
			return nil
		}
		res.add(o.Node+"."+o.Port, o.Frame)
		return nil
	}, sched.Options{QueueSize: 16, StreamID: "ref"})
	if err != nil {
		t.Fatal(err)
	}
	return res
}

type sliceSource struct {
	frames []*frame.Frame
	i      int
}

func (s *sliceSource) Next() (*frame.Frame, error) {
	if s.i >= len(s.frames) {
		return nil, io.EOF
	}
	s.i++
	return s.frames[s.i-1], nil
}

// dial opens a live socket on path ("/v1/pipelines/NAME/ws").
func dial(t testing.TB, ctx context.Context, hs *httptest.Server, path string) *websocket.Conn {
	t.Helper()
	conn, resp, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(hs.URL, "http")+path, nil)
	if err != nil {
		status := 0
		if resp != nil {
			status = resp.StatusCode
		}
		t.Fatalf("dial %s: %v (HTTP %d)", path, err, status)
	}
	conn.SetReadLimit(64 << 20)
	t.Cleanup(func() { conn.CloseNow() })
	return conn
}

// send writes frames, perMsg of them to a message.
func send(ctx context.Context, conn *websocket.Conn, frames []*frame.Frame, perMsg int) error {
	for i := 0; i < len(frames); i += perMsg {
		var msg []byte
		for _, f := range frames[i:min(i+perMsg, len(frames))] {
			var err error
			if msg, err = frame.AppendMarshal(msg, f); err != nil {
				return err
			}
		}
		if err := conn.Write(ctx, websocket.MessageBinary, msg); err != nil {
			return err
		}
	}
	return nil
}

func eos(sid string) *frame.Frame {
	return frame.NewControl(frame.Header{StreamID: sid}, frame.EndOfStream)
}

// collect reads until every stream in sids has its end frame; the results are
// by stream id.
func collect(t testing.TB, ctx context.Context, conn *websocket.Conn, sids ...string) map[string]*result {
	t.Helper()
	return collectWith(t, ctx, conn, nil, sids...)
}

// collectWith is collect calling onDraining (when set) for each notice that
// the server is shutting down, as a client answers it with the stream's eos.
func collectWith(t testing.TB, ctx context.Context, conn *websocket.Conn, onDraining func(sid string), sids ...string) map[string]*result {
	t.Helper()
	out := map[string]*result{}
	for _, sid := range sids {
		out[sid] = newResult()
	}
	left := len(sids)
	for left > 0 {
		_, msg, err := conn.Read(ctx)
		if err != nil {
			t.Fatalf("reading outputs (%d streams not ended): %v", left, err)
		}
		for len(msg) > 0 {
			f, n, err := frame.UnmarshalPrefix(msg)
			if err != nil {
				t.Fatalf("server sent a bad frame: %v", err)
			}
			msg = msg[n:]
			res := out[f.StreamID]
			if res == nil {
				t.Fatalf("output of unknown stream %q", f.StreamID)
			}
			switch {
			case f.Meta["end"] == true:
				var end endBody
				if err := json.Unmarshal(f.Data, &end); err != nil {
					t.Fatal(err)
				}
				res.end = &end
				left--
			case f.Meta["error"] == true:
				res.errs = append(res.errs, string(f.Data))
			case f.Meta["draining"] == true:
				res.draining++
				if onDraining != nil {
					onDraining(f.StreamID)
				}
			default:
				port, _ := f.Meta["port"].(string)
				res.add(port, f)
			}
		}
	}
	return out
}

// sameOutputs fails unless got has exactly want's audio and events.
func sameOutputs(t *testing.T, what string, got, want *result) {
	t.Helper()
	if len(want.audio) == 0 || len(want.events) == 0 {
		t.Fatalf("%s: the reference run has no audio or no events: the test signal is wrong", what)
	}
	for port, b := range want.audio {
		if !bytes.Equal(got.audio[port], b) {
			t.Errorf("%s: %s: %d audio bytes, want %d identical bytes", what, port, len(got.audio[port]), len(b))
		}
	}
	for port := range got.audio {
		if want.audio[port] == nil {
			t.Errorf("%s: unexpected audio on %s", what, port)
		}
	}
	for port, evs := range want.events {
		if strings.Join(got.events[port], "\n") != strings.Join(evs, "\n") {
			t.Errorf("%s: %s events:\n%s\nwant:\n%s", what, port, strings.Join(got.events[port], "\n"), strings.Join(evs, "\n"))
		}
	}
	if len(got.errs) != len(want.errs) {
		t.Errorf("%s: errors %q, want %q", what, got.errs, want.errs)
	}
}

// closeStatus waits for the socket to be closed by the server and returns the
// close error.
func closeStatus(ctx context.Context, conn *websocket.Conn) websocket.CloseError {
	for {
		_, _, err := conn.Read(ctx)
		if err != nil {
			var ce websocket.CloseError
			if errors.As(err, &ce) {
				return ce
			}
			return websocket.CloseError{Code: -1, Reason: err.Error()}
		}
	}
}

func getJSON(t *testing.T, url string, v any) int {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode
}
