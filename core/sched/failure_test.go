package sched

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"sync/atomic"
	"testing"
	"time"

	"github.com/remotemedia/hybrid/core/frame"
	"github.com/remotemedia/hybrid/core/node"
)

// deadline returns a context that ends before the test's own deadline, so that
// a test that would hang fails instead.
func deadline(t *testing.T) context.Context {
	t.Helper()
	d := 30 * time.Second
	if td, ok := t.Deadline(); ok && time.Until(td) < d+time.Second {
		d = time.Until(td) - time.Second
	}
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

// TestInputClosedAfterFailure: once a session has failed, Push and CloseInput
// return ErrClosed every time; none of them queues a frame on a dead node.
// (They used to pick at random between the input lock and the session's end.)
func TestInputClosedAfterFailure(t *testing.T) {
	forModes(t, func(t *testing.T, synchronous bool) {
		ctx := deadline(t)
		failing := &fnNode{process: func(context.Context, int, *frame.Frame, node.Emit) error { return errBoom }}
		for i := range 300 {
			s, err := Start(ctx, &Graph{Nodes: []NodeDef{{ID: "e", Spec: def("e", failing).Spec, OnError: Fail}}}, Options{Synchronous: synchronous})
			if err != nil {
				t.Fatal(err)
			}
			if err := s.Push(ctx, text(1)); err != nil {
				t.Fatalf("iteration %d: first Push: %v", i, err)
			}
			if err := s.Wait(); !errors.Is(err, errBoom) {
				t.Fatalf("iteration %d: Wait = %v, want boom", i, err)
			}
			if err := s.Push(ctx, text(2)); !errors.Is(err, ErrClosed) {
				t.Fatalf("iteration %d: Push after the failure = %v, want ErrClosed", i, err)
			}
			if err := s.CloseInput(ctx); !errors.Is(err, ErrClosed) {
				t.Fatalf("iteration %d: CloseInput after the failure = %v, want ErrClosed", i, err)
			}
			_ = s.Close()
		}
	})
}

// TestErrorsNameTheFrame: a node error carries the seq and timestamp of the frame
// it happened on, under both policies; a When error names the output frame.
func TestErrorsNameTheFrame(t *testing.T) {
	forModes(t, func(t *testing.T, synchronous bool) {
		failOn3 := func() *fnNode {
			return &fnNode{process: func(_ context.Context, _ int, in *frame.Frame, emit node.Emit) error {
				if in.Seq == 3 {
					return errBoom
				}
				emit(0, in)
				return nil
			}}
		}
		whenErr := func(f *frame.Frame) (bool, error) {
			if f.Seq == 3 {
				return false, errBoom
			}
			return true, nil
		}
		tests := []struct {
			name   string
			given  Graph
			expect NodeError
		}{
			{name: "continue", given: Graph{Nodes: []NodeDef{def("e", failOn3())}}, expect: NodeError{Node: "e", Frame: true, Seq: 3, Timestamp: 60_000}},
			{name: "fail", given: Graph{Nodes: []NodeDef{{ID: "e", Spec: def("e", failOn3()).Spec, OnError: Fail}}}, expect: NodeError{Node: "e", Frame: true, Seq: 3, Timestamp: 60_000}},
			{name: "when", given: Graph{
				Nodes: []NodeDef{def("s", pass()), def("x", pass())},
				Edges: []Edge{{From: "s", To: "x", When: whenErr, WhenSource: "seq == 3?"}},
			}, expect: NodeError{Node: "s", Frame: true, Seq: 3, Timestamp: 60_000}},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				ctx := deadline(t)
				s := start(t, &tt.given, Options{Synchronous: synchronous})
				go func() {
					for q := uint64(1); q <= 4; q++ {
						f := frame.NewText(frame.Header{Seq: q, Timestamp: int64(q) * 20_000}, "x")
						if s.Push(ctx, f) != nil {
							return
						}
					}
					_ = s.CloseInput(ctx)
				}()
				var errs []error
				for o := range s.Outputs() {
					if o.Err != nil {
						errs = append(errs, o.Err)
					}
				}
				if err := s.Wait(); err != nil {
					errs = append(errs, err)
				}
				if len(errs) != 1 {
					t.Fatalf("errors %v, want one", errs)
				}
				var ne *NodeError
				if !errors.As(errs[0], &ne) || !errors.Is(errs[0], errBoom) {
					t.Fatalf("error %v (%T) is not a *NodeError wrapping boom", errs[0], errs[0])
				}
				got := *ne
				got.Err = nil
				if got != tt.expect {
					t.Fatalf("error %+v, want %+v", got, tt.expect)
				}
			})
		}
	})
}

// TestFatalErrorFailsWhateverThePolicy: an error wrapping node.ErrFatal ends the
// session at once under the continue policy too; the frames after it are not
// given to the node.
func TestFatalErrorFailsWhateverThePolicy(t *testing.T) {
	forModes(t, func(t *testing.T, synchronous bool) {
		ctx := deadline(t)
		var calls atomic.Int32
		dead := &fnNode{process: func(_ context.Context, _ int, in *frame.Frame, emit node.Emit) error {
			calls.Add(1)
			if in.Seq >= 2 {
				return fmt.Errorf("worker exited: %w", node.ErrFatal)
			}
			emit(0, in)
			return nil
		}}
		s := start(t, &Graph{Nodes: []NodeDef{def("py", dead)}}, Options{Synchronous: synchronous}) // continue policy
		go func() {
			for q := uint64(1); q <= 10; q++ {
				if s.Push(ctx, text(q)) != nil {
					return
				}
			}
			_ = s.CloseInput(ctx)
		}()
		got := collect(s)
		err := s.Wait()
		if !errors.Is(err, node.ErrFatal) || err.Error() != `sched: node "py": worker exited: node: cannot continue` {
			t.Fatalf("Wait = %v, want the fatal error", err)
		}
		if len(got["err"]) != 0 || len(got["py.out"]) != 1 {
			t.Fatalf("outputs %v, want frame 1 and no error output", got)
		}
		if n := calls.Load(); n != 2 {
			t.Fatalf("Process called %d times, want 2 (nothing after the fatal error)", n)
		}
		if st := stat(s, "py"); st.Errors != 1 {
			t.Fatalf("errors %d, want 1", st.Errors)
		}
	})
}

