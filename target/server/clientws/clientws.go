// Package clientws gives core/client its native pieces: a Doer over net/http
// and a DialFunc over github.com/coder/websocket.
package clientws

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"

	"github.com/coder/websocket"

	"github.com/remotemedia/hybrid/core/client"
)

// maxBody bounds an answer read into memory (a one-shot run's WAV output).
const maxBody = 1 << 30

// maxMessage bounds one WebSocket message from the server.
const maxMessage = 64 << 20

// New returns a client of the server at baseURL (http or https).
func New(baseURL, token string) *client.Client {
	return &client.Client{BaseURL: strings.TrimRight(baseURL, "/"), Token: token, Doer: Doer{}, Dial: Dial}
}

// Doer performs exchanges with an http.Client (http.DefaultClient when nil).
type Doer struct {
	HTTP *http.Client
}

// Do implements client.Doer.
func (d Doer) Do(ctx context.Context, r *client.Request) (*client.Response, error) {
	var body io.Reader
	if r.Body != nil {
		body = bytes.NewReader(r.Body)
	}
	req, err := http.NewRequestWithContext(ctx, r.Method, r.URL, body)
	if err != nil {
		return nil, err
	}
	if r.ContentType != "" {
		req.Header.Set("Content-Type", r.ContentType)
	}
	if r.Accept != "" {
		req.Header.Set("Accept", r.Accept)
	}
	if r.Token != "" {
		req.Header.Set("Authorization", "Bearer "+r.Token)
	}
	hc := d.HTTP
	if hc == nil {
		hc = http.DefaultClient
	}
	resp, err := hc.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, maxBody+1))
	if err != nil {
		return nil, err
	}
	if len(raw) > maxBody {
		return nil, fmt.Errorf("the answer exceeds %d bytes", maxBody)
	}
	return &client.Response{Status: resp.StatusCode, ContentType: resp.Header.Get("Content-Type"), Body: raw}, nil
}

// Dial is the client.DialFunc over github.com/coder/websocket: rawURL's http
// becomes ws (https, wss) and the token goes in the Authorization header. An
// HTTP refusal is a *client.StatusError with the server's message.
func Dial(ctx context.Context, rawURL, token string) (client.Conn, error) {
	u, ok := strings.CutPrefix(rawURL, "http")
	if !ok {
		return nil, fmt.Errorf("clientws: WebSocket URL %q: want http:// or https://", rawURL)
	}
	opts := &websocket.DialOptions{}
	if token != "" {
		opts.HTTPHeader = http.Header{"Authorization": {"Bearer " + token}}
	}
	c, resp, err := websocket.Dial(ctx, "ws"+u, opts)
	if err != nil {
		if resp != nil && resp.StatusCode != http.StatusSwitchingProtocols && resp.StatusCode != 0 {
			var b []byte
			if resp.Body != nil {
				b, _ = io.ReadAll(resp.Body)
			}
			return nil, client.NewStatusError("GET", rawURL, resp.StatusCode, b)
		}
		return nil, err
	}
	c.SetReadLimit(maxMessage)
	return &conn{c: c}, nil
}

// conn is a client.Conn over a *websocket.Conn.
type conn struct {
	c   *websocket.Conn
	buf bytes.Buffer // a message is read here, then copied out at its size
}

func (w *conn) Write(ctx context.Context, msg []byte) error {
	return closeErr(w.c.Write(ctx, websocket.MessageBinary, msg))
}

// WriteText implements client.TextWriter: an inline socket's definition.
func (w *conn) WriteText(ctx context.Context, msg []byte) error {
	return closeErr(w.c.Write(ctx, websocket.MessageText, msg))
}

func (w *conn) Read(ctx context.Context) ([]byte, error) {
	typ, r, err := w.c.Reader(ctx)
	if err != nil {
		return nil, closeErr(err)
	}
	if typ != websocket.MessageBinary {
		return nil, fmt.Errorf("%w: a text message", client.ErrResponse)
	}
	w.buf.Reset()
	if _, err := w.buf.ReadFrom(r); err != nil {
		return nil, closeErr(err)
	}
	return bytes.Clone(w.buf.Bytes()), nil
}

func (w *conn) Close() error { return w.c.Close(websocket.StatusNormalClosure, "") }

// closeErr turns the server's close frame into a *client.CloseError.
func closeErr(err error) error {
	var ce websocket.CloseError
	if errors.As(err, &ce) {
		return &client.CloseError{Code: int(ce.Code), Reason: ce.Reason}
	}
	return err
}
