package wavio_test

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/remotemedia/hybrid/core/wavio"
)

// memFile is an in-memory io.WriteSeeker / io.ReadSeeker.
type memFile struct {
	b   []byte
	off int64
}

func (m *memFile) Write(p []byte) (int, error) {
	if need := int(m.off) + len(p); need > len(m.b) {
		m.b = append(m.b, make([]byte, need-len(m.b))...)
	}
	copy(m.b[m.off:], p)
	m.off += int64(len(p))
	return len(p), nil
}

func (m *memFile) Seek(off int64, whence int) (int64, error) {
	switch whence {
	case io.SeekStart:
		m.off = off
	case io.SeekCurrent:
		m.off += off
	case io.SeekEnd:
		m.off = int64(len(m.b)) + off
	}
	return m.off, nil
}

func floatWAV(t testing.TB, rate, channels int, samples []float32) []byte {
	t.Helper()
	f := &memFile{}
	w := wavio.NewWriter(f, rate, channels)
	if err := w.Write(samples); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return f.b
}

func TestFloatRoundTripIsBitExact(t *testing.T) {
	in := []float32{0, 0.5, -0.5, 1, -1, 1e-7, 0.333333, -0.25}
	b := floatWAV(t, 48000, 2, in)
	r, err := wavio.NewReader(bytes.NewReader(b), "mem.wav")
	if err != nil {
		t.Fatal(err)
	}
	if r.SampleRate != 48000 || r.Channels != 2 || !r.Float || r.Frames != 4 {
		t.Fatalf("header: rate %d ch %d float %v frames %d", r.SampleRate, r.Channels, r.Float, r.Frames)
	}
	got, err := r.ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != len(in) {
		t.Fatalf("got %d samples, want %d", len(got), len(in))
	}
	for i := range in {
		if got[i] != in[i] {
			t.Fatalf("sample %d: %v != %v", i, got[i], in[i])
		}
	}
	// The data chunk holds the raw little-endian floats: what the parity test compares.
	raw := new(bytes.Buffer)
	_ = binary.Write(raw, binary.LittleEndian, in)
	if !bytes.Contains(b, raw.Bytes()) {
		t.Fatal("data chunk is not the raw f32 samples")
	}
}

func TestEmptyFileIsValid(t *testing.T) {
	b := floatWAV(t, 16000, 1, nil)
	if len(b) < 44 || string(b[:4]) != "RIFF" {
		t.Fatalf("empty output is not a WAV file: %q", b)
	}
}

func TestReadS16(t *testing.T) {
	// Hand-made 16-bit PCM mono file: 3 samples.
	var b bytes.Buffer
	pcm := []int16{0, 16384, -32768}
	le := func(v any) { _ = binary.Write(&b, binary.LittleEndian, v) }
	b.WriteString("RIFF")
	le(uint32(36 + 2*len(pcm)))
	b.WriteString("WAVEfmt ")
	le(uint32(16))
	le(uint16(1))
	le(uint16(1))
	le(uint32(16000))
	le(uint32(32000))
	le(uint16(2))
	le(uint16(16))
	b.WriteString("data")
	le(uint32(2 * len(pcm)))
	le(pcm)
	r, err := wavio.NewReader(bytes.NewReader(b.Bytes()), "s16.wav")
	if err != nil {
		t.Fatal(err)
	}
	got, err := r.ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	want := []float32{0, 0.5, -1}
	if len(got) != 3 || got[0] != want[0] || got[1] != want[1] || got[2] != want[2] {
		t.Fatalf("got %v, want %v", got, want)
	}
}

func TestBadFiles(t *testing.T) {
	good := floatWAV(t, 16000, 1, make([]float32, 1000))
	tests := []struct {
		name  string
		given []byte
	}{
		{"empty", nil},
		{"garbage", []byte("this is not a wav file at all, just text that goes on")},
		{"header only", good[:44]},
		{"truncated data", good[:300]},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r, err := wavio.NewReader(bytes.NewReader(tc.given), tc.name)
			if err == nil {
				_, err = r.ReadAll()
			}
			if !errors.Is(err, wavio.ErrFormat) {
				t.Fatalf("err = %v, want ErrFormat", err)
			}
		})
	}
}

