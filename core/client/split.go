package client

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/remotemedia/hybrid/core/def"
	"github.com/remotemedia/hybrid/core/frame"
	"github.com/remotemedia/hybrid/core/runner"
	"github.com/remotemedia/hybrid/core/sched"
)

// TextWriter is a Conn that can also send a text message: the definition an
// inline socket starts with (/v1/inline/ws).
type TextWriter interface {
	WriteText(ctx context.Context, msg []byte) error
}

// SplitOptions say where a split pipeline's server part comes from.
type SplitOptions struct {
	// Pipeline names the server's catalogue pipeline whose nodes run there
	// (GET /v1/pipelines/{name}/ws?nodes=...): for a definition the client
	// loaded from that catalogue. The server runs its own copy of those nodes.
	Pipeline string
	// Definition, when Pipeline is "", is sent inline (/v1/inline/ws?nodes=...;
	// the server needs serve --allow-inline): for an edited definition.
	Definition []byte
	// StreamID is the session's stream id, on both sides ("run" when empty).
	StreamID string
	// QueueSize is the front session's per-node queue bound (sched.Options).
	QueueSize int
	// ReturnQueue bounds, in frames, the queue of frames the server sent back
	// for local nodes that wait there for the local part to take them, in a
	// live session (Start; DefaultReturnQueue when 0). Run, which goes
	// through its whole input, loses nothing: its queue has no bound, and
	// holds at most what the input makes. The socket's reader never waits on the
	// local part, which may itself be waiting to send to the server: when
	// the queue is full, the oldest frame in it is discarded to make room, as
	// a drop_oldest edge does, and counted in the Dropped of every local node
	// its address feeds (SplitSession.Stats; once per connection from that
	// port). Only data frames queue: a flush or cancel reaches the local part
	// from Control, and the server's end is never discarded.
	ReturnQueue int
}

// DefaultReturnQueue is SplitOptions.ReturnQueue's default: about 5 s of
// 20 ms frames.
const DefaultReturnQueue = 256

// Split is a pipeline placed across the cut (docs/placement.md): the nodes
// def.ServerNodes names run on the server through one live session per
// session, the rest here; frames crossing carry the output port that produced
// them, as the server's outputs do.
type Split struct {
	c     *Client
	p     *runner.Pipeline
	split *sched.Split
	opts  SplitOptions
}

// NewSplit places p: its server nodes (def.ServerNodes) on the server, the
// rest here. It fails when no node runs on the server, or when the cut goes
// from the server to here and back (sched.ErrSplit).
func (c *Client) NewSplit(p *runner.Pipeline, opts SplitOptions) (*Split, error) {
	if opts.Pipeline == "" && len(opts.Definition) == 0 {
		return nil, errors.New("client: a split pipeline needs the server's pipeline name or the definition to send inline")
	}
	s, err := sched.SplitGraph(p.Graph, def.ServerNodes(p.Def, p.Graph))
	if err != nil {
		return nil, err
	}
	if opts.StreamID == "" {
		opts.StreamID = "run"
	}
	switch {
	case opts.ReturnQueue < 0:
		return nil, fmt.Errorf("client: SplitOptions.ReturnQueue is %d: want 0 (the default, %d frames) or more", opts.ReturnQueue, DefaultReturnQueue)
	case opts.ReturnQueue == 0:
		opts.ReturnQueue = DefaultReturnQueue
	}
	return &Split{c: c, p: p, split: s, opts: opts}, nil
}

// Sched returns the placement: which nodes run on the server, the cut edges.
func (sp *Split) Sched() *sched.Split { return sp.split }

// Local returns the pipeline of the nodes that run here (for runner.Prepare).
func (sp *Split) Local() *runner.Pipeline {
	return &runner.Pipeline{Def: sp.p.Def, Graph: sp.split.FrontGraph(nil)}
}

// Run runs src through a new session as runner.Run does, handing every output
// to sink, and returns the nodes' stats of both sides. Nothing is discarded
// (no SplitOptions.ReturnQueue).
func (sp *Split) Run(ctx context.Context, src runner.Source, sink runner.Sink) ([]sched.NodeStats, error) {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	s, err := sp.start(ctx, 0)
	if err != nil {
		return nil, err
	}
	defer s.Close()
	feedErr := make(chan error, 1)
	go func() {
		err := runner.Feed(ctx, s, src)
		if err != nil {
			cancel(err)
		}
		feedErr <- err
	}()
	var sinkErr error
	for out := range s.Outputs() {
		if sinkErr == nil {
			if sinkErr = sink(out); sinkErr != nil {
				cancel(sinkErr)
			}
		}
	}
	werr := s.Wait()
	ferr := <-feedErr
	stats := s.Stats()
	return stats, cmpErr(sinkErr, werr, ferr, context.Cause(ctx))
}

