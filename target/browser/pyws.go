//go:build js && wasm

package main

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"sync"
	"syscall/js"

	"github.com/remotemedia/hybrid/core/frame"
	"github.com/remotemedia/hybrid/core/pynode"
)

// errWSClosed is returned by a call on a session whose WebSocket has closed or failed.
var errWSClosed = errors.New("pynode: WebSocket closed")

// wsTransport is the tab's pynode.Transport: each session streams its frames over a
// WebSocket (GET /v1/sessions/{id}/ws, docs/pyproxy.md), one message per call whose
// reply ends at the proxy's zero-length marker, instead of one fetch per frame.
// Sessions are opened and deleted through the HTTP Client, which also carries a
// session whose WebSocket cannot be opened.
type wsTransport struct {
	http  *pynode.Client
	mu    sync.Mutex
	conns map[string]*wsConn // nil for a session that fell back to HTTP
}

var _ pynode.Transport = (*wsTransport)(nil)

func newWSTransport(c *pynode.Client) *wsTransport {
	return &wsTransport{http: c, conns: map[string]*wsConn{}}
}

// eosMessage is the message Flush sends: an eos control frame.
var eosMessage, _ = frame.Marshal(frame.NewControl(frame.Header{}, frame.EndOfStream))

// Open implements pynode.Transport: POST /v1/sessions, then the session's WebSocket.
func (t *wsTransport) Open(ctx context.Context, nodeType string, params map[string]any) (string, error) {
	id, err := t.http.Open(ctx, nodeType, params)
	if err != nil {
		return "", err
	}
	conn, err := dialWS(ctx, t.http.BaseURL+"/v1/sessions/"+url.PathEscape(id)+"/ws", t.http.Token)
	if err != nil {
		js.Global().Get("console").Call("warn", fmt.Sprintf("remotemedia: Python node %s runs over fetch (one request per frame): %v", nodeType, err))
		conn = nil
	}
	t.mu.Lock()
	t.conns[id] = conn
	t.mu.Unlock()
	return id, nil
}

// Send implements pynode.Transport.
func (t *wsTransport) Send(ctx context.Context, session string, frames []byte, emit func(*frame.Frame)) error {
	if c := t.conn(session); c != nil {
		return c.call(ctx, frames, emit, false)
	}
	return t.http.Send(ctx, session, frames, emit)
}

// Flush implements pynode.Transport with an eos control frame, whose echo is dropped.
func (t *wsTransport) Flush(ctx context.Context, session string, emit func(*frame.Frame)) error {
	if c := t.conn(session); c != nil {
		return c.call(ctx, eosMessage, emit, true)
	}
	return t.http.Flush(ctx, session, emit)
}

// Close implements pynode.Transport: it closes the WebSocket, then deletes the session.
func (t *wsTransport) Close(ctx context.Context, session string) error {
	t.mu.Lock()
	c := t.conns[session]
	delete(t.conns, session)
	t.mu.Unlock()
	if c != nil {
		c.close()
	}
	return t.http.Close(ctx, session)
}

func (t *wsTransport) conn(session string) *wsConn {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.conns[session]
}

// wsConn is one session's browser WebSocket. Its JavaScript callbacks queue the
// messages; calls take them off the queue.
type wsConn struct {
	ws    js.Value
	url   string // without the token, for errors
	funcs []js.Func
	ready chan struct{} // (capacity 1) a message, the opening or the end arrived

	mu     sync.Mutex
	opened bool
	queue  [][]byte
	err    error // set once the socket has closed or failed

	calls sync.Mutex // one call at a time
	owed  int        // markers still to come, of this call and of cancelled ones
}

