package sched

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"

	"go.uber.org/goleak"

	"github.com/remotemedia/hybrid/core/frame"
	"github.com/remotemedia/hybrid/core/node"
)

func TestBackPressureBlocksPushAndBoundsQueue(t *testing.T) {
	rec := &recorder{}
	g := newGate(rec, "slow")
	slow := def("slow", g.node())
	slow.QueueSize = 4
	s := start(t, &Graph{Nodes: []NodeDef{slow}}, Options{})

	pushAll(t, s, 1)
	<-g.entered // frame 1 is inside Process
	pushAll(t, s, 2, 3, 4, 5)
	cancelled, cancel := context.WithCancel(context.Background())
	cancel()
	if err := s.Push(cancelled, text(6)); !errors.Is(err, context.Canceled) {
		t.Fatalf("Push into a full queue = %v, want it to block until ctx ends (context.Canceled)", err)
	}
	if st := stat(s, "slow"); st.QueueLen != 4 || st.In != 1 {
		t.Fatalf("stats = %+v, want QueueLen 4 and In 1", st)
	}
	close(g.release)
	go func() {
		pushAll(t, s, seqRange(6, 10)...)
		_ = s.CloseInput(context.Background())
	}()
	got := collect(s)
	if want := strs(seqRange(1, 10)); !reflect.DeepEqual(got["slow.out"], want) {
		t.Fatalf("outputs = %v, want %v", got, want)
	}
	if err := s.Wait(); err != nil {
		t.Fatal(err)
	}
}

func TestSlowOutputReaderKeepsQueuesBounded(t *testing.T) {
	forModes(t, func(t *testing.T, synchronous bool) {
		g := &Graph{
			Nodes: []NodeDef{def("a", pass()), def("b", pass()), def("c", pass())},
			Edges: []Edge{edge("a", "b"), edge("b", "c")},
		}
		const n = 300
		s := start(t, g, Options{Synchronous: synchronous, QueueSize: 2, OutputSize: 1})
		go func() {
			pushAll(t, s, seqRange(1, n)...)
			_ = s.CloseInput(context.Background())
		}()
		var got []uint64
		maxQueue := 0
		for o := range s.Outputs() {
			got = append(got, o.Frame.Seq)
			for _, st := range s.Stats() {
				maxQueue = max(maxQueue, st.QueueLen)
			}
			runtime.Gosched() // a slow reader
		}
		if !reflect.DeepEqual(got, seqRange(1, n)) {
			t.Fatalf("got %d frames, want 1..%d in order", len(got), n)
		}
		if maxQueue > 2 {
			t.Fatalf("a queue held %d frames, bound is 2", maxQueue)
		}
	})
}

func TestDropOldestCountsExactly(t *testing.T) {
	rec := &recorder{}
	forwarded := make(chan uint64, 100)
	a := &fnNode{process: func(_ context.Context, _ int, in *frame.Frame, emit node.Emit) error {
		emit(0, in)
		forwarded <- in.Seq
		return nil
	}}
	g := newGate(rec, "b")
	b := def("b", g.node())
	b.QueueSize = 4
	s := start(t, &Graph{
		Nodes: []NodeDef{def("a", a), b},
		Edges: []Edge{{From: "a", To: "b", Policy: DropOldest}},
	}, Options{})

	pushAll(t, s, 1)
	<-g.entered
	pushAll(t, s, seqRange(2, 11)...)
	for q := range forwarded {
		if q == 11 {
			break
		}
	}
	if st := stat(s, "b"); st.Dropped != 6 || st.QueueLen != 4 {
		t.Fatalf("b stats = %+v, want Dropped 6, QueueLen 4", st)
	}
	if err := s.CloseInput(context.Background()); err != nil {
		t.Fatal(err)
	}
	close(g.release)
	got := collect(s)
	if want := []string{"1", "8", "9", "10", "11"}; !reflect.DeepEqual(got["b.out"], want) {
		t.Fatalf("outputs = %v, want the first and the 4 newest: %v", got, want)
	}
	sa, sb := stat(s, "a"), stat(s, "b")
	if sa.Out != 11 || sb.In != 5 || sb.Dropped != 6 || sa.Out != sb.In+sb.Dropped {
		t.Fatalf("a.Out %d, b.In %d, b.Dropped %d: want 11 = 5 + 6", sa.Out, sb.In, sb.Dropped)
	}
}

