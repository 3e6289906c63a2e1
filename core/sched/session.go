package sched

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/remotemedia/hybrid/core/frame"
	"github.com/remotemedia/hybrid/core/node"
)

// Options tune a session.
type Options struct {
	QueueSize  int // per-node input queue bound, default 16 (NodeDef.QueueSize overrides it)
	OutputSize int // bound of the Outputs channel, default 64
	StreamID   string

	// Synchronous runs the session without goroutines: Push, CloseInput and Control
	// carry each frame through the whole graph on the caller's goroutine, node by
	// node in topological order, and return once it has gone through (see
	// synchronous.go and docs/scheduler.md). The default runs a goroutine per node.
	Synchronous bool
	// OnOutput, with Synchronous, receives every Output instead of the Outputs channel
	// (which then only closes at the end). It is called on the goroutine of the
	// Push, CloseInput or Control that produced the outputs, after the frame has
	// gone through the graph, in order; it must not call Close or Wait.
	OnOutput func(Output)
	// OnEnd, with Synchronous, is called once when the session has ended, with what
	// Wait returns, after its nodes are closed: on the goroutine of the call that
	// ended it, or on one started when the session's context ends.
	OnEnd func(err error)
	// Spin lets a node fed faster than every spinAfter poll its queues for up to
	// spinFor before parking (see wait). Set it where the session has cores to
	// spare (the CLI, the server); leave it off in a browser tab, whose one
	// thread spinning would hold up the page.
	Spin bool

	clock func() time.Duration // monotonic time since the session started; set by tests
}

// Output is a frame emitted on an output port that no edge consumes, or, with
// Err set and Frame nil, a node error under the Continue policy (a *NodeError,
// which names the frame). Flush and Cancel control frames reach Outputs too, so a
// consumer can stop playback on a cancel.
type Output struct {
	Node  string
	Port  string
	Frame *frame.Frame
	Err   error
}

// NodeStats is a snapshot of one node's counters.
type NodeStats struct {
	ID string
	// In counts data frames given to Process; Out data frames the node emitted.
	In, Out uint64
	// Dropped counts data frames discarded from the node's queue (a drop_oldest
	// edge making room, or a Cancel); Errors counts Process, Flush and When errors.
	Dropped, Errors uint64
	// Filtered counts frames the node emitted that an edge's When kept from crossing.
	Filtered uint64
	// P50 and P99 are the node's work time per data frame: the time inside
	// Process less the time its emits waited for room downstream.
	P50, P99 time.Duration
	// BlockedP50 and BlockedP99 are, per data frame, the time Process spent in
	// emit waiting for room on a full downstream queue (or a full Outputs
	// channel): back-pressure from the nodes after it, not this node's cost.
	BlockedP50, BlockedP99 time.Duration
	// Work and Blocked are the totals over every data frame. Work/In is the mean
	// work time, which stays true where the clock is coarse (a browser tab's
	// clock ticks every 5 µs to 1 ms) and the percentiles round to a tick.
	Work, Blocked time.Duration
	// WaitP50 and WaitP99 are, per data frame, the time it sat in the node's
	// input queue before Process took it; Wait is their total. A synchronous
	// session (Options.Synchronous) runs a frame through at once: 0.
	WaitP50, WaitP99 time.Duration
	Wait             time.Duration
	QueueLen         int // frames queued now, data and control
}

// NodeError is a node's error as the session reports it: on Outputs under the
// Continue policy, from Wait under Fail. Its message is `sched: node "id": err`.
type NodeError struct {
	Node string
	// Frame says whether Seq and Timestamp name a frame: the data frame given to
	// Process, or the output frame an edge's When failed on. It is false for
	// errors in Flush and in control frames.
	Frame     bool
	Seq       uint64
	Timestamp int64 // µs, as frame.Header.Timestamp
	Err       error
}

func (e *NodeError) Error() string { return fmt.Sprintf("sched: node %q: %v", e.Node, e.Err) }

