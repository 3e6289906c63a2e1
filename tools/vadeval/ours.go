package main

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"math"
	"runtime"
	"syscall"
	"time"

	"github.com/remotemedia/hybrid/core/frame"
	"github.com/remotemedia/hybrid/core/node"
	"github.com/remotemedia/hybrid/core/wasmnode"
	"github.com/remotemedia/hybrid/target/wasmhost"
	modules "github.com/remotemedia/hybrid/wasm-modules"
)

// vadEvent is the part of the vad node's events the evaluation reads.
type vadEvent struct {
	Event  string  `json:"event"`
	TimeMS float64 `json:"time_ms"`
}

// ours runs the vad node (the standard vad.wasm through the same node code and
// host configuration the server runs) over audio.
type ours struct {
	reg  *node.Registry
	host wasmnode.Host
}

func newOurs(ctx context.Context) (*ours, error) {
	// As the server has it: the embedded standard modules trusted, so they
	// run without the deadline instrumentation (modules.Hashes).
	h, err := wasmhost.New(ctx, wasmhost.Config{Trusted: modules.Hashes()})
	if err != nil {
		return nil, err
	}
	reg := node.NewRegistry()
	if err := wasmnode.Register(reg, h, modules.Loader{}, wasmnode.Standard); err != nil {
		h.Close(ctx)
		return nil, err
	}
	return &ours{reg: reg, host: h}, nil
}

func (o *ours) Close(ctx context.Context) error { return o.host.Close(ctx) }

// node makes a vad node with params over its defaults, and returns it with the
// index of its events output.
func (o *ours) node(ctx context.Context, params map[string]any) (node.Node, int, error) {
	spec, err := o.reg.Lookup("vad", "wasm")
	if err != nil {
		return nil, 0, err
	}
	full := map[string]any{}
	for _, p := range spec.Params {
		full[p.Name] = p.Default
	}
	for k, v := range params {
		full[k] = v
	}
	n, err := spec.New(ctx, node.Config{ID: "vad", StreamID: "eval", Params: full})
	if err != nil {
		return nil, 0, err
	}
	return n, spec.OutputIndex("events"), nil
}

// audioFrames cuts s[from:to] (16-bit, Rate Hz mono) into f32 frames of frameMS,
// numbered and timed from the start of s (from is a whole number of frames).
func audioFrames(s []int16, from, to, frameMS int) []*frame.Frame {
	per := Rate * frameMS / 1000
	frames := make([]*frame.Frame, 0, (to-from)/per+1)
	for i := from; i < to; i += per {
		m := min(per, to-i)
		data := make([]byte, 4*m)
		for k, v := range s[i : i+m] {
			binary.LittleEndian.PutUint32(data[4*k:], math.Float32bits(float32(v)/32768))
		}
		frames = append(frames, &frame.Frame{Header: frame.Header{StreamID: "eval", Seq: uint64(i / per), Timestamp: int64(i) * 1e6 / Rate},
			Kind: frame.KindAudio, Format: frame.F32, SampleRate: Rate, Channels: 1, Data: data})
	}
	return frames
}

// run feeds s (16-bit, Rate Hz mono) in frameMS frames to a vad node with params
// over its defaults and returns the speech segments its events mark, and the CPU
// time the process spent in the node's calls.
func (o *ours) run(ctx context.Context, s []int16, params map[string]any, frameMS int) ([]Segment, time.Duration, error) {
	n, events, err := o.node(ctx, params)
	if err != nil {
		return nil, 0, err
	}
	defer n.Close()
	var segs []Segment
	var open float64 = -1
	var bad error
	emit := func(port int, f *frame.Frame) {
		if port != events {
			return
		}
		var e vadEvent
		if err := json.Unmarshal(f.Data, &e); err != nil {
			bad = fmt.Errorf("vadeval: event %q: %w", f.Data, err)
			return
		}
		switch e.Event {
		case "speech_start":
			open = e.TimeMS / 1000
		case "speech_end":
			if open >= 0 {
				segs = append(segs, Segment{open, e.TimeMS / 1000})
			}
			open = -1
		}
	}
	// The time is the node's: a collection first keeps the garbage of building
	// the set out of it (the node's own garbage is collected inside), and the
	// frames are made a second of audio at a time, untimed, as a stream's come
	// in: in a pipeline the frame the vad gets was made just before, not among
	// half a minute of frames made in advance, each a cache miss.
	runtime.GC()
	var used time.Duration
	chunk := 50 * (Rate * frameMS / 1000)
	for i := 0; i < len(s); i += chunk {
		frames := audioFrames(s, i, min(len(s), i+chunk), frameMS)
		start := cpuTime()
		for _, f := range frames {
			if err := n.Process(ctx, 0, f, emit); err != nil {
				return nil, 0, err
			}
		}
		used += cpuTime() - start
	}
	start := cpuTime()
	if err := n.Flush(ctx, emit); err != nil {
		return nil, 0, err
	}
	used += cpuTime() - start
	return segs, used, bad
}

// cpuTime is the CPU time (user and system) this process has used.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