func cmpErr(errs ...error) error {
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}

// SplitSession is one session of a Split: a front session here and a live
// session on the server. It is a runner.Input.
type SplitSession struct {
	sp     *Split
	front  *sched.Session
	remote *Session
	cancel context.CancelCauseFunc

	out  chan sched.Output
	done chan struct{} // closed when out is

	mu         sync.Mutex
	queue      frameRing         // returns waiting to be pushed into front; at most bound
	bound      int               // of queue; 0: none (Run)
	dropped    map[string]uint64 // per Return address: frames discarded from the full queue
	wake       chan struct{}     // (cap 1) the queue grew or the reader ended
	readDone   bool
	remoteEnd  *End
	remoteErr  error
	lastCancel *frame.Frame // the last cancel sent across (bridge.Send)

	next chan *frame.Frame // returns after front's input closed (sched.Bridge.Next)
}

// Start opens the server's part (one live session) and starts the local part.
// Frames for the local part that it falls SplitOptions.ReturnQueue behind on
// are discarded, oldest first, and counted.
func (sp *Split) Start(ctx context.Context) (*SplitSession, error) {
	return sp.start(ctx, sp.opts.ReturnQueue)
}

// start is Start with the return queue's bound; 0: none.
func (sp *Split) start(ctx context.Context, bound int) (*SplitSession, error) {
	q := url.Values{"nodes": {strings.Join(sp.split.Back, ",")}}.Encode()
	path := "/v1/inline/ws?" + q
	if sp.opts.Pipeline != "" {
		path = "/v1/pipelines/" + url.PathEscape(sp.opts.Pipeline) + "/ws?" + q
	}
	if sp.c.Dial == nil {
		return nil, errors.New("client: no DialFunc to open WebSockets with")
	}
	conn, err := sp.c.Dial(ctx, sp.c.BaseURL+path, sp.c.Token)
	if err != nil {
		var se *StatusError
		if errors.As(err, &se) {
			return nil, err
		}
		return nil, fmt.Errorf("client: opening %s%s: %w", sp.c.BaseURL, path, err)
	}
	if sp.opts.Pipeline == "" {
		tw, ok := conn.(TextWriter)
		if !ok {
			conn.Close()
			return nil, errors.New("client: this target's WebSocket cannot send an inline definition (no WriteText)")
		}
		if err := tw.WriteText(ctx, sp.opts.Definition); err != nil {
			conn.Close()
			return nil, fmt.Errorf("client: sending the inline definition: %w", err)
		}
	}
	sock := NewSocket(conn)
	remote, err := sock.Open(sp.opts.StreamID)
	if err != nil {
		sock.Close()
		return nil, err
	}
	remote.ownsSocket = true
	ctx, cancel := context.WithCancelCause(ctx)
	s := &SplitSession{sp: sp, bound: bound, remote: remote, cancel: cancel, out: make(chan sched.Output, 64), done: make(chan struct{}),
		wake: make(chan struct{}, 1), next: make(chan *frame.Frame, 16)}
	front, err := sched.Start(ctx, sp.split.FrontGraph(bridge{s}), sched.Options{QueueSize: sp.opts.QueueSize, StreamID: sp.opts.StreamID})
	if err != nil {
		cancel(err)
		remote.Close()
		return nil, err
	}
	s.front = front
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); s.readRemote(ctx) }()
	go func() {
		defer wg.Done()
		for o := range front.Outputs() {
			if !sched.IsBridge(o.Node) {
				s.out <- o
			}
		}
	}()
	go s.pushReturns(ctx)
	go func() {
		wg.Wait()
		close(s.out)
		close(s.done)
	}()
	return s, nil
}

// Push sends a frame of the pipeline's input.
func (s *SplitSession) Push(ctx context.Context, f *frame.Frame) error { return s.front.Push(ctx, f) }

// CloseInput ends the input: the local nodes flush, then the server's part
// gets its end of input after the last frame sent to it, then its last
// outputs come and the session ends.
func (s *SplitSession) CloseInput(ctx context.Context) error { return s.front.CloseInput(ctx) }

// Control sends a flush or cancel to both parts at once (as a session does,
// ahead of queued data).
func (s *SplitSession) Control(ctx context.Context, op frame.ControlOp) error {
	if op == frame.EndOfStream {
		return s.CloseInput(ctx)
	}
	return errors.Join(s.front.Control(ctx, op), s.remote.Control(ctx, op))
}

