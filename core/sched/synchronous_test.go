package sched

import (
	"context"
	"errors"
	"reflect"
	"runtime"
	"sync/atomic"
	"testing"
	"time"

	"github.com/remotemedia/hybrid/core/frame"
	"github.com/remotemedia/hybrid/core/node"
)

// TestSynchronousFrameGoesThroughInPush: synchronous, Push returns once the frame has
// gone through every node and its outputs have reached OnOutput, and the
// session runs no goroutine of its own.
func TestSynchronousFrameGoesThroughInPush(t *testing.T) {
	ctx := deadline(t)
	before := runtime.NumGoroutine()
	var got []uint64
	var ended []error
	s := start(t, &Graph{
		Nodes: []NodeDef{def("a", pass()), def("b", pass()), def("c", pass())},
		Edges: []Edge{edge("a", "b"), edge("b", "c")},
	}, Options{Synchronous: true,
		OnOutput: func(o Output) { got = append(got, o.Frame.Seq) },
		OnEnd:    func(err error) { ended = append(ended, err) }})
	for q := uint64(1); q <= 3; q++ {
		if err := s.Push(ctx, text(q)); err != nil {
			t.Fatal(err)
		}
		for _, st := range s.Stats() {
			if st.In != q || st.Out != q {
				t.Fatalf("after Push %d: stats %+v, want In = Out = %d", q, st, q)
			}
		}
		if !reflect.DeepEqual(got, seqRange(1, q)) {
			t.Fatalf("after Push %d: outputs %v", q, got)
		}
	}
	if n := runtime.NumGoroutine(); n > before {
		t.Fatalf("goroutines: %d before Start, %d while running synchronously", before, n)
	}
	if err := s.CloseInput(ctx); err != nil {
		t.Fatal(err)
	}
	if len(ended) != 1 || ended[0] != nil {
		t.Fatalf("OnEnd calls %v, want one with nil when CloseInput returns", ended)
	}
	if _, open := <-s.Outputs(); open {
		t.Fatal("Outputs carried a frame with OnOutput set")
	}
	if err := s.Wait(); err != nil {
		t.Fatal(err)
	}
}

// TestSynchronousEmittedControlJumpsQueuedData: a node that emits data and then a
// control frame in one Process call (barge-in) has the control frame handled
// downstream before that data, as in the default mode: a cancel discards the
// data queued there, a flush comes before it.
func TestSynchronousEmittedControlJumpsQueuedData(t *testing.T) {
	tests := []struct {
		name    string
		given   frame.ControlOp
		expect  []string
		dropped uint64
	}{
		{"cancel", frame.Cancel, []string{"b:cancel", "b:flush"}, 3},
		{"flush", frame.Flush, []string{"b:flush", "b:1", "b:2", "b:3", "b:flush"}, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := deadline(t)
			rec := &recorder{}
			b := newGate(rec, "b")
			close(b.release)
			a := &fnNode{process: func(_ context.Context, _ int, in *frame.Frame, emit node.Emit) error {
				for q := uint64(1); q <= 3; q++ {
					emit(0, text(q))
				}
				emit(0, frame.NewControl(frame.Header{}, tt.given))
				return nil
			}}
			s := start(t, &Graph{Nodes: []NodeDef{def("a", a), def("b", b.node())}, Edges: []Edge{edge("a", "b")}},
				Options{Synchronous: true})
			pushAll(t, s, 1)
			if err := s.CloseInput(ctx); err != nil {
				t.Fatal(err)
			}
			collect(s)
			if !reflect.DeepEqual(rec.get(), tt.expect) {
				t.Fatalf("b calls %v, want %v", rec.get(), tt.expect)
			}
			if st := stat(s, "b"); st.Dropped != tt.dropped || st.In+st.Dropped != 3 {
				t.Fatalf("b stats %+v, want Dropped %d of 3", st, tt.dropped)
			}
		})
	}
}

