package pyhttp

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"strings"

	"github.com/coder/websocket"
	"github.com/remotemedia/hybrid/core/pynode"
)

// NewTransport returns the Transport a native pipeline uses for the proxy at
// baseURL (http or https): each session streams over its WebSocket, opened and
// deleted over HTTP, as in a browser tab.
func NewTransport(baseURL, token string) *pynode.WSTransport {
	return pynode.NewWSTransport(NewClient(baseURL, token), DialWS)
}

// DialWS is the pynode.DialFunc over github.com/coder/websocket: rawURL's http
// becomes ws (https, wss) and the token goes in the Authorization header.
func DialWS(ctx context.Context, rawURL, token string) (pynode.MessageConn, error) {
	u, ok := strings.CutPrefix(rawURL, "http")
	if !ok {
		return nil, fmt.Errorf("pyhttp: WebSocket URL %q: want http:// or https://", rawURL)
	}
	opts := &websocket.DialOptions{HTTPClient: Client}
	if token != "" {
		opts.HTTPHeader = http.Header{"Authorization": {"Bearer " + token}}
	}
	c, _, err := websocket.Dial(ctx, "ws"+u, opts)
	if err != nil {
		return nil, err
	}
	c.SetReadLimit(maxBody)
	return &wsConn{c: c}, nil
}

// wsConn is a pynode.MessageConn over a *websocket.Conn.
type wsConn struct {
	c   *websocket.Conn
	buf bytes.Buffer // a message is read here, then copied out at its size
}

func (w *wsConn) Write(ctx context.Context, msg []byte) error {
	return w.c.Write(ctx, websocket.MessageBinary, msg)
}

func (w *wsConn) Read(ctx context.Context) ([]byte, error) {
	typ, r, err := w.c.Reader(ctx)
	if err != nil {
		return nil, err
	}
	if typ != websocket.MessageBinary {
		return nil, fmt.Errorf("%w: a text message", pynode.ErrResponse)
	}
	w.buf.Reset()
	if _, err := w.buf.ReadFrom(r); err != nil {
		return nil, err
	}
	return bytes.Clone(w.buf.Bytes()), nil
}

func (w *wsConn) Close() error { return w.c.Close(websocket.StatusNormalClosure, "") }
