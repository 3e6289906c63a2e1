// Package pyproxy runs Python node workers (`python -m remotemedia.worker`) and
// serves them over HTTP and WebSocket (docs/pyproxy.md).
//
// A Proxy supervises Config.Workers worker processes, restarting any that dies or
// hangs. A session is one instance of a registered Python node type, pinned to the
// least loaded worker when it is opened; frames are passed to it unchanged in the
// wire format (docs/wire-format.md) and its outputs are streamed back.
package pyproxy

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/remotemedia/hybrid/core/frame"
)

// maxLate bounds the outputs kept for a session between requests.
const maxLate = 1024

// maxTombstones bounds how many failed sessions are remembered to explain later calls.
const maxTombstones = 1024

// Proxy supervises the Python workers and the sessions open on them.
type Proxy struct {
	cfg       Config
	bodyLimit int64
	log       *slog.Logger
	ctx       context.Context // ends at Close
	cancel    context.CancelFunc
	wg        sync.WaitGroup
	m         metrics

	mu         sync.Mutex
	closed     bool
	slots      []*worker     // the live worker of each slot, nil while it restarts
	changed    chan struct{} // closed and replaced when slots change
	nodes      []NodeType
	sessions   map[string]*session
	opening    int             // sessions being opened, counted against MaxSessions
	tombstones map[string]tomb // failed sessions -> why
	tombOrder  []string
}

// session is one node instance on one worker.
type session struct {
	id       string
	nodeType string
	w        *worker
	calls    sync.Mutex    // serializes the requests of the session
	notify   chan struct{} // signalled when late outputs arrive or the session fails

	mu   sync.Mutex
	late [][]byte // outputs that arrived between requests (streaming nodes)
	err  error    // set when the session's worker failed
}

func (s *session) signal() {
	select {
	case s.notify <- struct{}{}:
	default:
	}
}

func (s *session) takeLate() ([][]byte, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	late := s.late
	s.late = nil
	return late, s.err
}

// New starts the workers and returns once every one of them has reported ready.
// ctx bounds only the start-up; the workers run until Close.
func New(ctx context.Context, cfg Config) (*Proxy, error) {
	cfg, limit, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	pctx, cancel := context.WithCancel(context.Background())
	p := &Proxy{
		cfg: cfg, bodyLimit: limit, log: cfg.Logger, ctx: pctx, cancel: cancel,
		slots: make([]*worker, cfg.Workers), changed: make(chan struct{}),
		sessions: map[string]*session{}, tombstones: map[string]tomb{},
	}
	p.m.init()
	first := make(chan error, cfg.Workers)
	for i := range cfg.Workers {
		p.wg.Add(1)
		go p.supervise(ctx, i, first)
	}
	var errs []error
	for range cfg.Workers {
		if err := <-first; err != nil {
			errs = append(errs, err)
		}
	}
	if len(errs) > 0 {
		_ = p.Close()
		return nil, errors.Join(errs...)
	}
	return p, nil
}

// supervise keeps one worker slot filled, restarting with backoff.
func (p *Proxy) supervise(startCtx context.Context, slot int, first chan<- error) {
	defer p.wg.Done()
	const minBackoff, maxBackoff = 100 * time.Millisecond, 5 * time.Second
	backoff := minBackoff
	for {
		ctx := p.ctx
		if first != nil {
			ctx = startCtx
		}
		w, err := startWorker(ctx, p.cfg, p.deliverLate)
		if err == nil {
			p.setSlot(slot, w) // before New returns, so that Nodes is set
		}
		if first != nil {
			first <- err
			first = nil
			if err != nil {
				return
			}
		}
		if err != nil {
			p.log.Error("pyproxy: restarting worker failed", "slot", slot, "err", err)
		} else {
			started := time.Now()
			select {
			case <-w.dead:
			case <-p.ctx.Done():
				w.shutdown(2 * time.Second)
			}
			p.setSlot(slot, nil)
			p.failSessions(w)
			if p.ctx.Err() != nil {
				return
			}
			p.log.Warn("pyproxy: worker stopped; restarting", "slot", slot, "err", w.cause, "backoff", backoff)
			p.m.restarts.Add(1)
			if time.Since(started) > 30*time.Second {
				backoff = minBackoff
			}
		}
		select {
		case <-time.After(backoff):
		case <-p.ctx.Done():
			return
		}
		backoff = min(2*backoff, maxBackoff)
	}
}

