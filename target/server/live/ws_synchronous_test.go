package live

import (
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
