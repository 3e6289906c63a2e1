package live

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/coder/websocket"
	"github.com/labstack/echo/v4"

	"github.com/remotemedia/hybrid/core/client"
	"github.com/remotemedia/hybrid/core/frame"
	"github.com/remotemedia/hybrid/core/node"
	"github.com/remotemedia/hybrid/core/sched"
	"github.com/remotemedia/hybrid/target/wasmhost"
)

// Sizes of the output side of a socket.
const (
	// batchBytes is the size up to which output frames ready at once share one message.
	batchBytes = 64 << 10
	// maxQueuedBytes bounds the output waiting for the socket's writer; a session
	// whose outputs would go over waits (back-pressure into its pipeline).
	maxQueuedBytes = 256 << 10
	// maxRefused bounds the stream ids a socket remembers as refused.
	maxRefused = 1024
)

// Close reasons (docs/server.md).
const (
	reasonGoingAway = "going away"
	reasonIdle      = "idle"
)

// liveNamed serves GET /v1/pipelines/:name/ws.
func (s *Server) liveNamed(c echo.Context) error {
	p, err := s.pipeline(c)
	if p == nil {
		return err
	}
	if p, ok := splitFor(c, p); ok { // ?nodes=: the server's part of a split placement (split.go)
		return s.serveSocket(c, p)
	}
	return nil
}

// liveInline serves GET /v1/inline/ws: the first message is the definition.
func (s *Server) liveInline(c echo.Context) error {
	if !s.inlineAllowed(c) {
		return nil
	}
	return s.serveSocket(c, nil)
}

// serveSocket refuses a socket the limits or a drain do not allow (HTTP, before
// the upgrade), then accepts it and runs it until it closes.
func (s *Server) serveSocket(c echo.Context, p *Pipeline) error {
	r := c.Request()
	addr := clientAddr(r)
	if err := s.full(addr); err != nil {
		return httpError(c, statusOf(err), err)
	}
	k := &socket{srv: s, pipe: p, addr: addr, part: splitNodes(c), sessions: map[string]*session{}}
	if err := s.addSocket(k); err != nil {
		return httpError(c, statusOf(err), err)
	}
	defer s.removeSocket(k)
	opts := &websocket.AcceptOptions{OriginPatterns: s.cfg.AllowOrigins}
	if slices.Contains(s.cfg.AllowOrigins, "*") {
		opts = &websocket.AcceptOptions{InsecureSkipVerify: true}
	}
	conn, err := websocket.Accept(c.Response(), r, opts)
	if err != nil {
		return nil // Accept has answered
	}
	conn.SetReadLimit(-1) // read checks Config.MaxMessage itself, to close with its own reason
	k.conn = conn
	k.ctx, k.cancel = context.WithCancel(s.ctx)
	k.hasRoom.L = &k.outMu
	s.m.sockets.Inc()
	defer s.m.sockets.Dec()
	k.run()
	return nil
}

func (s *Server) addSocket(k *socket) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.draining {
		return ErrDraining
	}
	s.sockets[k] = struct{}{}
	s.active.Add(1)
	return nil
}

func (s *Server) removeSocket(k *socket) {
	s.mu.Lock()
	delete(s.sockets, k)
	s.mu.Unlock()
	s.active.Done()
}

// socket is one WebSocket and the sessions it carries, by stream id.
type socket struct {
	srv  *Server
	conn *websocket.Conn
	pipe *Pipeline // nil until an inline socket's definition has come
	part []string  // an inline socket's ?nodes=: the nodes it runs (split.go)
	addr string

	ctx    context.Context // ends when the socket does: its sessions are cancelled
	cancel context.CancelFunc

	mu       sync.Mutex
	sessions map[string]*session
	refused  map[string]bool // stream ids whose frames are ignored until their eos
	draining bool
	last     *session // the session of the previous frame (reader only)

	// The output queue, written by whichever goroutine finds nobody writing.
	outMu       sync.Mutex
	hasRoom     sync.Cond
	msgs, other [][]byte // messages to write; other is the spare slice for swapping
	spare       [][]byte // written messages' buffers, for reuse
	queued      int
	flushing    bool // a goroutine is writing the queue, or the reader holds that role (held)
	held        bool // the reader holds the writer's role while it routes a message's frames
	dead        bool // nothing more is written
	finishing   bool // close with 1001 once the queue is written

	forwarders sync.WaitGroup
	closeCode  atomic.Int32 // the code the server closed with, for metrics

	ready   atomic.Bool   // conn and ctx are set: the watchdog may check the socket
	reads   atomic.Uint64 // messages read, for the idle watchdog
	writes  atomic.Uint64 // writes begun, for the write watchdog
	writing atomic.Bool   // a write is in progress
	// The watchdog's own state (Server.watch's goroutine only).
	readsSeen, writesSeen uint64
	readAt, writeAt       time.Time
	checkedOut            bool // the watchdog has closed the socket
}

