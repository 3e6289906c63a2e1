package sched

import "errors"

// Errors returned by this package.
var (
	// ErrClosed is returned by Push, CloseInput and Control once the input is closed
	// or the session has ended, and by Wait after Close stopped a running session.
	ErrClosed = errors.New("sched: session closed")
	// ErrGraph is returned by Start for a graph it cannot run (unknown node, port
	// out of range, duplicate id, cycle, missing spec).
	ErrGraph = errors.New("sched: invalid graph")
	// ErrPort is reported when a node emits on an output port its spec does not have.
	ErrPort = errors.New("sched: emit on an unknown output port")
	// ErrControl is returned for a control op the scheduler does not know.
	ErrControl = errors.New("sched: unknown control op")
	// ErrOptions is returned by Start for options that do not go together.
	ErrOptions = errors.New("sched: invalid options")
)
