package wasmnode

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/remotemedia/hybrid/core/frame"
	"github.com/remotemedia/hybrid/core/node"
)

func TestHeaderRoundTrip(t *testing.T) {
	given := Header{Kind: frame.KindAudio, Format: frame.S16, Channels: 2, SampleRate: 48000, Timestamp: -5, Port: 3, Seq: 1 << 40}
	var b [HeaderSize]byte
	given.Encode(b[:])
	expect := []byte{1, 2, 2, 0, 0x80, 0xbb, 0, 0, 0xfb, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
		3, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0}
	if !bytes.Equal(b[:], expect) {
		t.Fatalf("encoded % x\nwant    % x", b, expect)
	}
	got, err := DecodeHeader(b[:])
	if err != nil || got != given {
		t.Fatalf("decoded %+v, %v; want %+v", got, err, given)
	}
	if _, err := DecodeHeader(b[:31]); !errors.Is(err, ErrABI) {
		t.Fatalf("short header: %v, want ErrABI", err)
	}
}

// fakeGuest is an in-process stand-in for an echo module: a bump allocator over
// a byte slice, rm_process emitting its input on the port the frame's first
// byte names, and a trap on demand. It tests the adapter's logic only.
type fakeGuest struct {
	instances, frees int
	trapNext         bool
	invert           bool // rm_process inverts the payload's bits in place before it emits it
	params           string
}

func (g *fakeGuest) Instantiate(_ context.Context, funcs HostFuncs) (Instance, error) {
	g.instances++
	return &fakeInstance{g: g, funcs: funcs, mem: make([]byte, 1<<20), top: 1024}, nil
}

func (g *fakeGuest) Close(context.Context) error { return nil }

type fakeInstance struct {
	g     *fakeGuest
	funcs HostFuncs
	mem   []byte
	top   uint32
}

type fakeFunc func(stack []uint64) error

func (f fakeFunc) Call(_ context.Context, stack []uint64) error { return f(stack) }

func (in *fakeInstance) Func(name string) Func {
	switch name {
	case "rm_abi_version":
		return fakeFunc(func(s []uint64) error { s[0] = 1; return nil })
	case "rm_alloc":
		return fakeFunc(func(s []uint64) error {
			p := (in.top + 15) &^ 15
			in.top = p + uint32(s[0])
			s[0] = uint64(p)
			return nil
		})
	case "rm_free":
		return fakeFunc(func([]uint64) error { in.g.frees++; return nil })
	case "rm_init":
		return fakeFunc(func(s []uint64) error { in.g.params = string(in.mem[s[0] : s[0]+s[1]]); s[0] = 0; return nil })
	case "rm_process":
		return fakeFunc(func(s []uint64) error {
			if in.g.trapNext {
				in.g.trapNext = false
				return fmt.Errorf("rm_process: %w: unreachable", ErrTrap)
			}
			p, n := s[0], s[1]
			hdr := in.mem[p : p+HeaderSize]
			hdr[16] = in.mem[p+HeaderSize] // the port to emit on
			if in.g.invert {
				for i := p + HeaderSize + 1; i < p+HeaderSize+n; i++ {
					in.mem[i] ^= 0xff
				}
			}
			in.funcs.Emit(hdr, in.mem[p+HeaderSize:p+HeaderSize+n])
			s[0] = 0
			return nil
		})
	}
	return nil
}

func (in *fakeInstance) Write(off uint32, b []byte) error {
	if int(off)+len(b) > len(in.mem) {
		return fmt.Errorf("%w: out of range", ErrABI)
	}
	copy(in.mem[off:], b)
	return nil
}

func (in *fakeInstance) Read(dst []byte, off, n uint32) ([]byte, error) {
	return append(dst[:0], in.mem[off:off+n]...), nil
}

func (in *fakeInstance) MemorySize() uint32          { return uint32(len(in.mem)) }
func (in *fakeInstance) Close(context.Context) error { return nil }