// dialWS opens a WebSocket to base+path (resolved against the page's location,
// http(s) becoming ws(s)) with ?token=.
func dialWS(ctx context.Context, path, token string) (c *wsConn, err error) {
	defer func() {
		if r := recover(); r != nil { // new URL / new WebSocket threw
			err = fmt.Errorf("%w: %s: %v", errWSClosed, path, r)
		}
	}()
	u := js.Global().Get("URL").New(path, js.Global().Get("location").Get("href"))
	if u.Get("protocol").String() == "https:" {
		u.Set("protocol", "wss:")
	} else {
		u.Set("protocol", "ws:")
	}
	c = &wsConn{url: u.Get("href").String(), ready: make(chan struct{}, 1)}
	if token != "" {
		u.Get("searchParams").Call("set", "token", token)
	}
	c.ws = js.Global().Get("WebSocket").New(u.Get("href"))
	c.ws.Set("binaryType", "arraybuffer")
	c.on("onopen", func(js.Value) {
		c.mu.Lock()
		c.opened = true
		c.mu.Unlock()
		c.signal()
	})
	c.on("onmessage", func(ev js.Value) {
		b, err := bytesOf(ev.Get("data"))
		if err != nil {
			c.fail(fmt.Errorf("%w: WebSocket %s: a text message", pynode.ErrResponse, c.url))
			return
		}
		c.mu.Lock()
		c.queue = append(c.queue, b)
		c.mu.Unlock()
		c.signal()
	})
	c.on("onclose", func(ev js.Value) {
		c.fail(fmt.Errorf("%w: %s: code %d (%s)", errWSClosed, c.url, ev.Get("code").Int(), ev.Get("reason").String()))
	})
	for {
		c.mu.Lock()
		opened, err := c.opened, c.err
		c.mu.Unlock()
		if opened && err == nil {
			return c, nil
		}
		if err != nil {
			c.close()
			return nil, err
		}
		select {
		case <-c.ready:
		case <-ctx.Done():
			c.close()
			return nil, ctx.Err()
		}
	}
}

// on sets the event handler name to fn.
func (c *wsConn) on(name string, fn func(ev js.Value)) {
	f := js.FuncOf(func(_ js.Value, args []js.Value) any {
		fn(arg(args, 0))
		return nil
	})
	c.funcs = append(c.funcs, f)
	c.ws.Set(name, f)
}

func (c *wsConn) signal() {
	select {
	case c.ready <- struct{}{}:
	default:
	}
}

// fail records the first reason the socket is unusable and wakes a waiting call.
func (c *wsConn) fail(err error) {
	c.mu.Lock()
	if c.err == nil {
		c.err = err
	}
	c.mu.Unlock()
	c.signal()
}

// close fails a pending call, closes the socket and releases its callbacks.
func (c *wsConn) close() {
	c.fail(fmt.Errorf("%w: %s: closed by the client", errWSClosed, c.url))
	for _, name := range []string{"onopen", "onmessage", "onclose"} {
		c.ws.Set(name, js.Null())
	}
	c.ws.Call("close", 1000)
	for _, f := range c.funcs {
		f.Release()
	}
	c.funcs = nil
}

// next returns the next message, waiting for it.
func (c *wsConn) next(ctx context.Context) ([]byte, error) {
	for {
		c.mu.Lock()
		if len(c.queue) > 0 {
			b := c.queue[0]
			c.queue[0] = nil
			c.queue = c.queue[1:]
			c.mu.Unlock()
			return b, nil
		}
		err := c.err
		c.mu.Unlock()
		if err != nil {
			return nil, err
		}
		select {
		case <-c.ready:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
}

// call sends msg and hands on the output frames until the end-of-reply marker (the
// replies of earlier cancelled calls come first and count as outputs too). An
// error frame becomes the returned error; dropEOS drops the echo of an eos frame.
func (c *wsConn) call(ctx context.Context, msg []byte, emit func(*frame.Frame), dropEOS bool) error {
	c.calls.Lock()
	defer c.calls.Unlock()
	c.mu.Lock()
	err := c.err
	c.mu.Unlock()
	if err != nil {
		return err
	}
	arr := js.Global().Get("Uint8Array").New(len(msg))
	js.CopyBytesToJS(arr, msg)
	c.ws.Call("send", arr)
	c.owed++
	var failed error
	for c.owed > 0 {
		b, err := c.next(ctx)
		if err != nil {
			if failed != nil { // the error frame says why the socket closed
				return failed
			}
			return err
		}
		if len(b) == 0 {
			c.owed--
			continue
		}
		f, err := frame.Unmarshal(b)
		if err != nil {
			err = fmt.Errorf("%w: WebSocket %s: %v", pynode.ErrResponse, c.url, err)
		} else {
			err = pynode.ErrorFrame(f)
		}
		switch {
		case err != nil:
			if failed == nil {
				failed = err
			}
		case failed == nil && !(dropEOS && f.IsControl(frame.EndOfStream)):
			emit(f)
		}
	}
	return failed
}
