//go:build js && wasm

package main

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"syscall/js"

	"github.com/remotemedia/hybrid/core/client"
	"github.com/remotemedia/hybrid/core/def"
	"github.com/remotemedia/hybrid/core/runner"
	"github.com/remotemedia/hybrid/core/sched"
)

// session is a running session as open, push and end use it: a
// *sched.Session, or a *client.SplitSession for split placement.
type session interface {
	runner.Input
	Outputs() <-chan sched.Output
	Wait() error
	Stats() []sched.NodeStats
	Close() error
}

var (
	_ session = (*sched.Session)(nil)
	_ session = (*client.SplitSession)(nil)
)

// splitOf reads pipeline's opts.split (docs/placement.md): true sends the
// definition inline, a string names the server's catalogue pipeline that runs
// the server's part. It returns nil without opts.split, and for a definition
// with no node to run on the server (def.ServerNodes).
func splitOf(opts js.Value, p *runner.Pipeline, text string) (*client.Split, error) {
	if opts.Type() != js.TypeObject {
		return nil, nil
	}
	v := opts.Get("split")
	var so client.SplitOptions
	switch {
	case v.Type() == js.TypeBoolean && v.Bool():
		so.Definition = []byte(text)
	case v.Type() == js.TypeString && v.String() != "":
		so.Pipeline = v.String()
	default:
		return nil, nil
	}
	if len(def.ServerNodes(p.Def, p.Graph)) == 0 {
		return nil, nil // nothing for the server: the whole pipeline runs in the tab
	}
	server := optString(opts, "server")
	if server == "" {
		return nil, errors.New("pipeline: split placement needs opts.server, the server that runs the server's part")
	}
	so.StreamID = "browser"
	c := &client.Client{BaseURL: strings.TrimRight(server, "/"), Token: optString(opts, "token"), Dial: dialLive}
	sp, err := c.NewSplit(p, so)
	if err != nil {
		return nil, fmt.Errorf("pipeline: split placement: %w", err)
	}
	return sp, nil
}

// local is the part of p the tab runs: all of it, or a split's local part.
func (p *pipeline) local() *runner.Pipeline {
	if p.split != nil {
		return p.split.Local()
	}
	return p.p
}

// run runs src through a new session of p, in the tab or split.
func (p *pipeline) run(ctx context.Context, src runner.Source, sink runner.Sink) ([]sched.NodeStats, error) {
	if p.split != nil {
		return p.split.Run(ctx, src, sink)
	}
	return runner.Run(ctx, p.p, src, sink, sched.Options{StreamID: "browser"})
}

// start starts a live session of p, in the tab or split, with barge-in on
// (bargein.go).
func (p *pipeline) start(ctx context.Context) (session, error) {
	if p.liveSplit != nil {
		return p.liveSplit.Start(ctx)
	}
	return sched.Start(ctx, p.liveGraph, sched.Options{StreamID: "browser"})
}
