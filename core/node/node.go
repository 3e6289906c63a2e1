// Package node defines what a pipeline node is, how node types describe themselves
// (Spec), and the Registry that maps node_type names to implementations.
package node

import (
	"context"
	"errors"

	"github.com/remotemedia/hybrid/core/frame"
)

// Errors returned by this package.
var (
	// ErrUnknownType is returned for a node_type nobody registered.
	ErrUnknownType = errors.New("node: unknown node type")
	// ErrParams is returned when params do not satisfy the node's spec.
	ErrParams = errors.New("node: bad params")
	// ErrUnavailable is returned when a node type is registered but cannot run on
	// this target (its module is missing, no Python proxy is configured, ...).
	ErrUnavailable = errors.New("node: unavailable")
	// ErrFatal marks a node error after which the node cannot go on (its remote
	// session or worker is gone): the session fails at once with it, whatever the
	// node's error policy, instead of failing every remaining frame.
	ErrFatal = errors.New("node: cannot continue")
)

// Emit hands one output frame to the scheduler on the output port with the given
// index in Spec.Outputs. The frame must not be modified afterwards.
type Emit func(port int, f *frame.Frame)

// Node is one running instance of a node type within one session. The scheduler
// calls its methods from a single goroutine, never concurrently.
type Node interface {
	// Process handles one input frame that arrived on input port `port`, emitting
	// zero, one or many outputs. A returned error counts against the node and is
	// handled by the session's error policy; it does not stop the stream by itself.
	Process(ctx context.Context, port int, in *frame.Frame, emit Emit) error
	// Flush emits whatever the node has buffered (end of stream, or a flush control frame).
	Flush(ctx context.Context, emit Emit) error
	// Close releases the node's resources.
	Close() error
}

// Runtime says where a node implementation runs.
type Runtime string

// Runtimes, in the order `auto` prefers them.
const (
	RuntimeWASM   Runtime = "wasm"
	RuntimeGo     Runtime = "go"
	RuntimePython Runtime = "python"
)

// Preference is the order in which runtime_hint `auto` picks an implementation.
var Preference = []Runtime{RuntimeWASM, RuntimeGo, RuntimePython}

// Port is a named input or output of a node and the frame kinds it carries.
type Port struct {
	Name  string       `json:"name"`
	Kinds []frame.Kind `json:"-"`
	Doc   string       `json:"doc,omitempty"`
}

// Accepts reports whether the port carries frames of kind k.
func (p Port) Accepts(k frame.Kind) bool {
	for _, x := range p.Kinds {
		if x == k {
			return true
		}
	}
	return false
}

// KindNames returns the names of the frame kinds the port carries, in the order declared.
func (p Port) KindNames() []string {
	names := make([]string, len(p.Kinds))
	for i, k := range p.Kinds {
		names[i] = k.String()
	}
	return names
}

// ParamType is the type of a node parameter.
type ParamType string

// Parameter types.
const (
	ParamNumber  ParamType = "number"
	ParamInteger ParamType = "integer"
	ParamString  ParamType = "string"
	ParamBool    ParamType = "boolean"
	ParamObject  ParamType = "object"
)

// Param describes one parameter of a node type.
type Param struct {
	Name     string    `json:"name"`
	Type     ParamType `json:"type"`
	Default  any       `json:"default,omitempty"`
	Required bool      `json:"required,omitempty"`
	Doc      string    `json:"doc"`
	// Operator marks an operator-only param: one that names a program, a file
	// path, a model location or a code choice. It comes from the operator's
	// definitions and configuration; a client over the network never sets it.
	Operator bool `json:"operator,omitempty"`
	// Min and Max bound numbers; ExclusiveMin makes Min exclusive (> rather than >=).
	Min          *float64 `json:"min,omitempty"`
	Max          *float64 `json:"max,omitempty"`
	ExclusiveMin bool     `json:"exclusive_min,omitempty"`
	// Enum lists the allowed values of a string param.
	Enum []string `json:"enum,omitempty"`
}

// Bound returns a pointer to v, for Param.Min and Param.Max.
func Bound(v float64) *float64 { return &v }

// Spec describes a node type: its name, docs, params and ports, and how to make one.
type Spec struct {
	Type    string  `json:"node_type"`
	Runtime Runtime `json:"runtime"`
	Doc     string  `json:"doc"`
	Params  []Param `json:"params"`
	Inputs  []Port  `json:"inputs"`
	Outputs []Port  `json:"outputs"`
	// Example is a params object shown in the docs and checked by a test.
	Example map[string]any `json:"example,omitempty"`
	// New makes a node. params has been checked against Params and has every
	// default filled in.
	New func(ctx context.Context, cfg Config) (Node, error) `json:"-"`
	// Prepare, if set, readies what New needs without making a node (a WASM
	// node type loads and compiles its module), so that a caller can do it
	// ahead of the first session and for several node types at once.
	Prepare func(ctx context.Context) error `json:"-"`
	// Unavailable, when set, says why the type cannot run here (a Python node
	// whose model is not installed, say): a definition using it does not validate.
	Unavailable string `json:"unavailable,omitempty"`
}

// Config is what a node factory receives.
type Config struct {
	ID       string         // the node's id in the definition
	StreamID string         // the session's stream id
	Params   map[string]any // validated, defaults filled in
}

// OutputIndex returns the index of the named output port, or -1.
func (s *Spec) OutputIndex(name string) int {
	for i, p := range s.Outputs {
		if p.Name == name {
			return i
		}
	}
	return -1
}

// InputIndex returns the index of the named input port, or -1.
func (s *Spec) InputIndex(name string) int {
	for i, p := range s.Inputs {
		if p.Name == name {
			return i
		}
	}
	return -1
}
