package node

import (
	"encoding/json"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
)

// CheckValue converts v (as YAML or JSON decode it; a json.Number too) to the
// Go type of p.Type (float64 for a number, int64 for an integer) and checks its
// bounds and enum. It returns the converted value, or a message saying what is
// wrong ("must be <= 10"), for the caller to put after the param's path.
func CheckValue(p Param, v any) (any, string) {
	switch p.Type {
	case ParamNumber, ParamInteger:
		f, ok := toFloat(v)
		if !ok {
			return nil, fmt.Sprintf("must be %s, got %s", article(p.Type), describe(v))
		}
		if math.IsNaN(f) || math.IsInf(f, 0) {
			return nil, "must be a finite number"
		}
		if p.Type == ParamInteger && (f != math.Trunc(f) || math.Abs(f) > 1<<53) {
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
		if p.Type == ParamInteger {
			return int64(f), ""
		}
		return f, ""
	case ParamString:
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
	case ParamBool:
		if _, ok := v.(bool); !ok {
			return nil, fmt.Sprintf("must be a boolean, got %s", describe(v))
		}
	case ParamObject:
		if _, ok := v.(map[string]any); !ok {
			return nil, fmt.Sprintf("must be a mapping, got %s", describe(v))
		}
	}
	return v, ""
}

func article(t ParamType) string {
	if t == ParamInteger {
		return "an integer"
	}
	return "a " + string(t)
}

func toFloat(v any) (float64, bool) {
	switch n := v.(type) {
	case json.Number:
		f, err := n.Float64()
		return f, err == nil
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
