package client

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/url"
	"strings"
	"sync"

	"github.com/remotemedia/hybrid/core/frame"
)

// Conn is a WebSocket as a target opens it: binary messages both ways. Write
// does not keep msg after it returns; Read returns a slice the caller may keep. When the server closes the socket, Read
// returns a *CloseError with its code and reason. A failed Read or Write leaves
// it unusable.
type Conn interface {
	Write(ctx context.Context, msg []byte) error
	Read(ctx context.Context) ([]byte, error)
	Close() error
}

// DialFunc opens the WebSocket at rawURL (http or https, turned into ws or wss;
// in a browser, a path resolved against the page) with the bearer token when
// there is one. An HTTP refusal before the upgrade (401, 403, 404, 429) is a
// *StatusError.
type DialFunc func(ctx context.Context, rawURL, token string) (Conn, error)

// CloseError is the server closing the socket (RFC 6455 close code and reason;
// docs/server.md lists the codes it uses).
type CloseError struct {
	Code   int
	Reason string
}

var closeNames = map[int]string{
	1000: "normal closure", 1001: "going away", 1002: "protocol error", 1003: "unsupported data",
	1006: "abnormal closure", 1007: "invalid data", 1008: "policy violation", 1009: "message too big",
	1011: "internal error", 1012: "service restart", 1013: "try again later",
}

func (e *CloseError) Error() string {
	s := fmt.Sprintf("client: server closed the socket with %d", e.Code)
	if n := closeNames[e.Code]; n != "" {
		s += " (" + n + ")"
	}
	if e.Reason != "" {
		s += ": " + e.Reason
	}
	return s
}

// Is matches ErrClosed.
func (e *CloseError) Is(target error) bool { return target == ErrClosed }

// NodeError is a node's error under the continue policy: the session goes on.
// Node is "" for an error of the server's own about the stream (a refused
// session, whose end frame follows; a frame sent after its eos).
type NodeError struct {
	Node  string `json:"node"`
	Seq   uint64 `json:"seq"`
	TSUS  int64  `json:"ts_us"`
	Error string `json:"error"`
}

// NodeStats is one node's counters at the end of a session.
type NodeStats struct {
	ID           string `json:"id"`
	In           uint64 `json:"in"`
	Out          uint64 `json:"out"`
	Dropped      uint64 `json:"dropped"`
	Errors       uint64 `json:"errors"`
	Filtered     uint64 `json:"filtered"`
	WorkP50US    int64  `json:"work_p50_us"`
	WorkP99US    int64  `json:"work_p99_us"`
	BlockedP50US int64  `json:"blocked_p50_us"`
	BlockedP99US int64  `json:"blocked_p99_us"`
}

// End is the end frame of a session: why it ended and its counters.
type End struct {
	Error    string      `json:"error"` // "" when the session finished
	FramesIn uint64      `json:"frames_in"`
	Dropped  uint64      `json:"dropped"` // frames the definition's loss policy dropped
	Stats    []NodeStats `json:"stats"`
}

// Output is one output of a session: a frame from one of the pipeline's
// outputs, or a node's error.
type Output struct {
	Node, Port string       // the output port ("vad", "events"); Port is "" for an error
	Frame      *frame.Frame // nil for an error; its Meta no longer holds "port"
	Error      *NodeError   // nil for a frame
}

// Tuning of a socket's writes.
const (
	// batchBytes is the size from which a message takes no more frames.
	batchBytes = 64 << 10
	// maxPending bounds the bytes Send queues ahead of the socket; beyond it
	// Send waits, so a server that reads slowly slows the sender.
	maxPending = 256 << 10
	// recvQueue is the outputs a session holds for its reader; beyond it the
	// socket stops reading (its sessions share fate).
	recvQueue = 256
)