func (p *Proxy) setSlot(slot int, w *worker) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.slots[slot] = w
	if w != nil && p.nodes == nil {
		p.nodes = w.nodes
	}
	close(p.changed)
	p.changed = make(chan struct{})
}

// failSessions fails every session pinned to w with w's death cause.
func (p *Proxy) failSessions(w *worker) {
	p.mu.Lock()
	var failed []*session
	for id, s := range p.sessions {
		if s.w == w {
			failed = append(failed, s)
			delete(p.sessions, id)
			p.tombstone(s, w.cause)
		}
	}
	p.mu.Unlock()
	for _, s := range failed {
		s.mu.Lock()
		s.err = w.cause
		s.mu.Unlock()
		s.signal()
	}
	p.m.sessions.Add(-int64(len(failed)))
}

// tomb is what is remembered of a failed session.
type tomb struct {
	nodeType string
	err      error
}

// tombstone remembers why a session failed; p.mu is held.
func (p *Proxy) tombstone(s *session, err error) {
	p.tombstones[s.id] = tomb{s.nodeType, err}
	p.tombOrder = append(p.tombOrder, s.id)
	if len(p.tombOrder) > maxTombstones {
		delete(p.tombstones, p.tombOrder[0])
		p.tombOrder = p.tombOrder[1:]
	}
}

// deliverLate keeps an output that arrived after its request completed.
func (p *Proxy) deliverLate(id string, f []byte) {
	p.mu.Lock()
	s := p.sessions[id]
	p.mu.Unlock()
	if s == nil {
		return
	}
	s.mu.Lock()
	if len(s.late) >= maxLate {
		s.late = s.late[1:]
		p.m.dropped.Add(1)
	}
	s.late = append(s.late, f)
	s.mu.Unlock()
	s.signal()
}

// Nodes returns the node types the workers registered.
func (p *Proxy) Nodes() []NodeType {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.nodes
}

// WorkerInfo describes one worker slot.
type WorkerInfo struct {
	Slot     int  `json:"slot"`
	PID      int  `json:"pid"`
	Alive    bool `json:"alive"`
	Sessions int  `json:"sessions"`
}

// Workers describes the worker slots; PID is 0 for a slot that is restarting.
func (p *Proxy) Workers() []WorkerInfo {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := make([]WorkerInfo, len(p.slots))
	for i, w := range p.slots {
		out[i].Slot = i
		if w != nil {
			out[i].PID, out[i].Alive, out[i].Sessions = w.pid, w.alive(), int(w.sessions.Load())
		}
	}
	return out
}

// Close kills every worker (and anything they spawned) and waits for them to exit.
func (p *Proxy) Close() error {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return nil
	}
	p.closed = true
	p.mu.Unlock()
	p.cancel()
	p.wg.Wait()
	return nil
}

