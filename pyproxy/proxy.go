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
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
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
	m         *metrics

	mu         sync.Mutex
	closed     bool
	slots      []*worker     // the live worker of each slot, nil while it restarts
	changed    chan struct{} // closed and replaced when slots change
	nodes      []NodeType
	sessions   map[string]*session
	clients    map[string]int  // open and opening sessions per client address
	opening    int             // sessions being opened, counted against MaxSessions
	tombstones map[string]tomb // failed sessions -> why
	tombOrder  []string
}

// session is one node instance on one worker.
type session struct {
	id       string
	nodeType string
	client   string // the address that opened it, for MaxSessionsPerClient ("" not counted)
	w        *worker
	calls    sync.Mutex    // serializes the requests of the session
	notify   chan struct{} // signalled when late outputs arrive or the session fails
	used     atomic.Int64  // when a request last started or ended (unix ns), for SessionIdle
	busy     atomic.Int32  // requests running and WebSockets open: the session is not idle
	orphaned atomic.Bool   // its WebSocket closed and nothing used it since: SocketGrace applies

	mu      sync.Mutex
	late    [][]byte // outputs that arrived between requests (streaming nodes)
	dropped int      // late outputs dropped (maxLate overflow) since the client was last told
	err     error    // set when the session's worker failed or the session expired
}

func (s *session) signal() {
	select {
	case s.notify <- struct{}{}:
	default:
	}
}

func (s *session) takeLate() ([][]byte, int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	late, dropped := s.late, s.dropped
	s.late, s.dropped = nil, 0
	return late, dropped, s.err
}

// touch marks the session used now.
func (s *session) touch() { s.used.Store(time.Now().UnixNano()) }

// New starts the workers and returns once every one of them has reported ready.
// ctx bounds only the start-up; the workers run until Close.
func New(ctx context.Context, cfg Config) (*Proxy, error) {
	cfg, limit, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	m, err := newMetrics(cfg.Metrics)
	if err != nil {
		return nil, err
	}
	pctx, cancel := context.WithCancel(context.Background())
	p := &Proxy{
		cfg: cfg, bodyLimit: limit, log: cfg.Logger, ctx: pctx, cancel: cancel, m: m,
		slots: make([]*worker, cfg.Workers), changed: make(chan struct{}),
		sessions: map[string]*session{}, clients: map[string]int{}, tombstones: map[string]tomb{},
	}
	p.wg.Add(1)
	go p.expireIdle()
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
		m.unregister(cfg.Metrics) // so that the caller may register them without a proxy (RegisterMetrics)
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
			p.log.Warn("pyproxy: worker stopped; restarting", "slot", slot, "pid", w.pid, "err", w.cause, "backoff", backoff)
			p.m.restarts.Inc()
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
	alive := 0
	for _, w := range p.slots {
		if w != nil {
			alive++
		}
	}
	p.m.workers.Set(float64(alive))
	close(p.changed)
	p.changed = make(chan struct{})
}

