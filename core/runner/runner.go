// Package runner runs a pipeline definition over a finite source of frames: the
// shared engine of `remotemedia run` and the browser's p.process(), so both cut
// audio into the same frames and report outputs the same way.
package runner

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sync"

	"github.com/remotemedia/hybrid/core/def"
	"github.com/remotemedia/hybrid/core/frame"
	"github.com/remotemedia/hybrid/core/node"
	"github.com/remotemedia/hybrid/core/sched"
)

// DefaultFrameMS is the frame length sources cut audio into unless told otherwise.
const DefaultFrameMS = 20

// Pipeline is a definition that parsed, validated and built against a registry.
type Pipeline struct {
	Def   *def.Definition
	Graph *sched.Graph
}

// Load parses a definition (YAML or JSON), validates it and builds its graph.
func Load(data []byte, reg *node.Registry) (*Pipeline, error) {
	d, err := def.Parse(data)
	if d == nil {
		return nil, err
	}
	g, err := def.Build(d, reg) // with Parse's shape problems, if any, and every other
	if err != nil {
		return nil, err
	}
	return &Pipeline{Def: d, Graph: g}, nil
}

// Prepare readies every node type of p that can be readied ahead of a session
// (node.Spec.Prepare: a WASM module is loaded and compiled), all at once. Where
// loading waits on I/O or compiles off the calling thread, as in a browser tab,
// that overlaps the work; an error names the node that needs the type.
func Prepare(ctx context.Context, p *Pipeline) error {
	errs := make([]error, len(p.Graph.Nodes))
	seen := map[*node.Spec]bool{}
	var wg sync.WaitGroup
	for i, n := range p.Graph.Nodes {
		if n.Spec.Prepare == nil || seen[n.Spec] {
			continue
		}
		seen[n.Spec] = true
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := n.Spec.Prepare(ctx); err != nil {
				errs[i] = fmt.Errorf("node %q (%s): %w", n.ID, n.Spec.Type, err)
			}
		}()
	}
	wg.Wait()
	return errors.Join(errs...)
}

// Source yields input frames in order and io.EOF after the last.
type Source interface {
	Next() (*frame.Frame, error)
}

// Sink receives every output of a run, in the order the session produced them.
// Outputs with Err set report node errors under the continue policy.
type Sink func(sched.Output) error

// Run starts a session of p, feeds it every frame of src, ends the stream and
// passes each output to sink until the session ends. It returns the session's
// final stats. An error from src (a truncated file) or from sink ends the session
// at once and is returned; so is the session's own error (a node failing).
func Run(ctx context.Context, p *Pipeline, src Source, sink Sink, opts sched.Options) ([]sched.NodeStats, error) {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	s, err := sched.Start(ctx, p.Graph, opts)
	if err != nil {
		return nil, err
	}
	defer s.Close()

	feedErr := make(chan error, 1)
	go func() {
		err := Feed(ctx, s, src)
		if err != nil {
			cancel(err) // without its end of stream the session would wait forever
		}
		feedErr <- err
	}()

	var sinkErr error
	for out := range s.Outputs() {
		if sinkErr != nil {
			continue // keep draining so the session can finish
		}
		if sinkErr = sink(out); sinkErr != nil {
			cancel(sinkErr)
		}
	}
	werr := s.Wait()
	ferr := <-feedErr
	stats := s.Stats()
	switch {
	case sinkErr != nil:
		return stats, sinkErr
	case werr != nil: // a node's failure, the source's error, or ctx's
		return stats, werr
	case ferr != nil:
		return stats, ferr
	}
	return stats, context.Cause(ctx)
}

// Input is what Feed pushes frames into: a *sched.Session.
type Input interface {
	Push(ctx context.Context, f *frame.Frame) error
	CloseInput(ctx context.Context) error
}

// Feed pushes every frame of src into in and ends in's input after the last.
// An error from src is returned wrapped (naming the input) without ending in's
// input: the caller decides whether the session fails (Run cancels it).
func Feed(ctx context.Context, in Input, src Source) error {
	for {
		f, err := src.Next()
		if err == io.EOF {
			return in.CloseInput(ctx)
		}
		if err != nil {
			return fmt.Errorf("runner: reading input: %w", err)
		}
		if err := in.Push(ctx, f); err != nil {
			return err
		}
	}
}

// PCMSource cuts interleaved f32 samples into audio frames of frameMS
// milliseconds (the last one may be shorter), numbered from 0 with timestamps
// from the sample position.
type PCMSource struct {
	read       func([]float32) (int, error)
	buf        []float32
	rate       int
	channels   int
	streamID   string
	seq        uint64
	framesRead int64
}

