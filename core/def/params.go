package def

import (
	"fmt"
	"math"
	"slices"
	"strconv"
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
				if nv, msg := normalize(p, p.Default); msg == "" {
					out[p.Name] = nv
				} else {
					out[p.Name] = p.Default
				}
			}
			continue
		}
		nv, msg := normalize(p, v)
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

// normalize converts v to the Go type of p.Type and checks its bounds and enum. It
// returns the converted value, or a message saying what is wrong.
func normalize(p node.Param, v any) (any, string) {
	switch p.Type {
	case node.ParamNumber, node.ParamInteger:
		f, ok := toFloat(v)
		if !ok {
			return nil, fmt.Sprintf("must be %s, got %s", article(p.Type), describe(v))
		}
		if math.IsNaN(f) || math.IsInf(f, 0) {
			return nil, "must be a finite number"
		}
		if p.Type == node.ParamInteger && (f != math.Trunc(f) || math.Abs(f) > 1<<53) {
			return nil, fmt.Sprintf("must be %s, got %s", article(p.Type), describe(v))
		}
		if p.Min != nil && p.ExclusiveMin && f <= *p.Min {
			return nil, "must be > " + num(*p.Min)
		}
		if p.Min != nil && !p.ExclusiveMin && f < *p.Min {
			return nil, "must be >= " + num(*p.Min)
		}
		if p.Max != nil && f > *p.Max {
			return nil, "must be <= " + num(*p.Max)
		}
		if p.Type == node.ParamInteger {
			return int64(f), ""
		}
		return f, ""
	case node.ParamString:
		s, ok := v.(string)
		if !ok {
			return nil, fmt.Sprintf("must be a string, got %s", describe(v))
		}
		if len(p.Enum) > 0 && !slices.Contains(p.Enum, s) {
			quoted := make([]string, len(p.Enum))
			for i, e := range p.Enum {
				quoted[i] = strconv.Quote(e)
			}
			return nil, fmt.Sprintf("must be one of %s, got %q", strings.Join(quoted, ", "), s)
		}
		return s, ""
	case node.ParamBool:
		if _, ok := v.(bool); !ok {
			return nil, fmt.Sprintf("must be a boolean, got %s", describe(v))
		}
	case node.ParamObject:
		if _, ok := v.(map[string]any); !ok {
			return nil, fmt.Sprintf("must be a mapping, got %s", describe(v))
		}
	}
	return v, ""
}

func article(t node.ParamType) string {
	if t == node.ParamInteger {
		return "an integer"
	}
	return "a " + string(t)
}

func toFloat(v any) (float64, bool) {
	switch n := v.(type) {
	case float64:
		return n, true
	case float32:
		return float64(n), true
	case int:
		return float64(n), true
	case int64:
		return float64(n), true
	case int32:
		return float64(n), true
	case uint64:
		return float64(n), true
	case uint32:
		return float64(n), true
	case uint:
		return float64(n), true
	}
	return 0, false
}

func num(f float64) string { return strconv.FormatFloat(f, 'f', -1, 64) }

// describe names a value's YAML/JSON type, with the value itself when it is short.
func describe(v any) string {
	switch x := v.(type) {
	case string:
		if len(x) > 40 {
			return "a string"
		}
		return fmt.Sprintf("string %q", x)
	case bool:
		return fmt.Sprintf("boolean %v", x)
	case map[string]any:
		return "a mapping"
	case []any:
		return "a sequence"
	}
	if f, ok := toFloat(v); ok {
		return num(f)
	}
	return fmt.Sprintf("%T", v)
}
