// Package pynode runs Python nodes served by a pyproxy (docs/pyproxy.md) as
// pipeline nodes with Runtime python. It uses net/http only, so it works the same
// natively and under GOOS=js, where net/http is the browser's fetch.
package pynode

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"

	"github.com/remotemedia/hybrid/core/frame"
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
}

// RemoteParam is one parameter of a RemoteType.
type RemoteParam struct {
	Name    string `json:"name"`
	Type    string `json:"type"`
	Default any    `json:"default"`
	Doc     string `json:"doc"`
}

// Client is the HTTP Transport to a pyproxy. Its zero HTTP uses http.DefaultClient,
// which keeps connections alive between requests.
type Client struct {
	BaseURL string // e.g. "http://127.0.0.1:8091" or a prefix like "/py" in a browser
	Token   string // sent as Authorization: Bearer
	HTTP    *http.Client
}

var _ Transport = (*Client)(nil)

// NewClient returns a Client for the proxy at baseURL.
func NewClient(baseURL, token string) *Client {
	return &Client{BaseURL: strings.TrimRight(baseURL, "/"), Token: token}
}

// Nodes lists the node types the proxy serves.
func (c *Client) Nodes(ctx context.Context) ([]RemoteType, error) {
	resp, err := c.do(ctx, http.MethodGet, "/v1/nodes", "", nil)
	if err != nil {
		return nil, err
	}
	defer drain(resp)
	var types []RemoteType
	if err := json.NewDecoder(resp.Body).Decode(&types); err != nil {
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
	resp, err := c.do(ctx, http.MethodPost, "/v1/sessions", "application/json", body)
	if err != nil {
		return "", err
	}
	defer drain(resp)
	var out struct {
		SessionID string `json:"session_id"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil || out.SessionID == "" {
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
	return c.stream(ctx, "/v1/sessions/"+url.PathEscape(session)+"/flush", nil, emit)
}

// Close implements Transport with DELETE /v1/sessions/{id}.
func (c *Client) Close(ctx context.Context, session string) error {
	resp, err := c.do(ctx, http.MethodDelete, "/v1/sessions/"+url.PathEscape(session), "", nil)
	if err != nil {
		return err
	}
	drain(resp)
	return nil
}

// stream posts body and decodes the streamed output frames, stopping at an error frame.
func (c *Client) stream(ctx context.Context, path string, body []byte, emit func(*frame.Frame)) error {
	resp, err := c.do(ctx, http.MethodPost, path, ContentType, body)
	if err != nil {
		return err
	}
	defer drain(resp)
	dec := frame.NewDecoder(resp.Body)
	for {
		f, err := dec.Decode()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return fmt.Errorf("%w: POST %s: %v", ErrResponse, path, err)
		}
		if msg, ok := errorFrame(f); ok {
			return fmt.Errorf("%w: %s", ErrRemote, msg)
		}
		emit(f)
	}
}

// errorFrame reports whether f is a proxy error frame (json, meta {"error": true}) and its message.
func errorFrame(f *frame.Frame) (string, bool) {
	if f.Kind != frame.KindJSON || f.Meta["error"] != true {
		return "", false
	}
	var doc struct {
		Error string `json:"error"`
	}
	if err := json.Unmarshal(f.Data, &doc); err != nil || doc.Error == "" {
		return string(f.Data), true
	}
	return doc.Error, true
}

func (c *Client) do(ctx context.Context, method, path, contentType string, body []byte) (*http.Response, error) {
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.BaseURL+path, rd)
	if err != nil {
		return nil, fmt.Errorf("pynode: %s %s: %w", method, path, err)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	if c.Token != "" {
		req.Header.Set("Authorization", "Bearer "+c.Token)
	}
	hc := c.HTTP
	if hc == nil {
		hc = http.DefaultClient
	}
	resp, err := hc.Do(req)
	if err != nil {
		return nil, fmt.Errorf("pynode: %s %s: %w", method, path, err)
	}
	if resp.StatusCode/100 == 2 {
		return resp, nil
	}
	defer drain(resp)
	var doc struct {
		Error string `json:"error"`
	}
	raw, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	if json.Unmarshal(raw, &doc) != nil || doc.Error == "" {
		doc.Error = strings.TrimSpace(string(raw))
	}
	return nil, &StatusError{Code: resp.StatusCode, Message: doc.Error}
}

// drain reads what is left of a body so that the connection can be reused, then closes it.
func drain(resp *http.Response) {
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<20))
	_ = resp.Body.Close()
}