// Socket is one WebSocket to a pipeline, carrying one or more sessions, each
// with its own stream id. Frames that several sessions (or one sending fast)
// send while the socket writes go out together in one message. A session whose
// outputs are not read stops the socket's reading, and with it every other
// session on the socket: they share fate, as they do on the server.
type Socket struct {
	conn   Conn
	ctx    context.Context // ends when the socket does
	cancel context.CancelFunc

	mu       sync.Mutex
	sessions map[string]*Session
	pending  [][]byte      // messages to write; the last one takes more frames
	pendingN int           // bytes in pending
	free     [][]byte      // written messages' buffers, for reuse
	wake     chan struct{} // tells the writer there is something to write (cap 1)
	room     chan struct{} // closed (and replaced) when a write makes room
	err      error         // why the socket is done; set once, under mu
	writeErr error         // a failed write, reported by the reader unless the server's close says more
	done     chan struct{} // closed when err is set
}

// Connect opens a socket to pipeline (GET /v1/pipelines/{name}/ws); sessions
// are opened on it with Open.
func (c *Client) Connect(ctx context.Context, pipeline string) (*Socket, error) {
	return c.connect(ctx, "/v1/pipelines/"+url.PathEscape(pipeline)+"/ws")
}

func (c *Client) connect(ctx context.Context, path string) (*Socket, error) {
	if c.Dial == nil {
		return nil, errors.New("client: no DialFunc to open WebSockets with")
	}
	conn, err := c.Dial(ctx, c.BaseURL+path, c.Token)
	if err != nil {
		var se *StatusError
		if errors.As(err, &se) {
			return nil, err
		}
		return nil, fmt.Errorf("client: opening %s%s: %w", c.BaseURL, path, err)
	}
	return NewSocket(conn), nil
}

// Open opens a session of pipeline on a socket of its own, with stream id
// "run"; closing the session closes the socket.
func (c *Client) Open(ctx context.Context, pipeline string) (*Session, error) {
	s, err := c.Connect(ctx, pipeline)
	if err != nil {
		return nil, err
	}
	sess, err := s.Open("run")
	if err != nil {
		s.Close()
		return nil, err
	}
	sess.ownsSocket = true
	return sess, nil
}

// NewSocket runs the protocol over an open WebSocket.
func NewSocket(conn Conn) *Socket {
	ctx, cancel := context.WithCancel(context.Background())
	s := &Socket{
		conn: conn, ctx: ctx, cancel: cancel,
		sessions: map[string]*Session{},
		wake:     make(chan struct{}, 1),
		room:     make(chan struct{}),
		done:     make(chan struct{}),
	}
	go s.readLoop()
	go s.writeLoop()
	return s
}

// Open starts a session with stream id streamID on the socket: the server
// opens it when its first frame arrives. The id must not be in use on the
// socket; after a session's end, its id may be used again.
func (s *Socket) Open(streamID string) (*Session, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.err != nil {
		return nil, s.failure()
	}
	if s.sessions[streamID] != nil {
		return nil, fmt.Errorf("client: stream id %q is already in use on this socket", streamID)
	}
	sess := &Session{sock: s, id: streamID, out: make(chan Output, recvQueue), gone: make(chan struct{})}
	s.sessions[streamID] = sess
	return sess, nil
}

// Err returns why the socket stopped (nil while it works).
func (s *Socket) Err() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.err == nil {
		return nil
	}
	return s.failure()
}

// failure is the error of a stopped socket; s.mu held.
func (s *Socket) failure() error {
	if errors.Is(s.err, ErrClosed) {
		return s.err
	}
	return fmt.Errorf("%w: %w", ErrClosed, s.err)
}

// Close closes the socket at once: sessions without their end frame fail.
// Frames queued and not yet written are dropped; end each session's input
// and wait for its end before closing to lose nothing.
func (s *Socket) Close() error {
	s.stop(ErrClosed)
	return s.conn.Close()
}

// stop records why the socket stopped, once, and ends every session waiting.
func (s *Socket) stop(err error) {
	s.mu.Lock()
	if s.err != nil {
		s.mu.Unlock()
		return
	}
	s.err = err
	close(s.done)
	s.mu.Unlock()
	s.cancel()
}