func TestDropOldestFanInUnderLoad(t *testing.T) {
	forModes(t, func(t *testing.T, synchronous bool) {
		// Two sources feed a slow sink over leaky edges: every frame is delivered or
		// counted, the per-source order holds, and both end-of-streams get through.
		slow := &fnNode{process: func(_ context.Context, _ int, in *frame.Frame, emit node.Emit) error {
			for range 20 {
				runtime.Gosched()
			}
			emit(0, in)
			return nil
		}}
		m := def("m", slow)
		m.QueueSize = 1
		s := start(t, &Graph{
			Nodes: []NodeDef{def("s1", pass()), def("s2", pass()), m},
			Edges: []Edge{{From: "s1", To: "m", Policy: DropOldest}, {From: "s2", To: "m", Policy: DropOldest}},
		}, Options{Synchronous: synchronous})
		const n = 500
		go func() {
			pushAll(t, s, seqRange(1, n)...)
			_ = s.CloseInput(context.Background())
		}()
		var out uint64
		for o := range s.Outputs() {
			if o.Err != nil || o.Frame.Kind == frame.KindControl {
				t.Fatalf("unexpected output %+v", o)
			}
			out++
		}
		if err := s.Wait(); err != nil {
			t.Fatal(err)
		}
		st := stat(s, "m")
		if synchronous && st.Dropped != 0 {
			t.Fatalf("synchronous: m dropped %d, want 0 (no queue fills)", st.Dropped)
		}
		if st.In+st.Dropped != 2*n || st.Out != st.In || out != st.Out {
			t.Fatalf("m stats %+v, outputs %d: want In+Dropped = %d and Out = In = outputs", st, out, 2*n)
		}
	})
}

func TestEndOfStreamFlushesInOrder(t *testing.T) {
	forModes(t, func(t *testing.T, synchronous bool) {
		rec := &recorder{}
		buffering := func(name string) *fnNode {
			var buf []*frame.Frame
			return &fnNode{
				process: func(_ context.Context, _ int, in *frame.Frame, _ node.Emit) error {
					buf = append(buf, in)
					return nil
				},
				flush: func(_ context.Context, emit node.Emit) error {
					rec.add("%s", name)
					for _, f := range buf {
						emit(0, f)
					}
					buf = nil
					return nil
				},
			}
		}
		s := start(t, &Graph{
			Nodes: []NodeDef{def("c", buffering("c")), def("b", buffering("b")), def("a", buffering("a"))},
			Edges: []Edge{edge("a", "b"), edge("b", "c")},
		}, Options{Synchronous: synchronous})
		pushAll(t, s, seqRange(1, 5)...)
		if err := s.CloseInput(context.Background()); err != nil {
			t.Fatal(err)
		}
		got := collect(s)
		if want := strs(seqRange(1, 5)); !reflect.DeepEqual(got["c.out"], want) || len(got) != 1 {
			t.Fatalf("outputs = %v, want c.out %v", got, want)
		}
		if want := []string{"a", "b", "c"}; !reflect.DeepEqual(rec.get(), want) {
			t.Fatalf("flush order = %v, want %v", rec.get(), want)
		}
		if err := s.Push(context.Background(), text(9)); !errors.Is(err, ErrClosed) {
			t.Fatalf("Push after CloseInput = %v, want ErrClosed", err)
		}
	})
}

