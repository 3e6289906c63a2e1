package live

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/remotemedia/hybrid/core/client"
	"github.com/remotemedia/hybrid/core/frame"
	"github.com/remotemedia/hybrid/core/runner"
	"github.com/remotemedia/hybrid/core/sched"
)

// Errors of Open.
var (
	// ErrNoPipeline is returned by Open for a name the server does not offer.
	ErrNoPipeline = errors.New("live: no such pipeline")
	// ErrOutput is returned by Open for an audio output the pipeline cannot send.
	ErrOutput = errors.New("live: bad audio output")
)

// SessionOptions configure a session opened with Open.
type SessionOptions struct {
	// Addr is the client's IP address, for the per-address limit.
	Addr string
	// Output is the audio output (node.port) whose frames reach OnOutput as
	// audio; "" picks the pipeline's only one, and none when it has none.
	Output string
	// OnOutput receives every output in order, on the session's own goroutine:
	// the chosen audio output's frames, and every other non-audio output (and
	// node error) as an event. Its return holds the pipeline back.
	OnOutput func(Output)
}

// Output is one output of a session opened with Open: Audio or Event.
type Output struct {
	Audio *frame.Frame
	Event *runner.Event
}

// Session is a live session of a registered pipeline for a transport other
// than the WebSocket (WebRTC): the same limits, metrics, session length and
// drain as a WebSocket session, fed with Push. When Drain begins its input is
// ended at once (a live transport has no eos of its own to send).
type Session struct {
	srv      *Server
	pipe     *Pipeline
	s        *sched.Session
	addr     string
	output   string
	cancel   context.CancelFunc
	pm       pipeMetrics
	framesIn atomic.Uint64
	done     chan struct{}
	end      client.End
}

// HasPipeline reports whether the server offers a pipeline of that name.
func (s *Server) HasPipeline(name string) bool { return s.byName[name] != nil }

// Open starts a live session of the pipeline called name. Errors wrap
// ErrNoPipeline, ErrOutput, ErrLimit or ErrDraining (see HTTPStatus).
func (s *Server) Open(name string, opts SessionOptions) (*Session, error) {
	p := s.byName[name]
	if p == nil {
		return nil, fmt.Errorf("%w: %q", ErrNoPipeline, name)
	}
	output := opts.Output
	if output != "" || len(p.audioOutputs()) > 0 {
		var err error
		if output, err = pickAudioOutput(p, output); err != nil {
			return nil, fmt.Errorf("%w: %w", ErrOutput, err)
		}
	}
	if err := s.begin(); err != nil {
		return nil, err
	}
	if err := s.admit(opts.Addr); err != nil {
		s.active.Done()
		return nil, err
	}
	ctx, cancel := context.WithDeadlineCause(s.ctx, time.Now().Add(s.cfg.MaxSessionLength),
		fmt.Errorf("%w: the session ran for its maximum of %v", ErrSessionLength, s.cfg.MaxSessionLength))
	ss, err := sched.Start(ctx, p.graph, sched.Options{QueueSize: s.cfg.QueueSize, StreamID: "webrtc"})
	if err != nil {
		cancel()
		s.release(opts.Addr)
		s.active.Done()
		return nil, fmt.Errorf("live: the session cannot start: %w", err)
	}
	ls := &Session{srv: s, pipe: p, s: ss, addr: opts.Addr, output: output, cancel: cancel,
		pm: s.m.forPipeline(p.metricName), done: make(chan struct{})}
	ls.pm.sessions.Inc()
	go ls.forward(opts.OnOutput)
	go func() { // Drain: end the input, let the last outputs and the end come
		select {
		case <-s.drainCh:
			_ = ss.CloseInput(ctx)
		case <-ls.done:
		}
	}()
	return ls, nil
}

// AudioOutput is the output (node.port) whose frames OnOutput gets as audio, or "".
func (ls *Session) AudioOutput() string { return ls.output }

// Push hands one data frame to the pipeline, waiting for room in its input queue.
func (ls *Session) Push(ctx context.Context, f *frame.Frame) error {
	if err := ls.s.Push(ctx, f); err != nil {
		return err
	}
	ls.framesIn.Add(1)
	ls.pm.framesIn.Inc()
	return nil
}

// CloseInput ends the input: the pipeline flushes, its last outputs come, then Done.
func (ls *Session) CloseInput(ctx context.Context) error { return ls.s.CloseInput(ctx) }

// Cancel ends the session without waiting for its outputs.
func (ls *Session) Cancel() { ls.cancel() }

// Done is closed once the session has ended and its outputs have all been given.
func (ls *Session) Done() <-chan struct{} { return ls.done }

// End is the session's end body (the WebSocket's end frame), once Done is closed.
func (ls *Session) End() client.End {
	<-ls.done
	return ls.end
}

func (ls *Session) forward(onOutput func(Output)) {
	for o := range ls.s.Outputs() {
		if o.Err != nil {
			ls.pm.failed.Inc()
		} else {
			ls.pm.framesOut.Inc()
		}
		if onOutput == nil {
			continue
		}
		if o.Frame != nil && o.Frame.Kind == frame.KindAudio {
			if ls.output != "" && o.Node+"."+o.Port == ls.output {
				onOutput(Output{Audio: o.Frame})
			}
			continue
		}
		if ev, ok := runner.EventOf(o); ok {
			onOutput(Output{Event: &ev})
		}
	}
	werr := ls.s.Wait()
	stats := ls.s.Stats()
	if cerr := ls.s.Close(); cerr != nil {
		ls.srv.cfg.Logger.Warn("live: closing a session's nodes", "pipeline", ls.pipe.Name, "err", cerr)
	}
	ls.cancel()
	ls.pm.sessions.Dec()
	ls.srv.release(ls.addr)
	ls.srv.m.ended(ls.pipe, stats, werr != nil)
	ls.end = endBody{FramesIn: ls.framesIn.Load(), Stats: make([]nodeStat, len(stats))}
	if werr != nil {
		ls.end.Error = werr.Error()
	}
	for i, st := range stats {
		ls.end.Dropped += st.Dropped
		ls.end.Stats[i] = statOf(st)
	}
	close(ls.done)
	ls.srv.active.Done()
}

// HTTPStatus maps an error of Open to the HTTP status that answers it.
func HTTPStatus(err error) int {
	switch {
	case errors.Is(err, ErrNoPipeline):
		return 404
	case errors.Is(err, ErrOutput):
		return 400
	}
	return statusOf(err)
}
