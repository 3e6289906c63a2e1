package sched_test

import (
	"context"
	"fmt"
	"strings"

	"github.com/remotemedia/hybrid/core/frame"
	"github.com/remotemedia/hybrid/core/node"
	"github.com/remotemedia/hybrid/core/sched"
)

// upper turns text frames upper case.
type upper struct{}

func (upper) Process(_ context.Context, _ int, in *frame.Frame, emit node.Emit) error {
	emit(0, frame.NewText(in.Header, strings.ToUpper(in.Text())))
	return nil
}
func (upper) Flush(context.Context, node.Emit) error { return nil }
func (upper) Close() error                           { return nil }

func ExampleStart() {
	spec := &node.Spec{
		Type: "upper", Runtime: node.RuntimeGo,
		Inputs:  []node.Port{{Name: "in", Kinds: []frame.Kind{frame.KindText}}},
		Outputs: []node.Port{{Name: "out", Kinds: []frame.Kind{frame.KindText}}},
		New:     func(context.Context, node.Config) (node.Node, error) { return upper{}, nil },
	}
	g := &sched.Graph{Nodes: []sched.NodeDef{{ID: "shout", Spec: spec}}}
	ctx := context.Background()
	s, err := sched.Start(ctx, g, sched.Options{StreamID: "demo"})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer s.Close()
	go func() {
		for i, w := range []string{"hello", "world"} {
			_ = s.Push(ctx, frame.NewText(frame.Header{StreamID: "demo", Seq: uint64(i)}, w))
		}
		_ = s.CloseInput(ctx)
	}()
	for o := range s.Outputs() {
		fmt.Println(o.Node, o.Port, o.Frame.Seq, o.Frame.Text())
	}
	fmt.Println("wait:", s.Wait())
	// Output:
	// shout out 0 HELLO
	// shout out 1 WORLD
	// wait: <nil>
}