// session is one pipeline session on a socket.
type session struct {
	sid         string
	s           *sched.Session
	cancel      context.CancelFunc
	pm          pipeMetrics
	framesIn    atomic.Uint64
	inputClosed atomic.Bool // eos came
	ended       atomic.Bool
	pipe        *Pipeline

	// A synchronous session may end (OnEnd) before open has registered it.
	endMu      sync.Mutex
	registered bool // open has counted it: its end is k.end's
	endedEarly bool // it ended before that
}

// run serves the socket until it closes.
func (k *socket) run() {
	k.ready.Store(true)
	switch { // Drain and abort skip a socket not ready yet: it does it itself
	case k.srv.ctx.Err() != nil:
		k.closeWith(websocket.StatusGoingAway, reasonGoingAway)
	case k.srv.isDraining():
		k.drain()
	}
	k.read()

	k.kill()
	_ = k.conn.CloseNow()
	k.forwarders.Wait()
	code := k.closeCode.Load()
	if code == 0 {
		code = -1
	}
	k.srv.m.closeCodes.WithLabelValues(closeLabel(code)).Inc()
}

// closedWriteTimeout is the closeCode of a socket dropped by the write timeout.
const closedWriteTimeout = -2

func closeLabel(code int32) string {
	switch code {
	case -1:
		return "client"
	case closedWriteTimeout:
		return "write_timeout"
	}
	return strconv.Itoa(int(code))
}

// read is the reader loop: one message at a time, every frame of a message
// accepted by its session's input queue before the next message is read.
func (k *socket) read() {
	var buf bytes.Buffer
	bg := context.Background() // cancellation is the watchdog's and kill's CloseNow: no timer per read
	limit := k.srv.cfg.MaxMessage
	lr := &io.LimitedReader{} // reused: no allocation per message
	for {
		typ, r, err := k.conn.Reader(bg)
		if err == nil {
			buf.Reset()
			lr.R, lr.N = r, limit+1
			_, err = buf.ReadFrom(lr)
		}
		if err != nil {
			return // closed by the client or by the server
		}
		if int64(buf.Len()) > limit {
			k.srv.m.refused.WithLabelValues("message_size").Inc()
			k.closeWith(websocket.StatusMessageTooBig, fmt.Sprintf("message over the limit of %d bytes", limit))
			return
		}
		k.reads.Add(1)
		k.srv.m.bytesIn.Add(float64(buf.Len()))
		if k.pipe == nil { // inline: the definition comes first
			if !k.inlineDefinition(typ, buf.Bytes()) {
				return
			}
			continue
		}
		if typ != websocket.MessageBinary {
			k.closeWith(websocket.StatusUnsupportedData, "text message: send wire frames as binary messages")
			return
		}
		// Frames alias the message: one copy per message, kept by the pipeline,
		// unless the pipeline is done with them when route returns.
		msg := buf.Bytes()
		if !k.pipe.framesDone {
			msg = bytes.Clone(msg)
		}
		for first := true; len(msg) > 0; first = false {
			f, n, err := frame.UnmarshalPrefix(msg)
			if err != nil {
				k.release()
				k.closeWith(websocket.StatusUnsupportedData, err.Error())
				return
			}
			msg = msg[n:]
			if first && len(msg) > 0 && k.pipe.synchronous {
				k.hold() // not for queued sessions: a Push that waits would hold their outputs back
			}
			k.route(f)
		}
		k.release()
	}
}

// hold makes the reader the socket's writer while it routes the frames of one
// message (a gateway's message carries a frame of each of many sessions): the
// outputs of synchronous sessions are queued, and release writes them together,
// instead of one write per frame. Nobody waits on a held queue: an enqueue
// that finds it full writes it (see enqueue).
func (k *socket) hold() {
	k.outMu.Lock()
	if !k.flushing && !k.dead {
		k.flushing, k.held = true, true
	}
	k.outMu.Unlock()
}