func TestRouting(t *testing.T) {
	forModes(t, func(t *testing.T, synchronous bool) {
		even := func(f *frame.Frame) (bool, error) { return f.Seq%2 == 0, nil }
		odd := func(f *frame.Frame) (bool, error) { return f.Seq%2 == 1, nil }
		split := &fnNode{process: func(_ context.Context, _ int, in *frame.Frame, emit node.Emit) error {
			emit(int(in.Seq%2), in)
			return nil
		}}
		tests := []struct {
			name     string
			given    Graph
			expect   map[string][]string
			filtered uint64 // by node "s"
		}{
			{
				name:   "fan-out",
				given:  Graph{Nodes: []NodeDef{def("s", pass()), def("x", pass()), def("y", pass())}, Edges: []Edge{edge("s", "x"), edge("s", "y")}},
				expect: map[string][]string{"x.out": {"1", "2", "3", "4"}, "y.out": {"1", "2", "3", "4"}},
			},
			{
				name: "fan-in",
				given: Graph{
					Nodes: []NodeDef{def("s", pass()), def("x", pass()), def("y", pass()), def("m", pass())},
					Edges: []Edge{edge("s", "x"), edge("s", "y"), edge("x", "m"), edge("y", "m")},
				},
				expect: map[string][]string{"m.out": {"1", "1", "2", "2", "3", "3", "4", "4"}},
			},
			{
				name: "two sources",
				given: Graph{
					Nodes: []NodeDef{def("s", pass()), def("t", pass()), def("m", pass())},
					Edges: []Edge{edge("s", "m"), edge("t", "m")},
				},
				expect: map[string][]string{"m.out": {"1", "1", "2", "2", "3", "3", "4", "4"}},
			},
			{
				name: "when",
				given: Graph{
					Nodes: []NodeDef{def("s", pass()), def("e", pass()), def("o", pass())},
					Edges: []Edge{{From: "s", To: "e", When: even}, {From: "s", To: "o", When: odd}},
				},
				expect:   map[string][]string{"e.out": {"2", "4"}, "o.out": {"1", "3"}},
				filtered: 4,
			},
			{
				name:   "named ports",
				given:  Graph{Nodes: []NodeDef{def("s", split, "even", "odd")}},
				expect: map[string][]string{"s.even": {"2", "4"}, "s.odd": {"1", "3"}},
			},
			{
				name: "unconsumed port beside a consumed one",
				given: Graph{
					Nodes: []NodeDef{def("s", split, "even", "odd"), def("x", pass())},
					Edges: []Edge{{From: "s", FromPort: 1, To: "x"}},
				},
				expect: map[string][]string{"s.even": {"2", "4"}, "x.out": {"1", "3"}},
			},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				s := start(t, &tt.given, Options{Synchronous: synchronous})
				pushAll(t, s, 1, 2, 3, 4)
				if err := s.CloseInput(context.Background()); err != nil {
					t.Fatal(err)
				}
				got := collect(s)
				for k := range got {
					got[k] = sorted(got[k])
				}
				if !reflect.DeepEqual(got, tt.expect) {
					t.Fatalf("outputs = %v, want %v", got, tt.expect)
				}
				if f := stat(s, "s").Filtered; f != tt.filtered {
					t.Fatalf("s filtered %d, want %d", f, tt.filtered)
				}
			})
		}
	})
}

func TestFanInKeepsOrderPerSource(t *testing.T) {
	forModes(t, func(t *testing.T, synchronous bool) {
		tag := func(name string) *fnNode {
			return &fnNode{process: func(_ context.Context, _ int, in *frame.Frame, emit node.Emit) error {
				emit(0, frame.NewText(in.Header, name))
				return nil
			}}
		}
		s := start(t, &Graph{
			Nodes: []NodeDef{def("s", pass()), def("x", tag("x")), def("y", tag("y")), def("m", pass())},
			Edges: []Edge{edge("s", "x"), edge("s", "y"), edge("x", "m"), edge("y", "m")},
		}, Options{Synchronous: synchronous, QueueSize: 2})
		go func() {
			pushAll(t, s, seqRange(1, 200)...)
			_ = s.CloseInput(context.Background())
		}()
		last := map[string]uint64{}
		for o := range s.Outputs() {
			src := o.Frame.Text()
			if o.Frame.Seq != last[src]+1 {
				t.Fatalf("from %s: seq %d after %d", src, o.Frame.Seq, last[src])
			}
			last[src] = o.Frame.Seq
		}
		if last["x"] != 200 || last["y"] != 200 {
			t.Fatalf("last seqs %v, want 200 from each", last)
		}
	})
}

