package pynode

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"sync"
	"time"

	"github.com/remotemedia/hybrid/core/frame"
)

// MessageConn is one session's WebSocket (GET /v1/sessions/{id}/ws) as a target
// opens it: binary messages both ways. A failed Read or Write leaves it unusable.
type MessageConn interface {
	Write(ctx context.Context, msg []byte) error
	// Read returns the next binary message; a text message is an error.
	Read(ctx context.Context) ([]byte, error)
	Close() error
}

// DialFunc opens the WebSocket at rawURL, an http(s) URL or, in a browser, a path
// resolved against the page, with the bearer token when there is one.
type DialFunc func(ctx context.Context, rawURL, token string) (MessageConn, error)

// WSTransport streams each session's frames over its WebSocket: one message per
// call, whose reply is the output frames then the proxy's zero-length marker
// (docs/pyproxy.md). It saves a request's headers and the HTTP client's hand-offs
// per frame. Sessions are opened and deleted through the HTTP Client, which also
// carries the calls of a session whose WebSocket cannot be opened.
type WSTransport struct {
	HTTP *Client
	Dial DialFunc
	// Fallback, when set, is told of each session that runs over HTTP because its
	// WebSocket could not be opened.
	Fallback func(nodeType, session string, err error)
	// DialTimeout bounds opening a WebSocket (default DefaultDialTimeout), so that
	// a proxy that accepts the connection and then says nothing cannot hold a
	// pipeline up.
	DialTimeout time.Duration

	mu       sync.Mutex
	sessions map[string]*wsSession
}

var _ Transport = (*WSTransport)(nil)

// NewWSTransport returns a WSTransport over c and dial.
func NewWSTransport(c *Client, dial DialFunc) *WSTransport {
	return &WSTransport{HTTP: c, Dial: dial}
}

// wsSession is one session's connection; calls hold mu, one at a time.
type wsSession struct {
	nodeType string
	url      string // the WebSocket's http(s) URL, without the token

	mu       sync.Mutex
	conn     MessageConn // nil after a failure or a cancelled call: the next call dials again
	overHTTP bool        // the dial at Open failed: the session uses HTTP
}

// eosMessage is the message Flush sends: an eos control frame.
var eosMessage, _ = frame.Marshal(frame.NewControl(frame.Header{}, frame.EndOfStream))

// Open implements Transport: POST /v1/sessions, then the session's WebSocket.
func (t *WSTransport) Open(ctx context.Context, nodeType string, params map[string]any) (string, error) {
	id, err := t.HTTP.Open(ctx, nodeType, params)
	if err != nil {
		return "", err
	}
	s := &wsSession{nodeType: nodeType, url: t.HTTP.BaseURL + "/v1/sessions/" + url.PathEscape(id) + "/ws"}
	conn, err := t.dial(ctx, s.url)
	if err != nil {
		s.overHTTP = true
		if t.Fallback != nil {
			t.Fallback(nodeType, id, err)
		}
	}
	s.conn = conn
	t.mu.Lock()
	if t.sessions == nil {
		t.sessions = map[string]*wsSession{}
	}
	t.sessions[id] = s
	t.mu.Unlock()
	return id, nil
}

// DefaultDialTimeout is WSTransport's DialTimeout when it is 0.
const DefaultDialTimeout = 10 * time.Second