// release writes what was queued while the reader held the writer's role.
func (k *socket) release() {
	k.outMu.Lock()
	if !k.held {
		k.outMu.Unlock()
		return
	}
	k.held = false
	k.flush()
}

// inlineDefinition builds the pipeline of an inline socket from its first
// message, or closes the socket with 1008 and the problems.
func (k *socket) inlineDefinition(typ websocket.MessageType, data []byte) bool {
	if typ != websocket.MessageText {
		k.closeWith(websocket.StatusPolicyViolation, "the first message on /v1/inline/ws is the definition, as a text message")
		return false
	}
	p, err := inlinePipeline(data, k.srv.cfg.Registry)
	if err == nil && k.part != nil {
		p, err = p.part(k.part)
	}
	if err != nil {
		k.enqueue(errorFrame("", err.Error())) // written before enqueue returns: no session writes yet
		k.closeWith(websocket.StatusPolicyViolation, err.Error())
		return false
	}
	k.pipe = p
	return true
}

// route hands one frame to its session, opening it on its first data frame.
func (k *socket) route(f *frame.Frame) {
	ls := k.last
	if ls == nil || ls.sid != f.StreamID || ls.ended.Load() {
		k.mu.Lock()
		ls = k.sessions[f.StreamID]
		refused, draining := k.refused[f.StreamID], k.draining
		k.mu.Unlock()
		switch {
		case ls != nil:
		case refused:
			if f.IsControl(frame.EndOfStream) {
				k.mu.Lock()
				delete(k.refused, f.StreamID)
				k.mu.Unlock()
			}
			return
		case f.Kind == frame.KindControl:
			return // nothing to end, flush or cancel
		case draining:
			k.refuseStream(f.StreamID, ErrDraining)
			return
		default:
			if ls = k.open(f.StreamID); ls == nil {
				return
			}
		}
		k.last = ls
	}
	var err error
	switch {
	case f.Kind != frame.KindControl:
		if err = ls.s.Push(k.ctx, f); err == nil {
			ls.framesIn.Add(1)
			ls.pm.framesIn.Inc()
		}
	case f.Op == frame.EndOfStream:
		ls.inputClosed.Store(true)
		err = ls.s.CloseInput(k.ctx)
	default:
		err = ls.s.Control(k.ctx, f.Op)
	}
	if errors.Is(err, sched.ErrClosed) && ls.inputClosed.Load() && f.Kind != frame.KindControl {
		k.enqueue(errorFrame(f.StreamID, fmt.Sprintf("live: stream %q: its input has ended (eos); wait for its end frame before reusing the stream id", f.StreamID)))
	}
}

// open starts a session for stream sid, or refuses it: an error frame and an
// end frame naming the reason, after which the stream's frames are ignored
// until its eos.
func (k *socket) open(sid string) *session {
	refuse := func(err error) *session {
		k.refuseStream(sid, err)
		return nil
	}
	k.mu.Lock()
	n := len(k.sessions)
	k.mu.Unlock()
	if n >= k.srv.cfg.MaxSessionsPerConn {
		k.srv.m.refused.WithLabelValues("sessions_per_connection").Inc()
		return refuse(fmt.Errorf("%w: this connection carries its maximum of %d sessions", ErrLimit, k.srv.cfg.MaxSessionsPerConn))
	}
	if err := k.srv.admit(k.addr); err != nil {
		return refuse(err)
	}
	cfg := &k.srv.cfg
	ctx, cancel := context.WithDeadlineCause(k.ctx, time.Now().Add(cfg.MaxSessionLength),
		fmt.Errorf("%w: the session ran for its maximum of %v", ErrSessionLength, cfg.MaxSessionLength))
	ls := &session{sid: sid, cancel: cancel, pipe: k.pipe, pm: k.srv.m.forPipeline(k.pipe.metricName)}
	opts := sched.Options{QueueSize: cfg.QueueSize, StreamID: sid, Spin: true}
	synchronous := k.pipe.synchronous
	if synchronous { // the reader's goroutine runs the frame through and writes its outputs
		var enc []byte
		opts.Synchronous = true
		opts.OnOutput = func(o sched.Output) { enc = k.output(enc[:0], ls, o) }
		opts.OnEnd = func(error) { ls.endSynchronous(k) }
	}
	s, err := sched.Start(sessionContext(ctx), k.pipe.graph, opts)
	if err != nil {
		cancel()
		k.srv.release(k.addr)
		return refuse(fmt.Errorf("live: the session cannot start: %w", err))
	}
	ls.s = s
	k.mu.Lock()
	if k.draining { // Drain began after admit: it would not end this session's input
		k.mu.Unlock()
		_ = s.Close()
		cancel()
		k.srv.release(k.addr)
		return refuse(ErrDraining)
	}
	k.sessions[sid] = ls
	k.mu.Unlock()
	ls.pm.sessions.Inc()
	k.forwarders.Add(1)
	if !synchronous {
		go k.forward(ls)
		return ls
	}
	ls.endMu.Lock()
	ls.registered = true
	early := ls.endedEarly
	ls.endMu.Unlock()
	if early {
		k.end(ls)
		return nil
	}
	return ls
}