func TestFlushJumpsTheQueue(t *testing.T) {
	rec := &recorder{}
	g := newGate(rec, "g")
	s := start(t, &Graph{Nodes: []NodeDef{def("g", g.node())}}, Options{})
	pushAll(t, s, 1)
	<-g.entered
	pushAll(t, s, 2, 3)
	if err := s.Control(context.Background(), frame.Flush); err != nil {
		t.Fatal(err)
	}
	close(g.release)
	if err := s.CloseInput(context.Background()); err != nil {
		t.Fatal(err)
	}
	got := collect(s)
	if want := []string{"g:1", "g:flush", "g:2", "g:3", "g:flush"}; !reflect.DeepEqual(rec.get(), want) {
		t.Fatalf("calls = %v, want %v", rec.get(), want)
	}
	if want := []string{"1", "ctl:flush", "2", "3"}; !reflect.DeepEqual(got["g.out"], want) {
		t.Fatalf("outputs = %v, want %v", got["g.out"], want)
	}
}

func TestCancelDiscardsQueuedData(t *testing.T) {
	rec := &recorder{}
	g := newGate(rec, "g")
	d := newGate(rec, "d")
	close(d.release)
	s := start(t, &Graph{
		Nodes: []NodeDef{def("g", g.node()), def("d", d.node())},
		Edges: []Edge{edge("g", "d")},
	}, Options{})
	pushAll(t, s, 1)
	<-g.entered
	pushAll(t, s, 2, 3, 4)
	if err := s.Control(context.Background(), frame.Cancel); err != nil {
		t.Fatal(err)
	}
	close(g.release)
	<-g.controls // the cancel has been handled
	pushAll(t, s, 5)
	if err := s.CloseInput(context.Background()); err != nil {
		t.Fatal(err)
	}
	got := collect(s)
	var gLog, dLog []string
	for _, l := range rec.get() {
		if strings.HasPrefix(l, "g:") {
			gLog = append(gLog, l)
		} else {
			dLog = append(dLog, l)
		}
	}
	if want := []string{"g:1", "g:cancel", "g:5", "g:flush"}; !reflect.DeepEqual(gLog, want) {
		t.Fatalf("g calls = %v, want %v", gLog, want)
	}
	sg, sd := stat(s, "g"), stat(s, "d")
	if sg.Dropped != 3 || sg.In != 2 || sg.Out != 2 {
		t.Fatalf("g stats %+v, want In 2, Out 2, Dropped 3", sg)
	}
	// Frame 1 may still be queued at d when the cancel overtakes it.
	if sd.In+sd.Dropped != 2 || strings.Count(strings.Join(dLog, ","), "d:cancel") != 1 {
		t.Fatalf("d stats %+v, calls %v: want In+Dropped 2 and one cancel", sd, dLog)
	}
	if n := strings.Count(strings.Join(got["d.out"], ","), "ctl:cancel"); n != 1 {
		t.Fatalf("outputs %v: want one cancel", got)
	}
}

