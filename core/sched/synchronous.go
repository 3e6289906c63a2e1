package sched

import (
	"context"
	"errors"
	"fmt"

	"github.com/remotemedia/hybrid/core/frame"
)

// Synchronous mode (Options.Synchronous): no goroutine per node. The call that brings a
// frame (Push, CloseInput, Control) takes the input lock, queues the frame on
// every source, then visits the nodes once in topological order, draining each
// node's queues (priority first) before moving on: an edge always leads to a
// node later in the order, so one visit empties every queue. Outputs gathered
// on the way are delivered after the frame has gone through, so a slow
// consumer's time is not counted as a node's work. The session ends in the
// call that carries end-of-stream through, in the call during which a node
// fails it, or, when its context ends between calls, on a goroutine started by
// context.AfterFunc that takes the input lock as a call would.

// fifo is an unbounded queue of items; it keeps its array between frames.
type fifo struct {
	items []item
	head  int
}

func (q *fifo) push(it item) { q.items = append(q.items, it) }

func (q *fifo) pop() (item, bool) {
	if q.head == len(q.items) {
		return item{}, false
	}
	it := q.items[q.head]
	q.items[q.head] = item{}
	q.head++
	if q.head == len(q.items) {
		q.items, q.head = q.items[:0], 0
	}
	return it, true
}

// pushSynchronous carries f through the graph: a data frame, a flush or cancel
// control frame, or nil for end-of-stream (CloseInput).
func (s *Session) pushSynchronous(ctx context.Context, f *frame.Frame) error {
	if err := s.lockInput(ctx); err != nil {
		return err
	}
	defer s.unlockInput()
	if err := s.deliver(ctx); err != nil { // what a cancelled ctx held back last time
		return err
	}
	switch {
	case f == nil:
		s.inputClosed = true
		eos := frame.NewControl(frame.Header{StreamID: s.sid}, frame.EndOfStream)
		for _, r := range s.sources {
			r.queue.push(item{port: 0, f: eos})
		}
	case f.Kind == frame.KindControl:
		for _, r := range s.sources {
			r.prioQueue.push(item{port: 0, f: f})
		}
	default:
		for _, r := range s.sources {
			r.queue.push(item{port: 0, f: f})
		}
	}
	s.visit()
	err := s.deliver(ctx)
	if s.isDone() || (s.inputClosed && err == nil) {
		s.finish()
	}
	return err
}

func (s *Session) isDone() bool {
	select {
	case <-s.done:
		return true
	default:
		return false
	}
}

// visit drains every node's queues in topological order; a node that has had
// end-of-stream from every incoming edge flushes, forwards it and is closed.
func (s *Session) visit() {
	for _, r := range s.order {
		if r.finished {
			continue
		}
		for !s.isDone() {
			it, ok := r.prioQueue.pop()
			if !ok {
				if it, ok = r.queue.pop(); !ok {
					break
				}
			}
			r.handle(it)
		}
		if s.isDone() {
			return
		}
		if r.eosLeft == 0 {
			r.finishSynchronous()
		}
	}
}

// finishSynchronous is the end of a node's goroutine in the default mode: Flush,
// end-of-stream down every edge, Close.
func (r *nodeRun) finishSynchronous() {
	r.finished = true
	defer func() { r.closeErr = r.n.Close() }()
	if err := r.n.Flush(r.s.ctx, r.emitFn); err != nil && !r.fail(err) {
		return
	}
	eos := item{f: frame.NewControl(frame.Header{StreamID: r.s.sid}, frame.EndOfStream)}
	for _, edges := range r.outs {
		for _, e := range edges {
			eos.port = e.toPort
			e.dst.queue.push(eos)
		}
	}
}

// discardSynchronous drops the data frames queued at r (a cancel), counting them;
// an end-of-stream among them still counts as received.
func (r *nodeRun) discardSynchronous() {
	for {
		it, ok := r.queue.pop()
		if !ok {
			return
		}
		if it.f.Kind == frame.KindControl {
			r.eosLeft--
		} else {
			r.dropped.Add(1)
		}
	}
}

// deliver hands the pending outputs to OnOutput or to the Outputs channel. If
// ctx ends while the channel is full, the rest stay pending for the next call;
// once the session has ended, what does not fit is discarded, as the default
// mode's node goroutines give up on a full channel.
func (s *Session) deliver(ctx context.Context) error {
	if len(s.pending) == 0 {
		return nil
	}
	n := 0
	defer func() {
		clear(s.pending[:n])
		s.pending = s.pending[:copy(s.pending, s.pending[n:])]
	}()
	for ; n < len(s.pending); n++ {
		o := s.pending[n]
		if s.onOutput != nil {
			s.onOutput(o)
			continue
		}
		select {
		case s.outputs <- o:
			continue
		default:
		}
		select {
		case s.outputs <- o:
		case <-s.done:
			n = len(s.pending)
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return nil
}

// finish ends the session: the nodes not closed yet are closed, Outputs is
// closed, Wait returns, OnEnd is called. The input lock is held.
func (s *Session) finish() {
	if s.ended {
		return
	}
	s.ended = true
	s.unwatch()
	if s.ctx.Err() != nil {
		s.err = context.Cause(s.ctx)
	}
	s.cancel(nil)
	var errs []error
	for _, r := range s.order {
		if !r.finished {
			r.finished = true
			r.closeErr = r.n.Close()
		}
		if r.closeErr != nil {
			errs = append(errs, fmt.Errorf("sched: node %q: close: %w", r.id, r.closeErr))
		}
	}
	s.closeErr = errors.Join(errs...)
	clear(s.pending)
	s.pending = nil
	close(s.outputs)
	close(s.finished)
	if s.onEnd != nil {
		s.onEnd(s.err)
	}
}

// endCancelled ends the session when its context ends between calls (Close, the
// caller's context, a deadline); a call in progress sees the context done,
// returns, and ends the session itself or lets this goroutine do it.
func (s *Session) endCancelled() {
	s.inLock <- struct{}{}
	s.finish()
	<-s.inLock
}
