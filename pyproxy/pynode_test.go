package pyproxy

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/remotemedia/hybrid/core/def"
	"github.com/remotemedia/hybrid/core/frame"
	"github.com/remotemedia/hybrid/core/node"
	"github.com/remotemedia/hybrid/core/pynode"
	"github.com/remotemedia/hybrid/core/sched"
)

// TestPynodeAdapter drives core/pynode's node.Node directly: Process, Flush, Close.
func TestPynodeAdapter(t *testing.T) {
	p := newProxy(t, Config{Token: "tok"})
	_, c := serve(t, p)
	ctx := context.Background()
	reg := node.NewRegistry()
	types, err := pynode.RegisterRemote(ctx, reg, c)
	if err != nil {
		t.Fatal(err)
	}
	if len(types) != len(p.Nodes()) {
		t.Errorf("registered %d types, proxy has %d", len(types), len(p.Nodes()))
	}
	spec, err := reg.Lookup("Counter", "python")
	if err != nil {
		t.Fatal(err)
	}
	n, err := spec.New(ctx, node.Config{ID: "count"})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	emit := func(port int, f *frame.Frame) { got = append(got, f.Text()) }
	for i, s := range []string{"a", "b"} {
		if err := n.Process(ctx, 0, text(uint64(i), s), emit); err != nil {
			t.Fatal(err)
		}
	}
	if err := n.Flush(ctx, emit); err != nil {
		t.Fatal(err)
	}
	if want := []string{"a#1", "b#2", `{"total":2}`}; !slices.Equal(got, want) {
		t.Errorf("got %q, want %q", got, want)
	}
	if err := n.Close(); err != nil {
		t.Fatal(err)
	}
	if p.m.sessions.Load() != 0 {
		t.Errorf("%d sessions open after Close", p.m.sessions.Load())
	}

	raiser, _ := reg.Lookup("Raise", "python")
	r, err := raiser.New(ctx, node.Config{ID: "r"})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	err = r.Process(ctx, 0, text(1, "raise"), emit)
	if !errors.Is(err, pynode.ErrRemote) || !strings.Contains(err.Error(), `pynode: node "r" (Raise)`) || !strings.Contains(err.Error(), "ValueError: boom from Raise node") {
		t.Errorf("raise: %v", err)
	}
	if _, err := reg.Lookup("Nope", "python"); !errors.Is(err, node.ErrUnknownType) {
		t.Errorf("unknown type: %v", err)
	}
}

// TestDefinitionChain runs a definition of two Python nodes through the scheduler.
func TestDefinitionChain(t *testing.T) {
	p := newProxy(t, Config{Workers: 2})
	_, c := serve(t, p)
	ctx := context.Background()
	reg := node.NewRegistry()
	if _, err := pynode.RegisterRemote(ctx, reg, c); err != nil {
		t.Fatal(err)
	}
	d, err := def.Parse([]byte(`
version: "1"
metadata: {name: python-chain}
nodes:
  - {id: pass, node_type: PassThrough, runtime_hint: python}
  - {id: count, node_type: Counter, runtime_hint: python}
connections:
  - {from: pass, to: count}
`))
	if err != nil {
		t.Fatal(err)
	}
	g, err := def.Build(d, reg)
	if err != nil {
		t.Fatal(err)
	}
	s, err := sched.Start(ctx, g, sched.Options{StreamID: "chain"})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	go func() {
		for i, w := range []string{"x", "y", "z"} {
			_ = s.Push(ctx, frame.NewText(frame.Header{StreamID: "chain", Seq: uint64(i)}, w))
		}
		_ = s.CloseInput(ctx)
	}()
	var got []string
	for o := range s.Outputs() {
		switch {
		case o.Err != nil:
			t.Errorf("node %s: %v", o.Node, o.Err)
		case o.Frame.Kind != frame.KindControl:
			got = append(got, o.Frame.Text())
		}
	}
	if err := s.Wait(); err != nil {
		t.Fatal(err)
	}
	if want := []string{"x#1", "y#2", "z#3", `{"total":3}`}; !slices.Equal(got, want) {
		t.Errorf("got %q, want %q", got, want)
	}
}