// failSessions fails every session pinned to w with w's death cause.
func (p *Proxy) failSessions(w *worker) {
	p.mu.Lock()
	var failed []*session
	for _, s := range p.sessions {
		if s.w == w {
			failed = append(failed, s)
			p.drop(s)
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
	p.m.sessions.Sub(float64(len(failed)))
}

// drop removes an open session from the books; p.mu is held.
func (p *Proxy) drop(s *session) {
	delete(p.sessions, s.id)
	p.release(s.client)
}

// release gives back a client's session slot; p.mu is held.
func (p *Proxy) release(client string) {
	if client == "" {
		return
	}
	if p.clients[client]--; p.clients[client] <= 0 {
		delete(p.clients, client)
	}
}

// expireIdle ends, until Close, the sessions unused for Config.SessionIdle.
func (p *Proxy) expireIdle() {
	defer p.wg.Done()
	every := min(max(min(p.cfg.SessionIdle, p.cfg.SocketGrace)/2, 10*time.Millisecond), 30*time.Second)
	tick := time.NewTicker(every)
	defer tick.Stop()
	for {
		select {
		case <-p.ctx.Done():
			return
		case <-tick.C:
		}
		now := time.Now()
		p.mu.Lock()
		var idle []*session
		for _, s := range p.sessions {
			if p.idle(s, now) {
				idle = append(idle, s)
			}
		}
		p.mu.Unlock()
		for _, s := range idle {
			p.expire(s, now)
		}
	}
}

// idle reports whether s has been unused long enough to end: SessionIdle, or
// SocketGrace since its WebSocket closed.
func (p *Proxy) idle(s *session, now time.Time) bool {
	limit := p.cfg.SessionIdle
	if s.orphaned.Load() {
		limit = min(limit, p.cfg.SocketGrace)
	}
	return s.busy.Load() == 0 && s.used.Load() < now.Add(-limit).UnixNano()
}

// expire ends s if it is still idle: later requests get ErrSessionExpired.
func (p *Proxy) expire(s *session, now time.Time) {
	if !s.calls.TryLock() { // a request is running: not idle
		return
	}
	defer s.calls.Unlock()
	why := fmt.Sprintf("was not used for %s", p.cfg.SessionIdle)
	if s.orphaned.Load() {
		why = fmt.Sprintf("was not used for %s after its WebSocket closed", p.cfg.SocketGrace)
	}
	err := fmt.Errorf("%w: session %s (%s) %s", ErrSessionExpired, s.id, s.nodeType, why)
	p.mu.Lock()
	if p.sessions[s.id] != s || !p.idle(s, now) {
		p.mu.Unlock()
		return
	}
	p.drop(s)
	p.tombstone(s, err)
	p.mu.Unlock()
	s.mu.Lock()
	s.err = err
	s.mu.Unlock()
	s.signal()
	p.m.sessions.Dec()
	s.w.sessions.Add(-1)
	p.m.expired.Inc()
	p.log.Info("pyproxy: session expired", "session", s.id, "node_type", s.nodeType, "idle", p.cfg.SessionIdle)
	ctx, cancel := context.WithTimeout(p.ctx, p.cfg.CallTimeout)
	defer cancel()
	p.m.requests.WithLabelValues("close").Inc()
	if err := p.call(ctx, s, request{op: "close", session: s.id}, sink{emit: discard}); err != nil && !errors.Is(err, ErrWorkerDied) {
		p.log.Warn("pyproxy: closing an expired session", "session", s.id, "err", err)
	}
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
	s.keepLate(f, p.m.dropped.Inc)
	s.signal()
}

// keepLate queues a late output; when maxLate are queued already it drops the
// oldest, counts it for the session's client and calls dropped.
func (s *session) keepLate(f []byte, dropped func()) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.late) >= maxLate {
		s.late[0] = nil
		s.late = s.late[1:]
		s.dropped++
		dropped()
	}
	s.late = append(s.late, f)
}

// Nodes returns the node types the workers registered.
func (p *Proxy) Nodes() []NodeType {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.nodes
}

