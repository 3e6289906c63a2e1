package frame_test

import (
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"testing"

	"github.com/remotemedia/hybrid/core/frame"
)

func sampleFrames() []*frame.Frame {
	h := frame.Header{StreamID: "s", Seq: 3, Timestamp: 20000, Meta: map[string]any{"speech": true, "n": int8(4)}}
	return []*frame.Frame{
		frame.NewAudioF32(h, 48000, 2, []float32{0.1, -0.2, 0.3, -0.4}),
		frame.NewAudioS16(frame.Header{}, 16000, 1, []int16{1, -2, 3}),
		frame.NewText(h, "hello"),
		frame.NewJSON(h, []byte(`{"event":"speech_start"}`)),
		{Header: h, Kind: frame.KindBinary, MIME: "application/octet-stream", Data: []byte{0, 1, 2}},
		{Header: h, Kind: frame.KindTensor, DType: frame.DTypeI16, Shape: []int64{2, 2}, Data: make([]byte, 8)},
		frame.NewControl(h, frame.EndOfStream),
	}
}

func TestRoundTrip(t *testing.T) {
	for _, f := range sampleFrames() {
		t.Run(f.Kind.String(), func(t *testing.T) {
			b, err := frame.Marshal(f)
			if err != nil {
				t.Fatal(err)
			}
			got, err := frame.Unmarshal(b)
			if err != nil {
				t.Fatal(err)
			}
			want := f.Clone()
			normalizeMeta(want)
			normalizeMeta(got)
			if len(want.Shape) == 0 {
				want.Shape = nil
			}
			if !reflect.DeepEqual(got, want) {
				t.Fatalf("got  %+v\nwant %+v", got, want)
			}
		})
	}
}

func TestUnmarshalAliasesPayload(t *testing.T) {
	b, _ := frame.Marshal(frame.NewAudioF32(frame.Header{}, 8000, 1, []float32{1, 2, 3}))
	f, err := frame.Unmarshal(b)
	if err != nil {
		t.Fatal(err)
	}
	b[len(b)-1] ^= 0xff // the last byte is the payload's
	if f.Data[len(f.Data)-1] != b[len(b)-1] {
		t.Fatal("Unmarshal copied the payload; it should be a slice of the input")
	}
}

// Every proper prefix of a valid frame is a clear decode error, never a panic.
func TestTruncated(t *testing.T) {
	for _, f := range sampleFrames() {
		b, _ := frame.Marshal(f)
		for n := 0; n < len(b); n++ {
			_, err := frame.Unmarshal(b[:n])
			if !errors.Is(err, frame.ErrDecode) {
				t.Fatalf("%s frame cut to %d of %d bytes: err = %v, want ErrDecode", f.Kind, n, len(b), err)
			}
		}
	}
}

func TestInvalidFramesAreRejected(t *testing.T) {
	tests := []struct {
		name  string
		given *frame.Frame
	}{
		{"audio odd bytes", &frame.Frame{Kind: frame.KindAudio, Format: frame.F32, SampleRate: 8000, Channels: 1, Data: []byte{1, 2, 3}}},
		{"audio no rate", &frame.Frame{Kind: frame.KindAudio, Format: frame.F32, Channels: 1}},
		{"tensor shape", &frame.Frame{Kind: frame.KindTensor, DType: frame.DTypeF32, Shape: []int64{3}, Data: make([]byte, 8)}},
		{"control op", &frame.Frame{Kind: frame.KindControl, Op: 9}},
		{"kind", &frame.Frame{Kind: 42}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := frame.Marshal(tc.given); !errors.Is(err, frame.ErrInvalid) {
				t.Fatalf("err = %v, want ErrInvalid", err)
			}
		})
	}
}

func TestDecoderStream(t *testing.T) {
	var buf bytes.Buffer
	in := sampleFrames()
	for _, f := range in {
		if err := frame.Write(&buf, f); err != nil {
			t.Fatal(err)
		}
	}
	stream := buf.Bytes()
	d := frame.NewDecoder(bytes.NewReader(stream))
	for i := range in {
		f, err := d.Decode()
		if err != nil {
			t.Fatalf("frame %d: %v", i, err)
		}
		if f.Kind != in[i].Kind || !bytes.Equal(f.Data, in[i].Data) {
			t.Fatalf("frame %d: got %s %x", i, f.Kind, f.Data)
		}
	}
	if _, err := d.Decode(); err != io.EOF {
		t.Fatalf("after the last frame: %v, want io.EOF", err)
	}
	// A stream cut inside its last frame is an error, not a clean end.
	d = frame.NewDecoder(bytes.NewReader(stream[:len(stream)-3]))
	var err error
	for err == nil {
		_, err = d.Decode()
	}
	if !errors.Is(err, frame.ErrDecode) {
		t.Fatalf("truncated stream: %v, want ErrDecode", err)
	}
}

func FuzzUnmarshal(f *testing.F) {
	seeds, _ := filepath.Glob("../../testdata/wire/*.msgpack")
	for _, s := range seeds {
		if b, err := os.ReadFile(s); err == nil {
			f.Add(b)
		}
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		fr, err := frame.Unmarshal(b)
		if err != nil {
			return
		}
		// Whatever decodes must encode again and decode to the same frame.
		enc, err := frame.Marshal(fr)
		if err != nil {
			t.Fatalf("decoded frame does not encode: %v", err)
		}
		again, err := frame.Unmarshal(enc)
		if err != nil {
			t.Fatalf("re-encoded frame does not decode: %v", err)
		}
		if again.Kind != fr.Kind || !bytes.Equal(again.Data, fr.Data) || again.Seq != fr.Seq {
			t.Fatalf("round trip changed the frame: %+v vs %+v", again, fr)
		}
	})
}

func TestFloat32s(t *testing.T) {
	tests := []struct {
		name   string
		given  *frame.Frame
		expect []float32
	}{
		{"f32 as it is", frame.NewAudioF32(frame.Header{}, 16000, 1, []float32{0.5, -1, 0.25}), []float32{0.5, -1, 0.25}},
		{"s16 over 32768", frame.NewAudioS16(frame.Header{}, 16000, 2, []int16{16384, -32768, 32767, 0}), []float32{0.5, -1, 32767.0 / 32768, 0}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.given.Float32s(); !slices.Equal(got, tc.expect) {
				t.Errorf("Float32s() = %v, want %v", got, tc.expect)
			}
		})
	}
}