// NewPCMSource returns a source over samples held in memory.
func NewPCMSource(samples []float32, rate, channels, frameMS int, streamID string) (*PCMSource, error) {
	off := 0
	return NewReaderSource(func(dst []float32) (int, error) {
		if off >= len(samples) {
			return 0, io.EOF
		}
		n := copy(dst, samples[off:])
		off += n
		return n, nil
	}, rate, channels, frameMS, streamID)
}

// NewReaderSource returns a source that pulls samples from read, which fills
// dst with whole sample frames and returns io.EOF at the end (wavio.Reader.Read).
func NewReaderSource(read func([]float32) (int, error), rate, channels, frameMS int, streamID string) (*PCMSource, error) {
	if rate <= 0 || channels <= 0 {
		return nil, fmt.Errorf("runner: audio source needs a positive rate and channel count, got %d Hz, %d channels", rate, channels)
	}
	if frameMS <= 0 {
		frameMS = DefaultFrameMS
	}
	per := rate * frameMS / 1000
	if per == 0 {
		per = 1
	}
	return &PCMSource{read: read, buf: make([]float32, per*channels), rate: rate, channels: channels, streamID: streamID}, nil
}

// ChunkReader returns a read function for NewReaderSource over chunks of
// interleaved samples as they arrive on chunks (a live stream fed by pushes, as
// in the browser's p.stream()): a read waits for the next chunk, chunk
// boundaries need not fall on frame or sample-frame boundaries, and a closed
// channel is the end of the input.
func ChunkReader(chunks <-chan []float32) func([]float32) (int, error) {
	var pending []float32
	return func(dst []float32) (int, error) {
		for len(pending) == 0 {
			c, ok := <-chunks
			if !ok {
				return 0, io.EOF
			}
			pending = c
		}
		n := copy(dst, pending)
		pending = pending[n:]
		return n, nil
	}
}

// Next returns the next frame.
func (p *PCMSource) Next() (*frame.Frame, error) {
	n := 0
	for n < len(p.buf) {
		m, err := p.read(p.buf[n:])
		n += m
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, err
		}
		if m == 0 {
			break
		}
	}
	n -= n % p.channels
	if n == 0 {
		return nil, io.EOF
	}
	h := frame.Header{StreamID: p.streamID, Seq: p.seq, Timestamp: p.framesRead * 1_000_000 / int64(p.rate)}
	f := frame.NewAudioF32(h, uint32(p.rate), uint16(p.channels), p.buf[:n])
	p.seq++
	p.framesRead += int64(n / p.channels)
	return f, nil
}

// SamplesRead returns how many sample frames (per channel) have been read.
func (p *PCMSource) SamplesRead() int64 { return p.framesRead }

// Event is one non-audio output as written to an events file (one JSON object
// per line) by the CLI and returned by the browser API.
type Event struct {
	Node  string          `json:"node"`
	Port  string          `json:"port"`
	Seq   uint64          `json:"seq"`
	TSUS  int64           `json:"ts_us"`
	Kind  string          `json:"kind"`
	Data  json.RawMessage `json:"data,omitempty"` // json frames: the document
	Text  string          `json:"text,omitempty"` // text frames
	Bytes int             `json:"bytes,omitempty"`
	Error string          `json:"error,omitempty"` // node errors
}

// EventOf turns a non-audio output (or a node error) into an Event. It reports
// false for audio frames.
func EventOf(out sched.Output) (Event, bool) {
	ev := Event{Node: out.Node, Port: out.Port}
	if out.Err != nil {
		ev.Kind = "error"
		ev.Error = out.Err.Error()
		var ne *sched.NodeError
		if errors.As(out.Err, &ne) && ne.Frame {
			ev.Seq, ev.TSUS = ne.Seq, ne.Timestamp
		}
		return ev, true
	}
	f := out.Frame
	if f == nil || f.Kind == frame.KindAudio {
		return ev, false
	}
	ev.Seq, ev.TSUS, ev.Kind = f.Seq, f.Timestamp, f.Kind.String()
	switch f.Kind {
	case frame.KindJSON:
		if json.Valid(f.Data) {
			ev.Data = json.RawMessage(f.Data)
		} else {
			ev.Text = string(f.Data)
		}
	case frame.KindText:
		ev.Text = string(f.Data)
	case frame.KindControl:
		ev.Text = f.Op.String()
	default:
		ev.Bytes = len(f.Data)
	}
	return ev, true
}
