package client

import (
	"context"
	"errors"
	"fmt"
	"io"
	"testing"

	"github.com/remotemedia/hybrid/core/def"
	"github.com/remotemedia/hybrid/core/frame"
	"github.com/remotemedia/hybrid/core/node"
	"github.com/remotemedia/hybrid/core/runner"
	"github.com/remotemedia/hybrid/core/sched"
)

// returnNode is the local node after the return: it reports each frame's seq
// on got, after waiting for gate while gate is open (a slow tab).
type returnNode struct {
	gate <-chan struct{}
	got  chan<- uint64
}

func (n *returnNode) Process(ctx context.Context, _ int, f *frame.Frame, _ node.Emit) error {
	select {
	case <-n.gate:
	case <-ctx.Done():
		return context.Cause(ctx)
	}
	select {
	case n.got <- f.Seq:
		return nil
	case <-ctx.Done():
		return context.Cause(ctx)
	}
}

func (n *returnNode) Flush(context.Context, node.Emit) error { return nil }
func (n *returnNode) Close() error                           { return nil }

// idleNode is x, which gets no input in these tests.
type idleNode struct{}

func (idleNode) Process(context.Context, int, *frame.Frame, node.Emit) error { return nil }
func (idleNode) Flush(context.Context, node.Emit) error                      { return nil }
func (idleNode) Close() error                                                { return nil }