func (e *NodeError) Unwrap() error { return e.Err }

// Session is one running instance of a graph for one stream.
type Session struct {
	nodes   []*nodeRun
	sources []*nodeRun
	sid     string

	ctx    context.Context
	cancel context.CancelCauseFunc
	done   <-chan struct{}

	inLock      chan struct{} // held by Push and CloseInput
	inputClosed bool

	spin     bool // Options.Spin
	epoch    time.Time
	clock    func() time.Duration // time.Since(epoch): latencies and waits are its differences
	outputs  chan Output
	wg       sync.WaitGroup
	finished chan struct{}
	err      error // set before finished is closed
	closeErr error

	synchronous bool       // Options.Synchronous
	order       []*nodeRun // topological order (synchronous)
	pending     []Output   // outputs of the frame going through, delivered after it (synchronous)
	onOutput    func(Output)
	onEnd       func(error)
	ended       bool        // the session has finished (synchronous; under inLock)
	unwatch     func() bool // stops the end-of-context watch (synchronous)
}

// item is one queued frame and the input port it arrived on.
type item struct {
	port int
	f    *frame.Frame
	at   time.Duration // when a data frame was queued (session clock; 0 in synchronous mode)
}

type outEdge struct {
	dst    *nodeRun
	toPort int
	drop   bool
	when   func(*frame.Frame) (bool, error)
	desc   string // for errors: `edge vad.0->asr.0 when "..."`
}

type nodeRun struct {
	s         *Session
	id        string
	n         node.Node
	policy    ErrorPolicy
	portNames []string
	outs      [][]outEdge // by output port

	data   chan item // data and end-of-stream, in order
	prio   chan item // flush and cancel, and end-of-stream taken out of data by a drop_oldest sender
	exited chan struct{}

	eosLeft  int             // end-of-stream frames still expected (one per incoming edge; 1 for a source)
	recent   [4]*frame.Frame // control frames handled lately, to handle each once on a diamond
	handling *frame.Frame    // control frame being handled: not forwarded twice if the node emits it
	stopped  bool            // a Fail error cancelled the session
	spin     bool            // the last wait for a frame was short: poll before parking (wait)
	spins    int             // waits that polled first (read by tests once the session has ended)
	closeErr error

	queue, prioQueue fifo // synchronous mode's queues, used instead of data and prio
	finished         bool // synchronous: flushed and closed

	current  *frame.Frame  // data frame being processed, named by its errors
	blockedN time.Duration // time the current Process call spent blocked in emit

	// cancelMarks holds, for each cancel frame sent to this node by sendPrio
	// and not yet handled, how many frames its data queue held then: handling
	// the cancel discards those only, not the frames queued after it (a node's
	// barge-in cancel followed by the next utterance). See cancelMark.
	markMu      sync.Mutex
	cancelMarks map[*frame.Frame]int

	in, out, dropped, errors, filtered atomic.Uint64
	work, blocked, waited              atomic.Int64 // totals, ns
	lat, blockedLat, waitLat           histogram
	emitFn                             node.Emit
}

// Start builds every node with Spec.New and starts one goroutine per node. If a
// node cannot be built, the nodes built so far are closed and the error returned.
// Cancelling ctx stops the session; Wait then returns the context's error.
func Start(ctx context.Context, g *Graph, opts Options) (*Session, error) {
	if g == nil {
		return nil, fmt.Errorf("%w: nil graph", ErrGraph)
	}
	opts, err := opts.withDefaults()
	if err != nil {
		return nil, err
	}
	incoming, order, err := check(g)
	if err != nil {
		return nil, err
	}
	s := &Session{
		sid:         opts.StreamID,
		inLock:      make(chan struct{}, 1),
		outputs:     make(chan Output, opts.OutputSize),
		synchronous: opts.Synchronous,
		onOutput:    opts.OnOutput,
		onEnd:       opts.OnEnd,
		finished:    make(chan struct{}),
		epoch:       time.Now(),
		clock:       opts.clock,
		spin:        opts.Spin,
	}
	if s.clock == nil {
		s.clock = func() time.Duration { return time.Since(s.epoch) } // the monotonic clock only
	}
	byID, err := s.makeNodes(ctx, g, opts, incoming)
	if err != nil {
		return nil, err
	}
	wireEdges(g, byID)
	s.ctx, s.cancel = context.WithCancelCause(ctx)
	s.done = s.ctx.Done()
	if opts.Synchronous {
		for _, id := range order {
			s.order = append(s.order, byID[id])
		}
		s.unwatch = context.AfterFunc(s.ctx, s.endCancelled)
		return s, nil
	}
	s.launch()
	return s, nil
}