func TestCancelReachesADiamondSinkOnce(t *testing.T) {
	forModes(t, func(t *testing.T, synchronous bool) {
		rec := &recorder{}
		m := newGate(rec, "m")
		close(m.release)
		s := start(t, &Graph{
			Nodes: []NodeDef{def("s", pass()), def("x", pass()), def("y", pass()), def("m", m.node())},
			Edges: []Edge{edge("s", "x"), edge("s", "y"), edge("x", "m"), edge("y", "m")},
		}, Options{Synchronous: synchronous})
		for range 3 {
			if err := s.Control(context.Background(), frame.Cancel); err != nil {
				t.Fatal(err)
			}
		}
		if err := s.CloseInput(context.Background()); err != nil {
			t.Fatal(err)
		}
		got := collect(s)
		if want := []string{"m:cancel", "m:cancel", "m:cancel", "m:flush"}; !reflect.DeepEqual(rec.get(), want) {
			t.Fatalf("m calls = %v, want %v", rec.get(), want)
		}
		if want := []string{"ctl:cancel", "ctl:cancel", "ctl:cancel"}; !reflect.DeepEqual(got["m.out"], want) {
			t.Fatalf("outputs = %v, want %v", got, want)
		}
	})
}

var errBoom = errors.New("boom")

func TestErrorPolicies(t *testing.T) {
	forModes(t, func(t *testing.T, synchronous bool) {
		failing := func() *fnNode {
			return &fnNode{process: func(_ context.Context, _ int, in *frame.Frame, emit node.Emit) error {
				if in.Seq%2 == 1 {
					return fmt.Errorf("seq %d: %w", in.Seq, errBoom)
				}
				emit(0, in)
				return nil
			}}
		}
		whenErr := func(f *frame.Frame) (bool, error) {
			if f.Seq == 2 {
				return false, errBoom
			}
			return true, nil
		}
		tests := []struct {
			name      string
			given     Graph
			expect    map[string][]string
			errors    map[string]uint64
			expectErr string
		}{
			{
				name:   "continue",
				given:  Graph{Nodes: []NodeDef{def("e", failing())}},
				expect: map[string][]string{"e.out": {"2", "4"}, "err": {`sched: node "e": seq 1: boom`, `sched: node "e": seq 3: boom`}},
				errors: map[string]uint64{"e": 2},
			},
			{
				name:      "fail",
				given:     Graph{Nodes: []NodeDef{{ID: "e", Spec: def("e", failing()).Spec, OnError: Fail}}},
				errors:    map[string]uint64{"e": 1},
				expectErr: `sched: node "e": seq 1: boom`,
			},
			{
				name: "when error counts against the source node",
				given: Graph{
					Nodes: []NodeDef{def("s", pass()), def("x", pass())},
					Edges: []Edge{{From: "s", To: "x", When: whenErr, WhenSource: "seq == 2?"}},
				},
				expect: map[string][]string{"x.out": {"1", "3", "4"}, "err": {`sched: node "s": edge s.0->x.0 when "seq == 2?": boom`}},
				errors: map[string]uint64{"s": 1, "x": 0},
			},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				s := start(t, &tt.given, Options{Synchronous: synchronous})
				go func() {
					for q := uint64(1); q <= 4; q++ {
						if s.Push(context.Background(), text(q)) != nil {
							return
						}
					}
					_ = s.CloseInput(context.Background())
				}()
				got := collect(s)
				err := s.Wait()
				if tt.expectErr != "" {
					if err == nil || err.Error() != tt.expectErr || !errors.Is(err, errBoom) {
						t.Fatalf("Wait = %v, want %q wrapping errBoom", err, tt.expectErr)
					}
					if err := s.Push(context.Background(), text(9)); !errors.Is(err, ErrClosed) {
						t.Fatalf("Push after failure = %v, want ErrClosed", err)
					}
				} else {
					if err != nil {
						t.Fatalf("Wait = %v", err)
					}
					if !reflect.DeepEqual(got, tt.expect) {
						t.Fatalf("outputs = %v, want %v", got, tt.expect)
					}
				}
				for id, n := range tt.errors {
					if e := stat(s, id).Errors; e != n {
						t.Fatalf("node %s errors %d, want %d", id, e, n)
					}
				}
			})
		}
	})
}

