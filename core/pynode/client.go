// Package pynode runs Python nodes served by a pyproxy (docs/pyproxy.md) as
// pipeline nodes with Runtime python. The Client speaks the proxy's HTTP API over
// a Doer, the one piece that differs by target: net/http natively (package
// pyhttp), the browser's fetch in target/browser (net/http would add half a
// megabyte to core.wasm).
package pynode

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"reflect"
	"strings"

	"github.com/remotemedia/hybrid/core/frame"
	"github.com/remotemedia/hybrid/core/node"
)

// ContentType is the media type of bodies that carry wire frames.
const ContentType = "application/x-msgpack"

// Errors returned by this package.
var (
	// ErrRemote matches every failure the proxy reports: a node's exception, a
	// worker that died or timed out, an unknown session (see *StatusError).
	ErrRemote = errors.New("pynode: remote node failed")
	// ErrResponse is returned for a proxy answer that cannot be understood.
	ErrResponse = errors.New("pynode: bad response from proxy")
	// ErrLateDropped is returned by a call whose reply says that outputs the
	// node produced between calls were dropped (the proxy keeps a bounded
	// number). The outputs that were kept are still handed on.
	ErrLateDropped = errors.New("pynode: late outputs dropped")
)

// StatusError is a plain HTTP error answer of the proxy.
type StatusError struct {
	Code    int
	Message string // the proxy's {"error": ...}
}

func (e *StatusError) Error() string {
	return fmt.Sprintf("pynode: proxy answered %d: %s", e.Code, e.Message)
}

// Is matches ErrRemote.
func (e *StatusError) Is(target error) bool { return target == ErrRemote }

// SessionGoneError is a call that failed because the proxy no longer has its
// session: the worker died, or hung and was replaced, the proxy closed, or it
// has forgotten the session. It matches node.ErrFatal, since no later call can
// succeed, so the pipeline stops at once instead of failing every frame.
type SessionGoneError struct {
	Reason string // what happened, in a few words; may be empty
	Err    error  // the proxy's answer
}

func (e *SessionGoneError) Error() string {
	if e.Reason == "" {
		return e.Err.Error() + "; the node's session is gone"
	}
	return e.Reason + ": " + e.Err.Error() + "; the node's session is gone"
}

// Unwrap returns the proxy's answer and node.ErrFatal.
func (e *SessionGoneError) Unwrap() []error { return []error{e.Err, node.ErrFatal} }

// sessionGone turns the proxy's answer to a call on a session that no longer
// exists into a *SessionGoneError, and returns any other error unchanged.
func sessionGone(err error) error {
	var se *StatusError
	if !errors.As(err, &se) {
		return err
	}
	var reason string
	switch se.Code {
	case 404:
		reason = "the Python proxy no longer has the session"
	case 502:
		reason = "Python worker died"
	case 503:
		reason = "the Python proxy is closed or has no worker"
	case 504:
		reason = "Python worker did not answer in time and was replaced"
	case 410:
		reason = "the session expired (idle too long)"
	default:
		return err
	}
	return &SessionGoneError{Reason: reason, Err: err}
}

// Transport carries a node session's frames to wherever the Python node runs.
// Client is the HTTP one; a WebSocket transport can implement the same methods.
type Transport interface {
	// Open starts a session of nodeType and returns its id.
	Open(ctx context.Context, nodeType string, params map[string]any) (session string, err error)
	// Send feeds one or more concatenated wire frames and hands each output to emit.
	Send(ctx context.Context, session string, frames []byte, emit func(*frame.Frame)) error
	// Flush asks the node for what it has buffered and hands each output to emit.
	Flush(ctx context.Context, session string, emit func(*frame.Frame)) error
	// Close ends the session.
	Close(ctx context.Context, session string) error
}

// RemoteType is a Python node type as listed by GET /v1/nodes.
type RemoteType struct {
	Type      string        `json:"node_type"`
	Doc       string        `json:"doc"`
	Streaming bool          `json:"is_streaming"`
	Params    []RemoteParam `json:"params"`
	// Unavailable, when set, says why the type cannot run where the proxy is.
	Unavailable string `json:"unavailable,omitempty"`
}

// RemoteParam is one parameter of a RemoteType.
type RemoteParam struct {
	Name     string `json:"name"`
	Type     string `json:"type"`
	Default  any    `json:"default"`
	Doc      string `json:"doc"`
	Required bool   `json:"required,omitempty"`
	Operator bool   `json:"operator,omitempty"` // operator-only: never set by a client
}

// Doer performs one HTTP exchange: method on url with an optional body and
// bearer token, returning the status code and the whole response body.
type Doer interface {
	Do(ctx context.Context, method, url, contentType, token string, body []byte) (status int, resp []byte, err error)
}

// Client is the Transport to a pyproxy over its HTTP API.
type Client struct {
	BaseURL string // e.g. "http://127.0.0.1:8091", or "" / "/py" in a browser
	Token   string // sent as Authorization: Bearer
	Doer    Doer
}

var _ Transport = (*Client)(nil)

// NewClient returns a Client for the proxy at baseURL.
func NewClient(baseURL, token string, d Doer) *Client {
	return &Client{BaseURL: strings.TrimRight(baseURL, "/"), Token: token, Doer: d}
}

