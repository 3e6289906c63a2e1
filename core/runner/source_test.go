package runner

import (
	"context"
	"errors"
	"io"
	"reflect"
	"testing"
	"time"

	"github.com/remotemedia/hybrid/core/frame"
	"github.com/remotemedia/hybrid/core/sched"
)

// ramp returns n interleaved samples 0, 1, 2, ... so a frame's content shows
// where in the input it was cut.
func ramp(n int) []float32 {
	s := make([]float32, n)
	for i := range s {
		s[i] = float32(i)
	}
	return s
}

// cut is what a test expects of one frame: its seq, timestamp (µs), sample
// frames per channel and first sample.
type cut struct {
	Seq    uint64
	TSUS   int64
	Frames int
	First  float32
}

func cuts(t *testing.T, src Source) []cut {
	t.Helper()
	var got []cut
	for {
		f, err := src.Next()
		if err == io.EOF {
			return got
		}
		if err != nil {
			t.Fatal(err)
		}
		if f.Kind != frame.KindAudio || f.Format != frame.F32 {
			t.Fatalf("frame %d: %s %s, want f32 audio", len(got), f.Kind, f.Format)
		}
		got = append(got, cut{Seq: f.Seq, TSUS: f.Timestamp, Frames: f.Samples(), First: f.Float32s()[0]})
		if len(got) > 1000 {
			t.Fatal("the source never ends")
		}
	}
}

// TestPCMSource: frame cutting, sample-frame timestamps with several channels,
// and the ragged last frame. Timestamps count sample frames (per channel), not
// samples: a stereo frame of 10 ms starts 10 ms after the one before.
func TestPCMSource(t *testing.T) {
	tests := []struct {
		name                    string
		rate, channels, frameMS int
		samples                 int // interleaved
		expect                  []cut
	}{
		{name: "mono, ragged last", rate: 1000, channels: 1, frameMS: 20, samples: 50,
			expect: []cut{{0, 0, 20, 0}, {1, 20_000, 20, 20}, {2, 40_000, 10, 40}}},
		{name: "stereo", rate: 8000, channels: 2, frameMS: 10, samples: 2 * 200,
			expect: []cut{{0, 0, 80, 0}, {1, 10_000, 80, 160}, {2, 20_000, 40, 320}}},
		{name: "three channels at 44.1 kHz", rate: 44100, channels: 3, frameMS: 20, samples: 3 * 2000,
			expect: []cut{{0, 0, 882, 0}, {1, 20_000, 882, 3 * 882}, {2, 40_000, 236, 6 * 882}}},
		{name: "a partial sample frame at the end is dropped", rate: 1000, channels: 2, frameMS: 10, samples: 2*25 + 1,
			expect: []cut{{0, 0, 10, 0}, {1, 10_000, 10, 20}, {2, 20_000, 5, 40}}},
		{name: "exact multiple: no empty last frame", rate: 1000, channels: 2, frameMS: 10, samples: 2 * 20,
			expect: []cut{{0, 0, 10, 0}, {1, 10_000, 10, 20}}},
		{name: "default frame length", rate: 1000, channels: 1, frameMS: 0, samples: 45,
			expect: []cut{{0, 0, 20, 0}, {1, 20_000, 20, 20}, {2, 40_000, 5, 40}}},
		{name: "timestamps in µs of a rate that does not divide them", rate: 44100, channels: 2, frameMS: 10, samples: 2 * 1323,
			expect: []cut{{0, 0, 441, 0}, {1, 10_000, 441, 882}, {2, 20_000, 441, 1764}}},
		{name: "empty input", rate: 1000, channels: 1, frameMS: 20, samples: 0, expect: nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			src, err := NewPCMSource(ramp(tt.samples), tt.rate, tt.channels, tt.frameMS, "s")
			if err != nil {
				t.Fatal(err)
			}
			if got := cuts(t, src); !reflect.DeepEqual(got, tt.expect) {
				t.Fatalf("frames (seq, ts_us, sample frames, first sample):\n got %v\nwant %v", got, tt.expect)
			}
			want := int64(tt.samples / tt.channels)
			if got := src.SamplesRead(); got != want {
				t.Fatalf("SamplesRead = %d, want %d sample frames", got, want)
			}
		})
	}
}

func TestPCMSourceRejects(t *testing.T) {
	for _, given := range [][2]int{{0, 1}, {16000, 0}, {-1, 2}} {
		if _, err := NewPCMSource(nil, given[0], given[1], 20, "s"); err == nil {
			t.Errorf("NewPCMSource(rate %d, channels %d): no error", given[0], given[1])
		}
	}
}

// TestChunkReader: samples pushed in chunks of any size, splitting sample
// frames, are cut into the same frames as the whole input at once.
func TestChunkReader(t *testing.T) {
	const rate, channels, frameMS = 1000, 2, 10
	input := ramp(2*47 + 1)
	whole, err := NewPCMSource(input, rate, channels, frameMS, "s")
	if err != nil {
		t.Fatal(err)
	}
	expect := cuts(t, whole)
	chunks := make(chan []float32, len(input))
	for rest, size := input, 1; len(rest) > 0; size = size%7 + 3 {
		n := min(size, len(rest))
		chunks <- rest[:n]
		rest = rest[n:]
	}
	chunks <- nil // an empty push is no end of input
	close(chunks)
	src, err := NewReaderSource(ChunkReader(chunks), rate, channels, frameMS, "s")
	if err != nil {
		t.Fatal(err)
	}
	if got := cuts(t, src); !reflect.DeepEqual(got, expect) {
		t.Fatalf("chunked: %v\nwhole:   %v", got, expect)
	}
}