func TestNodeBuffersAndRecovery(t *testing.T) {
	g := &fakeGuest{}
	ctx := context.Background()
	n, err := newNode(ctx, g, "fake.wasm", node.Config{ID: "f", Params: map[string]any{"gain_db": 6}}, 2)
	if err != nil {
		t.Fatal(err)
	}
	if g.params != `{"gain_db":6}` {
		t.Fatalf("rm_init got params %q", g.params)
	}
	var got []*frame.Frame
	var ports []int
	emit := func(port int, f *frame.Frame) { ports, got = append(ports, port), append(got, f) }
	meta := map[string]any{"k": "v"}
	data := func(size int, port byte) []byte { b := bytes.Repeat([]byte{7}, size); b[0] = port; return b }
	tests := []struct {
		name       string
		given      []byte
		trap       bool
		expectErr  error
		expectPort int
		expectSeq  uint64
	}{
		{name: "fits the first buffer", given: data(100, 0), expectSeq: 0},
		{name: "grows the buffer, frees the old one", given: data(20000, 1), expectPort: 1, expectSeq: 0},
		{name: "grows again", given: data(100000, 0), expectSeq: 1},
		{name: "bad output port", given: data(10, 5), expectErr: ErrABI},
		{name: "trap", given: data(10, 0), trap: true, expectErr: ErrTrap},
		{name: "fresh instance after the trap", given: data(10, 0), expectSeq: 2},
	}
	for i, tt := range tests {
		g.trapNext = tt.trap
		before := len(got)
		in := &frame.Frame{Header: frame.Header{StreamID: "s", Seq: uint64(i), Timestamp: int64(i), Meta: meta}, Kind: frame.KindBinary, Data: tt.given}
		err := n.Process(ctx, 0, in, emit)
		if tt.expectErr != nil {
			if !errors.Is(err, tt.expectErr) {
				t.Fatalf("%s: error %v, want %v", tt.name, err, tt.expectErr)
			}
			continue
		}
		if err != nil || len(got) != before+1 {
			t.Fatalf("%s: %v, %d outputs", tt.name, err, len(got)-before)
		}
		f := got[before]
		if !bytes.Equal(f.Data, tt.given) || ports[before] != tt.expectPort || f.Seq != tt.expectSeq ||
			f.Timestamp != int64(i) || f.StreamID != "s" || f.Meta["k"] != "v" {
			t.Fatalf("%s: got port %d %+v", tt.name, ports[before], f.Header)
		}
	}
	if g.instances != 2 || g.frees != 2 {
		t.Fatalf("instances %d, frees %d; want 2 and 2", g.instances, g.frees)
	}
}

// An output whose payload is the input's, byte for byte, shares the input's
// bytes; any other is copied out of guest memory, which the guest may reuse.
func TestEmitSharesAnUnchangedPayload(t *testing.T) {
	g := &fakeGuest{}
	ctx := context.Background()
	n, err := newNode(ctx, g, "fake.wasm", node.Config{ID: "f"}, 1)
	if err != nil {
		t.Fatal(err)
	}
	var got *frame.Frame
	emit := func(_ int, f *frame.Frame) { got = f }
	in := &frame.Frame{Kind: frame.KindBinary, Data: []byte{0, 1, 2, 3}}
	if err := n.Process(ctx, 0, in, emit); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got.Data, in.Data) || &got.Data[0] != &in.Data[0] {
		t.Fatalf("unchanged payload: got % x at %p, want the input's bytes at %p", got.Data, &got.Data[0], &in.Data[0])
	}

	g.invert = true
	in = &frame.Frame{Kind: frame.KindBinary, Data: []byte{0, 1, 2, 3}}
	if err := n.Process(ctx, 0, in, emit); err != nil {
		t.Fatal(err)
	}
	want := []byte{0, 0xfe, 0xfd, 0xfc}
	if !bytes.Equal(got.Data, want) || &got.Data[0] == &in.Data[0] {
		t.Fatalf("changed payload: got % x, want % x in bytes of its own", got.Data, want)
	}
	inst := n.inst.(*fakeInstance)
	clear(inst.mem) // the guest reuses its memory: the output must not see it
	if !bytes.Equal(got.Data, want) {
		t.Fatalf("changed payload after the guest reused its memory: % x, want % x", got.Data, want)
	}
}

func BenchmarkNodeProcessFake(b *testing.B) {
	n, err := newNode(context.Background(), &fakeGuest{}, "fake.wasm", node.Config{ID: "f"}, 1)
	if err != nil {
		b.Fatal(err)
	}
	in := &frame.Frame{Kind: frame.KindBinary, Data: make([]byte, 7680)}
	emit := func(int, *frame.Frame) {}
	b.ReportAllocs()
	for b.Loop() {
		if err := n.Process(context.Background(), 0, in, emit); err != nil {
			b.Fatal(err)
		}
	}
}
