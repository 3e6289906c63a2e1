package sched

import (
	"context"
	"reflect"
	"testing"
	"time"

	"github.com/remotemedia/hybrid/core/frame"
	"github.com/remotemedia/hybrid/core/node"
)

// A cancel a node emits (barge-in) discards the frames queued downstream
// before it, not those the node emits after it: a busy node that takes the
// cancel late still gets the next utterance.
func TestEmittedCancelKeepsLaterData(t *testing.T) {
	rec := &recorder{}
	g := newGate(rec, "g")
	emitted := make(chan struct{})
	src := &fnNode{process: func(_ context.Context, _ int, in *frame.Frame, emit node.Emit) error {
		if in.Seq == 3 { // the user barges in: cancel what is queued, then the new turn
			emit(0, frame.NewControl(frame.Header{}, frame.Cancel))
			emit(0, in)
			close(emitted)
			return nil
		}
		emit(0, in)
		return nil
	}}
	s := start(t, &Graph{
		Nodes: []NodeDef{def("src", src), def("g", g.node())},
		Edges: []Edge{edge("src", "g")},
	}, Options{})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	pushAll(t, s, 1)
	select {
	case <-g.entered: // g is busy with frame 1
	case <-ctx.Done():
		t.Fatal("g never got frame 1")
	}
	pushAll(t, s, 2, 3) // 2 queues at g, then the cancel, then 3
	select {
	case <-emitted:
	case <-ctx.Done():
		t.Fatal("src never emitted its cancel")
	}
	close(g.release)
	if err := s.CloseInput(ctx); err != nil {
		t.Fatal(err)
	}
	got := collect(s)
	if want := []string{"1", "ctl:cancel", "3"}; !reflect.DeepEqual(got["g.out"], want) {
		t.Errorf("g.out = %v, want %v: frame 2 discarded, frame 3 (after the cancel) kept", got["g.out"], want)
	}
	if st := stat(s, "g"); st.Dropped != 1 || st.In != 2 {
		t.Errorf("g stats %+v, want In 2 (frames 1 and 3), Dropped 1 (frame 2)", st)
	}
}
