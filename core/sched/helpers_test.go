package sched

import (
	"context"
	"fmt"
	"sort"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/remotemedia/hybrid/core/frame"
	"github.com/remotemedia/hybrid/core/node"
)

// fnNode is a test node made of functions; a nil process passes frames through
// on port 0, a nil flush does nothing.
type fnNode struct {
	process func(ctx context.Context, port int, in *frame.Frame, emit node.Emit) error
	flush   func(ctx context.Context, emit node.Emit) error
	closed  *atomic.Int32
}

func (n *fnNode) Process(ctx context.Context, port int, in *frame.Frame, emit node.Emit) error {
	if n.process == nil {
		emit(0, in)
		return nil
	}
	return n.process(ctx, port, in, emit)
}

func (n *fnNode) Flush(ctx context.Context, emit node.Emit) error {
	if n.flush == nil {
		return nil
	}
	return n.flush(ctx, emit)
}

func (n *fnNode) Close() error {
	if n.closed != nil {
		n.closed.Add(1)
	}
	return nil
}

// def makes a node definition whose Spec.New returns n.
func def(id string, n *fnNode, outs ...string) NodeDef {
	if len(outs) == 0 {
		outs = []string{"out"}
	}
	s := &node.Spec{Type: "test_" + id, Runtime: node.RuntimeGo, Inputs: []node.Port{{Name: "in"}}}
	for _, o := range outs {
		s.Outputs = append(s.Outputs, node.Port{Name: o})
	}
	s.New = func(context.Context, node.Config) (node.Node, error) { return n, nil }
	return NodeDef{ID: id, Spec: s}
}

func pass() *fnNode { return &fnNode{} }

func edge(from, to string) Edge { return Edge{From: from, To: to} }

func text(seq uint64) *frame.Frame { return frame.NewText(frame.Header{Seq: seq}, fmt.Sprint(seq)) }

// recorder is a log shared by test nodes.
type recorder struct {
	mu  sync.Mutex
	log []string
}

func (r *recorder) add(format string, args ...any) {
	r.mu.Lock()
	r.log = append(r.log, fmt.Sprintf(format, args...))
	r.mu.Unlock()
}

func (r *recorder) get() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.log...)
}

// gate is a node that records its calls and blocks in Process on frame seq 1
// until release is closed; entered receives the seq of each data frame it gets,
// controls the op of each control frame.
type gate struct {
	rec      *recorder
	name     string
	entered  chan uint64
	controls chan frame.ControlOp
	release  chan struct{}
}

func newGate(rec *recorder, name string) *gate {
	return &gate{rec: rec, name: name, entered: make(chan uint64, 1000), controls: make(chan frame.ControlOp, 100), release: make(chan struct{})}
}

func (g *gate) node() *fnNode {
	return &fnNode{
		process: func(ctx context.Context, _ int, in *frame.Frame, emit node.Emit) error {
			if in.Kind == frame.KindControl {
				g.rec.add("%s:%v", g.name, in.Op)
				g.controls <- in.Op
				return nil
			}
			g.rec.add("%s:%d", g.name, in.Seq)
			g.entered <- in.Seq
			if in.Seq == 1 {
				select {
				case <-g.release:
				case <-ctx.Done():
					return ctx.Err()
				}
			}
			emit(0, in)
			return nil
		},
		flush: func(context.Context, node.Emit) error {
			g.rec.add("%s:flush", g.name)
			return nil
		},
	}
}

func start(t testing.TB, g *Graph, opts Options) *Session {
	t.Helper()
	s, err := Start(context.Background(), g, opts)
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

func pushAll(t testing.TB, s *Session, seqs ...uint64) {
	t.Helper()
	for _, q := range seqs {
		if err := s.Push(context.Background(), text(q)); err != nil {
			t.Fatalf("Push %d: %v", q, err)
		}
	}
}

func seqRange(from, to uint64) []uint64 {
	var out []uint64
	for i := from; i <= to; i++ {
		out = append(out, i)
	}
	return out
}

// collect drains Outputs until it is closed and groups data seqs by node.port;
// control frames are listed as "ctl:<op>" under the same key, errors under "err".
func collect(s *Session) map[string][]string {
	got := map[string][]string{}
	for o := range s.Outputs() {
		switch {
		case o.Err != nil:
			got["err"] = append(got["err"], o.Err.Error())
		case o.Frame.Kind == frame.KindControl:
			got[o.Node+"."+o.Port] = append(got[o.Node+"."+o.Port], "ctl:"+o.Frame.Op.String())
		default:
			got[o.Node+"."+o.Port] = append(got[o.Node+"."+o.Port], fmt.Sprint(o.Frame.Seq))
		}
	}
	return got
}

func strs(seqs []uint64) []string {
	out := make([]string, len(seqs))
	for i, q := range seqs {
		out[i] = fmt.Sprint(q)
	}
	return out
}

func sorted(s []string) []string {
	s = append([]string(nil), s...)
	sort.Strings(s)
	return s
}

func stat(s *Session, id string) NodeStats {
	for _, st := range s.Stats() {
		if st.ID == id {
			return st
		}
	}
	return NodeStats{}
}

// forModes runs test once per way of running a session: a goroutine per node
// (the default) and synchronous (Options.Synchronous).
func forModes(t *testing.T, test func(t *testing.T, synchronous bool)) {
	t.Helper()
	for _, m := range []struct {
		name        string
		synchronous bool
	}{{"goroutines", false}, {"synchronous", true}} {
		t.Run(m.name, func(t *testing.T) { test(t, m.synchronous) })
	}
}