func TestContextCancelStopsEverything(t *testing.T) {
	forModes(t, func(t *testing.T, synchronous bool) {
		tests := []struct {
			name  string
			given func(closed *atomic.Int32) Graph
		}{
			{
				name: "node blocked in Process",
				given: func(closed *atomic.Int32) Graph {
					stuck := &fnNode{closed: closed, process: func(ctx context.Context, _ int, _ *frame.Frame, _ node.Emit) error {
						<-ctx.Done()
						return ctx.Err()
					}}
					return Graph{
						Nodes: []NodeDef{def("s", &fnNode{closed: closed}), def("stuck", stuck), def("x", &fnNode{closed: closed})},
						Edges: []Edge{edge("s", "stuck"), edge("stuck", "x")},
					}
				},
			},
			{
				name: "nobody reads Outputs",
				given: func(closed *atomic.Int32) Graph {
					return Graph{
						Nodes: []NodeDef{def("s", &fnNode{closed: closed}), def("x", &fnNode{closed: closed}), def("y", &fnNode{closed: closed})},
						Edges: []Edge{edge("s", "x"), edge("x", "y")},
					}
				},
			},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				running := goleak.IgnoreCurrent()
				var closed atomic.Int32
				g := tt.given(&closed)
				ctx, cancel := context.WithCancel(context.Background())
				s, err := Start(ctx, &g, Options{Synchronous: synchronous, QueueSize: 2, OutputSize: 2})
				if err != nil {
					t.Fatal(err)
				}
				pushed := make(chan error, 1)
				go func() {
					for q := uint64(1); ; q++ {
						if err := s.Push(context.Background(), text(q)); err != nil {
							pushed <- err
							return
						}
					}
				}()
				busy := uint64(2)
				if synchronous && tt.name == "node blocked in Process" {
					busy = 1 // the first frame holds the pusher inside "stuck"
				}
				for stat(s, "s").Out < busy { // the pipeline is busy and Push blocked soon
					runtime.Gosched()
				}
				cancel()
				if err := s.Wait(); !errors.Is(err, context.Canceled) {
					t.Fatalf("Wait = %v, want context.Canceled", err)
				}
				if err := <-pushed; !errors.Is(err, ErrClosed) {
					t.Fatalf("blocked Push returned %v, want ErrClosed", err)
				}
				if n := closed.Load(); n != 3 {
					t.Fatalf("%d nodes closed, want 3", n)
				}
				if err := s.Close(); err != nil {
					t.Fatal(err)
				}
				goleak.VerifyNone(t, running) // every node goroutine, and the pusher, has ended
			})
		}
	})
}

func TestCloseStopsARunningSession(t *testing.T) {
	forModes(t, func(t *testing.T, synchronous bool) {
		s := start(t, &Graph{Nodes: []NodeDef{def("a", pass())}}, Options{Synchronous: synchronous})
		pushAll(t, s, 1)
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
		if err := s.Close(); err != nil {
			t.Fatal("second Close:", err)
		}
		if err := s.Wait(); !errors.Is(err, ErrClosed) {
			t.Fatalf("Wait after Close = %v, want ErrClosed", err)
		}
		if err := s.Control(context.Background(), frame.Flush); !errors.Is(err, ErrClosed) {
			t.Fatalf("Control after Close = %v, want ErrClosed", err)
		}
	})
}

func TestStatsCountExactly(t *testing.T) {
	forModes(t, func(t *testing.T, synchronous bool) {
		s := start(t, &Graph{
			Nodes: []NodeDef{def("a", pass()), def("b", pass()), def("c", pass())},
			Edges: []Edge{edge("a", "b"), edge("b", "c")},
		}, Options{Synchronous: synchronous})
		const n = 100
		go func() {
			pushAll(t, s, seqRange(1, n)...)
			_ = s.CloseInput(context.Background())
		}()
		if got := collect(s); len(got["c.out"]) != n {
			t.Fatalf("got %d outputs, want %d", len(got["c.out"]), n)
		}
		for _, st := range s.Stats() {
			if st.In != n || st.Out != n || st.Dropped != 0 || st.Errors != 0 || st.QueueLen != 0 {
				t.Fatalf("stats %+v, want In = Out = %d and nothing else", st, n)
			}
			if st.P99 <= 0 || st.P50 > st.P99 {
				t.Fatalf("stats %+v: want 0 < P50 <= P99", st)
			}
		}
	})
}

