package wasmhost_test

import (
	"context"
	"errors"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/remotemedia/hybrid/core/frame"
	"github.com/remotemedia/hybrid/core/node"
	"github.com/remotemedia/hybrid/core/wasmnode"
	"github.com/remotemedia/hybrid/target/wasmhost"
)

// The Rust node (wasm-modules/rust/dc_block.rs) on both backends: like every
// file here, this runs on wazero under go test and on V8 under make test-js.

// dcBlock registers build/dc_block.wasm from its own declaration and makes a
// node with params.
func dcBlock(t *testing.T, params map[string]any) node.Node {
	t.Helper()
	stdDir := filepath.Join(modDir, "..")
	b, err := os.ReadFile(filepath.Join(stdDir, "dc_block.wasm"))
	if err != nil {
		needModules(t) // the same build makes both
		t.Skipf("dc_block.wasm not built: %v", err)
	}
	m, err := wasmnode.DeclaredModule("dc_block.wasm", b)
	if err != nil {
		t.Fatal(err)
	}
	if m.Spec.Type != "dc_block" || len(m.Spec.Params) != 1 || m.Spec.Params[0].Name != "cutoff_hz" || m.Spec.Params[0].Default != 10.0 {
		t.Fatalf("dc_block declares %+v", m.Spec)
	}
	reg := node.NewRegistry()
	if err := wasmnode.Register(reg, newHost(t, wasmhost.Config{}), dirLoader(stdDir), []wasmnode.ModuleSpec{m}); err != nil {
		t.Fatal(err)
	}
	s, err := reg.Lookup("dc_block", "wasm")
	if err != nil {
		t.Fatal(err)
	}
	n, err := s.New(context.Background(), node.Config{ID: "dc", StreamID: "s1", Params: params})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = n.Close() })
	return n
}

// TestRustDCBlock: the filter's output is the reference recurrence's, sample
// for sample, over frames of several sizes (a 1 s one makes the input buffer
// grow through the Rust allocator); the DC offset is gone after it settles;
// headers, metadata and numbering are the host's as for any module.
func TestRustDCBlock(t *testing.T) {
	n := dcBlock(t, map[string]any{"cutoff_hz": 20.0})
	const rate, dc = 48000, 0.25
	r := float32(math.Exp(-2 * math.Pi * 20 / rate))
	var x1, y1 [2]float32
	var in, want []float32
	var out outputs
	pos := 0
	for seq, size := range []int{960, 1, 48000, 480, 960} {
		s := make([]float32, 2*size)
		for i := range size {
			v := dc + float32(0.3*math.Sin(2*math.Pi*440*float64(pos+i)/rate))
			s[2*i], s[2*i+1] = v, -v
		}
		pos += size
		in = append(in, s...)
		f := frame.NewAudioF32(frame.Header{StreamID: "s1", Seq: uint64(seq), Timestamp: int64(seq) * 20000, Meta: map[string]any{"speaker": "ann"}}, rate, 2, s)
		if err := n.Process(context.Background(), 0, f, out.emit); err != nil {
			t.Fatalf("frame %d: %v", seq, err)
		}
		got := out.frames[len(out.frames)-1]
		if len(out.frames) != seq+1 || got.Seq != uint64(seq) || got.Timestamp != f.Timestamp || got.Channels != 2 || got.SampleRate != rate || got.Meta["speaker"] != "ann" {
			t.Fatalf("frame %d: output %+v", seq, got)
		}
	}
	for i, x := range in {
		c := i % 2
		y := float32(x-x1[c]) + float32(r*y1[c])
		x1[c], y1[c] = x, y
		want = append(want, y)
	}
	var got []float32
	for _, f := range out.frames {
		got = append(got, f.F32()...)
	}
	if len(got) != len(want) {
		t.Fatalf("%d samples out, want %d", len(got), len(want))
	}
	for i := range want {
		if math.Abs(float64(got[i]-want[i])) > 1e-5 {
			t.Fatalf("sample %d: %v, want %v", i, got[i], want[i])
		}
	}
	var mean float64
	tail := got[len(got)-2*24000:] // the last half second, left channel
	for i := 0; i < len(tail); i += 2 {
		mean += float64(tail[i])
	}
	if mean /= float64(len(tail) / 2); math.Abs(mean) > 1e-3 {
		t.Errorf("mean of the output's last 0.5 s = %v, want about 0 (the input's is %v)", mean, dc)
	}
}

// TestRustDCBlockErrors: the Rust node reports a frame it cannot take through
// rm.error, and bad params fail rm_init.
func TestRustDCBlockErrors(t *testing.T) {
	n := dcBlock(t, map[string]any{"cutoff_hz": 10.0})
	s16 := frame.NewAudioS16(frame.Header{StreamID: "s1"}, 16000, 1, make([]int16, 160))
	err := n.Process(context.Background(), 0, s16, func(int, *frame.Frame) {})
	if !errors.Is(err, wasmnode.ErrGuest) || !strings.Contains(err.Error(), "dc_block: want f32 audio") {
		t.Fatalf("s16 input: %v, want ErrGuest naming f32", err)
	}
	var out outputs
	if err := n.Process(context.Background(), 0, audio(1, 960, 0.5), out.emit); err != nil || len(out.frames) != 1 {
		t.Fatalf("after the error, a good frame: %v, %d outputs", err, len(out.frames))
	}
}
