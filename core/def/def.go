// Package def reads, validates and builds pipeline definitions: the YAML or JSON
// documents (shaped like RemoteMedia manifests) that name the nodes of a pipeline,
// their params and the connections between their ports (docs/definitions.md).
//
// Parse turns bytes into a Definition, Validate reports every problem of a
// Definition against a node Registry at once, Build turns a valid Definition into a
// sched.Graph, and Schema generates the JSON Schema of definitions from the
// registered node specs.
package def

import (
	"errors"
	"fmt"
	"os"
	"strings"
)

// Errors returned by this package.
var (
	// ErrSyntax is returned by Parse for input that is not well-formed YAML or JSON.
	ErrSyntax = errors.New("def: syntax error")
	// ErrInvalid is matched by every *ValidationError: the definition is well-formed
	// but wrong (unknown fields or node types, bad params, dangling ports, cycles, ...).
	ErrInvalid = errors.New("def: invalid definition")
	// ErrTooLarge is returned by Parse for a document over MaxSize bytes.
	ErrTooLarge = errors.New("def: definition too large")
)

// Limits on a definition, so that a bad one costs little to reject.
const (
	MaxSize        = 1 << 20 // bytes of YAML or JSON
	MaxNodes       = 1000
	MaxConnections = 4000
)

// Definition is one pipeline definition.
type Definition struct {
	Version     string       `json:"version" yaml:"version"`
	Metadata    Metadata     `json:"metadata,omitzero" yaml:"metadata,omitempty"`
	Nodes       []NodeRef    `json:"nodes" yaml:"nodes"`
	Connections []Connection `json:"connections,omitempty" yaml:"connections,omitempty"`

	shape     problems // what Parse found wrong with the document's shape; Validate reports it too
	fallbacks []string // the nodes the last check gave their fallback (fallback.go)
}

// Metadata names and describes a definition.
type Metadata struct {
	Name        string `json:"name,omitempty" yaml:"name,omitempty"`
	Description string `json:"description,omitempty" yaml:"description,omitempty"`
}

// NodeRef is one node of a definition.
type NodeRef struct {
	// ID names the node within the definition: letters, digits, '_' and '-'.
	ID string `json:"id" yaml:"id"`
	// NodeType is a registered node type ("gain", "vad", ...).
	NodeType string `json:"node_type" yaml:"node_type"`
	// Params configure the node; see the node type's spec.
	Params map[string]any `json:"params,omitempty" yaml:"params,omitempty"`
	// RuntimeHint picks an implementation: "" or "auto" (the first of
	// node.Preference available), "wasm", "go", "python", or the placement hints
	// "server" and "browser" (which behave like "auto").
	RuntimeHint string `json:"runtime_hint,omitempty" yaml:"runtime_hint,omitempty"`
	// QueueSize bounds the node's input queue; 0 means the session's default.
	QueueSize int `json:"queue_size,omitempty" yaml:"queue_size,omitempty"`
	// OnError is "continue" (the default) or "fail".
	OnError string `json:"on_error,omitempty" yaml:"on_error,omitempty"`
	// Module names a WebAssembly module file that declares NodeType
	// (docs/wasm-abi.md), relative to the definition file. It is the operator's:
	// remotemedia run, validate and serve register it before the definition is
	// built; a client's inline definition may not name one.
	Module string `json:"module,omitempty" yaml:"module,omitempty"`
	// Fallback, when set, runs instead of NodeType where NodeType cannot run
	// here (its model or library is not installed: node.Spec.Unavailable); the
	// pipeline then runs with what the machine has, and Build says so once.
	Fallback *Fallback `json:"fallback,omitempty" yaml:"fallback,omitempty"`
	// Host, when set, runs the node on other `remotemedia serve` hosts (host.go):
	// the operator's definitions only.
	Host *Host `json:"host,omitempty" yaml:"host,omitempty"`
}

// Connection is one edge: from an output port to an input port. An endpoint is
// "node" (its first port) or "node.port".
type Connection struct {
	From string `json:"from" yaml:"from"`
	To   string `json:"to" yaml:"to"`
	// When is an optional boolean expression evaluated on each data frame; the frame
	// crosses the edge only when it is true (docs/definitions.md lists the names it may use).
	When string `json:"when,omitempty" yaml:"when,omitempty"`
	// Policy is "block" (back-pressure, the default) or "drop_oldest".
	Policy string `json:"policy,omitempty" yaml:"policy,omitempty"`
}

// Problem is one thing wrong with a definition, at a path such as
// "nodes[2].params.rate" or "connections[1].from".
type Problem struct {
	Path string
	Msg  string
}

func (p Problem) String() string {
	if p.Path == "" {
		return p.Msg
	}
	return p.Path + ": " + p.Msg
}

// ValidationError lists every problem found in a definition, in document order.
type ValidationError struct {
	Problems []Problem
}

// Error lists the problems, one per line.
func (e *ValidationError) Error() string {
	lines := make([]string, len(e.Problems))
	for i, p := range e.Problems {
		lines[i] = p.String()
	}
	return strings.Join(lines, "\n")
}

// Unwrap makes errors.Is(err, ErrInvalid) true.
func (e *ValidationError) Unwrap() error { return ErrInvalid }

// problems collects Problems.
type problems []Problem

func (ps *problems) add(path, format string, args ...any) {
	*ps = append(*ps, Problem{Path: path, Msg: fmt.Sprintf(format, args...)})
}

func (ps problems) err() error {
	if len(ps) == 0 {
		return nil
	}
	return &ValidationError{Problems: ps}
}

// ParseFile reads and parses a definition file. Like Parse, with shape problems
// it returns the definition read so far as well as the error.
func ParseFile(path string) (*Definition, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("def: %w", err)
	}
	d, err := Parse(data)
	if err != nil {
		return d, fmt.Errorf("%s: %w", path, err)
	}
	return d, nil
}
