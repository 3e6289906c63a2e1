package pyproxy

import (
	"errors"
	"fmt"
	"time"
)

// Errors returned by this package. Worker failures come back as *WorkerError and
// node exceptions as *NodeError; both match the sentinels below with errors.Is.
var (
	// ErrConfig is returned by New for an unusable Config.
	ErrConfig = errors.New("pyproxy: bad config")
	// ErrNoToken is returned when asked to listen on a non-loopback address without a token.
	ErrNoToken = errors.New("pyproxy: a token is required to listen on a non-loopback address")
	// ErrUnknownNodeType is returned when opening a node type no worker registered.
	ErrUnknownNodeType = errors.New("pyproxy: unknown node type")
	// ErrOperatorParam is returned when a caller that is not trusted sets an
	// operator-only param (Param.Operator).
	ErrOperatorParam = errors.New("pyproxy: operator-only param")
	// ErrUnavailable is returned when opening a node type that cannot run here
	// (NodeType.Unavailable says why).
	ErrUnavailable = errors.New("pyproxy: node type unavailable")
	// ErrUnknownSession is returned for a session id that is not open.
	ErrUnknownSession = errors.New("pyproxy: unknown session")
	// ErrSessionExpired is returned for a session ended after Config.SessionIdle unused.
	ErrSessionExpired = errors.New("pyproxy: session expired")
	// ErrSessionCap is returned when Config.MaxSessions sessions are already open,
	// or Config.MaxSessionsPerClient by the same client.
	ErrSessionCap = errors.New("pyproxy: session limit reached")
	// ErrBadFrame is returned for a request body that is not a sequence of wire frames.
	ErrBadFrame = errors.New("pyproxy: bad frame")
	// ErrWorkerDied matches a *WorkerError for a worker that exited.
	ErrWorkerDied = errors.New("pyproxy: worker died")
	// ErrWorkerMemory matches a *WorkerError for a worker that went over
	// Config.MemoryLimit; it also matches ErrWorkerDied.
	ErrWorkerMemory = errors.New("pyproxy: worker exceeded its memory limit")
	// ErrTimeout matches a *WorkerError for a worker that did not answer within Config.CallTimeout.
	ErrTimeout = errors.New("pyproxy: worker did not answer in time")
	// ErrNode matches a *NodeError: the node raised an exception.
	ErrNode = errors.New("pyproxy: node raised an exception")
	// ErrNoWorker is returned when no worker became ready in time.
	ErrNoWorker = errors.New("pyproxy: no worker available")
	// ErrProtocol is returned when a worker breaks the pipe protocol (docs/pyproxy.md).
	ErrProtocol = errors.New("pyproxy: worker protocol error")
	// ErrClosed is returned after Close.
	ErrClosed = errors.New("pyproxy: closed")
)

// WorkerError says why a worker stopped serving. Every call pending on the worker,
// and every session pinned to it, fails with it. Its text goes to clients, so it
// does not name the process (PID is for the operator's log).
type WorkerError struct {
	PID int
	// Timeout is set when the worker was killed because a call hung for this long.
	Timeout time.Duration
	// MemoryLimit is set when the worker went over its memory limit (bytes).
	MemoryLimit int64
	// Err is the process's exit status (or why it could not be read).
	Err error
}

func (e *WorkerError) Error() string {
	if e.MemoryLimit > 0 {
		return fmt.Sprintf("pyproxy: the Python worker exceeded its memory limit of %d MiB; it was replaced", e.MemoryLimit>>20)
	}
	if e.Timeout > 0 {
		return fmt.Sprintf("pyproxy: the Python worker did not answer within %s", e.Timeout)
	}
	return fmt.Sprintf("pyproxy: the Python worker died: %v", e.Err)
}

// Is matches ErrTimeout for a hung worker, ErrWorkerMemory and ErrWorkerDied for
// one over its memory limit, and ErrWorkerDied otherwise.
func (e *WorkerError) Is(target error) bool {
	switch {
	case e.Timeout > 0:
		return target == ErrTimeout
	case e.MemoryLimit > 0:
		return target == ErrWorkerMemory || target == ErrWorkerDied
	}
	return target == ErrWorkerDied
}

// NodeError is an exception raised by a Python node. The session stays usable.
type NodeError struct {
	NodeType string
	Session  string
	// Type is the Python exception type; Message is "Type: text" (the worker's
	// traceback is logged by the proxy, never sent to a client).
	Type    string
	Message string
}

func (e *NodeError) Error() string {
	return fmt.Sprintf("pyproxy: node %q (session %s): %s", e.NodeType, e.Session, e.Message)
}

// Is matches ErrNode.
func (e *NodeError) Is(target error) bool { return target == ErrNode }