// sessionContext is the context a live session's nodes are built with: their
// WASM instances keep their linear memory outside the Go heap
// (wasmhost.WithMappedMemory), where only the pages a guest touches are
// resident and the collector's target does not grow with it.
func sessionContext(ctx context.Context) context.Context { return wasmhost.WithMappedMemory(ctx) }

// runsSynchronously says whether the sessions of g run synchronously (sched.Options.Synchronous):
// on the socket reader's goroutine, without a goroutine per node and per
// session. That is for graphs of WASM and Go nodes, whose calls take
// microseconds, and without drop_oldest edges, which never drop in that mode: a
// Python node's call or a definition that sheds load keeps its own goroutines,
// so the socket's other sessions do not wait for it.
func runsSynchronously(g *sched.Graph) bool {
	for _, n := range g.Nodes {
		if n.Spec.Runtime == node.RuntimePython {
			return false
		}
	}
	for _, e := range g.Edges {
		if e.Policy == sched.DropOldest {
			return false
		}
	}
	return true
}

// framesDoneInPush says whether the sessions of g are done with a frame
// once Push has returned: they run synchronously and every node is a WASM
// node, which copies its input into the guest's memory and emits copies (or,
// for a payload it repeats unchanged, the input's own bytes, which the
// session's outputs have encoded before Push returns). The reader then decodes
// the next message into the same buffer instead of copying each message for
// the pipeline to keep. (A Go node may keep the frames it is given, a Python
// node's session takes them later.)
func framesDoneInPush(g *sched.Graph) bool {
	if !runsSynchronously(g) {
		return false
	}
	for _, n := range g.Nodes {
		if n.Spec.Runtime != node.RuntimeWASM {
			return false
		}
	}
	return true
}

// endSynchronous is a synchronous session's OnEnd: its end frame, unless open has not
// registered it yet (then open ends it, or it was refused).
func (ls *session) endSynchronous(k *socket) {
	ls.endMu.Lock()
	if !ls.registered {
		ls.endedEarly = true
		ls.endMu.Unlock()
		return
	}
	ls.endMu.Unlock()
	k.end(ls)
}

// refuseStream refuses a session of stream sid: an error frame and an end
// frame naming the reason, after which its frames are ignored until its eos.
func (k *socket) refuseStream(sid string, err error) {
	k.mu.Lock()
	k.refuse(sid)
	k.mu.Unlock()
	k.enqueue(errorFrame(sid, err.Error()))
	k.enqueue(endFrame(sid, endBody{Error: err.Error(), Stats: []nodeStat{}}))
}

// refuse makes the socket ignore stream sid's frames until its eos; k.mu held.
func (k *socket) refuse(sid string) {
	if k.refused == nil || len(k.refused) >= maxRefused {
		k.refused = map[string]bool{}
	}
	k.refused[sid] = true
}

// forward sends a session's outputs, then its end frame.
func (k *socket) forward(ls *session) {
	var enc []byte
	for o := range ls.s.Outputs() {
		enc = k.output(enc[:0], ls, o)
	}
	k.end(ls)
}

// output encodes one output into enc, counts it and queues it for the socket.
func (k *socket) output(enc []byte, ls *session, o sched.Output) []byte {
	enc = appendOutput(enc, ls, o)
	if o.Err != nil {
		ls.pm.failed.Inc()
	} else {
		ls.pm.framesOut.Inc()
	}
	k.enqueue(enc)
	return enc
}