func FuzzReader(f *testing.F) {
	f.Add(floatWAV(f, 8000, 1, []float32{0.1, 0.2}))
	seeds, _ := filepath.Glob("../../testdata/wav/*.wav")
	for _, s := range seeds {
		if b, err := os.ReadFile(s); err == nil && len(b) < 1<<16 {
			f.Add(b)
		}
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := wavio.NewReader(bytes.NewReader(b), "fuzz.wav")
		if err != nil {
			return
		}
		if r.Frames > 1<<20 {
			return
		}
		_, _ = r.ReadAll()
	})
}

// TestFloatHeader checks the header non-PCM data asks for, as sox writes it: a
// format 3 fmt chunk of 18 bytes with cbSize 0, and a fact chunk with the frame
// count (a plain 16-byte fmt chunk makes sox warn "wave header missing extended
// part of fmt chunk").
func TestFloatHeader(t *testing.T) {
	le := binary.LittleEndian
	for _, channels := range []int{1, 2, 6} {
		b := floatWAV(t, 16000, channels, make([]float32, 3*channels))
		if string(b[0:4]) != "RIFF" || le.Uint32(b[4:]) != uint32(len(b)-8) || string(b[8:16]) != "WAVEfmt " {
			t.Fatalf("RIFF header: %q size %d of a %d-byte file", b[:16], le.Uint32(b[4:]), len(b))
		}
		if got := le.Uint32(b[16:]); got != 18 {
			t.Fatalf("fmt chunk size %d, want 18", got)
		}
		f := b[20:]
		if tag, ch, rate, bps, align, bits, cb := le.Uint16(f[0:]), le.Uint16(f[2:]), le.Uint32(f[4:]), le.Uint32(f[8:]), le.Uint16(f[12:]), le.Uint16(f[14:]), le.Uint16(f[16:]); tag != 3 || int(ch) != channels || rate != 16000 || bps != uint32(16000*4*channels) || int(align) != 4*channels || bits != 32 || cb != 0 {
			t.Fatalf("fmt: tag %d channels %d rate %d bytes/s %d align %d bits %d cbSize %d", tag, ch, rate, bps, align, bits, cb)
		}
		rest := b[38:]
		if string(rest[0:4]) != "fact" || le.Uint32(rest[4:]) != 4 || le.Uint32(rest[8:]) != 3 {
			t.Fatalf("fact chunk %q size %d frames %d, want fact 4 3", rest[0:4], le.Uint32(rest[4:]), le.Uint32(rest[8:]))
		}
		if string(rest[12:16]) != "data" || int(le.Uint32(rest[16:])) != 3*channels*4 || len(rest[20:]) != 3*channels*4 {
			t.Fatalf("data chunk %q size %d with %d bytes after it", rest[12:16], le.Uint32(rest[16:]), len(rest[20:]))
		}
	}
}

// pipe is an io.WriteSeeker that cannot seek, as a FIFO or stdout.
type pipe struct{ bytes.Buffer }

func (*pipe) Seek(int64, int) (int64, error) { return 0, errors.New("illegal seek") }

func TestUnseekableOutputKeepsStreamingSizes(t *testing.T) {
	var p pipe
	w := wavio.NewWriter(&p, 8000, 1)
	if err := w.Write([]float32{0.25, -0.5}); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatalf("Close on a pipe: %v", err)
	}
	b := p.Bytes()
	if got := binary.LittleEndian.Uint32(b[4:]); got != 0xFFFFFFFF {
		t.Fatalf("RIFF size %#x, want the streaming 0xffffffff", got)
	}
	if len(b) != 58+8 {
		t.Fatalf("%d bytes, want a 58-byte header and 2 samples", len(b))
	}
}