// input records what Feed does.
type input struct {
	pushed []uint64
	closed bool
	err    error // returned by Push
}

func (in *input) Push(_ context.Context, f *frame.Frame) error {
	if in.err != nil {
		return in.err
	}
	in.pushed = append(in.pushed, f.Seq)
	return nil
}

func (in *input) CloseInput(context.Context) error { in.closed = true; return nil }

func TestFeed(t *testing.T) {
	errDisk := errors.New("disk on fire")
	errClosed := errors.New("session closed")
	tests := []struct {
		name         string
		given        Source
		pushErr      error
		expectPushed []uint64
		expectClosed bool
		expectErr    error
	}{
		{name: "every frame, then the end", given: &failingSource{n: 3, err: io.EOF}, expectPushed: []uint64{0, 0, 0}, expectClosed: true},
		{name: "a source error leaves the input open", given: &failingSource{n: 2, err: errDisk}, expectPushed: []uint64{0, 0}, expectErr: errDisk},
		{name: "a push error stops", given: &failingSource{n: 2, err: io.EOF}, pushErr: errClosed, expectErr: errClosed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := &input{err: tt.pushErr}
			err := Feed(context.Background(), in, tt.given)
			if !errors.Is(err, tt.expectErr) || (tt.expectErr == nil) != (err == nil) {
				t.Fatalf("Feed = %v, want %v", err, tt.expectErr)
			}
			if !reflect.DeepEqual(in.pushed, tt.expectPushed) || in.closed != tt.expectClosed {
				t.Fatalf("pushed %v, closed %v; want %v, %v", in.pushed, in.closed, tt.expectPushed, tt.expectClosed)
			}
		})
	}
}

// TestRunStereo: a run delivers every sample in order, in frames whose seq and
// timestamps are those of the input's sample frames.
func TestRunStereo(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	const rate, channels = 8000, 2
	input := ramp(channels * 480)
	src, err := NewPCMSource(input, rate, channels, 20, "run")
	if err != nil {
		t.Fatal(err)
	}
	var got []cut
	var samples []float32
	_, err = Run(ctx, passPipeline(t), src, func(o sched.Output) error {
		if o.Err != nil {
			return o.Err
		}
		f := o.Frame
		got = append(got, cut{Seq: f.Seq, TSUS: f.Timestamp, Frames: f.Samples(), First: f.Float32s()[0]})
		samples = append(samples, f.Float32s()...)
		return nil
	}, sched.Options{QueueSize: 2})
	if err != nil {
		t.Fatal(err)
	}
	expect := []cut{{0, 0, 160, 0}, {1, 20_000, 160, 320}, {2, 40_000, 160, 640}}
	if !reflect.DeepEqual(got, expect) {
		t.Fatalf("outputs %v, want %v", got, expect)
	}
	if !reflect.DeepEqual(samples, input) {
		t.Fatalf("%d samples out of %d, or out of order", len(samples), len(input))
	}
}

// TestEventOf: what each kind of output becomes in an events file.
func TestEventOf(t *testing.T) {
	h := frame.Header{StreamID: "s", Seq: 3, Timestamp: 60_000}
	tensor := &frame.Frame{Header: h, Kind: frame.KindTensor, Data: make([]byte, 12)}
	tests := []struct {
		name   string
		given  sched.Output
		expect Event
		ok     bool
	}{
		{name: "json", given: sched.Output{Node: "vad", Port: "events", Frame: frame.NewJSON(h, []byte(`{"event":"speech_start"}`))},
			expect: Event{Node: "vad", Port: "events", Seq: 3, TSUS: 60_000, Kind: "json", Data: []byte(`{"event":"speech_start"}`)}, ok: true},
		{name: "invalid json is text", given: sched.Output{Node: "n", Port: "out", Frame: frame.NewJSON(h, []byte(`{"cut`))},
			expect: Event{Node: "n", Port: "out", Seq: 3, TSUS: 60_000, Kind: "json", Text: `{"cut`}, ok: true},
		{name: "text", given: sched.Output{Node: "asr", Port: "out", Frame: frame.NewText(h, "hello")},
			expect: Event{Node: "asr", Port: "out", Seq: 3, TSUS: 60_000, Kind: "text", Text: "hello"}, ok: true},
		{name: "control", given: sched.Output{Node: "n", Port: "out", Frame: frame.NewControl(h, frame.Flush)},
			expect: Event{Node: "n", Port: "out", Seq: 3, TSUS: 60_000, Kind: "control", Text: frame.Flush.String()}, ok: true},
		{name: "tensor counts bytes", given: sched.Output{Node: "n", Port: "out", Frame: tensor},
			expect: Event{Node: "n", Port: "out", Seq: 3, TSUS: 60_000, Kind: "tensor", Bytes: 12}, ok: true},
		{name: "audio is no event", given: sched.Output{Node: "n", Port: "out", Frame: frame.NewAudioF32(h, 16000, 1, make([]float32, 4))},
			expect: Event{Node: "n", Port: "out"}, ok: false},
		{name: "error in flush names no frame", given: sched.Output{Node: "n", Err: &sched.NodeError{Node: "n", Err: errors.New("boom")}},
			expect: Event{Node: "n", Kind: "error", Error: `sched: node "n": boom`}, ok: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := EventOf(tt.given)
			if ok != tt.ok || !reflect.DeepEqual(got, tt.expect) {
				t.Fatalf("EventOf = %+v, %v; want %+v, %v", got, ok, tt.expect, tt.ok)
			}
		})
	}
}
