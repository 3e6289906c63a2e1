package def

import (
	"fmt"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/remotemedia/hybrid/core/node"
)

// Fallback is the node type a node runs as where its own cannot run here: a
// Python node whose model or library is not installed (node.Spec.Unavailable).
// In a definition it is a node type name, or a mapping with node_type and params:
//
//	fallback: EspeakTTS
//	fallback: {node_type: EspeakTTS, params: {voice: en-us}}
type Fallback struct {
	NodeType string         `json:"node_type" yaml:"node_type"`
	Params   map[string]any `json:"params,omitempty" yaml:"params,omitempty"`
}

// Fallbacks lists the nodes that the last Validate or Build of d gave their
// fallback node type, one line each, for the caller to say once (run prints
// them, serve logs them, the tab warns on its console).
func (d *Definition) Fallbacks() []string { return d.fallbacks }

// checkFallback handles node i's fallback: its type and params are checked
// whether or not it is needed, and when the node's own type cannot run here the
// fallback replaces it (its spec and params), which is noted once. It reports
// whether the node now runs as its fallback.
func (c *checker) checkFallback(i int, spec *node.Spec) bool {
	n := c.d.Nodes[i]
	if n.Fallback == nil {
		return false
	}
	path := fmt.Sprintf("nodes[%d].fallback", i)
	if n.Fallback.NodeType == "" {
		c.ps.add(path+".node_type", "missing")
		return false
	}
	fb, err := c.reg.Lookup(n.Fallback.NodeType, "auto")
	if err != nil {
		c.ps.add(path+".node_type", "unknown node type %q%s", n.Fallback.NodeType, didYouMean(n.Fallback.NodeType, c.reg.Types()))
		return false
	}
	if fb.Unavailable != "" {
		c.ps.add(path+".node_type", "the fallback %s cannot run here either: %s", fb.Type, strings.TrimPrefix(fb.Unavailable, fb.Type+": "))
		return false
	}
	params := checkParams(path+".params", fb, n.Fallback.Params, &c.ps)
	if spec.Unavailable == "" {
		return false
	}
	c.nodes[i].Spec, c.nodes[i].Params = fb, params
	note := fmt.Sprintf("nodes[%d] (%s): %s cannot run here (%s): it runs as its fallback %s",
		i, n.ID, n.NodeType, strings.TrimPrefix(spec.Unavailable, n.NodeType+": "), fb.Type)
	c.fallbacks = append(c.fallbacks, note)
	return true
}

// decodeFallback reads a node's fallback: a node type name or {node_type, params}.
func decodeFallback(v *yaml.Node, path string, ps *problems) *Fallback {
	if isNull(v) {
		return nil
	}
	if v.Kind == yaml.ScalarNode {
		return &Fallback{NodeType: v.Value}
	}
	fb := &Fallback{}
	fields(v, path, ps, []string{"node_type", "params"}, func(key string, v *yaml.Node) {
		p := join(path, key)
		if key == "node_type" {
			fb.NodeType = str(v, p, ps)
			return
		}
		if isNull(v) {
			return
		}
		if v.Kind != yaml.MappingNode {
			ps.add(p, "must be a mapping, got %s%s", kindNames[v.Kind], at(v))
			return
		}
		if err := v.Decode(&fb.Params); err != nil {
			ps.add(p, "%v", err)
		}
	})
	return fb
}
