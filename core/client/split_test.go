package client_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/remotemedia/hybrid/core/client"
	"github.com/remotemedia/hybrid/core/def"
	"github.com/remotemedia/hybrid/core/node"
	"github.com/remotemedia/hybrid/core/runner"
)

func TestNewSplit(t *testing.T) {
	reg := node.NewRegistry()
	for _, typ := range []string{"a", "b"} {
		reg.MustRegister(node.Spec{Type: typ, Runtime: node.RuntimeGo, Doc: "test",
			Inputs: []node.Port{{Name: "in"}}, Outputs: []node.Port{{Name: "out"}},
			New: func(context.Context, node.Config) (node.Node, error) { return nil, errors.New("not made here") }})
	}
	load := func(src string) *runner.Pipeline {
		d, err := def.Parse([]byte(src))
		if err != nil {
			t.Fatal(err)
		}
		g, err := def.Build(d, reg)
		if err != nil {
			t.Fatal(err)
		}
		return &runner.Pipeline{Def: d, Graph: g}
	}
	split := load("version: \"1\"\nnodes:\n  - {id: x, node_type: a}\n  - {id: y, node_type: b, runtime_hint: server}\n  - {id: z, node_type: a}\nconnections:\n  - {from: x, to: y}\n  - {from: y, to: z}\n")
	whole := load("version: \"1\"\nnodes:\n  - {id: x, node_type: a}\n")
	c := &client.Client{BaseURL: "http://server"}
	for _, tc := range []struct {
		name      string
		given     *runner.Pipeline
		opts      client.SplitOptions
		expect    string // the cut, "from->to" joined by ","
		expectErr string
	}{
		{name: "by name", given: split, opts: client.SplitOptions{Pipeline: "p"}, expect: "x->y,y->z"},
		{name: "inline", given: split, opts: client.SplitOptions{Definition: []byte("...")}, expect: "x->y,y->z"},
		{name: "nowhere to run it", given: split, expectErr: "needs the server's pipeline name or the definition"},
		{name: "nothing for the server", given: whole, opts: client.SplitOptions{Pipeline: "p"}, expectErr: "no node runs on the back side"},
		{name: "negative return queue", given: split, opts: client.SplitOptions{Pipeline: "p", ReturnQueue: -1}, expectErr: "ReturnQueue is -1: want 0 (the default, 256 frames) or more"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sp, err := c.NewSplit(tc.given, tc.opts)
			if tc.expectErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.expectErr) {
					t.Fatalf("err = %v, want one saying %q", err, tc.expectErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var cut []string
			for _, e := range sp.Sched().Cut {
				cut = append(cut, e.From+"->"+e.To)
			}
			if got := strings.Join(cut, ","); got != tc.expect {
				t.Errorf("cut %s, want %s", got, tc.expect)
			}
			if got := sp.Sched().Back; len(got) != 1 || got[0] != "y" {
				t.Errorf("server nodes %q, want [y]", got)
			}
			local := sp.Local().Graph
			for _, n := range local.Nodes {
				if n.ID == "y" {
					t.Error("the local part holds the server's node y")
				}
			}
		})
	}
}
