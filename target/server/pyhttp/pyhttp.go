// Package pyhttp is the net/http Doer for pynode.Client, used natively (the
// browser target has its own, over fetch, to keep net/http out of core.wasm).
package pyhttp

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"

	"github.com/remotemedia/hybrid/core/pynode"
)

// maxBody bounds a response body read into memory.
const maxBody = 64 << 20

// Client is the http.Client a Doer uses when it has none: it keeps connections
// alive between requests like http.DefaultClient (it starts from a clone of
// http.DefaultTransport, so proxies from the environment still apply), but keeps
// more idle connections per host, since a pipeline's Python nodes all talk to one
// proxy, and buffers 64 KiB per connection, so that a request of a 20 ms audio
// frame goes out in one write and its response comes in with one read.
var Client = &http.Client{Transport: newTransport()}

func newTransport() http.RoundTripper {
	t, ok := http.DefaultTransport.(*http.Transport)
	if !ok {
		return http.DefaultTransport
	}
	t = t.Clone()
	t.MaxIdleConnsPerHost = 64
	t.WriteBufferSize = 64 << 10
	t.ReadBufferSize = 64 << 10
	return t
}

// Doer performs exchanges with an http.Client (Client when nil), which keeps
// connections alive between requests.
type Doer struct {
	HTTP *http.Client
}

// NewClient returns a pynode.Client for the proxy at baseURL over net/http.
func NewClient(baseURL, token string) *pynode.Client {
	return pynode.NewClient(baseURL, token, Doer{})
}

// Do implements pynode.Doer. The whole response body is read (so the connection
// goes back to the pool); one over maxBody is an error.
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
		hc = Client
	}
	resp, err := hc.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	raw, err := readBody(resp)
	return resp.StatusCode, raw, err
}

// readBody reads a response body; one of a declared length (the proxy declares it
// whenever the outputs were all there when the request ended) into a buffer of
// exactly that size, a streamed one into a buffer that starts at 16 KiB.
func readBody(resp *http.Response) ([]byte, error) {
	if n := resp.ContentLength; n >= 0 {
		if n > maxBody {
			return nil, fmt.Errorf("response body of %d bytes exceeds %d", n, maxBody)
		}
		raw := make([]byte, n)
		_, err := io.ReadFull(resp.Body, raw)
		return raw, err
	}
	buf := bytes.NewBuffer(make([]byte, 0, 16<<10))
	if _, err := buf.ReadFrom(io.LimitReader(resp.Body, maxBody+1)); err != nil {
		return buf.Bytes(), err
	}
	if buf.Len() > maxBody {
		return nil, fmt.Errorf("response body exceeds %d bytes", maxBody)
	}
	return buf.Bytes(), nil
}