// WorkerInfo describes one worker slot.
type WorkerInfo struct {
	Slot int `json:"slot"`
	// PID is 0 while the slot restarts; /healthz shows it only to a caller with the token.
	PID      int  `json:"pid,omitempty"`
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

// Caller says who opens a session.
type Caller struct {
	// Trusted is the operator (a definition given to run, a holder of
	// Config.OperatorToken): it may set operator-only params and is not counted
	// against MaxSessionsPerClient.
	Trusted bool
	// Client is the caller's address (its IP) for MaxSessionsPerClient; "" is not counted.
	Client string
}

// Open starts a session of a registered node type and returns its id. params
// are merged over Config.NodeParams of the type; an operator-only param set by a
// caller that is not Trusted fails with ErrOperatorParam, a type that cannot run
// here with ErrUnavailable.
func (p *Proxy) Open(ctx context.Context, nodeType string, params map[string]any, by Caller) (string, error) {
	nt, err := p.nodeType(nodeType)
	if err != nil {
		return "", err
	}
	if params, err = p.mergeParams(nt, params, by.Trusted); err != nil {
		return "", err
	}
	if nt.Unavailable != "" {
		return "", fmt.Errorf("%w: %s cannot run on this server: %s", ErrUnavailable, nodeType, nt.Unavailable)
	}
	client := by.Client
	if by.Trusted {
		client = ""
	}
	p.mu.Lock()
	switch {
	case p.closed:
		p.mu.Unlock()
		return "", ErrClosed
	case len(p.sessions)+p.opening >= p.cfg.MaxSessions:
		p.mu.Unlock()
		return "", fmt.Errorf("%w (%d open)", ErrSessionCap, p.cfg.MaxSessions)
	case client != "" && p.clients[client] >= p.cfg.MaxSessionsPerClient:
		p.mu.Unlock()
		return "", fmt.Errorf("%w: %s has %d sessions open, the most one client may have; close some (DELETE /v1/sessions/:id)",
			ErrSessionCap, client, p.cfg.MaxSessionsPerClient)
	}
	p.opening++
	if client != "" {
		p.clients[client]++
	}
	p.mu.Unlock()
	opened := false
	defer func() {
		p.mu.Lock()
		p.opening--
		if !opened {
			p.release(client)
		}
		p.mu.Unlock()
	}()

	pickCtx, cancel := context.WithTimeout(ctx, p.cfg.CallTimeout)
	defer cancel()
	w, err := p.pick(pickCtx)
	if err != nil {
		return "", err
	}
	s := &session{id: newID(), nodeType: nodeType, client: client, w: w, notify: make(chan struct{}, 1)}
	s.touch()
	w.sessions.Add(1)
	p.m.requests.WithLabelValues("open").Inc()
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
	opened = true
	p.mu.Unlock()
	p.m.sessions.Inc()
	p.m.opened.Inc()
	return s.id, nil
}

func (p *Proxy) nodeType(nodeType string) (NodeType, error) {
	nodes := p.Nodes()
	known := make([]string, 0, len(nodes))
	for _, n := range nodes {
		if n.Type == nodeType {
			return n, nil
		}
		known = append(known, n.Type)
	}
	sort.Strings(known)
	return NodeType{}, fmt.Errorf("%w %q (known: %s)", ErrUnknownNodeType, nodeType, strings.Join(known, ", "))
}

// mergeParams returns the operator's Config.NodeParams of nt with params over
// them, refusing an operator-only param from a caller that is not trusted.
func (p *Proxy) mergeParams(nt NodeType, params map[string]any, trusted bool) (map[string]any, error) {
	out := make(map[string]any, len(params)+len(p.cfg.NodeParams[nt.Type]))
	for k, v := range p.cfg.NodeParams[nt.Type] {
		out[k] = v
	}
	for _, k := range slices.Sorted(maps.Keys(params)) {
		if !trusted {
			for _, pr := range nt.Params {
				if pr.Name == k && pr.Operator {
					return nil, &operatorParamError{nodeType: nt.Type, param: k}
				}
			}
		}
		out[k] = params[k]
	}
	return out, nil
}

// operatorParamError is a client's attempt to set an operator-only param.
type operatorParamError struct{ nodeType, param string }

func (e *operatorParamError) Error() string {
	return fmt.Sprintf("%s: param %q is operator-only: set it in the server's configuration (--node-param %s.%s=VALUE), not from a client",
		e.nodeType, e.param, e.nodeType, e.param)
}

func (e *operatorParamError) Is(target error) bool { return target == ErrOperatorParam }

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
	if s != nil {
		p.drop(s)
	}
	_, dead := p.tombstones[id]
	delete(p.tombstones, id)
	p.mu.Unlock()
	if s == nil {
		if dead {
			return nil
		}
		return fmt.Errorf("%w %q", ErrUnknownSession, id)
	}
	p.m.sessions.Dec()
	s.w.sessions.Add(-1)
	s.calls.Lock()
	defer s.calls.Unlock()
	p.m.requests.WithLabelValues("close").Inc()
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
			p.m.latency.Observe(time.Since(c.started).Seconds())
		}
	}
	var ne *NodeError
	switch {
	case err == nil:
		return nil
	case errors.As(err, &ne):
		ne.NodeType = s.nodeType
		p.m.errors.WithLabelValues("node").Inc()
	case errors.Is(err, ErrTimeout):
		p.m.errors.WithLabelValues("timeout").Inc()
	case errors.Is(err, ErrWorkerDied):
		p.m.errors.WithLabelValues("died").Inc()
	default:
		p.m.errors.WithLabelValues("other").Inc()
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
				p.m.requests.WithLabelValues("frame").Inc()
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
	s.busy.Add(1)
	s.touch()
	s.orphaned.Store(false)
	defer func() {
		s.touch()
		s.busy.Add(-1)
	}()
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
	p.m.requests.WithLabelValues("flush").Inc()
	return p.call(ctx, s, request{op: "flush", session: s.id}, out)
}

// drainLate hands on the late outputs kept for s, after a notice of how many
// were dropped since the last time (see droppedFrame), and then s's failure.
func (p *Proxy) drainLate(s *session, emit func([]byte) error) error {
	late, dropped, err := s.takeLate()
	if dropped > 0 {
		if e := emit(droppedFrame(s.id, dropped)); e != nil {
			return e
		}
	}
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

// droppedFrame tells a session's client that n late outputs of its streaming
// node were dropped: a json frame {"dropped_late_outputs": n, "session": id} with
// meta {"dropped_late_outputs": n}, sent before the late outputs that were kept.
func droppedFrame(session string, n int) []byte {
	js, _ := json.Marshal(map[string]any{"dropped_late_outputs": n, "session": session})
	b, _ := frame.Marshal(frame.NewJSON(frame.Header{StreamID: session, Meta: map[string]any{"dropped_late_outputs": n}}, js))
	return b
}

func newID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}