// end closes a session that has ended and sends its end frame.
func (k *socket) end(ls *session) {
	defer k.forwarders.Done()
	werr := ls.s.Wait()
	stats := ls.s.Stats()
	if cerr := ls.s.Close(); cerr != nil {
		k.srv.cfg.Logger.Warn("live: closing a session's nodes", "stream", ls.sid, "err", cerr)
	}
	ls.cancel()
	ls.pm.sessions.Dec()
	k.srv.release(k.addr)
	k.srv.m.ended(ls.pipe, stats, werr != nil)

	ls.ended.Store(true)
	k.mu.Lock()
	delete(k.sessions, ls.sid) // before the end frame: the client may reuse the id once it has it
	if werr != nil && !ls.inputClosed.Load() {
		// It failed before its eos: the frames the client sends until then
		// belong to it, not to a new session.
		k.refuse(ls.sid)
	}
	last := k.draining && len(k.sessions) == 0
	k.mu.Unlock()
	body := endBody{FramesIn: ls.framesIn.Load(), Stats: make([]nodeStat, len(stats))}
	if werr != nil {
		body.Error = werr.Error()
	}
	for i, st := range stats {
		body.Dropped += st.Dropped
		body.Stats[i] = statOf(st)
	}
	k.enqueue(endFrame(ls.sid, body))
	if last {
		k.finish()
	}
}

// appendOutput encodes one output, tagged with its stream and port.
func appendOutput(dst []byte, ls *session, o sched.Output) []byte {
	if o.Err != nil {
		body := errorBody{Node: o.Node, Error: o.Err.Error()}
		var ne *sched.NodeError
		if errors.As(o.Err, &ne) && ne.Frame {
			body.Seq, body.TSUS = ne.Seq, ne.Timestamp
		}
		doc, _ := json.Marshal(body)
		f := frame.NewJSON(frame.Header{StreamID: ls.sid, Seq: body.Seq, Timestamp: body.TSUS,
			Meta: map[string]any{"error": true, "port": o.Node}}, doc)
		out, _ := frame.AppendMarshal(dst, f)
		return out
	}
	c := *o.Frame
	c.StreamID = ls.sid
	meta := ls.pipe.portMeta(o.Node, o.Port)
	if len(o.Frame.Meta) > 0 {
		merged := make(map[string]any, len(o.Frame.Meta)+1)
		for k, v := range o.Frame.Meta {
			merged[k] = v
		}
		merged["port"] = meta["port"]
		meta = merged
	}
	c.Meta = meta
	out, err := frame.AppendMarshal(dst, &c)
	if err != nil { // a node emitted a frame that does not validate: say so instead
		doc, _ := json.Marshal(errorBody{Node: o.Node, Seq: c.Seq, TSUS: c.Timestamp, Error: "live: output frame cannot be sent: " + err.Error()})
		out, _ = frame.AppendMarshal(dst, frame.NewJSON(frame.Header{StreamID: ls.sid, Seq: c.Seq, Timestamp: c.Timestamp,
			Meta: map[string]any{"error": true, "port": o.Node}}, doc))
	}
	return out
}

// errorBody is the body of an error frame.
type errorBody struct {
	Node  string `json:"node,omitempty"`
	Seq   uint64 `json:"seq"`
	TSUS  int64  `json:"ts_us"`
	Error string `json:"error"`
}

// errorFrame encodes an error that is not a node's: a refused stream, a frame
// after eos, an inline definition's problems.
func errorFrame(sid, msg string) []byte {
	doc, _ := json.Marshal(errorBody{Error: msg})
	b, _ := frame.Marshal(frame.NewJSON(frame.Header{StreamID: sid, Meta: map[string]any{"error": true}}, doc))
	return b
}

// endBody is the body of a session's end frame (and of the one-shot run's end
// line): the protocol's type, as the Go client decodes it.
type endBody = client.End

// nodeStat is one node's stats in an end frame; times in whole microseconds.
type nodeStat = client.NodeStats

func statOf(st sched.NodeStats) nodeStat {
	us := func(d time.Duration) int64 { return d.Round(time.Microsecond).Microseconds() }
	return nodeStat{ID: st.ID, In: st.In, Out: st.Out, Dropped: st.Dropped, Errors: st.Errors, Filtered: st.Filtered,
		WorkP50US: us(st.P50), WorkP99US: us(st.P99), BlockedP50US: us(st.BlockedP50), BlockedP99US: us(st.BlockedP99)}
}