// withDefaults fills in the zero fields of o and checks that its fields agree.
func (o Options) withDefaults() (Options, error) {
	if o.QueueSize <= 0 {
		o.QueueSize = 16
	}
	if o.OutputSize <= 0 {
		o.OutputSize = 64
	}
	if !o.Synchronous && (o.OnOutput != nil || o.OnEnd != nil) {
		return o, fmt.Errorf("%w: OnOutput and OnEnd need Synchronous", ErrOptions)
	}
	return o, nil
}

// makeNodes makes a node (Spec.New) and its runner for every node of g, in
// order; on a failure it closes the nodes already made. It returns the runners
// by node id.
func (s *Session) makeNodes(ctx context.Context, g *Graph, opts Options, incoming map[string]int) (map[string]*nodeRun, error) {
	byID := make(map[string]*nodeRun, len(g.Nodes))
	for _, nd := range g.Nodes {
		r := &nodeRun{
			s:       s,
			id:      nd.ID,
			policy:  nd.OnError,
			outs:    make([][]outEdge, len(nd.Spec.Outputs)),
			eosLeft: max(incoming[nd.ID], 1),
		}
		if !opts.Synchronous {
			q := nd.QueueSize
			if q <= 0 {
				q = opts.QueueSize
			}
			r.data = make(chan item, q)
			r.prio = make(chan item, 4+incoming[nd.ID])
			r.exited = make(chan struct{})
		}
		for _, p := range nd.Spec.Outputs {
			r.portNames = append(r.portNames, p.Name)
		}
		r.emitFn = r.emit
		n, err := nd.Spec.New(ctx, node.Config{ID: nd.ID, StreamID: opts.StreamID, Params: nd.Params})
		if err == nil && n == nil {
			err = errors.New("Spec.New returned no node")
		}
		if err != nil {
			for _, built := range s.nodes {
				_ = built.n.Close()
			}
			return nil, fmt.Errorf("sched: node %q: %w", nd.ID, err)
		}
		r.n = n
		s.nodes = append(s.nodes, r)
		byID[nd.ID] = r
		if incoming[nd.ID] == 0 {
			s.sources = append(s.sources, r)
		}
	}
	return byID, nil
}

// wireEdges gives each node's output ports their edges.
func wireEdges(g *Graph, byID map[string]*nodeRun) {
	for _, e := range g.Edges {
		from := byID[e.From]
		from.outs[e.FromPort] = append(from.outs[e.FromPort], outEdge{
			dst:    byID[e.To],
			toPort: e.ToPort,
			drop:   e.Policy == DropOldest,
			when:   e.When,
			desc:   fmt.Sprintf("edge %s.%d->%s.%d when %q", e.From, e.FromPort, e.To, e.ToPort, e.WhenSource),
		})
	}
}

// launch starts a goroutine per node, and one that ends the session once they
// have all returned.
func (s *Session) launch() {
	s.wg.Add(len(s.nodes))
	for _, r := range s.nodes {
		go r.run()
	}
	go func() {
		s.wg.Wait()
		if s.ctx.Err() != nil {
			s.err = context.Cause(s.ctx)
		}
		s.cancel(nil)
		var errs []error
		for _, r := range s.nodes {
			if r.closeErr != nil {
				errs = append(errs, fmt.Errorf("sched: node %q: close: %w", r.id, r.closeErr))
			}
		}
		s.closeErr = errors.Join(errs...)
		close(s.outputs)
		close(s.finished)
	}()
}

