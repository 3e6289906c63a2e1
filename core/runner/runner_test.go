package runner

import (
	"context"
	"errors"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/remotemedia/hybrid/core/frame"
	"github.com/remotemedia/hybrid/core/node"
)

// TestPrepare: every node type of a pipeline is prepared once, all at once (each
// Prepare here waits until both have started), and a failure names its node.
func TestPrepare(t *testing.T) {
	started := make(chan struct{}, 2)
	both := make(chan struct{})
	go func() { <-started; <-started; close(both) }()
	var calls [2]atomic.Int32
	prep := func(i int, err error) func(context.Context) error {
		return func(ctx context.Context) error {
			calls[i].Add(1)
			started <- struct{}{}
			select {
			case <-both:
				return err
			case <-time.After(5 * time.Second):
				return errors.New("the other node type was not prepared at the same time")
			}
		}
	}
	audio := []node.Port{{Name: "in", Kinds: []frame.Kind{frame.KindAudio}}}
	out := []node.Port{{Name: "out", Kinds: []frame.Kind{frame.KindAudio}}}
	reg := node.NewRegistry()
	for i, typ := range []string{"x", "y"} {
		var err error
		if typ == "y" {
			err = errors.New("module y.wasm: not found")
		}
		spec := node.Spec{Type: typ, Runtime: node.RuntimeWASM, Inputs: audio, Outputs: out, Prepare: prep(i, err),
			New: func(context.Context, node.Config) (node.Node, error) { return nil, errors.New("not used") }}
		if err := reg.Register(spec); err != nil {
			t.Fatal(err)
		}
	}
	p, err := Load([]byte(`version: "1"
nodes:
  - {id: a, node_type: x}
  - {id: b, node_type: y}
  - {id: c, node_type: x}
connections:
  - {from: a, to: b}
  - {from: b, to: c}
`), reg)
	if err != nil {
		t.Fatal(err)
	}
	err = Prepare(context.Background(), p)
	if err == nil || !strings.Contains(err.Error(), `node "b" (y): module y.wasm: not found`) || strings.Contains(err.Error(), "same time") {
		t.Fatalf("Prepare: %v; want only node b's failure", err)
	}
	if calls[0].Load() != 1 || calls[1].Load() != 1 {
		t.Fatalf("prepared x %d and y %d times, want once each", calls[0].Load(), calls[1].Load())
	}
}