// Open starts a session of a registered node type and returns its id.
func (p *Proxy) Open(ctx context.Context, nodeType string, params map[string]any) (string, error) {
	if err := p.knownType(nodeType); err != nil {
		return "", err
	}
	p.mu.Lock()
	switch {
	case p.closed:
		p.mu.Unlock()
		return "", ErrClosed
	case len(p.sessions)+p.opening >= p.cfg.MaxSessions:
		p.mu.Unlock()
		return "", fmt.Errorf("%w (%d open)", ErrSessionCap, p.cfg.MaxSessions)
	}
	p.opening++
	p.mu.Unlock()
	defer func() {
		p.mu.Lock()
		p.opening--
		p.mu.Unlock()
	}()

	pickCtx, cancel := context.WithTimeout(ctx, p.cfg.CallTimeout)
	defer cancel()
	w, err := p.pick(pickCtx)
	if err != nil {
		return "", err
	}
	s := &session{id: newID(), nodeType: nodeType, w: w, notify: make(chan struct{}, 1)}
	w.sessions.Add(1)
	p.m.requests.inc("open")
	err = p.call(ctx, s, request{op: "open", session: s.id, nodeType: nodeType, params: params}, sink{emit: discard})
	if err != nil {
		w.sessions.Add(-1)
		return "", err
	}
	p.mu.Lock()
	if !w.alive() { // died between the open's answer and now: failSessions has run
		p.tombstone(s, w.cause)
		p.mu.Unlock()
		return s.id, nil
	}
	p.sessions[s.id] = s
	p.mu.Unlock()
	p.m.sessions.Add(1)
	p.m.opened.Add(1)
	return s.id, nil
}

func (p *Proxy) knownType(nodeType string) error {
	nodes := p.Nodes()
	known := make([]string, 0, len(nodes))
	for _, n := range nodes {
		if n.Type == nodeType {
			return nil
		}
		known = append(known, n.Type)
	}
	sort.Strings(known)
	return fmt.Errorf("%w %q (known: %s)", ErrUnknownNodeType, nodeType, strings.Join(known, ", "))
}

// pick returns the live worker with the fewest sessions, waiting for one to be ready.
func (p *Proxy) pick(ctx context.Context) (*worker, error) {
	for {
		p.mu.Lock()
		var best *worker
		for _, w := range p.slots {
			if w != nil && w.alive() && (best == nil || w.sessions.Load() < best.sessions.Load()) {
				best = w
			}
		}
		changed, closed := p.changed, p.closed
		p.mu.Unlock()
		switch {
		case closed:
			return nil, ErrClosed
		case best != nil:
			return best, nil
		}
		select {
		case <-changed:
		case <-ctx.Done():
			return nil, fmt.Errorf("%w: %v", ErrNoWorker, ctx.Err())
		}
	}
}

// session returns an open session, or why it is not.
func (p *Proxy) session(id string) (*session, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if s := p.sessions[id]; s != nil {
		return s, nil
	}
	if t, ok := p.tombstones[id]; ok {
		return nil, t.err
	}
	return nil, fmt.Errorf("%w %q", ErrUnknownSession, id)
}

// nodeTypeOf returns the node type of an open or failed session, or "".
func (p *Proxy) nodeTypeOf(id string) string {
	p.mu.Lock()
	defer p.mu.Unlock()
	if s := p.sessions[id]; s != nil {
		return s.nodeType
	}
	return p.tombstones[id].nodeType
}

// CloseSession ends a session and frees its slot.
func (p *Proxy) CloseSession(ctx context.Context, id string) error {
	p.mu.Lock()
	s := p.sessions[id]
	delete(p.sessions, id)
	_, dead := p.tombstones[id]
	delete(p.tombstones, id)
	p.mu.Unlock()
	if s == nil {
		if dead {
			return nil
		}
		return fmt.Errorf("%w %q", ErrUnknownSession, id)
	}
	p.m.sessions.Add(-1)
	s.w.sessions.Add(-1)
	s.calls.Lock()
	defer s.calls.Unlock()
	p.m.requests.inc("close")
	return p.call(ctx, s, request{op: "close", session: id}, sink{emit: discard})
}

// sink receives the outputs of a request. idle, if set, is called before the proxy
// blocks waiting for the worker, so that a caller that holds outputs back (the HTTP
// response, to send them in as few writes as possible) passes them on first.
type sink struct {
	emit func([]byte) error
	idle func() error
}

func discard([]byte) error { return nil }

