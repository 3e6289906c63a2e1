package runner

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/remotemedia/hybrid/core/frame"
	"github.com/remotemedia/hybrid/core/node"
	"github.com/remotemedia/hybrid/core/sched"
	"github.com/remotemedia/hybrid/core/wavio"
)

type passNode struct{}

func (passNode) Process(_ context.Context, _ int, in *frame.Frame, emit node.Emit) error {
	emit(0, in)
	return nil
}
func (passNode) Flush(context.Context, node.Emit) error { return nil }
func (passNode) Close() error                           { return nil }

func passPipeline(t *testing.T) *Pipeline {
	t.Helper()
	audio := []node.Port{{Name: "in", Kinds: []frame.Kind{frame.KindAudio}}}
	out := []node.Port{{Name: "out", Kinds: []frame.Kind{frame.KindAudio}}}
	reg := node.NewRegistry()
	if err := reg.Register(node.Spec{Type: "pass", Runtime: node.RuntimeGo, Inputs: audio, Outputs: out,
		New: func(context.Context, node.Config) (node.Node, error) { return passNode{}, nil }}); err != nil {
		t.Fatal(err)
	}
	p, err := Load([]byte("version: \"1\"\nnodes:\n  - {id: a, node_type: pass}\n  - {id: b, node_type: pass}\nconnections:\n  - {from: a, to: b}\n"), reg)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// wav16 is a mono 16 kHz 16-bit WAV whose header declares dataBytes of samples
// and which holds `have` bytes of them.
func wav16(dataBytes uint32, have int) []byte {
	var b bytes.Buffer
	w := func(v any) { _ = binary.Write(&b, binary.LittleEndian, v) }
	b.WriteString("RIFF")
	w(uint32(36) + dataBytes)
	b.WriteString("WAVEfmt ")
	w(uint32(16))
	w(uint16(1))     // PCM
	w(uint16(1))     // channels
	w(uint32(16000)) // rate
	w(uint32(32000)) // bytes per second
	w(uint16(2))     // block align
	w(uint16(16))    // bits
	b.WriteString("data")
	w(dataBytes)
	b.Write(make([]byte, have))
	return b.Bytes()
}

type failingSource struct {
	n   int
	err error
}

func (s *failingSource) Next() (*frame.Frame, error) {
	if s.n == 0 {
		return nil, s.err
	}
	s.n--
	return frame.NewAudioF32(frame.Header{}, 16000, 1, make([]float32, 320)), nil
}

// TestSourceErrorEndsTheRun: a source that fails mid-stream (a truncated WAV, or
// one declaring far more data than it holds) ends the run at once with the
// reader's message; it used to leave the session waiting for its end of stream.
func TestSourceErrorEndsTheRun(t *testing.T) {
	errDisk := errors.New("disk on fire")
	tests := []struct {
		name      string
		given     func(t *testing.T) Source
		expectErr string
	}{
		{name: "truncated wav", given: wavSource(wav16(64000, 10000)), expectErr: "data ends after 5000 of 32000 frames (truncated file)"},
		{name: "huge declared size", given: wavSource(wav16(0xFFFFFFF0, 4000)), expectErr: "data ends after 2000 of 2147483640 frames (truncated file)"},
		{name: "source error", given: func(*testing.T) Source { return &failingSource{n: 40, err: errDisk} }, expectErr: "runner: reading input: disk on fire"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			outputs := 0
			_, err := Run(ctx, passPipeline(t), tt.given(t), func(sched.Output) error { outputs++; return nil }, sched.Options{QueueSize: 2})
			if ctx.Err() != nil {
				t.Fatalf("Run returned only when its context ended (%v): it hung", err)
			}
			if err == nil || !strings.Contains(err.Error(), tt.expectErr) {
				t.Fatalf("Run = %v, want %q", err, tt.expectErr)
			}
		})
	}
}

func wavSource(data []byte) func(t *testing.T) Source {
	return func(t *testing.T) Source {
		r, err := wavio.NewReader(bytes.NewReader(data), "in.wav")
		if err != nil {
			t.Fatal(err)
		}
		src, err := NewReaderSource(r.Read, r.SampleRate, r.Channels, 20, "run")
		if err != nil {
			t.Fatal(err)
		}
		return src
	}
}

// TestErrorEventNamesTheFrame: an error event carries the seq and timestamp of
// the frame the node failed on.
func TestErrorEventNamesTheFrame(t *testing.T) {
	ne := &sched.NodeError{Node: "vad", Frame: true, Seq: 7, Timestamp: 140_000, Err: errors.New("boom")}
	ev, ok := EventOf(sched.Output{Node: "vad", Err: ne})
	expect := Event{Node: "vad", Seq: 7, TSUS: 140_000, Kind: "error", Error: `sched: node "vad": boom`}
	if !ok || ev.Node != expect.Node || ev.Seq != expect.Seq || ev.TSUS != expect.TSUS || ev.Kind != expect.Kind || ev.Error != expect.Error {
		t.Fatalf("EventOf = %+v, %v; want %+v", ev, ok, expect)
	}
}