func endFrame(sid string, body endBody) []byte {
	doc, _ := json.Marshal(body)
	b, _ := frame.Marshal(frame.NewJSON(frame.Header{StreamID: sid, Meta: map[string]any{"end": true}}, doc))
	return b
}

// enqueue queues one encoded frame, in the last message while it stays under
// batchBytes, waiting while the queue is full. The goroutine that finds nobody
// writing writes the queue itself until it is empty (so a frame costs no
// hand-off to a writer goroutine, and frames queued meanwhile by the socket's
// other sessions go out together). While the reader holds the writer's role
// (hold), the frame is only queued, unless the queue is full: then this
// goroutine writes it. It reports false once the socket is dead.
func (k *socket) enqueue(b []byte) bool {
	k.outMu.Lock()
	for k.queued >= maxQueuedBytes && !k.dead && !k.held {
		k.hasRoom.Wait()
	}
	if k.dead {
		k.outMu.Unlock()
		return false
	}
	if n := len(k.msgs); n > 0 && len(k.msgs[n-1])+len(b) <= batchBytes {
		k.msgs[n-1] = append(k.msgs[n-1], b...)
	} else {
		var m []byte
		if n := len(k.spare); n > 0 {
			m, k.spare = k.spare[n-1][:0], k.spare[:n-1]
		}
		k.msgs = append(k.msgs, append(m, b...))
	}
	k.queued += len(b)
	if k.held && k.queued >= maxQueuedBytes {
		k.held = false // the queue is full: write it now, whoever holds the role
		return k.flush()
	}
	if k.flushing {
		k.outMu.Unlock()
		return true
	}
	k.flushing = true
	ok := k.flush()
	return ok
}

// flush writes the queue until it is empty; it is entered with outMu held and
// k.flushing set by the caller, and returns with outMu released.
func (k *socket) flush() bool {
	bg := context.Background() // the watchdog bounds a write: no timer per write
	for len(k.msgs) > 0 && !k.dead {
		batch := k.msgs
		k.msgs, k.other = k.other[:0], nil
		k.queued = 0
		k.hasRoom.Broadcast()
		k.outMu.Unlock()
		var err error
		for _, m := range batch {
			k.writes.Add(1)
			k.writing.Store(true)
			err = k.conn.Write(bg, websocket.MessageBinary, m)
			k.writing.Store(false)
			if err != nil {
				break
			}
			k.srv.m.bytesOut.Add(float64(len(m)))
		}
		if err != nil {
			k.kill()
		}
		k.outMu.Lock()
		for i, m := range batch { // keep two buffers for the next messages
			if len(k.spare) < 2 && cap(m) <= 2*batchBytes {
				k.spare = append(k.spare, m[:0])
			}
			batch[i] = nil
		}
		k.other = batch[:0]
	}
	k.flushing = false
	closeNow := k.finishing && !k.dead
	if closeNow {
		k.dead = true
	}
	k.hasRoom.Broadcast()
	ok := !k.dead || closeNow
	k.outMu.Unlock()
	if closeNow {
		k.goAway()
	}
	return ok
}

// finish closes the socket with 1001 once everything queued is written: now
// if nobody is writing, else when the writing goroutine has emptied the queue.
func (k *socket) finish() {
	k.outMu.Lock()
	k.finishing = true
	closeNow := !k.flushing && !k.dead
	if closeNow {
		k.dead = true
		k.hasRoom.Broadcast()
	}
	k.outMu.Unlock()
	if closeNow {
		k.goAway()
	}
}

// goAway closes the socket with 1001 "going away", without waiting for the
// client's side of the close handshake.
func (k *socket) goAway() {
	k.closeCode.CompareAndSwap(0, int32(websocket.StatusGoingAway))
	go func() { _ = k.conn.Close(websocket.StatusGoingAway, reasonGoingAway) }()
}

// kill stops the writes and cancels the socket's sessions.
func (k *socket) kill() {
	k.outMu.Lock()
	k.dead = true
	k.hasRoom.Broadcast()
	k.outMu.Unlock()
	k.cancel()
}

