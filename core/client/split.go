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
}

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
	return &Split{c: c, p: p, split: s, opts: opts}, nil
}

// Sched returns the placement: which nodes run on the server, the cut edges.
func (sp *Split) Sched() *sched.Split { return sp.split }

// Local returns the pipeline of the nodes that run here (for runner.Prepare).
func (sp *Split) Local() *runner.Pipeline {
	return &runner.Pipeline{Def: sp.p.Def, Graph: sp.split.FrontGraph(nil)}
}

// Run runs src through a new session as runner.Run does, handing every output
// to sink, and returns the nodes' stats of both sides.
func (sp *Split) Run(ctx context.Context, src runner.Source, sink runner.Sink) ([]sched.NodeStats, error) {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	s, err := sp.Start(ctx)
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
	queue      []*frame.Frame // returns waiting to be pushed into front
	wake       chan struct{}  // (cap 1) the queue grew or the reader ended
	readDone   bool
	remoteEnd  *End
	remoteErr  error
	lastCancel *frame.Frame // the last cancel sent across (bridge.Send)

	next chan *frame.Frame // returns after front's input closed (sched.Bridge.Next)
}

// Start opens the server's part (one live session) and starts the local part.
func (sp *Split) Start(ctx context.Context) (*SplitSession, error) {
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
	s := &SplitSession{sp: sp, remote: remote, cancel: cancel, out: make(chan sched.Output, 64), done: make(chan struct{}),
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
// server's once its end frame has come).
func (s *SplitSession) Stats() []sched.NodeStats {
	byID := map[string]sched.NodeStats{}
	for _, st := range s.front.Stats() {
		byID[st.ID] = st
	}
	s.mu.Lock()
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
			s.mu.Lock()
			s.queue = append(s.queue, o.Frame)
			s.mu.Unlock()
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

// pushReturns pushes the returns into the local part while its input is
// open, then hands them to the return node (Next). The queue between the
// socket's reader and the local part keeps the reader from waiting on the
// local part while the local part waits on the socket.
func (s *SplitSession) pushReturns(ctx context.Context) {
	defer close(s.next)
	closed := false
	for {
		s.mu.Lock()
		batch := s.queue
		s.queue = nil
		done := s.readDone
		s.mu.Unlock()
		for _, f := range batch {
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
		if done {
			if len(batch) == 0 {
				return
			}
			continue // the reader has ended: nothing will wake this loop again
		}
		select {
		case <-s.wake:
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
