package def

import (
	"slices"
	"strings"

	"github.com/remotemedia/hybrid/core/node"
)

// checkParams checks given against spec.Params and returns the params with every
// default filled in: numbers as float64, integers as int64. A null value counts
// as not given.
func checkParams(path string, spec *node.Spec, given map[string]any, ps *problems) map[string]any {
	out := make(map[string]any, len(spec.Params))
	names := make([]string, len(spec.Params))
	for i, p := range spec.Params {
		names[i] = p.Name
		v, ok := given[p.Name]
		if !ok || v == nil {
			switch {
			case p.Required:
				ps.add(path+"."+p.Name, "required")
			case p.Default != nil:
				if nv, msg := node.CheckValue(p, p.Default); msg == "" {
					out[p.Name] = nv
				} else {
					out[p.Name] = p.Default
				}
			}
			continue
		}
		nv, msg := node.CheckValue(p, v)
		if msg != "" {
			ps.add(path+"."+p.Name, "%s", msg)
			continue
		}
		out[p.Name] = nv
	}
	unknown := make([]string, 0, len(given))
	for k := range given {
		if !slices.Contains(names, k) {
			unknown = append(unknown, k)
		}
	}
	slices.Sort(unknown)
	for _, k := range unknown {
		if len(names) == 0 {
			ps.add(path+"."+k, "unknown param (%s takes no params)", spec.Type)
		} else {
			ps.add(path+"."+k, "unknown param%s (%s takes: %s)", didYouMean(k, names), spec.Type, strings.Join(names, ", "))
		}
	}
	return out
}