func (t *WSTransport) dial(ctx context.Context, rawURL string) (MessageConn, error) {
	timeout := t.DialTimeout
	if timeout <= 0 {
		timeout = DefaultDialTimeout
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	return t.Dial(ctx, rawURL, t.HTTP.Token)
}

// Send implements Transport.
func (t *WSTransport) Send(ctx context.Context, session string, frames []byte, emit func(*frame.Frame)) error {
	return t.call(ctx, session, frames, emit, false)
}

// Flush implements Transport with an eos control frame, whose echo is dropped.
func (t *WSTransport) Flush(ctx context.Context, session string, emit func(*frame.Frame)) error {
	return t.call(ctx, session, eosMessage, emit, true)
}

// Close implements Transport: it closes the WebSocket, then deletes the session.
func (t *WSTransport) Close(ctx context.Context, session string) error {
	t.mu.Lock()
	s := t.sessions[session]
	delete(t.sessions, session)
	t.mu.Unlock()
	if s != nil {
		s.mu.Lock()
		if s.conn != nil {
			_ = s.conn.Close()
			s.conn = nil
		}
		s.mu.Unlock()
	}
	return t.HTTP.Close(ctx, session)
}

// call sends msg on the session's WebSocket and hands on the output frames until
// the end-of-reply marker. An error frame becomes the returned error (the rest of
// the reply is read and dropped); dropEOS drops the echo of an eos frame. A call
// that fails on the connection, or is cancelled, closes it (the outputs still to
// come of a cancelled call are lost) and the next call opens a new one.
func (t *WSTransport) call(ctx context.Context, session string, msg []byte, emit func(*frame.Frame), dropEOS bool) error {
	t.mu.Lock()
	s := t.sessions[session]
	t.mu.Unlock()
	if s == nil { // not opened here: HTTP knows the session or says it does not
		return t.callHTTP(ctx, session, emit, msg, dropEOS)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.conn == nil && !s.overHTTP {
		// After a failure: a session the proxy no longer serves refuses the
		// upgrade, and the call over HTTP then says why.
		if conn, err := t.dial(ctx, s.url); err == nil {
			s.conn = conn
		}
	}
	if s.conn == nil {
		return t.callHTTP(ctx, session, emit, msg, dropEOS)
	}
	err := s.exchange(ctx, msg, emit, dropEOS)
	var broken *connError
	if errors.As(err, &broken) {
		_ = s.conn.Close()
		s.conn = nil
		if broken.reply != nil {
			// The proxy closes a session's WebSocket after an error frame only
			// when the session has ended (its worker died or hung, the proxy
			// closed): the frame says why.
			return &SessionGoneError{Err: broken.reply}
		}
		return broken.err
	}
	return err
}

func (t *WSTransport) callHTTP(ctx context.Context, session string, emit func(*frame.Frame), msg []byte, flush bool) error {
	if flush {
		return t.HTTP.Flush(ctx, session, emit)
	}
	return t.HTTP.Send(ctx, session, msg, emit)
}

// connError is a failure of the connection itself, with the error frame the proxy
// sent before it closed, if any.
type connError struct {
	err   error
	reply error
}

func (e *connError) Error() string { return e.err.Error() }
func (e *connError) Unwrap() error { return e.err }

// exchange is one call's message and reply on s.conn.
func (s *wsSession) exchange(ctx context.Context, msg []byte, emit func(*frame.Frame), dropEOS bool) error {
	if err := s.conn.Write(ctx, msg); err != nil {
		return &connError{err: fmt.Errorf("pynode: WebSocket %s: %w", s.url, err)}
	}
	var failed error
	var dropped int64
	for {
		b, err := s.conn.Read(ctx)
		if err != nil {
			return &connError{err: fmt.Errorf("pynode: WebSocket %s: %w", s.url, err), reply: failed}
		}
		if len(b) == 0 {
			if failed == nil {
				return droppedError(dropped)
			}
			return failed
		}
		f, err := frame.Unmarshal(b)
		if err != nil {
			err = fmt.Errorf("%w: WebSocket %s: %v", ErrResponse, s.url, err)
		} else {
			err = ErrorFrame(f)
		}
		switch {
		case err != nil:
			if failed == nil {
				failed = err
			}
		case failed == nil && !(dropEOS && f.IsControl(frame.EndOfStream)):
			if n, ok := lateDropped(f); ok {
				dropped += n
				break
			}
			emit(f)
		}
	}
}
