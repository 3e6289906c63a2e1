package sched

import (
	"context"
	"testing"
	"time"

	"github.com/remotemedia/hybrid/core/frame"
	"github.com/remotemedia/hybrid/core/node"
)

// TestNoSpinAtLivePace: a node fed at a live stream's pace (here a frame every
// 2 ms) parks between frames and never polls its queues first, which would burn
// CPU for nothing. (Spinning while fed fast is what BenchmarkFrontEndChain in
// target/server/cli measures.)
func TestNoSpinAtLivePace(t *testing.T) {
	sink := &fnNode{process: func(context.Context, int, *frame.Frame, node.Emit) error { return nil }}
	s, err := Start(context.Background(), &Graph{Nodes: []NodeDef{def("a", sink)}}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ctx := context.Background()
	for i := range 20 {
		time.Sleep(2 * time.Millisecond)
		if err := s.Push(ctx, text(uint64(i))); err != nil {
			t.Fatal(err)
		}
	}
	time.Sleep(2 * time.Millisecond)
	if err := s.CloseInput(ctx); err != nil {
		t.Fatal(err)
	}
	if err := s.Wait(); err != nil {
		t.Fatal(err)
	}
	if n := s.nodes[0].spins; n != 0 { // the node's goroutine has ended
		t.Errorf("fed every 2 ms, the node polled before parking %d times, want 0", n)
	}
}