// Send queues frames for the socket as they are: each frame's StreamID picks
// its session (a session's first frame opens it on the server). Frames queued
// by one call go out in one message while they fit in 64 KiB: a gateway
// pacing many sessions sends each tick's frames this way. A frame of a session
// the server is draining is left out (ErrDraining, once the others are queued). It waits while the
// socket has more queued than it can write; the frames may change once it
// returns. Session.Send is the usual way in.
func (s *Socket) Send(ctx context.Context, frames ...*frame.Frame) error {
	for {
		s.mu.Lock()
		if s.err != nil {
			err := s.failure()
			s.mu.Unlock()
			return err
		}
		if s.pendingN < maxPending {
			var err error
			for _, f := range frames {
				if sess := s.sessions[f.StreamID]; sess != nil && sess.draining {
					// Its input has ended: the others' frames still go.
					if f.Kind != frame.KindControl && err == nil {
						err = fmt.Errorf("%w: stream %q: its input has ended", ErrDraining, f.StreamID)
					}
					continue
				}
				if aerr := s.appendLocked(f); aerr != nil {
					err = aerr
					break
				}
			}
			s.mu.Unlock()
			select {
			case s.wake <- struct{}{}:
			default:
			}
			return err
		}
		room := s.room
		s.mu.Unlock()
		select {
		case <-room:
		case <-s.done:
		case <-ctx.Done():
			return context.Cause(ctx)
		}
	}
}

// appendLocked encodes f at the end of the last pending message, or of a new
// one when that is full; s.mu held.
func (s *Socket) appendLocked(f *frame.Frame) error {
	n := len(s.pending)
	if n == 0 || len(s.pending[n-1])+len(f.Data) > batchBytes {
		var buf []byte
		if k := len(s.free); k > 0 {
			buf, s.free = s.free[k-1][:0], s.free[:k-1]
		}
		s.pending = append(s.pending, buf)
		n++
	}
	if f.IsControl(frame.EndOfStream) {
		if sess := s.sessions[f.StreamID]; sess != nil {
			sess.inputClosed = true
		}
	}
	before := len(s.pending[n-1])
	b, err := frame.AppendMarshal(s.pending[n-1], f)
	if err != nil {
		return fmt.Errorf("client: encoding a frame for stream %q: %w", f.StreamID, err)
	}
	if len(b) == 0 { // a fresh message whose frame did not encode: drop it
		s.pending = s.pending[:n-1]
	} else {
		s.pending[n-1] = b
	}
	s.pendingN += len(b) - before
	return nil
}

// writeLoop writes what is pending, all of it at each turn, each message as
// soon as the one before has gone.
func (s *Socket) writeLoop() {
	for {
		select {
		case <-s.wake:
		case <-s.done:
			return
		}
		s.mu.Lock()
		msgs := s.pending
		s.pending = nil
		s.mu.Unlock()
		for i, m := range msgs {
			if err := s.conn.Write(s.ctx, m); err != nil {
				// The reader says why the socket ended: a write fails also when
				// the server has just closed it, and its close code and reason
				// are what the caller needs. Closing wakes the reader.
				var ce *CloseError
				if !errors.As(err, &ce) {
					err = fmt.Errorf("writing to the socket: %w", err)
				}
				s.mu.Lock()
				s.writeErr = err
				s.mu.Unlock()
				s.conn.Close()
				return
			}
			msgs[i] = nil
			s.mu.Lock()
			s.pendingN -= len(m)
			if len(s.free) < 4 && cap(m) <= 2*batchBytes {
				s.free = append(s.free, m)
			}
			if s.pendingN < maxPending {
				close(s.room)
				s.room = make(chan struct{})
			}
			s.mu.Unlock()
		}
	}
}

// readLoop reads messages, splits them into frames and hands each to its
// session.
func (s *Socket) readLoop() {
	defer s.endSessions()
	for {
		msg, err := s.conn.Read(s.ctx)
		if err != nil {
			var ce *CloseError
			if !errors.As(err, &ce) && s.ctx.Err() == nil {
				s.mu.Lock()
				werr := s.writeErr
				s.mu.Unlock()
				if werr != nil { // the writer failed first and closed the connection
					err = werr
				} else {
					err = fmt.Errorf("reading from the socket: %w", err)
				}
			}
			s.stop(err)
			return
		}
		for len(msg) > 0 {
			f, n, err := frame.UnmarshalPrefix(msg)
			if err != nil {
				s.stop(fmt.Errorf("%w: a message from the server: %w", ErrResponse, err))
				s.conn.Close()
				return
			}
			msg = msg[n:]
			if err := s.route(f); err != nil {
				s.stop(err)
				s.conn.Close()
				return
			}
		}
	}
}

