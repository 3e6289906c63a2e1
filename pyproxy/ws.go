package pyproxy

import (
	"bytes"
	"context"
	"errors"
	"fmt"

	"github.com/coder/websocket"
	"github.com/labstack/echo/v4"
)

// websocket streams a session over a WebSocket: every binary message the client
// sends holds one or more wire frames (fed like a POST to /frames); every message
// the server sends holds one output frame, and once a client message has been
// handled a zero-length message marks the end of its reply. An eos control frame
// flushes the node, and its outputs are followed by the eos frame itself. A failed
// request becomes an error frame (then the marker); a failed worker sends an error
// frame and closes the connection (status 1011) instead.
//
// The socket holds the session: while it is open the session does not expire,
// and once it closes, for whatever reason, the session ends after
// Config.SocketGrace unless a new socket or a request takes it up (a client may
// reconnect after a cancelled call). A write that takes over Config.WriteTimeout
// (a client that stops reading) closes the socket, so such a client cannot hold
// its session or the proxy's shutdown.
func (p *Proxy) websocket(c echo.Context) error {
	id := c.Param("id")
	s, err := p.session(id)
	if err != nil {
		return err
	}
	s.busy.Add(1) // before the upgrade: a client that sees it done sees a session that cannot expire
	conn, err := websocket.Accept(c.Response(), c.Request(), &websocket.AcceptOptions{OriginPatterns: p.cfg.AllowOrigins})
	if err != nil {
		s.busy.Add(-1)
		return nil // Accept has written the response
	}
	p.m.accepted.Inc()
	p.m.sockets.Inc()
	defer p.m.sockets.Dec()
	defer func() {
		s.touch()
		s.orphaned.Store(true) // ends after SocketGrace unless a socket or a request takes it up
		s.busy.Add(-1)
	}()
	conn.SetReadLimit(p.bodyLimit)
	ctx, cancel := context.WithCancel(p.ctx)
	defer cancel()
	send := func(b []byte) error {
		wctx, cancel := context.WithTimeout(ctx, p.cfg.WriteTimeout)
		defer cancel()
		return conn.Write(wctx, websocket.MessageBinary, b) // on timeout the connection is closed
	}
	fail := func(err error) {
		_ = send(errorFrame(err, s.nodeType, id))
		reason := err.Error()
		if len(reason) > 120 {
			reason = reason[:120]
		}
		_ = conn.Close(websocket.StatusInternalError, reason)
		cancel()
	}
	go p.watchSession(ctx, s, send, fail)
	var msg bytes.Buffer // reused: Feed copies what it keeps
	for {
		typ, r, err := conn.Reader(ctx)
		if err == nil {
			msg.Reset()
			_, err = msg.ReadFrom(r)
		}
		if err != nil {
			break
		}
		if typ != websocket.MessageBinary {
			err = fmt.Errorf("%w: text message; send wire frames as binary messages", ErrBadFrame)
		} else {
			err = p.Feed(ctx, id, msg.Bytes(), send)
		}
		if errors.Is(err, ErrWorkerDied) || errors.Is(err, ErrTimeout) || errors.Is(err, ErrClosed) || errors.Is(err, ErrUnknownSession) {
			fail(err)
			return nil
		}
		if err != nil && send(errorFrame(err, s.nodeType, id)) != nil {
			break
		}
		if send(nil) != nil { // end of this message's reply
			break
		}
	}
	_ = conn.Close(websocket.StatusNormalClosure, "")
	return nil
}

// watchSession pushes outputs that arrive between requests (streaming nodes), and
// the session's failure when its worker dies while the connection is idle.
func (p *Proxy) watchSession(ctx context.Context, s *session, send func([]byte) error, fail func(error)) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-s.notify:
		}
		s.calls.Lock()
		if ctx.Err() != nil {
			s.calls.Unlock()
			return
		}
		err := p.drainLate(s, send)
		s.calls.Unlock()
		if err != nil {
			fail(err)
			return
		}
	}
}
