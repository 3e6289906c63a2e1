//go:build js && wasm

package main

import (
	"errors"
	"syscall/js"

	"github.com/remotemedia/hybrid/core/sched"
)

// graph(id) -> {nodes: [{id, node_type, runtime, inputs, outputs, placement}], edges:
// [{from, from_port, to, to_port, when}]}: the shape the inspector draws
// (web/inspector.js), the same as the server's GET /v1/inspect gives; placement
// ("server" or "tab") only for a pipeline with split placement.
func (c *core) graph(args []js.Value) (any, error) {
	p, err := c.pipelineOf(arg(args, 0))
	if err != nil {
		return nil, err
	}
	if p.p == nil || p.p.Graph == nil {
		return nil, errors.New("graph: the pipeline has no graph")
	}
	g := graphJS(p.p.Graph)
	if p.split != nil { // split placement: where each node runs
		for _, n := range g["nodes"].([]any) {
			m := n.(map[string]any)
			m["placement"] = "tab"
			if p.split.Sched().OnBack(m["id"].(string)) {
				m["placement"] = "server"
			}
		}
	}
	return g, nil
}

func graphJS(g *sched.Graph) map[string]any {
	ports := func(names []string) []any {
		out := make([]any, len(names))
		for i, n := range names {
			out[i] = n
		}
		return out
	}
	nodes := make([]any, len(g.Nodes))
	kinds := map[string][2][]string{}
	for i, n := range g.Nodes {
		var in, out []string
		typ, runtime := "", ""
		if n.Spec != nil {
			typ, runtime = n.Spec.Type, string(n.Spec.Runtime)
			for _, p := range n.Spec.Inputs {
				in = append(in, p.Name)
			}
			for _, p := range n.Spec.Outputs {
				out = append(out, p.Name)
			}
		}
		kinds[n.ID] = [2][]string{in, out}
		nodes[i] = map[string]any{"id": n.ID, "node_type": typ, "runtime": runtime, "inputs": ports(in), "outputs": ports(out)}
	}
	portName := func(names []string, i int) string {
		if i >= 0 && i < len(names) {
			return names[i]
		}
		return ""
	}
	edges := make([]any, len(g.Edges))
	for i, e := range g.Edges {
		edges[i] = map[string]any{"from": e.From, "from_port": portName(kinds[e.From][1], e.FromPort),
			"to": e.To, "to_port": portName(kinds[e.To][0], e.ToPort), "when": e.WhenSource}
	}
	return map[string]any{"nodes": nodes, "edges": edges}
}