// returnSplit is x (here) -> y (server) -> z (here, n) with y.events an
// output of the pipeline, started against conn as the server with the given
// return queue bound.
func returnSplit(ctx context.Context, t *testing.T, conn *fakeConn, z *returnNode, bound int) *SplitSession {
	t.Helper()
	c := &Client{BaseURL: "http://server", Dial: func(context.Context, string, string) (Conn, error) { return conn, nil }}
	sp, err := c.NewSplit(returnPipeline(t, z, "  - {from: y.out, to: z}\n"), SplitOptions{Pipeline: "p", QueueSize: 2, ReturnQueue: bound})
	if err != nil {
		t.Fatal(err)
	}
	if got := fmt.Sprint(sp.Sched().Return); got != "[y.out]" {
		t.Fatalf("returns %s, want [y.out]", got)
	}
	s, err := sp.Start(ctx)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// returnPipeline is x (idle, here) -> y (server) with the connections from
// y given; z is the slow node, and w an idle one.
func returnPipeline(t *testing.T, z *returnNode, fromY string) *runner.Pipeline {
	t.Helper()
	reg := node.NewRegistry()
	reg.MustRegister(node.Spec{Type: "pass", Runtime: node.RuntimeGo, Doc: "test",
		Inputs: []node.Port{{Name: "in"}}, Outputs: []node.Port{{Name: "out"}, {Name: "events"}},
		New: func(context.Context, node.Config) (node.Node, error) { return nil, errors.New("not made here") }})
	reg.MustRegister(node.Spec{Type: "idle", Runtime: node.RuntimeGo, Doc: "test",
		Inputs: []node.Port{{Name: "in"}}, Outputs: []node.Port{{Name: "out"}},
		New: func(context.Context, node.Config) (node.Node, error) { return idleNode{}, nil }})
	reg.MustRegister(node.Spec{Type: "slow", Runtime: node.RuntimeGo, Doc: "test",
		Inputs: []node.Port{{Name: "in"}}, Outputs: []node.Port{{Name: "out"}},
		New: func(context.Context, node.Config) (node.Node, error) { return z, nil }})
	d, err := def.Parse([]byte("version: \"1\"\nnodes:\n  - {id: x, node_type: idle}\n  - {id: y, node_type: pass, runtime_hint: server}\n" +
		"  - {id: z, node_type: slow}\n  - {id: w, node_type: idle}\nconnections:\n  - {from: x, to: y}\n" + fromY))
	if err != nil {
		t.Fatal(err)
	}
	g, err := def.Build(d, reg)
	if err != nil {
		t.Fatal(err)
	}
	return &runner.Pipeline{Def: d, Graph: g}
}

// TestSplitReturnConsumers: a return's drops count for each local node the
// server's output feeds, once per connection.
func TestSplitReturnConsumers(t *testing.T) {
	p := returnPipeline(t, &returnNode{}, "  - {from: y.out, to: z}\n  - {from: y.events, to: w}\n  - {from: y.out, to: w}\n  - {from: x, to: w}\n")
	sp, err := (&Client{}).NewSplit(p, SplitOptions{Pipeline: "p"})
	if err != nil {
		t.Fatal(err)
	}
	for addr, want := range map[string]string{"y.out": "[z w]", "y.events": "[w]", "x.out": "[]"} {
		if got := fmt.Sprint(sp.returnConsumers(addr)); got != want {
			t.Errorf("%s feeds %s, want %s", addr, got, want)
		}
	}
	if sp.opts.ReturnQueue != DefaultReturnQueue {
		t.Errorf("ReturnQueue %d, want the default %d", sp.opts.ReturnQueue, DefaultReturnQueue)
	}
}

// serveReturns plays the server: it sends n frames of y.out (seq 0..n-1) in
// messages of batch frames, calling between(i) before the message that
// starts with frame i, then a y.events marker; it answers the client's end
// of input with its end frame.
func serveReturns(ctx context.Context, t *testing.T, conn *fakeConn, n, batch int, between func(i int)) {
	t.Helper()
	for i := 0; i < n; i += batch {
		if between != nil {
			between(i)
		}
		var fs []*frame.Frame
		for j := i; j < min(i+batch, n); j++ {
			fs = append(fs, frame.NewText(frame.Header{StreamID: "run", Seq: uint64(j), Meta: map[string]any{"port": "y.out"}}, "r"))
		}
		conn.toClient <- message(t, fs...)
	}
	conn.toClient <- message(t, frame.NewText(frame.Header{StreamID: "run", Seq: uint64(n), Meta: map[string]any{"port": "y.events"}}, "marker"))
	end := message(t, jsonFrame("run", map[string]any{"end": true}, End{Stats: []NodeStats{{ID: "y", Out: uint64(n)}}}))
	go func() {
		for {
			select {
			case m := <-conn.written:
				for _, f := range frames(t, m) {
					if f.IsControl(frame.EndOfStream) {
						conn.toClient <- end
						return
					}
				}
			case <-ctx.Done():
				return
			}
		}
	}()
}

// waitMarker reads s's outputs up to y.events' marker: every frame sent before
// it has been read from the socket.
func waitMarker(ctx context.Context, t *testing.T, s *SplitSession) {
	t.Helper()
	for {
		select {
		case o := <-s.Outputs():
			if o.Err != nil {
				t.Fatalf("output error %v", o.Err)
			}
			if o.Node == "y" && o.Port == "events" {
				return
			}
		case <-ctx.Done():
			t.Fatal("the marker never came out")
		}
	}
}

// finish ends s's input, collects the seqs z gets until s ends, and returns
// them with y's and z's stats.
func finish(ctx context.Context, t *testing.T, s *SplitSession, got <-chan uint64) (seqs []uint64, y, z sched.NodeStats) {
	t.Helper()
	if err := s.CloseInput(ctx); err != nil {
		t.Fatal(err)
	}
	outs := s.Outputs()
	for outs != nil {
		select {
		case seq := <-got:
			seqs = append(seqs, seq)
		case o, ok := <-outs:
			if !ok {
				outs = nil
			} else if o.Err != nil {
				t.Fatalf("output error %v", o.Err)
			}
		case <-ctx.Done():
			t.Fatal("the split session never ended")
		}
	}
	if err := s.Wait(); err != nil {
		t.Fatal(err)
	}
	for len(got) > 0 { // z's last sends before its end
		seqs = append(seqs, <-got)
	}
	for _, st := range s.Stats() {
		switch st.ID {
		case "y":
			y = st
		case "z":
			z = st
		}
	}
	return seqs, y, z
}

// TestSplitReturnQueueDropsOldest: the local node after the return is
// blocked while the server sends 200 frames back; the queue holds no more
// than the bound, the oldest frames are discarded, and z's Dropped counts them:
// what y sent = what z got + what was dropped, z getting the newest.
func TestSplitReturnQueueDropsOldest(t *testing.T) {
	const n, bound = 200, 8
	ctx := testCtx(t)
	conn := newFakeConn()
	gate, got := make(chan struct{}), make(chan uint64, n)
	s := returnSplit(ctx, t, conn, &returnNode{gate: gate, got: got}, bound)
	serveReturns(ctx, t, conn, n, 10, nil)
	waitMarker(ctx, t, s)

	s.mu.Lock()
	queued, dropped := s.queue.n, s.dropped["y.out"]
	s.mu.Unlock()
	if queued > bound {
		t.Fatalf("%d frames queued while z is blocked, want at most the bound %d", queued, bound)
	}
	var mid sched.NodeStats
	for _, st := range s.Stats() {
		if st.ID == "z" {
			mid = st
		}
	}
	// The frames neither queued nor dropped are in flight: in the front
	// session (3 nodes, each with a queue of 2 and one frame in hand) or the
	// one being pushed.
	inFlight := n - int(dropped) - queued
	if mid.Dropped != dropped || inFlight < 0 || inFlight > 1+3*(2+1) {
		t.Fatalf("while z is blocked: z stats %+v, %d dropped, %d queued, so %d in flight; want Dropped = dropped and at most 10 in flight", mid, dropped, queued, inFlight)
	}
	t.Logf("while z is blocked: %d queued, %d dropped, %d in flight", queued, dropped, inFlight)

	close(gate)
	seqs, y, z := finish(ctx, t, s, got)
	if y.Out != n || z.In != uint64(len(seqs)) || z.Dropped != dropped {
		t.Fatalf("y.Out %d, z.In %d (got %d), z.Dropped %d; want y.Out %d, z.In = got, Dropped %d (no more once the reader ended)", y.Out, z.In, len(seqs), z.Dropped, n, dropped)
	}
	if y.Out != z.In+z.Dropped {
		t.Fatalf("y sent %d, z got %d and %d were dropped: want sent = got + dropped", y.Out, z.In, z.Dropped)
	}
	for i := 1; i < len(seqs); i++ {
		if seqs[i] <= seqs[i-1] {
			t.Fatalf("z got seq %d after %d", seqs[i], seqs[i-1])
		}
	}
	if len(seqs) < bound || seqs[len(seqs)-bound] != n-bound {
		t.Fatalf("z got %v, want the newest %d frames last (from seq %d)", seqs, bound, n-bound)
	}
}

// TestSplitReturnQueueKeepsUp: the server sends 4 bursts of exactly the bound
// while the local part takes each burst before the next: every frame arrives,
// in order, and nothing is dropped.
func TestSplitReturnQueueKeepsUp(t *testing.T) {
	const n, bound = 64, 16
	ctx := testCtx(t)
	conn := newFakeConn()
	got := make(chan uint64, n)
	gate := make(chan struct{})
	close(gate)
	s := returnSplit(ctx, t, conn, &returnNode{gate: gate, got: got}, bound)
	var seqs []uint64
	serveReturns(ctx, t, conn, n, bound, func(i int) {
		for len(seqs) < i {
			select {
			case seq := <-got:
				seqs = append(seqs, seq)
			case <-ctx.Done():
				t.Fatalf("z got %d frames, want %d", len(seqs), i)
			}
		}
	})
	waitMarker(ctx, t, s)
	rest, y, z := finish(ctx, t, s, got)
	seqs = append(seqs, rest...)
	if len(seqs) != n || y.Out != n || z.In != n || z.Dropped != 0 {
		t.Fatalf("z got %d frames (In %d, Dropped %d) of y's %d, want all %d and none dropped", len(seqs), z.In, z.Dropped, y.Out, n)
	}
	for i, seq := range seqs {
		if seq != uint64(i) {
			t.Fatalf("z's frame %d has seq %d, want them in order", i, seq)
		}
	}
}

func TestFrameRingKeepsOrderAcrossGrowth(t *testing.T) {
	var q frameRing
	var want []uint64
	next := uint64(0)
	for round := 0; round < 5; round++ {
		for range 12 {
			q.push(&frame.Frame{Header: frame.Header{Seq: next}}, 40)
			want = append(want, next)
			next++
		}
		for range 7 {
			f := q.pop()
			if f == nil || f.Seq != want[0] {
				t.Fatalf("round %d: popped %+v, want seq %d", round, f, want[0])
			}
			want = want[1:]
		}
	}
	if q.n != len(want) || len(q.buf) > 40 {
		t.Fatalf("ring holds %d in a buffer of %d, want %d in at most 40", q.n, len(q.buf), len(want))
	}
	for _, w := range want {
		if f := q.pop(); f == nil || f.Seq != w {
			t.Fatalf("popped %+v, want seq %d", f, w)
		}
	}
	if q.pop() != nil {
		t.Fatal("pop of an empty ring returned a frame")
	}
}

// emptySource ends at once: x gets no input.
type emptySource struct{}

func (emptySource) Next() (*frame.Frame, error) { return nil, io.EOF }

// TestSplitRunLosesNothing: Run goes through a whole input, so its returns
// are never discarded, however far behind the local part falls: z is blocked
// until the server's 200 frames (25 times the bound) have all been read.
func TestSplitRunLosesNothing(t *testing.T) {
	const n, bound = 200, 8
	ctx := testCtx(t)
	conn := newFakeConn()
	gate, got := make(chan struct{}), make(chan uint64, n)
	c := &Client{BaseURL: "http://server", Dial: func(context.Context, string, string) (Conn, error) { return conn, nil }}
	sp, err := c.NewSplit(returnPipeline(t, &returnNode{gate: gate, got: got}, "  - {from: y.out, to: z}\n"), SplitOptions{Pipeline: "p", QueueSize: 2, ReturnQueue: bound})
	if err != nil {
		t.Fatal(err)
	}
	marker := make(chan struct{})
	type result struct {
		stats []sched.NodeStats
		err   error
	}
	done := make(chan result, 1)
	go func() {
		stats, err := sp.Run(ctx, emptySource{}, func(o sched.Output) error {
			if o.Node == "y" && o.Port == "events" {
				close(marker)
			}
			return o.Err
		})
		done <- result{stats, err}
	}()
	serveReturns(ctx, t, conn, n, 10, nil)
	select {
	case <-marker: // every frame before it has been read from the socket, z still blocked
	case <-ctx.Done():
		t.Fatal("the marker never came out")
	}
	close(gate)
	var r result
	select {
	case r = <-done:
	case <-ctx.Done():
		t.Fatal("Run never ended")
	}
	if r.err != nil {
		t.Fatal(r.err)
	}
	for _, st := range r.stats {
		if st.ID == "z" && (st.In != n || st.Dropped != 0) {
			t.Fatalf("z stats %+v: want all %d frames in and none dropped", st, n)
		}
	}
	if len(got) != n {
		t.Fatalf("z got %d frames, want %d", len(got), n)
	}
	for i := range n {
		if seq := <-got; seq != uint64(i) {
			t.Fatalf("z's frame %d has seq %d, want them in order", i, seq)
		}
	}
}