// Nodes lists the node types the proxy serves.
func (c *Client) Nodes(ctx context.Context) ([]RemoteType, error) {
	raw, err := c.do(ctx, "GET", "/v1/nodes", "", nil)
	if err != nil {
		return nil, err
	}
	var types []RemoteType
	if err := json.Unmarshal(raw, &types); err != nil {
		return nil, fmt.Errorf("%w: GET /v1/nodes: %v", ErrResponse, err)
	}
	return types, nil
}

// Open implements Transport.
func (c *Client) Open(ctx context.Context, nodeType string, params map[string]any) (string, error) {
	body, err := json.Marshal(map[string]any{"node_type": nodeType, "params": params})
	if err != nil {
		return "", fmt.Errorf("pynode: open %q: params: %w", nodeType, err)
	}
	raw, err := c.do(ctx, "POST", "/v1/sessions", "application/json", body)
	if err != nil {
		return "", err
	}
	var out struct {
		SessionID string `json:"session_id"`
	}
	if err := json.Unmarshal(raw, &out); err != nil || out.SessionID == "" {
		return "", fmt.Errorf("%w: POST /v1/sessions: no session_id (%v)", ErrResponse, err)
	}
	return out.SessionID, nil
}

// Send implements Transport with POST /v1/sessions/{id}/frames.
func (c *Client) Send(ctx context.Context, session string, frames []byte, emit func(*frame.Frame)) error {
	return c.stream(ctx, "/v1/sessions/"+url.PathEscape(session)+"/frames", frames, emit)
}

// Flush implements Transport with POST /v1/sessions/{id}/flush.
func (c *Client) Flush(ctx context.Context, session string, emit func(*frame.Frame)) error {
	return c.stream(ctx, "/v1/sessions/"+url.PathEscape(session)+"/flush", []byte{}, emit)
}

// Close implements Transport with DELETE /v1/sessions/{id}.
func (c *Client) Close(ctx context.Context, session string) error {
	_, err := c.do(ctx, "DELETE", "/v1/sessions/"+url.PathEscape(session), "", nil)
	return err
}

// stream posts body and hands on the output frames, stopping at an error frame.
func (c *Client) stream(ctx context.Context, path string, body []byte, emit func(*frame.Frame)) error {
	raw, err := c.do(ctx, "POST", path, ContentType, body)
	if err != nil {
		return sessionGone(err)
	}
	var dropped int64
	for len(raw) > 0 {
		f, n, err := frame.UnmarshalPrefix(raw)
		if err != nil {
			return fmt.Errorf("%w: POST %s: %v", ErrResponse, path, err)
		}
		raw = raw[n:]
		if err := ErrorFrame(f); err != nil {
			return err
		}
		if n, ok := lateDropped(f); ok {
			dropped += n
			continue
		}
		emit(f)
	}
	return droppedError(dropped)
}

// lateDropped reports the count of a proxy notice that late outputs of the
// node were dropped (json, meta {"dropped_late_outputs": n}).
func lateDropped(f *frame.Frame) (int64, bool) {
	if f.Kind != frame.KindJSON {
		return 0, false
	}
	v := reflect.ValueOf(f.Meta["dropped_late_outputs"])
	switch {
	case v.CanInt():
		return v.Int(), true
	case v.CanUint():
		return int64(v.Uint()), true
	case v.CanFloat():
		return int64(v.Float()), true
	}
	return 0, false
}

// droppedError is the error of a call whose replies reported n dropped late outputs.
func droppedError(n int64) error {
	if n == 0 {
		return nil
	}
	return fmt.Errorf("%w: the proxy dropped %d outputs the node produced between calls (it keeps a bounded number; read them sooner)", ErrLateDropped, n)
}

// ErrorFrame returns the error (matching ErrRemote) that f reports when it is a
// proxy error frame (json, meta {"error": true}), or nil for any other frame.
func ErrorFrame(f *frame.Frame) error {
	if f.Kind != frame.KindJSON || f.Meta["error"] != true {
		return nil
	}
	var doc struct {
		Error string `json:"error"`
	}
	if err := json.Unmarshal(f.Data, &doc); err != nil || doc.Error == "" {
		doc.Error = string(f.Data)
	}
	return fmt.Errorf("%w: %s", ErrRemote, doc.Error)
}

func (c *Client) do(ctx context.Context, method, path, contentType string, body []byte) ([]byte, error) {
	if c.Doer == nil {
		return nil, fmt.Errorf("pynode: %s %s: the client has no Doer", method, path)
	}
	status, raw, err := c.Doer.Do(ctx, method, c.BaseURL+path, contentType, c.Token, body)
	if err != nil {
		return nil, fmt.Errorf("pynode: %s %s: %w", method, path, err)
	}
	if status/100 == 2 {
		return raw, nil
	}
	var doc struct {
		Error string `json:"error"`
	}
	if json.Unmarshal(raw, &doc) != nil || doc.Error == "" {
		doc.Error = strings.TrimSpace(string(raw))
	}
	return nil, &StatusError{Code: status, Message: doc.Error}
}