// call runs one request of a session on its worker.
func (p *Proxy) call(ctx context.Context, s *session, r request, out sink) error {
	c, err := s.w.start(r)
	if err == nil {
		err = s.w.wait(ctx, c, p.cfg.CallTimeout, out)
		if r.op == "frame" || r.op == "flush" {
			p.m.latency.observe(time.Since(c.started).Seconds())
		}
	}
	var ne *NodeError
	switch {
	case err == nil:
		return nil
	case errors.As(err, &ne):
		ne.NodeType = s.nodeType
		p.m.errors.inc("node")
	case errors.Is(err, ErrTimeout):
		p.m.errors.inc("timeout")
	case errors.Is(err, ErrWorkerDied):
		p.m.errors.inc("died")
	default:
		p.m.errors.inc("other")
	}
	return err
}

// Feed sends a body of concatenated wire frames to a session and hands each output
// frame to emit as it is produced. Outputs of a streaming node that arrived since
// the last request come first. A control eos frame flushes the node and is then
// passed to emit itself; a control flush frame flushes it. The body is checked
// before anything is sent, so a bad frame fails the request with ErrBadFrame and
// the session unchanged. The first failing frame ends the request.
func (p *Proxy) Feed(ctx context.Context, id string, body []byte, emit func([]byte) error) error {
	return p.feed(ctx, id, body, sink{emit: emit})
}

func (p *Proxy) feed(ctx context.Context, id string, body []byte, out sink) error {
	s, err := p.session(id)
	if err != nil {
		return err
	}
	frames, err := splitFrames(body)
	if err != nil {
		return err
	}
	return p.locked(s, out, func() error {
		for _, f := range frames {
			switch {
			case f.op == frame.EndOfStream:
				if err := p.flush(ctx, s, out); err != nil {
					return err
				}
				if err := out.emit(f.raw); err != nil {
					return err
				}
			case f.op == frame.Flush:
				if err := p.flush(ctx, s, out); err != nil {
					return err
				}
			default:
				p.m.requests.inc("frame")
				if err := p.call(ctx, s, request{op: "frame", session: s.id, frame: f.raw}, out); err != nil {
					return err
				}
			}
		}
		return nil
	})
}

// locked runs fn holding the session's call lock, with the outputs of a streaming
// node that arrived since the last request handed to out before and after it.
func (p *Proxy) locked(s *session, out sink, fn func() error) error {
	s.calls.Lock()
	defer s.calls.Unlock()
	if err := p.drainLate(s, out.emit); err != nil {
		return err
	}
	if err := fn(); err != nil {
		return err
	}
	return p.drainLate(s, out.emit)
}

// Flush flushes a session's node and hands its outputs to emit.
func (p *Proxy) Flush(ctx context.Context, id string, emit func([]byte) error) error {
	return p.flushSession(ctx, id, sink{emit: emit})
}

func (p *Proxy) flushSession(ctx context.Context, id string, out sink) error {
	s, err := p.session(id)
	if err != nil {
		return err
	}
	return p.locked(s, out, func() error { return p.flush(ctx, s, out) })
}

func (p *Proxy) flush(ctx context.Context, s *session, out sink) error {
	p.m.requests.inc("flush")
	return p.call(ctx, s, request{op: "flush", session: s.id}, out)
}

func (p *Proxy) drainLate(s *session, emit func([]byte) error) error {
	late, err := s.takeLate()
	for _, f := range late {
		if e := emit(f); e != nil {
			return e
		}
	}
	return err
}

// rawFrame is one frame of a request body, still in its wire encoding.
type rawFrame struct {
	raw []byte
	op  frame.ControlOp // for control frames
}

func splitFrames(body []byte) ([]rawFrame, error) {
	if len(body) == 0 {
		return nil, fmt.Errorf("%w: empty body, want one or more wire frames", ErrBadFrame)
	}
	var out []rawFrame
	for off := 0; off < len(body); {
		f, n, err := frame.UnmarshalPrefix(body[off:])
		if err != nil {
			return nil, fmt.Errorf("%w: frame %d at byte %d: %v", ErrBadFrame, len(out), off, err)
		}
		r := rawFrame{raw: body[off : off+n]}
		if f.Kind == frame.KindControl {
			r.op = f.Op
		}
		out = append(out, r)
		off += n
	}
	return out, nil
}

func newID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}