// TestSynchronousEnds: OnEnd is called once with what Wait returns, whichever way
// the session ends: a node's failure inside Push, Close between pushes (on the
// context's goroutine), the context given to Start.
func TestSynchronousEnds(t *testing.T) {
	failing := func() *fnNode {
		return &fnNode{process: func(context.Context, int, *frame.Frame, node.Emit) error { return errBoom }}
	}
	tests := []struct {
		name      string
		given     NodeDef
		end       func(s *Session, cancel context.CancelFunc)
		expectErr error
	}{
		{"a node fails", NodeDef{ID: "e", Spec: def("e", failing()).Spec, OnError: Fail}, func(*Session, context.CancelFunc) {}, errBoom},
		{"Close", def("a", pass()), func(s *Session, _ context.CancelFunc) { _ = s.Close() }, ErrClosed},
		{"context", def("a", pass()), func(_ *Session, cancel context.CancelFunc) { cancel() }, context.Canceled},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dl := deadline(t)
			ctx, cancel := context.WithCancel(dl)
			defer cancel()
			var closed atomic.Int32
			tt.given.Spec.New = func(context.Context, node.Config) (node.Node, error) {
				n := failing()
				if tt.expectErr != errBoom {
					n = pass()
				}
				n.closed = &closed
				return n, nil
			}
			ended := make(chan error, 2)
			s, err := Start(ctx, &Graph{Nodes: []NodeDef{tt.given}}, Options{Synchronous: true,
				OnOutput: func(Output) {}, OnEnd: func(err error) { ended <- err }})
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			if err := s.Push(dl, text(1)); err != nil {
				t.Fatal(err)
			}
			tt.end(s, cancel)
			select {
			case err := <-ended:
				if !errors.Is(err, tt.expectErr) {
					t.Fatalf("OnEnd(%v), want %v", err, tt.expectErr)
				}
			case <-dl.Done():
				t.Fatal("OnEnd was not called")
			}
			if err := s.Wait(); !errors.Is(err, tt.expectErr) {
				t.Fatalf("Wait = %v, want %v", err, tt.expectErr)
			}
			if err := s.Push(dl, text(2)); !errors.Is(err, ErrClosed) {
				t.Fatalf("Push after the end = %v, want ErrClosed", err)
			}
			_ = s.Close()
			if len(ended) != 0 || closed.Load() != 1 {
				t.Fatalf("OnEnd called again (%d more), node closed %d times: want once each", len(ended), closed.Load())
			}
		})
	}
}

// TestSynchronousStats: synchronous, nothing blocks (Blocked is 0) and the time OnOutput
// takes is not a node's work: the test clock moves 5 µs in the node and 1 ms
// in OnOutput.
func TestSynchronousStats(t *testing.T) {
	ctx := deadline(t)
	var now atomic.Int64
	clock := func() time.Duration { return time.Duration(now.Load()) }
	worker := &fnNode{process: func(_ context.Context, _ int, in *frame.Frame, emit node.Emit) error {
		now.Add(int64(5 * time.Microsecond))
		emit(0, in)
		return nil
	}}
	s := start(t, &Graph{Nodes: []NodeDef{def("w", worker)}}, Options{Synchronous: true, clock: clock,
		OnOutput: func(Output) { now.Add(int64(time.Millisecond)) }})
	pushAll(t, s, 1, 2)
	if err := s.CloseInput(ctx); err != nil {
		t.Fatal(err)
	}
	q := func(d time.Duration) time.Duration { return time.Duration(bucketUpper(bucketOf(uint64(d)))) }
	expect := NodeStats{ID: "w", In: 2, Out: 2, P50: q(5 * time.Microsecond), P99: q(5 * time.Microsecond),
		Work: 10 * time.Microsecond}
	if st := stat(s, "w"); st != expect {
		t.Fatalf("stats\n%+v, want\n%+v", st, expect)
	}
}

func TestSynchronousOptionsErrors(t *testing.T) {
	g := &Graph{Nodes: []NodeDef{def("a", pass())}}
	_, err := Start(context.Background(), g, Options{OnOutput: func(Output) {}})
	if !errors.Is(err, ErrOptions) {
		t.Fatalf("Start with OnOutput and no Synchronous = %v, want ErrOptions", err)
	}
}
