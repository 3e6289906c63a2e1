//go:build js && wasm

package main

import (
	"context"
	"fmt"
	"sync"
	"syscall/js"
	"time"

	"github.com/remotemedia/hybrid/core/client"
	"github.com/remotemedia/hybrid/target/internal/jsutil"
)

// maxBuffered is how much the tab lets a live socket hold unsent before Write
// waits: the browser's WebSocket has no back-pressure of its own.
const maxBuffered = 1 << 20

// liveConn is the tab's client.Conn: a browser WebSocket to a live route.
type liveConn struct {
	ws    js.Value
	url   string // without the token, for errors
	funcs []js.Func
	ready chan struct{} // (capacity 1) a message, the opening or the end arrived

	mu     sync.Mutex
	opened bool
	queue  [][]byte
	err    error // set once the socket has closed or failed
}

var (
	_ client.Conn       = (*liveConn)(nil)
	_ client.TextWriter = (*liveConn)(nil)
)

// dialLive is the tab's client.DialFunc: rawURL is resolved against the
// page, http(s) becoming ws(s), and the token goes in ?token= (a browser
// cannot give a WebSocket headers). A browser does not say why a socket was
// refused before the upgrade, so then the same URL is fetched once to read
// the server's answer (a *client.StatusError).
func dialLive(ctx context.Context, rawURL, token string) (_ client.Conn, err error) {
	defer func() {
		if r := recover(); r != nil { // new URL / new WebSocket threw
			err = fmt.Errorf("browser: WebSocket %s: %v", rawURL, r)
		}
	}()
	u := js.Global().Get("URL").New(rawURL, js.Global().Get("location").Get("href"))
	httpURL := u.Get("href").String()
	if u.Get("protocol").String() == "https:" {
		u.Set("protocol", "wss:")
	} else {
		u.Set("protocol", "ws:")
	}
	c := &liveConn{url: u.Get("href").String(), ready: make(chan struct{}, 1)}
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
			c.fail(fmt.Errorf("%w: WebSocket %s: a text message", client.ErrResponse, c.url))
			return
		}
		c.mu.Lock()
		c.queue = append(c.queue, b)
		c.mu.Unlock()
		c.signal()
	})
	c.on("onclose", func(ev js.Value) {
		c.fail(&client.CloseError{Code: ev.Get("code").Int(), Reason: ev.Get("reason").String()})
	})
	for {
		c.mu.Lock()
		opened, err := c.opened, c.err
		c.mu.Unlock()
		if opened && err == nil {
			return c, nil
		}
		if err != nil {
			_ = c.Close()
			return nil, refusal(ctx, httpURL, token, err)
		}
		select {
		case <-c.ready:
		case <-ctx.Done():
			_ = c.Close()
			return nil, ctx.Err()
		}
	}
}

// refusal fetches the URL of a socket that closed before it opened, to give
// the server's HTTP answer instead of the browser's bare 1006.
func refusal(ctx context.Context, httpURL, token string, closed error) error {
	opts := map[string]any{}
	if token != "" {
		opts["headers"] = map[string]any{"Authorization": "Bearer " + token}
	}
	resp, err := jsutil.Await(ctx, js.Global().Call("fetch", httpURL, opts))
	if err != nil || resp.Get("status").Int() < 400 {
		return fmt.Errorf("browser: WebSocket %s did not open: %w", httpURL, closed)
	}
	body, _ := jsutil.Await(ctx, resp.Call("text"))
	text := ""
	if body.Type() == js.TypeString {
		text = body.String()
	}
	return client.NewStatusError("GET", httpURL, resp.Get("status").Int(), []byte(text))
}

// on sets the event handler name to fn.
func (c *liveConn) on(name string, fn func(ev js.Value)) {
	f := js.FuncOf(func(_ js.Value, args []js.Value) any {
		fn(arg(args, 0))
		return nil
	})
	c.funcs = append(c.funcs, f)
	c.ws.Set(name, f)
}

func (c *liveConn) signal() {
	select {
	case c.ready <- struct{}{}:
	default:
	}
}

// fail records the first reason the socket is unusable and wakes a waiting call.
func (c *liveConn) fail(err error) {
	c.mu.Lock()
	if c.err == nil {
		c.err = err
	}
	c.mu.Unlock()
	c.signal()
}

// Close implements client.Conn: it fails a pending Read, closes the socket and
// releases its callbacks.
func (c *liveConn) Close() error {
	c.fail(fmt.Errorf("%w: %s: closed by the client", client.ErrClosed, c.url))
	for _, name := range []string{"onopen", "onmessage", "onclose"} {
		c.ws.Set(name, js.Null())
	}
	c.ws.Call("close", 1000)
	for _, f := range c.funcs {
		f.Release()
	}
	c.funcs = nil
	return nil
}

// Read implements client.Conn.
func (c *liveConn) Read(ctx context.Context) ([]byte, error) {
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

// Write implements client.Conn. It waits while the socket holds more than
// maxBuffered bytes unsent.
func (c *liveConn) Write(ctx context.Context, msg []byte) error {
	if err := c.room(ctx); err != nil {
		return err
	}
	arr := js.Global().Get("Uint8Array").New(len(msg))
	js.CopyBytesToJS(arr, msg)
	c.ws.Call("send", arr)
	return nil
}

// WriteText implements client.TextWriter.
func (c *liveConn) WriteText(ctx context.Context, msg []byte) error {
	if err := c.room(ctx); err != nil {
		return err
	}
	c.ws.Call("send", string(msg))
	return nil
}

// room waits until the socket's unsent bytes are under maxBuffered.
func (c *liveConn) room(ctx context.Context) error {
	for {
		c.mu.Lock()
		err := c.err
		c.mu.Unlock()
		if err != nil {
			return err
		}
		if c.ws.Get("bufferedAmount").Int() <= maxBuffered {
			return nil
		}
		select {
		case <-time.After(time.Millisecond):
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}