// check validates what the scheduler relies on and returns the number of incoming
// edges per node and the node ids in a topological order.
func check(g *Graph) (map[string]int, []string, error) {
	specs := make(map[string]*node.Spec, len(g.Nodes))
	incoming := make(map[string]int, len(g.Nodes))
	for i, nd := range g.Nodes {
		switch {
		case nd.ID == "":
			return nil, nil, fmt.Errorf("%w: nodes[%d]: empty id", ErrGraph, i)
		case nd.Spec == nil || nd.Spec.New == nil:
			return nil, nil, fmt.Errorf("%w: node %q: no spec or no Spec.New", ErrGraph, nd.ID)
		case specs[nd.ID] != nil:
			return nil, nil, fmt.Errorf("%w: node %q: duplicate id", ErrGraph, nd.ID)
		}
		specs[nd.ID] = nd.Spec
	}
	next := map[string][]string{}
	for i, e := range g.Edges {
		from, to := specs[e.From], specs[e.To]
		switch {
		case from == nil:
			return nil, nil, fmt.Errorf("%w: edges[%d]: unknown node %q", ErrGraph, i, e.From)
		case to == nil:
			return nil, nil, fmt.Errorf("%w: edges[%d]: unknown node %q", ErrGraph, i, e.To)
		case e.FromPort < 0 || e.FromPort >= len(from.Outputs):
			return nil, nil, fmt.Errorf("%w: edges[%d]: node %q has no output port %d", ErrGraph, i, e.From, e.FromPort)
		case e.ToPort < 0 || e.ToPort >= max(len(to.Inputs), 1):
			return nil, nil, fmt.Errorf("%w: edges[%d]: node %q has no input port %d", ErrGraph, i, e.To, e.ToPort)
		case e.Policy != "" && e.Policy != Block && e.Policy != DropOldest:
			return nil, nil, fmt.Errorf("%w: edges[%d]: unknown policy %q", ErrGraph, i, e.Policy)
		}
		incoming[e.To]++
		next[e.From] = append(next[e.From], e.To)
	}
	// Kahn's algorithm: a cycle would never see its end of stream.
	left := make(map[string]int, len(incoming))
	var ready []string
	for _, nd := range g.Nodes {
		left[nd.ID] = incoming[nd.ID]
		if left[nd.ID] == 0 {
			ready = append(ready, nd.ID)
		}
	}
	var order []string
	for len(ready) > 0 {
		id := ready[len(ready)-1]
		ready = ready[:len(ready)-1]
		order = append(order, id)
		for _, to := range next[id] {
			if left[to]--; left[to] == 0 {
				ready = append(ready, to)
			}
		}
	}
	if len(order) != len(g.Nodes) {
		return nil, nil, fmt.Errorf("%w: the edges form a cycle", ErrGraph)
	}
	return incoming, order, nil
}

// Push delivers f to every source node (a node with no incoming edge) on input
// port 0, blocking while a source queue is full. A control frame is handled as
// by CloseInput (end-of-stream) or Control (flush, cancel). It returns ctx.Err()
// if ctx ends first, or ErrClosed after CloseInput or once the session has ended.
func (s *Session) Push(ctx context.Context, f *frame.Frame) error {
	if f == nil {
		return errors.New("sched: push of a nil frame")
	}
	if f.Kind == frame.KindControl {
		if f.Op == frame.EndOfStream {
			return s.CloseInput(ctx)
		}
		return s.control(ctx, f)
	}
	if s.synchronous {
		return s.pushSynchronous(ctx, f)
	}
	if err := s.lockInput(ctx); err != nil {
		return err
	}
	defer s.unlockInput()
	now := s.clock()
	for _, r := range s.sources {
		if err := r.sendCtx(ctx, item{0, f, now}); err != nil {
			return err
		}
	}
	return nil
}

