package live

import (
	"fmt"

	"github.com/remotemedia/hybrid/core/def"
	"github.com/remotemedia/hybrid/core/node"
	"github.com/remotemedia/hybrid/core/sched"
)

// DefaultBargeInMS is the barge_in_ms a live session gives each speech_buffer
// node whose definition leaves it unset (def.WithLiveBargeIn).
const DefaultBargeInMS = def.LiveBargeInMS

// oneShotGraph is the graph a one-shot run runs: the definition as it is,
// without the live default of barge-in.
func (p *Pipeline) oneShotGraph() *sched.Graph {
	if p.runGraph != nil {
		return p.runGraph
	}
	return p.graph
}

// voiceOperatorProblems lists what node i of a client's inline definition may
// not say: hosts to run it on (the server would send requests wherever a
// client names), and operator-only params of its fallback (it may name a
// fallback node type, with the params a client may set, as for any node).
func voiceOperatorProblems(i int, n def.NodeRef, reg *node.Registry) []def.Problem {
	var ps []def.Problem
	if n.Host != nil {
		ps = append(ps, def.Problem{Path: fmt.Sprintf("nodes[%d].host", i),
			Msg: "a client may not place a node on another host (the server's own definitions do)"})
	}
	if n.Fallback == nil || len(n.Fallback.Params) == 0 {
		return ps
	}
	spec, err := reg.Lookup(n.Fallback.NodeType, "auto")
	if err != nil {
		return ps // Build reports it
	}
	for _, p := range spec.Params {
		if _, set := n.Fallback.Params[p.Name]; set && p.Operator {
			ps = append(ps, def.Problem{
				Path: fmt.Sprintf("nodes[%d].fallback.params.%s", i, p.Name),
				Msg:  fmt.Sprintf("operator-only param of %s: a client may not set it (the server's own definitions and configuration do)", spec.Type),
			})
		}
	}
	return ps
}

// namesHost reports whether a node of d names hosts to run on.
func namesHost(d *def.Definition) bool {
	for _, n := range d.Nodes {
		if n.Host != nil {
			return true
		}
	}
	return false
}
