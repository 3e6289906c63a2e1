//go:build js && wasm

package main

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"syscall/js"

	"github.com/remotemedia/hybrid/core/pynode"
)

// errWSClosed is returned by a call on a WebSocket that has closed or failed.
var errWSClosed = errors.New("pynode: WebSocket closed")

// wsConn is the tab's pynode.MessageConn, a browser WebSocket. Its JavaScript
// callbacks queue the messages; Read takes them off the queue.
type wsConn struct {
	ws    js.Value
	url   string // without the token, for errors
	funcs []js.Func
	ready chan struct{} // (capacity 1) a message, the opening or the end arrived

	mu     sync.Mutex
	opened bool
	queue  [][]byte
	err    error // set once the socket has closed or failed
}

var _ pynode.MessageConn = (*wsConn)(nil)

// dialWS is the tab's pynode.DialFunc: path is resolved against the page's
// location, http(s) becoming ws(s), and the token goes in ?token= (a browser
// cannot give a WebSocket headers).
func dialWS(ctx context.Context, path, token string) (_ pynode.MessageConn, err error) {
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
	c := &wsConn{url: u.Get("href").String(), ready: make(chan struct{}, 1)}
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
			_ = c.Close()
			return nil, err
		}
		select {
		case <-c.ready:
		case <-ctx.Done():
			_ = c.Close()
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

// Close implements pynode.MessageConn: it fails a pending Read, closes the socket
// and releases its callbacks.
func (c *wsConn) Close() error {
	c.fail(fmt.Errorf("%w: %s: closed by the client", errWSClosed, c.url))
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

// Read implements pynode.MessageConn.
func (c *wsConn) Read(ctx context.Context) ([]byte, error) {
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

// Write implements pynode.MessageConn.
func (c *wsConn) Write(_ context.Context, msg []byte) error {
	c.mu.Lock()
	err := c.err
	c.mu.Unlock()
	if err != nil {
		return err
	}
	arr := js.Global().Get("Uint8Array").New(len(msg))
	js.CopyBytesToJS(arr, msg)
	c.ws.Call("send", arr)
	return nil
}