// CloseInput ends the stream: an end-of-stream frame follows the data already
// pushed; every node flushes in topological order and the session ends.
func (s *Session) CloseInput(ctx context.Context) error {
	if s.synchronous {
		return s.pushSynchronous(ctx, nil)
	}
	if err := s.lockInput(ctx); err != nil {
		return err
	}
	defer s.unlockInput()
	s.inputClosed = true
	eos := frame.NewControl(frame.Header{StreamID: s.sid}, frame.EndOfStream)
	for _, r := range s.sources {
		if err := r.sendCtx(ctx, item{port: 0, f: eos}); err != nil {
			return err
		}
	}
	return nil
}

// Control sends a flush or cancel to every source node ahead of queued data; each
// node handles it once and forwards it downstream ahead of queued data. Op
// EndOfStream is CloseInput.
func (s *Session) Control(ctx context.Context, op frame.ControlOp) error {
	switch op {
	case frame.EndOfStream:
		return s.CloseInput(ctx)
	case frame.Flush, frame.Cancel:
		return s.control(ctx, frame.NewControl(frame.Header{StreamID: s.sid}, op))
	}
	return fmt.Errorf("%w: %v", ErrControl, op)
}

func (s *Session) control(ctx context.Context, f *frame.Frame) error {
	if f.Op != frame.Flush && f.Op != frame.Cancel {
		return fmt.Errorf("%w: %v", ErrControl, f.Op)
	}
	if s.synchronous {
		return s.pushSynchronous(ctx, f)
	}
	select {
	case <-s.done:
		return ErrClosed
	default:
	}
	for _, r := range s.sources {
		select {
		case r.prio <- item{port: 0, f: f}:
		case <-r.exited:
		case <-s.done:
			return ErrClosed
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return nil
}

func (s *Session) lockInput(ctx context.Context) error {
	select {
	case s.inLock <- struct{}{}:
	case <-ctx.Done():
		return ctx.Err()
	case <-s.done:
		return ErrClosed
	}
	// The select above picks at random when both are ready: once the session
	// has ended, Push and CloseInput must fail every time, not half the time.
	select {
	case <-s.done:
		<-s.inLock
		return ErrClosed
	default:
	}
	if s.inputClosed {
		<-s.inLock
		return ErrClosed
	}
	return nil
}

func (s *Session) unlockInput() { <-s.inLock }

// Outputs returns the channel of frames emitted on unconsumed output ports and of
// Continue-policy errors. It is closed when the session has ended. A slow reader
// slows the whole pipeline down (back-pressure); nobody reading blocks it.
func (s *Session) Outputs() <-chan Output { return s.outputs }

// Wait waits until every node has finished and returns the first Fail-policy
// error, the error of the context given to Start, ErrClosed if Close stopped the
// session early, or nil.
func (s *Session) Wait() error {
	<-s.finished
	return s.err
}

// Close cancels the session if it is still running, waits for every goroutine to
// end, and returns the errors of closing the nodes. It is idempotent.
func (s *Session) Close() error {
	s.cancel(ErrClosed)
	<-s.finished
	return s.closeErr
}

// Stats returns a snapshot of every node's counters, in graph order. It is safe
// to call at any time from any goroutine.
func (s *Session) Stats() []NodeStats {
	out := make([]NodeStats, len(s.nodes))
	for i, r := range s.nodes {
		q := r.lat.quantiles(0.5, 0.99)
		in := r.in.Load()
		b := r.blockedLat.quantilesOf(in, 0.5, 0.99)
		w := r.waitLat.quantilesOf(in, 0.5, 0.99)
		out[i] = NodeStats{
			ID: r.id, In: in, Out: r.out.Load(), Dropped: r.dropped.Load(),
			Errors: r.errors.Load(), Filtered: r.filtered.Load(),
			P50: q[0], P99: q[1], BlockedP50: b[0], BlockedP99: b[1],
			Work: time.Duration(r.work.Load()), Blocked: time.Duration(r.blocked.Load()),
			WaitP50: w[0], WaitP99: w[1], Wait: time.Duration(r.waited.Load()),
			QueueLen: len(r.data) + len(r.prio), // 0 synchronous: nothing stays queued after a Push
		}
	}
	return out
}

// run is the node's goroutine.
func (r *nodeRun) run() {
	defer r.s.wg.Done()
	defer close(r.exited)
	defer func() { r.closeErr = r.n.Close() }()
	for r.eosLeft > 0 && !r.stopped {
		it, ok := r.next()
		if !ok {
			return
		}
		r.handle(it)
	}
	// Flush and cancel frames that overtook the last end-of-stream still count.
	for drained := false; !drained && !r.stopped; {
		select {
		case it := <-r.prio:
			r.handle(it)
		default:
			drained = true
		}
	}
	if r.stopped {
		return
	}
	if err := r.n.Flush(r.s.ctx, r.emitFn); err != nil && !r.fail(err) {
		return
	}
	eos := item{f: frame.NewControl(frame.Header{StreamID: r.s.sid}, frame.EndOfStream)}
	for _, edges := range r.outs {
		for _, e := range edges {
			eos.port = e.toPort
			if !e.dst.send(eos) {
				return
			}
		}
	}
}

// Spinning: a node whose queues ran dry within spinAfter of its previous wait is
// being fed as fast as its upstream can go (a file, not a live stream), and the
// next frame is microseconds away. Parking its goroutine would make every send
// to it wake a thread (a futex call on the sender's path, then the woken thread's
// start-up latency), so it yields its P and polls its queues for up to spinFor
// first. A live stream (a frame every few ms) never spins; neither does a
// session without Options.Spin (a browser tab's).
const (
	spinAfter = 100 * time.Microsecond
	spinFor   = 50 * time.Microsecond
)

// next returns the node's next item: a control frame first (they jump the
// queue), else a queued data frame, else what wait brings; ok is false once
// the session is done.
func (r *nodeRun) next() (it item, ok bool) {
	select {
	case it = <-r.prio:
		return it, true
	default:
	}
	select {
	case <-r.s.done:
		return it, false
	default:
	}
	select {
	case it = <-r.data:
		return it, true
	default:
	}
	return r.wait()
}

// wait returns the next queued item, spinning first when the queues ran dry
// quickly last time; ok is false when the session is done.
func (r *nodeRun) wait() (it item, ok bool) {
	done := r.s.done
	if r.spin {
		r.spins++
		for start := r.s.clock(); r.s.clock()-start < spinFor; {
			runtime.Gosched()
			select {
			case it = <-r.prio:
				return it, true
			case it = <-r.data:
				return it, true
			case <-done:
				return it, false
			default:
			}
		}
	}
	start := r.s.clock()
	select {
	case it = <-r.prio:
	case it = <-r.data:
	case <-done:
		return it, false
	}
	r.spin = r.s.spin && spinNext(r.s.clock()-start)
	return it, true
}

// spinNext is the spin rule: poll before parking next time when this wait for a
// frame took less than spinAfter.
func spinNext(waited time.Duration) bool { return waited < spinAfter }

func (r *nodeRun) handle(it item) {
	f := it.f
	if f.Kind != frame.KindControl {
		r.in.Add(1)
		r.current, r.blockedN = f, 0
		t0 := r.s.clock()
		if !r.s.synchronous {
			wait := max(t0-it.at, 0)
			r.waitLat.record(wait)
			r.waited.Add(int64(wait))
		}
		err := r.n.Process(r.s.ctx, it.port, f, r.emitFn)
		total := r.s.clock() - t0
		r.current = nil
		work := max(total-r.blockedN, 0)
		r.lat.record(work)
		r.work.Add(int64(work))
		if r.blockedN > 0 { // frames not blocked count as zeros in Stats, without an atomic here
			r.blockedLat.record(r.blockedN)
			r.blocked.Add(int64(r.blockedN))
		}
		if err != nil {
			r.failOn(err, f)
		}
		return
	}
	switch f.Op {
	case frame.EndOfStream:
		r.eosLeft--
		return
	case frame.Flush, frame.Cancel:
	default:
		return
	}
	mark := -1
	if f.Op == frame.Cancel {
		mark = r.cancelMark(f)
	}
	for _, seen := range r.recent {
		if seen == f {
			return
		}
	}
	copy(r.recent[1:], r.recent[:])
	r.recent[0] = f
	r.handling = f
	defer func() { r.handling = nil }()
	var err error
	if f.Op == frame.Flush {
		err = r.n.Flush(r.s.ctx, r.emitFn)
	} else {
		r.discardQueued(mark)
		err = r.n.Process(r.s.ctx, it.port, f, r.emitFn)
	}
	if err != nil && !r.fail(err) {
		return
	}
	r.forwardControl(f, -1)
}

// discardQueued drops the data frames queued now, at most limit of them (all
// when limit < 0), counting them; an end-of-stream among them still counts as
// received.
func (r *nodeRun) discardQueued(limit int) {
	if r.s.synchronous {
		r.discardSynchronous()
		return
	}
	n := len(r.data)
	if limit >= 0 && limit < n {
		n = limit
	}
	for ; n > 0; n-- {
		select {
		case it := <-r.data:
			if it.f.Kind == frame.KindControl {
				r.eosLeft--
			} else {
				r.dropped.Add(1)
			}
		default:
			return
		}
	}
}

// cancelMark returns (and forgets) how many frames r's data queue held when the
// cancel f was sent to it, or -1 for a cancel that came another way (Control,
// to a source: it discards everything queued when it is handled). The node
// takes no data frame between the two (its next item is always the cancel) but
// a drop_oldest sender may, so the mark can cover a frame that came after it.
func (r *nodeRun) cancelMark(f *frame.Frame) int {
	r.markMu.Lock()
	defer r.markMu.Unlock()
	n, ok := r.cancelMarks[f]
	if !ok {
		return -1
	}
	delete(r.cancelMarks, f)
	return n
}

// forwardControl sends a flush or cancel ahead of data on every edge of one
// output port (or all when port < 0), and to Outputs for ports no edge consumes.
func (r *nodeRun) forwardControl(f *frame.Frame, port int) {
	for p, edges := range r.outs {
		if port >= 0 && p != port {
			continue
		}
		if len(edges) == 0 {
			r.output(Output{Node: r.id, Port: r.portNames[p], Frame: f})
		}
		for _, e := range edges {
			if !e.dst.sendPrio(item{port: e.toPort, f: f}) {
				return
			}
		}
	}
}

// emit is the node.Emit given to the node: it routes one output frame.
func (r *nodeRun) emit(port int, f *frame.Frame) {
	if port < 0 || port >= len(r.outs) || f == nil {
		r.failOn(fmt.Errorf("%w: port %d (the node has %d), frame %v", ErrPort, port, len(r.outs), f != nil), r.current)
		return
	}
	if f.Kind == frame.KindControl {
		// End of stream belongs to the scheduler; a control frame being handled is
		// forwarded by the scheduler once it has been handled.
		if f.Op != frame.EndOfStream && f != r.handling {
			r.forwardControl(f, port)
		}
		return
	}
	r.out.Add(1)
	edges := r.outs[port]
	if len(edges) == 0 {
		r.output(Output{Node: r.id, Port: r.portNames[port], Frame: f})
		return
	}
	for i := range edges {
		e := &edges[i]
		if e.when != nil {
			ok, err := e.when(f)
			if err != nil {
				r.failOn(fmt.Errorf("%s: %w", e.desc, err), f)
				continue
			}
			if !ok {
				r.filtered.Add(1)
				continue
			}
		}
		if r.s.synchronous { // no queue fills: drop_oldest never has to drop
			e.dst.queue.push(item{port: e.toPort, f: f})
		} else if e.drop {
			e.dst.sendDropOldest(item{e.toPort, f, r.s.clock()})
		} else {
			t0 := r.s.clock()
			select {
			case e.dst.data <- item{e.toPort, f, t0}:
			default:
				e.dst.send(item{e.toPort, f, t0})
				r.blockedN += r.s.clock() - t0
			}
		}
	}
}

// fail counts a node error and applies the node's policy. It returns false when
// the session is being cancelled.
func (r *nodeRun) fail(err error) bool { return r.failOn(err, nil) }

// failOn is fail for an error about frame f (nil: no frame). An error wrapping
// node.ErrFatal fails the session whatever the policy: the node cannot go on.
func (r *nodeRun) failOn(err error, f *frame.Frame) bool {
	r.errors.Add(1)
	ne := &NodeError{Node: r.id, Err: err}
	if f != nil {
		ne.Frame, ne.Seq, ne.Timestamp = true, f.Seq, f.Timestamp
	}
	if r.policy == Fail || errors.Is(err, node.ErrFatal) {
		r.stopped = true
		r.s.cancel(ne)
		return false
	}
	return r.output(Output{Node: r.id, Err: ne})
}

func (r *nodeRun) output(o Output) bool {
	if r.s.synchronous {
		r.s.pending = append(r.s.pending, o)
		return true
	}
	select {
	case r.s.outputs <- o:
		return true
	default:
	}
	t0 := r.s.clock()
	defer func() { r.blockedN += r.s.clock() - t0 }()
	select {
	case r.s.outputs <- o:
		return true
	case <-r.s.done:
		return false
	}
}

// send queues it on r, blocking while the queue is full (back-pressure).
func (r *nodeRun) send(it item) bool {
	select {
	case r.data <- it:
		return true
	default:
	}
	select {
	case r.data <- it:
		return true
	case <-r.s.done:
		return false
	}
}

func (r *nodeRun) sendCtx(ctx context.Context, it item) error {
	select {
	case <-r.s.done:
		return ErrClosed
	default:
	}
	select {
	case r.data <- it:
		return nil
	default:
	}
	select {
	case r.data <- it:
		return nil
	case <-r.s.done:
		return ErrClosed
	case <-ctx.Done():
		return ctx.Err()
	}
}

// sendDropOldest queues a data frame on r without waiting: while the queue is
// full it takes out the oldest entry and counts it as dropped. An end-of-stream
// taken out that way is not dropped but moved to the priority queue: everything
// queued before it has been received, so its order is kept.
func (r *nodeRun) sendDropOldest(it item) bool {
	for {
		select {
		case r.data <- it:
			return true
		default:
		}
		select {
		case old := <-r.data:
			if old.f.Kind == frame.KindControl {
				if !r.sendPrio(old) {
					return false
				}
			} else {
				r.dropped.Add(1)
			}
		case <-r.s.done:
			return false
		default:
		}
	}
}

func (r *nodeRun) sendPrio(it item) bool {
	if r.s.synchronous {
		if !r.finished {
			r.prioQueue.push(it)
		}
		return true
	}
	if it.f.IsControl(frame.Cancel) {
		r.markMu.Lock()
		if r.cancelMarks == nil {
			r.cancelMarks = map[*frame.Frame]int{}
		}
		if _, twice := r.cancelMarks[it.f]; !twice { // along a second path of a diamond: the first counts
			r.cancelMarks[it.f] = len(r.data)
		}
		r.markMu.Unlock()
	}
	select {
	case r.prio <- it:
		return true
	case <-r.exited:
		return true
	case <-r.s.done:
		return false
	}
}
