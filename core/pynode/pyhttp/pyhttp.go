// Package pyhttp is the net/http Doer for pynode.Client, used natively (the
// browser target has its own, over fetch, to keep net/http out of core.wasm).
package pyhttp

import (
	"bytes"
	"context"
	"io"
	"net/http"

	"github.com/remotemedia/hybrid/core/pynode"
)

// maxBody bounds a response body read into memory.
const maxBody = 64 << 20

// Doer performs exchanges with an http.Client (http.DefaultClient when nil),
// which keeps connections alive between requests.
type Doer struct {
	HTTP *http.Client
}

// NewClient returns a pynode.Client for the proxy at baseURL over net/http.
func NewClient(baseURL, token string) *pynode.Client {
	return pynode.NewClient(baseURL, token, Doer{})
}

// Do implements pynode.Doer.
func (d Doer) Do(ctx context.Context, method, url, contentType, token string, body []byte) (int, []byte, error) {
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, url, rd)
	if err != nil {
		return 0, nil, err
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	hc := d.HTTP
	if hc == nil {
		hc = http.DefaultClient
	}
	resp, err := hc.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, maxBody))
	return resp.StatusCode, raw, err
}
