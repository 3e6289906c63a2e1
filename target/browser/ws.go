//go:build js && wasm

package main

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"syscall/js"
	"time"

	"github.com/remotemedia/hybrid/core/client"
	"github.com/remotemedia/hybrid/target/internal/jsutil"
)

// maxBuffered is how much the tab lets a socket hold unsent before Write
// waits: the browser's WebSocket has no back-pressure of its own.
const maxBuffered = 1 << 20

// jsSocket is a browser WebSocket of binary messages: the tab's client.Conn
// (live routes, dialLive) and pynode.MessageConn (Python node sessions,
// dialWS). Its JavaScript callbacks queue the messages; Read takes them off
// the queue.
type jsSocket struct {
	ws    js.Value
	url   string // without the token, for errors
	funcs []js.Func
	ready chan struct{} // (capacity 1) a message, the opening or the end arrived

	byUs error // wrapped by the error of a call after Close

	mu     sync.Mutex
	opened bool
	queue  [][]byte
	err    error // set once the socket has closed or failed
}

var (
	_ client.Conn       = (*jsSocket)(nil)
	_ client.TextWriter = (*jsSocket)(nil)
)

// socketErrors are the errors a jsSocket reports, in its caller's terms.
type socketErrors struct {
	closed func(url string, code int, reason string) error // the socket closed (or never opened)
	text   error                                           // a text message came
	byUs   error                                           // wrapped when Close was called
}

// openSocket opens the WebSocket at rawURL, resolved against the page, http(s)
// becoming ws(s), with the token in ?token= (a browser cannot give a
// WebSocket headers), and waits until it is open. It also returns the URL as
// http(s), without the token.
func openSocket(ctx context.Context, rawURL, token string, errs socketErrors) (_ *jsSocket, httpURL string, err error) {
	defer func() {
		if r := recover(); r != nil { // new URL / new WebSocket threw
			err = fmt.Errorf("browser: WebSocket %s: %v", rawURL, r)
		}
	}()
	u := js.Global().Get("URL").New(rawURL, js.Global().Get("location").Get("href"))
	httpURL = u.Get("href").String()
	if u.Get("protocol").String() == "https:" {
		u.Set("protocol", "wss:")
	} else {
		u.Set("protocol", "ws:")
	}
	c := &jsSocket{url: u.Get("href").String(), ready: make(chan struct{}, 1), byUs: errs.byUs}
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
			c.fail(fmt.Errorf("%w: WebSocket %s: a text message", errs.text, c.url))
			return
		}
		c.mu.Lock()
		c.queue = append(c.queue, b)
		c.mu.Unlock()
		c.signal()
	})
	c.on("onclose", func(ev js.Value) {
		c.fail(errs.closed(c.url, ev.Get("code").Int(), ev.Get("reason").String()))
	})
	for {
		c.mu.Lock()
		opened, err := c.opened, c.err
		c.mu.Unlock()
		if opened && err == nil {
			return c, httpURL, nil
		}
		if err != nil {
			_ = c.Close()
			return nil, httpURL, err
		}
		select {
		case <-c.ready:
		case <-ctx.Done():
			_ = c.Close()
			return nil, httpURL, ctx.Err()
		}
	}
}

// dialLive is the tab's client.DialFunc. A browser does not say why a socket
// was refused before the upgrade, so then the same URL is fetched once to
// read the server's answer (a *client.StatusError).
func dialLive(ctx context.Context, rawURL, token string) (client.Conn, error) {
	c, httpURL, err := openSocket(ctx, rawURL, token, socketErrors{
		closed: func(_ string, code int, reason string) error { return &client.CloseError{Code: code, Reason: reason} },
		text:   client.ErrResponse,
		byUs:   client.ErrClosed,
	})
	if err != nil {
		var ce *client.CloseError
		if ctx.Err() == nil && errors.As(err, &ce) {
			return nil, refusal(ctx, httpURL, token, err)
		}
		return nil, err
	}
	return c, nil
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
func (c *jsSocket) on(name string, fn func(ev js.Value)) {
	f := js.FuncOf(func(_ js.Value, args []js.Value) any {
		fn(arg(args, 0))
		return nil
	})
	c.funcs = append(c.funcs, f)
	c.ws.Set(name, f)
}

func (c *jsSocket) signal() {
	select {
	case c.ready <- struct{}{}:
	default:
	}
}

// fail records the first reason the socket is unusable and wakes a waiting call.
func (c *jsSocket) fail(err error) {
	c.mu.Lock()
	if c.err == nil {
		c.err = err
	}
	c.mu.Unlock()
	c.signal()
}

// Close implements client.Conn: it fails a pending Read, closes the socket and
// releases its callbacks.
func (c *jsSocket) Close() error {
	c.fail(fmt.Errorf("%w: %s: closed by the client", c.byUs, c.url))
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
func (c *jsSocket) Read(ctx context.Context) ([]byte, error) {
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
func (c *jsSocket) Write(ctx context.Context, msg []byte) error {
	if err := c.room(ctx); err != nil {
		return err
	}
	arr := js.Global().Get("Uint8Array").New(len(msg))
	js.CopyBytesToJS(arr, msg)
	c.ws.Call("send", arr)
	return nil
}

// WriteText implements client.TextWriter.
func (c *jsSocket) WriteText(ctx context.Context, msg []byte) error {
	if err := c.room(ctx); err != nil {
		return err
	}
	c.ws.Call("send", string(msg))
	return nil
}

// room waits until the socket's unsent bytes are under maxBuffered.
func (c *jsSocket) room(ctx context.Context) error {
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
