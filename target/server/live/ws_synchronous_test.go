package live

import (
	"bytes"
	"testing"
	"testing/fstest"

	"github.com/coder/websocket"

	"github.com/remotemedia/hybrid/core/frame"
	"github.com/remotemedia/hybrid/core/node"
	"github.com/remotemedia/hybrid/core/sched"
)

// TestRunsSynchronously: sessions of WASM and Go nodes run synchronously; a Python node or a
// drop_oldest edge keeps a goroutine per node.
func TestRunsSynchronously(t *testing.T) {
	ps, err := LoadFS(fstest.MapFS{"voice.yaml": {Data: []byte(voiceDef)}}, testRegistry)
	if err != nil {
		t.Fatal(err)
	}
	py := &node.Spec{Type: "py", Runtime: node.RuntimePython}
	goNode := &node.Spec{Type: "g", Runtime: node.RuntimeGo}
	tests := []struct {
		name   string
		given  *sched.Graph
		expect bool
	}{
		{"voice", ps[0].graph, true},
		{"python node", &sched.Graph{Nodes: []sched.NodeDef{{ID: "a", Spec: goNode}, {ID: "p", Spec: py}}}, false},
		{"drop_oldest edge", &sched.Graph{Nodes: []sched.NodeDef{{ID: "a", Spec: goNode}, {ID: "b", Spec: goNode}},
			Edges: []sched.Edge{{From: "a", To: "b", Policy: sched.DropOldest}}}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := runsSynchronously(tt.given); got != tt.expect {
				t.Fatalf("runsSynchronously = %v, want %v", got, tt.expect)
			}
		})
	}
}

// TestFramesDoneInPush: the reader reuses its buffer for the next message
// only for a synchronous pipeline of WASM nodes, which copy what they take; a
// Go node may keep a frame, and a pipeline that runs on goroutines takes it
// after Push. (TestLiveMatchesInProcess streams several frames a message
// through such a pipeline.)
func TestFramesDoneInPush(t *testing.T) {
	ps, err := LoadFS(fstest.MapFS{"voice.yaml": {Data: []byte(voiceDef)}, "model.yaml": {Data: []byte(modelDef)}}, testRegistry)
	if err != nil {
		t.Fatal(err)
	}
	graphs := map[string]*sched.Graph{}
	for _, p := range ps {
		graphs[p.Name] = p.graph
	}
	dropOldest := *graphs["voice"]
	dropOldest.Edges = append([]sched.Edge(nil), dropOldest.Edges...)
	dropOldest.Edges[0].Policy = sched.DropOldest
	tests := []struct {
		name   string
		given  *sched.Graph
		expect bool
	}{
		{"WASM nodes", graphs["voice"], true},
		{"a Go node", graphs["model"], false},
		{"WASM nodes, a drop_oldest edge", &dropOldest, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := framesDoneInPush(tt.given); got != tt.expect {
				t.Fatalf("framesDoneInPush = %v, want %v", got, tt.expect)
			}
		})
	}
}

// TestFramesKeptByANode: a Go node that keeps the frames it is given (hold)
// and sends them at the end of the stream sends the bytes each message
// carried, not the bytes of a later message read into the same buffer.
func TestFramesKeptByANode(t *testing.T) {
	_, hs := newTestServer(t, Config{})
	ctx := testCtx(t)
	conn := dial(t, ctx, hs, "/v1/pipelines/hold/ws")
	var frames []*frame.Frame
	var want []byte
	for i := range 5 {
		samples := make([]int16, 320)
		for j := range samples {
			samples[j] = int16(1000*(i+1) + j)
		}
		f := frame.NewAudioS16(frame.Header{StreamID: "h", Seq: uint64(i), Timestamp: int64(i) * 20000}, 16000, 1, samples)
		frames = append(frames, f)
		want = append(want, f.Data...)
	}
	if err := send(ctx, conn, append(frames, eos("h")), 1); err != nil { // a message each
		t.Fatal(err)
	}
	got := collect(t, ctx, conn, "h")["h"]
	if got.end.Error != "" || !bytes.Equal(got.audio["h.out"], want) {
		t.Fatalf("the held frames came back as other bytes than were sent (%d bytes, %d sent; end %+v)", len(got.audio["h.out"]), len(want), got.end)
	}
}

// TestOneMessageOneWrite: the outputs of the frames one message carries (a
// frame of each of 16 sessions) leave in one message, not one write each.
func TestOneMessageOneWrite(t *testing.T) {
	_, hs := newTestServer(t, Config{})
	ctx := testCtx(t)
	conn := dial(t, ctx, hs, "/v1/pipelines/model/ws")
	const n = 16
	var frames []*frame.Frame
	for i := range n {
		frames = append(frames, frame.NewAudioS16(frame.Header{StreamID: string(rune('a' + i))}, 16000, 1, make([]int16, 320)))
	}
	if err := send(ctx, conn, frames, n); err != nil {
		t.Fatal(err)
	}
	typ, msg, err := conn.Read(ctx)
	if err != nil || typ != websocket.MessageBinary {
		t.Fatalf("read: %v, %v", typ, err)
	}
	var got []string
	for len(msg) > 0 {
		f, used, err := frame.UnmarshalPrefix(msg)
		if err != nil {
			t.Fatal(err)
		}
		msg = msg[used:]
		got = append(got, f.StreamID)
	}
	if len(got) != n {
		t.Fatalf("the first message carries the outputs of streams %v, want all %d", got, n)
	}
}
