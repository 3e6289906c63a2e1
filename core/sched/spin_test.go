package sched

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/remotemedia/hybrid/core/frame"
	"github.com/remotemedia/hybrid/core/node"
)

// TestSpinRule: a node polls before parking only after a wait shorter than
// spinAfter.
func TestSpinRule(t *testing.T) {
	tests := []struct {
		name   string
		given  time.Duration
		expect bool
	}{
		{name: "fed from a file", given: 10 * time.Microsecond, expect: true},
		{name: "just under the bound", given: spinAfter - 1, expect: true},
		{name: "at the bound", given: spinAfter, expect: false},
		{name: "live stream, a frame every 2 ms", given: 2 * time.Millisecond, expect: false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := spinNext(tt.given); got != tt.expect {
				t.Fatalf("spinNext(%v) = %v, want %v", tt.given, got, tt.expect)
			}
		})
	}
}

// TestNoSpinAtLivePace: a node whose every wait for a frame takes 2 ms (a live
// stream's pace; the session's clock says so, whatever the machine's load) parks
// between frames and never polls its queues first, which would burn CPU for
// nothing. (Spinning while fed fast is what BenchmarkFrontEndChain in
// target/server/cli measures.)
func TestNoSpinAtLivePace(t *testing.T) {
	sink := &fnNode{process: func(context.Context, int, *frame.Frame, node.Emit) error { return nil }}
	var now atomic.Int64
	livePace := func() time.Duration { return time.Duration(now.Add(int64(2 * time.Millisecond))) }
	s, err := Start(context.Background(), &Graph{Nodes: []NodeDef{def("a", sink)}}, Options{Spin: true, clock: livePace})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ctx := context.Background()
	for i := range 20 {
		if err := s.Push(ctx, text(uint64(i))); err != nil {
			t.Fatal(err)
		}
	}
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

// TestSpinIsAnOption: fed fast (the session's clock says every wait took 1 µs),
// a node polls before parking when the session allows it (Options.Spin: the CLI,
// the server) and never when it does not (a browser tab).
func TestSpinIsAnOption(t *testing.T) {
	for _, spin := range []bool{false, true} {
		processed := make(chan struct{})
		sink := &fnNode{process: func(context.Context, int, *frame.Frame, node.Emit) error {
			processed <- struct{}{}
			return nil
		}}
		var now atomic.Int64
		fast := func() time.Duration { return time.Duration(now.Add(int64(time.Microsecond))) }
		s, err := Start(context.Background(), &Graph{Nodes: []NodeDef{def("a", sink)}}, Options{Spin: spin, clock: fast})
		if err != nil {
			t.Fatal(err)
		}
		ctx := context.Background()
		for i := range 20 { // one at a time: the node waits on an empty queue each time
			if err := s.Push(ctx, text(uint64(i))); err != nil {
				t.Fatal(err)
			}
			<-processed
		}
		if err := s.CloseInput(ctx); err != nil {
			t.Fatal(err)
		}
		if err := s.Wait(); err != nil {
			t.Fatal(err)
		}
		if n := s.nodes[0].spins; (n > 0) != spin {
			t.Errorf("Spin %v: the node polled before parking %d times", spin, n)
		}
		s.Close()
	}
}
