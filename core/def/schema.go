package def

import (
	"encoding/json"
	"fmt"

	"github.com/remotemedia/hybrid/core/node"
)

// object is a JSON Schema (or part of one) under construction.
type object = map[string]any

// Schema returns the JSON Schema (draft 2020-12) of definitions for the node
// types registered in reg. Each node type's params are constrained by an if/then
// on node_type (types, enum, minimum/maximum, required, no unknown params) using
// the implementation runtime_hint "auto" picks; descriptions come from the specs.
func Schema(reg *node.Registry) ([]byte, error) {
	if reg == nil {
		reg = node.NewRegistry()
	}
	types := reg.Types()
	typeChoices := make([]any, 0, len(types))
	var rules []any
	defs := object{}
	for _, t := range types {
		spec, err := reg.Lookup(t, "auto")
		if err != nil {
			return nil, fmt.Errorf("def: schema: %w", err)
		}
		typeChoices = append(typeChoices, object{"const": t, "description": spec.Doc})
		defs["params."+t] = paramsSchema(spec)
		rules = append(rules, object{
			"if":   object{"properties": object{"node_type": object{"const": t}}, "required": []any{"node_type"}},
			"then": object{"properties": object{"params": object{"$ref": "#/$defs/params." + t}}},
		})
	}
	nodeType := object{"type": "string", "description": "a registered node type"}
	if len(typeChoices) > 0 {
		nodeType["oneOf"] = typeChoices
	}
	hints := make([]any, 0, len(RuntimeHints)+1)
	for _, h := range RuntimeHints {
		hints = append(hints, h)
	}
	versions := []any{1}
	for _, v := range Versions {
		versions = append(versions, v)
	}
	nodeDef := object{
		"type":                 "object",
		"description":          "one node of the pipeline",
		"required":             []any{"id", "node_type"},
		"additionalProperties": false,
		"properties": object{
			"id":           object{"type": "string", "pattern": "^[A-Za-z0-9_-]+$", "description": "the node's id, used by connections"},
			"node_type":    nodeType,
			"params":       object{"type": "object", "description": "the node type's params"},
			"runtime_hint": object{"enum": hints, "description": "which implementation to use: auto (the fastest available), wasm, go, python; server and browser are placement hints that behave like auto"},
			"queue_size":   object{"type": "integer", "minimum": 0, "description": "bound of the node's input queue; 0 means the session default"},
			"on_error":     object{"enum": []any{"continue", "fail"}, "description": "what a node error does to the session (default continue)"},
			"module":       object{"type": "string", "description": "a WebAssembly module file that declares node_type, relative to the definition file (operator definitions only)"},
			"host": object{
				"description": "run the node on other remotemedia serve hosts (tried in order): a URL, a list, or {urls, timeout}; the operator's definitions only",
				"oneOf": []any{
					object{"type": "string"},
					object{"type": "array", "items": object{"type": "string"}},
					object{"type": "object", "additionalProperties": false, "required": []any{"urls"},
						"properties": object{"urls": object{"type": "array", "items": object{"type": "string"}}, "timeout": object{"type": "string"}}},
				},
			},
			"fallback": object{
				"description": "the node type (a name, or {node_type, params}) that runs instead where node_type cannot run here (its model or library is not installed)",
				"oneOf": []any{
					object{"type": "string"},
					object{"type": "object", "additionalProperties": false, "required": []any{"node_type"},
						"properties": object{"node_type": object{"type": "string"}, "params": object{"type": "object"}}},
				},
			},
		},
	}
	if len(rules) > 0 {
		nodeDef["allOf"] = rules
	}
	endpoint := object{"type": "string", "pattern": "^[A-Za-z0-9_-]+(\\.[A-Za-z0-9_-]+)?$"}
	defs["node"] = nodeDef
	defs["connection"] = object{
		"type":                 "object",
		"description":          "an edge from an output port to an input port",
		"required":             []any{"from", "to"},
		"additionalProperties": false,
		"properties": object{
			"from":   with(endpoint, "description", "\"node\" (its first output) or \"node.port\""),
			"to":     with(endpoint, "description", "\"node\" (its first input) or \"node.port\""),
			"when":   object{"type": "string", "description": "boolean expression on each data frame (kind, text, json, meta, sample_rate, channels, samples, duration_ms, seq, ts_ms); the frame crosses only when true"},
			"policy": object{"enum": []any{"block", "drop_oldest"}, "description": "when the destination queue is full: block (back-pressure, default) or drop_oldest"},
		},
	}
	schema := object{
		"$schema":              "https://json-schema.org/draft/2020-12/schema",
		"title":                "RemoteMedia pipeline definition",
		"type":                 "object",
		"required":             []any{"version", "nodes"},
		"additionalProperties": false,
		"properties": object{
			"version": object{"enum": versions, "description": "definition format version"},
			"metadata": object{
				"type":                 "object",
				"additionalProperties": false,
				"properties": object{
					"name":        object{"type": "string"},
					"description": object{"type": "string"},
				},
			},
			"nodes":       object{"type": "array", "minItems": 1, "items": object{"$ref": "#/$defs/node"}},
			"connections": object{"type": "array", "items": object{"$ref": "#/$defs/connection"}},
		},
		"$defs": defs,
	}
	return json.MarshalIndent(schema, "", "  ")
}

func with(o object, key string, v any) object {
	out := make(object, len(o)+1)
	for k, x := range o {
		out[k] = x
	}
	out[key] = v
	return out
}

func paramsSchema(spec *node.Spec) object {
	props := object{}
	var required []any
	for _, p := range spec.Params {
		ps := object{"type": string(p.Type), "description": p.Doc}
		if p.Default != nil {
			ps["default"] = p.Default
		}
		if p.Min != nil {
			if p.ExclusiveMin {
				ps["exclusiveMinimum"] = *p.Min
			} else {
				ps["minimum"] = *p.Min
			}
		}
		if p.Max != nil {
			ps["maximum"] = *p.Max
		}
		if len(p.Enum) > 0 {
			enum := make([]any, len(p.Enum))
			for i, e := range p.Enum {
				enum[i] = e
			}
			ps["enum"] = enum
		}
		props[p.Name] = ps
		if p.Required {
			required = append(required, p.Name)
		}
	}
	out := object{"type": "object", "description": spec.Doc, "properties": props, "additionalProperties": false}
	if len(required) > 0 {
		out["required"] = required
	}
	return out
}
