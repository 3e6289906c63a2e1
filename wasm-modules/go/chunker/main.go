//go:build wasip1

// Command chunker is the standard `chunker` node module: it re-frames audio into
// chunks of `ms` milliseconds and emits the remainder on flush. Built with the Go
// guest SDK:
//
//	GOOS=wasip1 GOARCH=wasm go build -buildmode=c-shared -o chunker.wasm .
package main

import (
	"errors"

	rm "github.com/remotemedia/hybrid/wasm-modules/sdk/go"
)

type chunker struct {
	ms                float64
	format            rm.Format
	channels          uint16
	rate              uint32
	chunkBytes, frame int    // bytes per chunk and per sample frame
	pending           []byte // audio not yet emitted
	base              int64  // timestamp (µs) of the audio that started pending
	emitted           int64  // sample frames emitted since base
}

func (c *chunker) Init(p rm.Params) error {
	c.ms = p.Number("ms", 20)
	if !(c.ms > 0) {
		return errors.New("chunker: param ms must be > 0")
	}
	return nil
}

func (c *chunker) Process(f rm.Frame) error {
	if f.Kind != rm.KindAudio || f.Channels == 0 || f.SampleRate == 0 {
		return errors.New("chunker: input must be audio with channels and sample_rate > 0")
	}
	bps := 4
	if f.Format == rm.S16 {
		bps = 2
	} else if f.Format != rm.F32 {
		return errors.New("chunker: audio format must be f32 or s16")
	}
	if f.Format != c.format || f.Channels != c.channels || f.SampleRate != c.rate {
		if err := c.Flush(); err != nil {
			return err
		}
		c.format, c.channels, c.rate = f.Format, f.Channels, f.SampleRate
		c.frame = bps * int(f.Channels)
		frames := int(c.ms*float64(f.SampleRate)/1000 + 0.5)
		c.chunkBytes = max(frames, 1) * c.frame
	}
	if len(c.pending) == 0 {
		c.base, c.emitted = f.TimestampUS, 0
	}
	c.pending = append(c.pending, f.Data[:len(f.Data)/c.frame*c.frame]...)
	off := 0
	for ; len(c.pending)-off >= c.chunkBytes; off += c.chunkBytes {
		c.emit(c.pending[off : off+c.chunkBytes])
	}
	c.pending = c.pending[:copy(c.pending, c.pending[off:])]
	return nil
}

func (c *chunker) emit(data []byte) {
	rm.Emit(0, rm.Frame{Kind: rm.KindAudio, Format: c.format, Channels: c.channels, SampleRate: c.rate,
		TimestampUS: c.base + c.emitted*1000000/int64(c.rate), Data: data})
	c.emitted += int64(len(data) / c.frame)
}

func (c *chunker) Flush() error {
	if len(c.pending) > 0 {
		c.emit(c.pending)
		c.pending = c.pending[:0]
	}
	return nil
}

func main() {}

func init() { rm.Register(&chunker{}) }
