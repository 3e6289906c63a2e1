//go:build js && wasm

package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"strings"
	"syscall/js"

	"github.com/remotemedia/hybrid/core/frame"
	"github.com/remotemedia/hybrid/core/pynode"
)

// fetchTransport is core/pynode's Transport over the browser's fetch: the
// HTTP API of pynode.Client (docs/pyproxy.md), without linking net/http into
// core.wasm (which would more than double its size).
type fetchTransport struct {
	base  string // the proxy's root URL, without a trailing "/"
	token string
}

var _ pynode.Transport = (*fetchTransport)(nil)

// registerPython registers the Python node types the proxy at server lists.
func registerPython(ctx context.Context, c *core, server, token string) error {
	t := &fetchTransport{base: strings.TrimRight(server, "/"), token: token}
	body, err := t.do(ctx, "GET", "/v1/nodes", "", nil)
	if err != nil {
		return err
	}
	var types []pynode.RemoteType
	if err := json.Unmarshal(body, &types); err != nil {
		return fmt.Errorf("%w: GET /v1/nodes: %v", pynode.ErrResponse, err)
	}
	return pynode.Register(c.reg, t, types)
}

func (t *fetchTransport) do(ctx context.Context, method, path, contentType string, body []byte) ([]byte, error) {
	opts := js.Global().Get("Object").New()
	opts.Set("method", method)
	headers := js.Global().Get("Object").New()
	if contentType != "" {
		headers.Set("Content-Type", contentType)
	}
	if t.token != "" {
		headers.Set("Authorization", "Bearer "+t.token)
	}
	opts.Set("headers", headers)
	if body != nil {
		arr := js.Global().Get("Uint8Array").New(len(body))
		js.CopyBytesToJS(arr, body)
		opts.Set("body", arr)
	}
	resp, err := await(ctx, js.Global().Call("fetch", t.base+path, opts))
	if err != nil {
		return nil, fmt.Errorf("pynode: %s %s: %w", method, path, err)
	}
	buf, err := await(ctx, resp.Call("arrayBuffer"))
	if err != nil {
		return nil, fmt.Errorf("pynode: %s %s: %w", method, path, err)
	}
	raw, err := bytesOf(buf)
	if err != nil {
		return nil, err
	}
	if status := resp.Get("status").Int(); status/100 != 2 {
		var doc struct {
			Error string `json:"error"`
		}
		if json.Unmarshal(raw, &doc) != nil || doc.Error == "" {
			doc.Error = strings.TrimSpace(string(raw))
		}
		return nil, &pynode.StatusError{Code: status, Message: doc.Error}
	}
	return raw, nil
}

// Open implements pynode.Transport.
func (t *fetchTransport) Open(ctx context.Context, nodeType string, params map[string]any) (string, error) {
	body, err := json.Marshal(map[string]any{"node_type": nodeType, "params": params})
	if err != nil {
		return "", fmt.Errorf("pynode: open %q: params: %w", nodeType, err)
	}
	raw, err := t.do(ctx, "POST", "/v1/sessions", "application/json", body)
	if err != nil {
		return "", err
	}
	var out struct {
		SessionID string `json:"session_id"`
	}
	if err := json.Unmarshal(raw, &out); err != nil || out.SessionID == "" {
		return "", fmt.Errorf("%w: POST /v1/sessions: no session_id (%v)", pynode.ErrResponse, err)
	}
	return out.SessionID, nil
}

// Send implements pynode.Transport.
func (t *fetchTransport) Send(ctx context.Context, session string, frames []byte, emit func(*frame.Frame)) error {
	return t.stream(ctx, "/v1/sessions/"+url.PathEscape(session)+"/frames", frames, emit)
}

// Flush implements pynode.Transport.
func (t *fetchTransport) Flush(ctx context.Context, session string, emit func(*frame.Frame)) error {
	return t.stream(ctx, "/v1/sessions/"+url.PathEscape(session)+"/flush", []byte{}, emit)
}

// Close implements pynode.Transport.
func (t *fetchTransport) Close(ctx context.Context, session string) error {
	_, err := t.do(ctx, "DELETE", "/v1/sessions/"+url.PathEscape(session), "", nil)
	return err
}

// stream posts body and hands on the output frames, stopping at an error frame.
func (t *fetchTransport) stream(ctx context.Context, path string, body []byte, emit func(*frame.Frame)) error {
	raw, err := t.do(ctx, "POST", path, pynode.ContentType, body)
	if err != nil {
		return err
	}
	for len(raw) > 0 {
		f, n, err := frame.UnmarshalPrefix(raw)
		if err != nil {
			return fmt.Errorf("%w: POST %s: %v", pynode.ErrResponse, path, err)
		}
		raw = raw[n:]
		if f.Kind == frame.KindJSON && f.Meta["error"] == true {
			var doc struct {
				Error string `json:"error"`
			}
			if json.Unmarshal(f.Data, &doc) != nil || doc.Error == "" {
				doc.Error = string(f.Data)
			}
			return fmt.Errorf("%w: %s", pynode.ErrRemote, doc.Error)
		}
		emit(f)
	}
	return nil
}
