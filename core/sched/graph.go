// Package sched runs a pipeline graph as a streaming session: one goroutine per
// node (or, with Options.Synchronous, none: each frame goes through on the caller's
// goroutine), bounded queues with back-pressure, leaky edges that count what they drop,
// control frames ahead of data, end-of-stream flushing in order, and per-node
// counters and latency percentiles.
package sched

import (
	"github.com/remotemedia/hybrid/core/frame"
	"github.com/remotemedia/hybrid/core/node"
)

// Graph is a validated pipeline ready to run. core/def builds it from a
// definition; tests build it by hand.
type Graph struct {
	Nodes []NodeDef
	Edges []Edge
}

// NodeDef is one node of the graph.
type NodeDef struct {
	ID     string
	Spec   *node.Spec
	Params map[string]any // validated, defaults filled in; passed to Spec.New
	// QueueSize bounds the node's input queue; 0 means Options.QueueSize.
	QueueSize int
	// OnError is what a Process/Flush error does to the session.
	OnError ErrorPolicy
}

// ErrorPolicy says what a node's error does to the session.
type ErrorPolicy string

const (
	// Continue counts the error, reports it on Outputs and goes on with the next frame (the default).
	Continue ErrorPolicy = "continue"
	// Fail ends the session with the error.
	Fail ErrorPolicy = "fail"
)

// Policy is what an edge does when the downstream queue is full.
type Policy string

const (
	// Block waits for room: back-pressure (the default).
	Block Policy = "block"
	// DropOldest discards the oldest queued data frame to make room, and counts it.
	DropOldest Policy = "drop_oldest"
)

// Edge connects an output port of one node to an input port of another.
type Edge struct {
	From     string // node id
	FromPort int    // index into the source Spec.Outputs
	To       string
	ToPort   int // index into the destination Spec.Inputs
	Policy   Policy
	// When, if not nil, is evaluated on each data frame; the frame crosses the edge
	// only when it returns true. Control frames always cross.
	When func(*frame.Frame) (bool, error)
	// WhenSource is the expression text, for errors and stats.
	WhenSource string
}