// endSessions wakes the readers of every session still open once the socket
// has stopped.
func (s *Socket) endSessions() {
	s.mu.Lock()
	sessions := s.sessions
	s.sessions = map[string]*Session{}
	s.mu.Unlock()
	for _, sess := range sessions {
		close(sess.out)
	}
}

// route hands f to its session: an output, a node error, or the end.
func (s *Socket) route(f *frame.Frame) error {
	s.mu.Lock()
	sess := s.sessions[f.StreamID]
	s.mu.Unlock()
	if sess == nil {
		return nil // a session closed on this side, or a stray frame
	}
	if b, _ := f.Meta["draining"].(bool); b {
		s.drainSession(sess)
		return nil
	}
	out, end, err := decodeOutput(f)
	if err != nil {
		return err
	}
	if end != nil {
		s.mu.Lock()
		delete(s.sessions, f.StreamID)
		sess.end = end
		// A session that ended before its input did (refused, failed, the
		// server draining) keeps its stream id taken on the server until its
		// eos: send it, so that the id may be used again.
		freeID := !sess.inputClosed && s.err == nil
		if freeID {
			_ = s.appendLocked(frame.NewControl(frame.Header{StreamID: f.StreamID}, frame.EndOfStream))
		}
		s.mu.Unlock()
		if freeID {
			select {
			case s.wake <- struct{}{}:
			default:
			}
		}
		close(sess.out)
		return nil
	}
	select {
	case sess.out <- out:
	case <-sess.gone:
	case <-s.ctx.Done():
	}
	return nil
}

// drainSession handles the server's notice that it is shutting down: the
// session's input ends here (an eos goes out after every frame already sent,
// which the server still takes), and further data frames are refused with
// ErrDraining.
func (s *Socket) drainSession(sess *Session) {
	s.mu.Lock()
	sess.draining = true
	queued := !sess.inputClosed && s.err == nil
	if queued {
		_ = s.appendLocked(frame.NewControl(frame.Header{StreamID: sess.id}, frame.EndOfStream))
	}
	s.mu.Unlock()
	if queued {
		select {
		case s.wake <- struct{}{}:
		default:
		}
	}
}

// decodeOutput reads a frame the server sent: an end frame (meta end: true),
// a node error (meta error: true) or an output tagged with its port.
func decodeOutput(f *frame.Frame) (Output, *End, error) {
	var out Output
	if b, _ := f.Meta["end"].(bool); b {
		end := &End{}
		if err := json.Unmarshal(f.Data, end); err != nil {
			return out, nil, fmt.Errorf("%w: the end frame of stream %q: %v", ErrResponse, f.StreamID, err)
		}
		return out, end, nil
	}
	if b, _ := f.Meta["error"].(bool); b {
		ne := &NodeError{}
		if err := json.Unmarshal(f.Data, ne); err != nil {
			return out, nil, fmt.Errorf("%w: an error frame of stream %q: %v", ErrResponse, f.StreamID, err)
		}
		out.Node, out.Error = ne.Node, ne
		return out, nil, nil
	}
	port, _ := f.Meta["port"].(string)
	node, name, ok := strings.Cut(port, ".")
	if !ok {
		return out, nil, fmt.Errorf("%w: an output frame of stream %q has no meta port \"node.port\" (got %q)", ErrResponse, f.StreamID, port)
	}
	delete(f.Meta, "port")
	if len(f.Meta) == 0 {
		f.Meta = nil
	}
	out.Node, out.Port, out.Frame = node, name, f
	return out, nil, nil
}