// closeWith ends the socket with a close code and reason (cut to the 123
// bytes a close frame holds).
func (k *socket) closeWith(code websocket.StatusCode, reason string) {
	k.closeCode.CompareAndSwap(0, int32(code))
	k.kill()
	_ = k.conn.Close(code, truncate(reason, 123))
}

// truncate cuts s to at most n bytes without splitting a UTF-8 sequence.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && s[n]&0xC0 == 0x80 {
		n--
	}
	return s[:n]
}

// drain tells the client of every session whose input is still open that the
// server is shutting down (a draining frame), takes the frames it sent before
// it heard so, up to its eos, and ends the input of the sessions whose eos has
// not come within the drain grace (a client that ignores the notice); the
// socket closes with 1001 once every session has sent its end frame.
func (k *socket) drain() {
	k.mu.Lock()
	k.draining = true
	list := make([]*session, 0, len(k.sessions))
	for _, ls := range k.sessions {
		list = append(list, ls)
	}
	k.mu.Unlock()
	if len(list) == 0 {
		k.finish()
		return
	}
	go func() { // enqueue waits while a client is not reading: not the caller's
		for _, ls := range list {
			if !ls.inputClosed.Load() {
				k.enqueue(drainingFrame(ls.sid))
			}
		}
	}()
	time.AfterFunc(k.srv.cfg.DrainGrace, func() {
		for _, ls := range list {
			if !ls.inputClosed.Load() && !ls.ended.Load() {
				go func() { _ = ls.s.CloseInput(k.ctx) }() // waits for a Push in progress
			}
		}
	})
}

// drainingFrame tells a session's client that the server is shutting down.
func drainingFrame(sid string) []byte {
	doc, _ := json.Marshal(map[string]string{"message": "the server is shutting down: send this stream's eos; " +
		"the frames sent before it are taken, then the last outputs and the end frame come"})
	b, _ := frame.Marshal(frame.NewJSON(frame.Header{StreamID: sid, Meta: map[string]any{"draining": true}}, doc))
	return b
}

// watch is the server's one watchdog: a quarter as often as the shorter of
// the idle and write limits it checks every socket (so no timer is set per
// frame, and no goroutine runs per socket for it).
func (s *Server) watch() {
	tick := time.NewTicker(max(min(s.cfg.IdleTimeout, s.cfg.WriteTimeout)/4, time.Millisecond))
	defer tick.Stop()
	var socks []*socket
	for {
		select {
		case <-s.watchStop:
			return
		case now := <-tick.C:
			s.mu.Lock()
			socks = socks[:0]
			for k := range s.sockets {
				socks = append(socks, k)
			}
			s.mu.Unlock()
			for _, k := range socks {
				k.check(now)
			}
			clear(socks)
		}
	}
}

// check closes the socket when no message came for the idle limit (1000,
// "idle") or a write has taken over the write timeout (the client stopped
// reading: the socket is dropped without a close handshake). Only the
// server's watch goroutine calls it.
func (k *socket) check(now time.Time) {
	if !k.ready.Load() || k.checkedOut {
		return
	}
	cfg := &k.srv.cfg
	if k.readAt.IsZero() {
		k.readAt, k.writeAt = now, now
	}
	if n := k.reads.Load(); n != k.readsSeen {
		k.readsSeen, k.readAt = n, now
	} else if now.Sub(k.readAt) >= cfg.IdleTimeout {
		k.checkedOut = true
		cfg.Logger.Info("live: closing an idle connection", "addr", k.addr)
		k.closeCode.CompareAndSwap(0, int32(websocket.StatusNormalClosure))
		go k.closeWith(websocket.StatusNormalClosure, reasonIdle)
		return
	}
	if n := k.writes.Load(); n != k.writesSeen || !k.writing.Load() {
		k.writesSeen, k.writeAt = n, now
	} else if now.Sub(k.writeAt) >= cfg.WriteTimeout {
		k.checkedOut = true
		cfg.Logger.Info("live: closing a connection whose client stopped reading", "addr", k.addr, "write_timeout", cfg.WriteTimeout)
		k.srv.m.refused.WithLabelValues("write_timeout").Inc()
		k.closeCode.CompareAndSwap(0, closedWriteTimeout)
		k.kill()
		go k.conn.CloseNow()
	}
}

// isDraining reports whether Drain has begun.
func (s *Server) isDraining() bool {
	select {
	case <-s.drainCh:
		return true
	default:
		return false
	}
}