// Outputs are the pipeline's outputs from both parts and the node errors of
// both, a server node's under its own id; it is closed once both have ended.
func (s *SplitSession) Outputs() <-chan sched.Output { return s.out }

// Wait waits for the end of both parts and returns the first failure.
func (s *SplitSession) Wait() error {
	<-s.done
	ferr := s.front.Wait()
	s.mu.Lock()
	rerr := s.remoteErr
	s.mu.Unlock()
	if rerr != nil {
		return rerr
	}
	return ferr
}

// Stats lists the nodes' stats of both parts in definition order (the
// server's once its end frame has come). A local node's Dropped includes the
// frames for it discarded from the full return queue (SplitOptions.ReturnQueue).
func (s *SplitSession) Stats() []sched.NodeStats {
	byID := map[string]sched.NodeStats{}
	for _, st := range s.front.Stats() {
		byID[st.ID] = st
	}
	s.mu.Lock()
	for addr, n := range s.dropped {
		for _, id := range s.sp.returnConsumers(addr) {
			if st, ok := byID[id]; ok {
				st.Dropped += n
				byID[id] = st
			}
		}
	}
	if s.remoteEnd != nil {
		us := func(v int64) time.Duration { return time.Duration(v) * time.Microsecond }
		for _, st := range s.remoteEnd.Stats {
			byID[st.ID] = sched.NodeStats{ID: st.ID, In: st.In, Out: st.Out, Dropped: st.Dropped, Errors: st.Errors,
				Filtered: st.Filtered, P50: us(st.WorkP50US), P99: us(st.WorkP99US), BlockedP50: us(st.BlockedP50US), BlockedP99: us(st.BlockedP99US)}
		}
	}
	s.mu.Unlock()
	var out []sched.NodeStats
	for _, n := range s.sp.p.Graph.Nodes {
		if st, ok := byID[n.ID]; ok {
			out = append(out, st)
		}
	}
	return out
}

// Close stops both parts.
func (s *SplitSession) Close() error {
	s.cancel(errors.New("client: split session closed"))
	err := s.front.Close()
	_ = s.remote.Close()
	return err
}

// readRemote reads the server part's outputs: frames of a Return address go
// to the local nodes, the rest (and errors) to Outputs.
func (s *SplitSession) readRemote(ctx context.Context) {
	defer func() {
		s.mu.Lock()
		s.readDone = true
		s.mu.Unlock()
		s.signal()
	}()
	for {
		o, err := s.remote.Recv(ctx)
		if err != nil {
			s.mu.Lock()
			if end := s.remote.End(); end != nil {
				s.remoteEnd = end
				if end.Error != "" {
					s.remoteErr = fmt.Errorf("%w: the server's part (%s): %s", ErrSessionFailed, strings.Join(s.sp.split.Back, ", "), end.Error)
				}
			} else {
				s.remoteErr = fmt.Errorf("client: the server's part (%s): %w", strings.Join(s.sp.split.Back, ", "), err)
			}
			rerr := s.remoteErr
			s.mu.Unlock()
			if rerr != nil {
				s.cancel(rerr) // the local part would wait for returns that will not come
			}
			return
		}
		if o.Error != nil {
			s.emit(ctx, sched.Output{Node: o.Node, Err: nodeErrorOf(o.Error)})
			continue
		}
		addr := o.Node + "." + o.Port
		if slices.Contains(s.sp.split.Return, addr) {
			if o.Frame.Kind == frame.KindControl {
				continue // a flush or cancel reaches the local part from Control
			}
			if o.Frame.Meta == nil {
				o.Frame.Meta = map[string]any{}
			}
			o.Frame.Meta[sched.AddrKey] = addr
			s.queueReturn(addr, o.Frame)
			s.signal()
			continue
		}
		s.emit(ctx, sched.Output{Node: o.Node, Port: o.Port, Frame: o.Frame})
	}
}

func (s *SplitSession) emit(ctx context.Context, o sched.Output) {
	select {
	case s.out <- o:
	case <-ctx.Done():
	}
}

func (s *SplitSession) signal() {
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// queueReturn queues a data frame of the Return address addr for
// pushReturns without waiting: when the queue is full, its oldest frame is
// discarded and counted (only data frames queue).
func (s *SplitSession) queueReturn(addr string, f *frame.Frame) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.bound > 0 && s.queue.n >= s.bound {
		old := s.queue.pop()
		oldAddr, _ := old.Meta[sched.AddrKey].(string)
		if s.dropped == nil {
			s.dropped = map[string]uint64{}
		}
		s.dropped[oldAddr]++
	}
	s.queue.push(f, s.bound)
}

