//go:build js && wasm

package main

import (
	"context"
	"errors"
	"fmt"
	"syscall/js"

	"github.com/remotemedia/hybrid/core/pynode"
)

// fetchDoer is pynode's Doer over the browser's fetch, so core.wasm reaches the
// Python proxy with the same client code as the server without linking net/http
// (which would more than double its size).
type fetchDoer struct{}

// registerPython registers the Python node types the proxy at server lists; their
// sessions stream over WebSockets (pynode.WSTransport over dialWS), or over fetch when one cannot open.
func registerPython(ctx context.Context, c *core, server, token string) error {
	client := pynode.NewClient(server, token, fetchDoer{})
	types, err := client.Nodes(ctx)
	var status *pynode.StatusError
	if errors.As(err, &status) && status.Code == 404 {
		// No Python node API there (serve --python off): no Python node types,
		// and split placement of the server's other nodes still works.
		return nil
	}
	if err != nil {
		return err
	}
	t := pynode.NewWSTransport(client, dialWS)
	t.Fallback = func(nodeType, _ string, err error) {
		js.Global().Get("console").Call("warn", fmt.Sprintf("remotemedia: Python node %s runs over fetch (one request per frame): %v", nodeType, err))
	}
	return pynode.Register(c.reg, t, types)
}

// Do implements pynode.Doer.
func (fetchDoer) Do(ctx context.Context, method, url, contentType, token string, body []byte) (int, []byte, error) {
	opts := js.Global().Get("Object").New()
	opts.Set("method", method)
	headers := js.Global().Get("Object").New()
	if contentType != "" {
		headers.Set("Content-Type", contentType)
	}
	if token != "" {
		headers.Set("Authorization", "Bearer "+token)
	}
	opts.Set("headers", headers)
	if body != nil {
		arr := js.Global().Get("Uint8Array").New(len(body))
		js.CopyBytesToJS(arr, body)
		opts.Set("body", arr)
	}
	resp, err := await(ctx, js.Global().Call("fetch", url, opts))
	if err != nil {
		return 0, nil, err
	}
	buf, err := await(ctx, resp.Call("arrayBuffer"))
	if err != nil {
		return 0, nil, err
	}
	raw, err := bytesOf(buf)
	return resp.Get("status").Int(), raw, err
}
