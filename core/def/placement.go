package def

import (
	"github.com/remotemedia/hybrid/core/node"
	"github.com/remotemedia/hybrid/core/sched"
)

// ServerNodes lists, in definition order, the nodes of d that split placement
// runs on the server (docs/placement.md): those with `runtime_hint: server`,
// and Python nodes (hint `python`, or a type whose implementation g resolved to
// is Python). g is Build's graph of d.
func ServerNodes(d *Definition, g *sched.Graph) []string {
	var ids []string
	for i, n := range d.Nodes {
		python := i < len(g.Nodes) && g.Nodes[i].Spec != nil && g.Nodes[i].Spec.Runtime == node.RuntimePython
		if n.RuntimeHint == "server" || n.RuntimeHint == string(node.RuntimePython) || python {
			ids = append(ids, n.ID)
		}
	}
	return ids
}