// frameRing is a FIFO of frames whose buffer grows as needed, up to the
// bound its pusher keeps (0: none).
type frameRing struct {
	buf     []*frame.Frame
	head, n int
}

func (q *frameRing) push(f *frame.Frame, bound int) {
	if q.n == len(q.buf) {
		size := max(2*len(q.buf), 16)
		if bound > 0 {
			size = min(size, bound)
		}
		buf := make([]*frame.Frame, max(size, q.n+1))
		for i := range q.n {
			buf[i] = q.buf[(q.head+i)%len(q.buf)]
		}
		q.buf, q.head = buf, 0
	}
	q.buf[(q.head+q.n)%len(q.buf)] = f
	q.n++
}

// pop takes out the oldest frame, or returns nil when there is none.
func (q *frameRing) pop() *frame.Frame {
	if q.n == 0 {
		return nil
	}
	f := q.buf[q.head]
	q.buf[q.head] = nil
	q.head = (q.head + 1) % len(q.buf)
	q.n--
	return f
}

// returnConsumers lists the local nodes the Return address addr feeds, once
// per connection.
func (sp *Split) returnConsumers(addr string) []string {
	var ids []string
	for _, e := range sp.p.Graph.Edges {
		if !sp.split.OnBack(e.To) && sp.split.OnBack(e.From) && sched.Addr(sp.p.Graph, e.From, e.FromPort) == addr {
			ids = append(ids, e.To)
		}
	}
	return ids
}

// pushReturns pushes the returns into the local part while its input is
// open, then hands them to the return node (Next). It takes them from the
// queue one at a time, so what waits is at most SplitOptions.ReturnQueue
// frames plus the one being pushed. The queue between the socket's reader and
// the local part keeps the reader from waiting on the local part while the
// local part waits on the socket.
func (s *SplitSession) pushReturns(ctx context.Context) {
	defer close(s.next)
	closed := false
	for {
		s.mu.Lock()
		f := s.queue.pop()
		done := s.readDone
		s.mu.Unlock()
		if f == nil {
			if done {
				return // the reader has ended and everything it queued went on
			}
			select {
			case <-s.wake:
			case <-ctx.Done():
				return
			}
			continue
		}
		if !closed {
			err := s.front.Push(ctx, f)
			if err == nil {
				continue
			}
			if !errors.Is(err, sched.ErrClosed) {
				return
			}
			closed = true
		}
		select {
		case s.next <- f:
		case <-ctx.Done():
			return
		}
	}
}

// nodeErrorOf turns a server node's error frame into the error a local node's
// would be: its message without the server's `sched: node "id": `.
func nodeErrorOf(ne *NodeError) error {
	msg := strings.TrimPrefix(ne.Error, fmt.Sprintf("sched: node %q: ", ne.Node))
	if ne.Node == "" {
		return errors.New(ne.Error)
	}
	return &sched.NodeError{Node: ne.Node, Frame: ne.Seq != 0 || ne.TSUS != 0, Seq: ne.Seq, Timestamp: ne.TSUS, Err: errors.New(msg)}
}

// bridge is the front part's sched.Bridge: the live session.
type bridge struct{ s *SplitSession }

func (b bridge) Send(ctx context.Context, addr string, f *frame.Frame) error {
	if f.Kind == frame.KindControl {
		// A cancel reaches every exit it passes through: the server's part
		// takes it once (a session-wide Control).
		b.s.mu.Lock()
		seen := b.s.lastCancel == f
		b.s.lastCancel = f
		b.s.mu.Unlock()
		if seen {
			return nil
		}
	}
	c := *f
	c.Meta = make(map[string]any, len(f.Meta)+1)
	for k, v := range f.Meta {
		c.Meta[k] = v
	}
	delete(c.Meta, sched.AddrKey)
	if addr != "" {
		c.Meta[sched.AddrKey] = addr
	}
	if len(c.Meta) == 0 {
		c.Meta = nil
	}
	return b.s.remote.Send(ctx, &c)
}

func (b bridge) EndInput(ctx context.Context) error { return b.s.remote.CloseInput(ctx) }

func (b bridge) Next(ctx context.Context) (*frame.Frame, error) {
	select {
	case f, ok := <-b.s.next:
		if !ok {
			return nil, io.EOF
		}
		return f, nil
	case <-ctx.Done():
		return nil, context.Cause(ctx)
	}
}