// TestStatsSplitWorkAndBlocked: time a node's emit waits for room downstream is
// reported as blocked time, not as the node's work time. The session's clock is
// a test clock: the node works 5 µs per frame, and the clock moves 1 ms while
// its emit of frame 2 waits on a full Outputs channel.
func TestStatsSplitWorkAndBlocked(t *testing.T) {
	ctx := deadline(t)
	var now atomic.Int64
	var armed atomic.Bool
	blocking := make(chan struct{}, 1)
	clock := func() time.Duration {
		v := time.Duration(now.Load())
		if armed.CompareAndSwap(true, false) {
			blocking <- struct{}{} // the first read after frame 2's emit began: it is about to wait
		}
		return v
	}
	worker := &fnNode{process: func(_ context.Context, _ int, in *frame.Frame, emit node.Emit) error {
		now.Add(int64(5 * time.Microsecond))
		if in.Seq == 2 {
			armed.Store(true)
		}
		emit(0, in)
		return nil
	}}
	s := start(t, &Graph{Nodes: []NodeDef{def("w", worker)}}, Options{OutputSize: 1, clock: clock})
	pushAll(t, s, 1, 2)
	select {
	case <-blocking:
	case <-ctx.Done():
		t.Fatal("the node never blocked on the full Outputs channel")
	}
	now.Add(int64(time.Millisecond))
	if err := s.CloseInput(ctx); err != nil {
		t.Fatal(err)
	}
	if got := collect(s); len(got["w.out"]) != 2 {
		t.Fatalf("outputs %v, want 2", got)
	}
	if err := s.Wait(); err != nil {
		t.Fatal(err)
	}
	q := func(d time.Duration) time.Duration { return time.Duration(bucketUpper(bucketOf(uint64(d)))) }
	st := stat(s, "w")
	st.WaitP50, st.WaitP99, st.Wait = 0, 0, 0 // frame 2's wait depends on when the push ran: TestStatsQueueWait
	expect := NodeStats{ID: "w", In: 2, Out: 2,
		P50: q(5 * time.Microsecond), P99: q(5 * time.Microsecond),
		BlockedP50: 0, BlockedP99: q(time.Millisecond),
		Work: 10 * time.Microsecond, Blocked: time.Millisecond}
	if st != expect {
		t.Fatalf("stats\n%+v, want\n%+v", st, expect)
	}
}

// TestStatsQueueWait: the time a data frame sits in a node's input queue
// before Process takes it is the node's wait. The session's clock is a test
// clock: frame 2 reaches b's queue at 0 while b works on frame 1, and the
// clock moves 3 ms before b takes it.
func TestStatsQueueWait(t *testing.T) {
	ctx := deadline(t)
	var now atomic.Int64
	clock := func() time.Duration { return time.Duration(now.Load()) }
	gate := make(chan struct{})
	entered := make(chan struct{}, 2)
	b := &fnNode{process: func(ctx context.Context, _ int, in *frame.Frame, emit node.Emit) error {
		entered <- struct{}{}
		select {
		case <-gate:
		case <-ctx.Done():
			return ctx.Err()
		}
		emit(0, in)
		return nil
	}}
	s := start(t, &Graph{Nodes: []NodeDef{def("a", tagNode("a")), def("b", b)}, Edges: []Edge{{From: "a", To: "b"}}},
		Options{clock: clock})
	pushAll(t, s, 1, 2)
	select { // b holds frame 1 (a queue length of 1 alone could be frame 1 not yet taken)
	case <-entered:
	case <-ctx.Done():
		t.Fatal("b never took frame 1")
	}
	for stat(s, "b").QueueLen != 1 { // and frame 2 waits in its queue
		if ctx.Err() != nil {
			t.Fatal("frame 2 never reached b's queue")
		}
		runtime.Gosched()
	}
	now.Add(int64(3 * time.Millisecond))
	gate <- struct{}{}
	gate <- struct{}{}
	if err := s.CloseInput(ctx); err != nil {
		t.Fatal(err)
	}
	if got := collect(s); len(got["b.out"]) != 2 {
		t.Fatalf("outputs %v, want 2", got)
	}
	if err := s.Wait(); err != nil {
		t.Fatal(err)
	}
	q := func(d time.Duration) time.Duration { return time.Duration(bucketUpper(bucketOf(uint64(d)))) }
	if st := stat(s, "b"); st.Wait != 3*time.Millisecond || st.WaitP50 != 0 || st.WaitP99 != q(3*time.Millisecond) {
		t.Errorf("b: wait %v, p50 %v, p99 %v; want 3ms in all, 0 and %v", st.Wait, st.WaitP50, st.WaitP99, q(3*time.Millisecond))
	}
	if st := stat(s, "a"); st.Wait != 0 {
		t.Errorf("a waited %v, want 0: the clock did not move while its frames were queued", st.Wait)
	}
}