func TestStartErrors(t *testing.T) {
	var closed atomic.Int32
	bad := def("b", nil)
	bad.Spec.New = func(context.Context, node.Config) (node.Node, error) { return nil, errBoom }
	tests := []struct {
		name      string
		given     Graph
		expectErr string
		closed    int32
	}{
		{"New error closes built nodes", Graph{Nodes: []NodeDef{def("a", &fnNode{closed: &closed}), bad}}, `sched: node "b": boom`, 1},
		{"unknown node", Graph{Nodes: []NodeDef{def("a", pass())}, Edges: []Edge{edge("a", "zz")}}, `sched: invalid graph: edges[0]: unknown node "zz"`, 0},
		{"output port", Graph{Nodes: []NodeDef{def("a", pass()), def("b", pass())}, Edges: []Edge{{From: "a", FromPort: 1, To: "b"}}}, `sched: invalid graph: edges[0]: node "a" has no output port 1`, 0},
		{"duplicate", Graph{Nodes: []NodeDef{def("a", pass()), def("a", pass())}}, `sched: invalid graph: node "a": duplicate id`, 0},
		{"cycle", Graph{Nodes: []NodeDef{def("s", pass()), def("a", pass()), def("b", pass())}, Edges: []Edge{edge("s", "a"), edge("a", "b"), edge("b", "a")}}, `sched: invalid graph: the edges form a cycle`, 0},
		{"no spec", Graph{Nodes: []NodeDef{{ID: "a"}}}, `sched: invalid graph: node "a": no spec or no Spec.New`, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			closed.Store(0)
			_, err := Start(context.Background(), &tt.given, Options{})
			if err == nil || err.Error() != tt.expectErr {
				t.Fatalf("Start = %v, want %q", err, tt.expectErr)
			}
			if closed.Load() != tt.closed {
				t.Fatalf("%d nodes closed, want %d", closed.Load(), tt.closed)
			}
		})
	}
}

func TestControlErrors(t *testing.T) {
	forModes(t, func(t *testing.T, synchronous bool) {
		s := start(t, &Graph{Nodes: []NodeDef{def("a", pass())}}, Options{Synchronous: synchronous})
		if err := s.Control(context.Background(), frame.ControlOp(9)); !errors.Is(err, ErrControl) {
			t.Fatalf("Control(9) = %v, want ErrControl", err)
		}
		if err := s.Push(context.Background(), nil); err == nil {
			t.Fatal("Push(nil) succeeded")
		}
		if err := s.Push(context.Background(), frame.NewControl(frame.Header{}, frame.EndOfStream)); err != nil {
			t.Fatal(err)
		}
		if err := s.CloseInput(context.Background()); !errors.Is(err, ErrClosed) {
			t.Fatalf("second CloseInput = %v, want ErrClosed", err)
		}
		collect(s)
		if err := s.Wait(); err != nil {
			t.Fatal(err)
		}
	})
}

func TestEmitOnUnknownPortIsANodeError(t *testing.T) {
	forModes(t, func(t *testing.T, synchronous bool) {
		bad := &fnNode{process: func(_ context.Context, _ int, in *frame.Frame, emit node.Emit) error {
			emit(3, in)
			return nil
		}}
		s := start(t, &Graph{Nodes: []NodeDef{def("a", bad)}}, Options{Synchronous: synchronous})
		pushAll(t, s, 1)
		_ = s.CloseInput(context.Background())
		got := collect(s)
		if len(got["err"]) != 1 || !strings.Contains(got["err"][0], `sched: node "a": sched: emit on an unknown output port: port 3`) {
			t.Fatalf("outputs = %v", got)
		}
	})
}