// Session is one live session of a pipeline on a Socket.
type Session struct {
	sock *Socket
	id   string
	out  chan Output   // closed by the socket's reader only: at the end frame or when the socket stops
	gone chan struct{} // closed by Close
	end  *End          // set before out is closed, under sock.mu
	// inputClosed says an eos was queued for the stream; under sock.mu.
	inputClosed bool
	// draining says the server is shutting down and the session's input has
	// ended (drainSession); under sock.mu.
	draining   bool
	ownsSocket bool
	closeOnce  sync.Once
}

// ID returns the session's stream id.
func (s *Session) ID() string { return s.id }

// Socket returns the socket the session runs on.
func (s *Session) Socket() *Socket { return s.sock }

// Send sends a data frame to the session; its StreamID is set to the
// session's. It returns once the frame is encoded and queued for the socket
// (f may change after), and waits while the socket has more queued than it
// can write.
//
// Once the server has said it is shutting down, the input has ended: a data
// frame gets ErrDraining, and a control frame (the eos of CloseInput) is not
// needed and returns nil.
func (s *Session) Send(ctx context.Context, f *frame.Frame) error {
	if err := s.usable(); err != nil {
		return err
	}
	f.StreamID = s.id
	return s.sock.Send(ctx, f)
}

// Control sends a control frame: frame.EndOfStream ends the input (see
// CloseInput); frame.Flush and frame.Cancel are passed on to the pipeline.
func (s *Session) Control(ctx context.Context, op frame.ControlOp) error {
	return s.Send(ctx, frame.NewControl(frame.Header{}, op))
}

// CloseInput ends the session's input: the pipeline flushes, its last outputs
// arrive, then its end.
func (s *Session) CloseInput(ctx context.Context) error {
	return s.Control(ctx, frame.EndOfStream)
}

func (s *Session) usable() error {
	s.sock.mu.Lock()
	defer s.sock.mu.Unlock()
	if s.end != nil {
		return fmt.Errorf("%w: stream %q", ErrEnded, s.id)
	}
	return nil
}

// Draining reports whether the server has said it is shutting down: the
// session's input has ended, and its outputs up to the end frame still come.
func (s *Session) Draining() bool {
	s.sock.mu.Lock()
	defer s.sock.mu.Unlock()
	return s.draining
}

// Recv returns the session's next output. After the last one it returns
// io.EOF, and End has the session's end; if the socket stopped before the end
// arrived, it returns why (wrapping ErrClosed, and a *CloseError when the
// server closed the socket).
func (s *Session) Recv(ctx context.Context) (Output, error) {
	select {
	case o, ok := <-s.out:
		if ok {
			return o, nil
		}
	case <-s.gone:
		return Output{}, fmt.Errorf("%w: stream %q was closed", ErrClosed, s.id)
	case <-ctx.Done():
		return Output{}, context.Cause(ctx)
	}
	s.sock.mu.Lock()
	defer s.sock.mu.Unlock()
	if s.end != nil {
		return Output{}, io.EOF
	}
	return Output{}, fmt.Errorf("stream %q: %w", s.id, s.sock.failure())
}

// End returns the session's end once Recv has returned io.EOF, else nil.
func (s *Session) End() *End {
	s.sock.mu.Lock()
	defer s.sock.mu.Unlock()
	return s.end
}

// Wait drops outputs until the end and returns it; an end with an error
// returns it too, wrapping ErrSessionFailed.
func (s *Session) Wait(ctx context.Context) (*End, error) {
	for {
		_, err := s.Recv(ctx)
		if err == io.EOF {
			end := s.End()
			if end.Error != "" {
				return end, fmt.Errorf("%w: stream %q: %s", ErrSessionFailed, s.id, end.Error)
			}
			return end, nil
		}
		if err != nil {
			return nil, err
		}
	}
}

// Close stops receiving the session's outputs; a session opened with
// Client.Open closes its socket. It does not end the session on the server:
// CloseInput does.
func (s *Session) Close() error {
	var err error
	s.closeOnce.Do(func() {
		close(s.gone)
		if s.ownsSocket {
			err = s.sock.Close()
			return
		}
		s.sock.mu.Lock()
		if s.sock.sessions[s.id] == s {
			delete(s.sock.sessions, s.id)
		}
		s.sock.mu.Unlock()
	})
	return err
}
