// Package frame defines the unit of data that flows through a pipeline and its
// canonical msgpack wire encoding (see docs/wire-format.md).
//
// A Frame is treated as immutable once it has been emitted: the scheduler hands the
// same *Frame to every consumer of a fan-out, so a node that wants to change a frame
// makes a new one (Clone, or a fresh Frame carrying the input's Header).
package frame

import (
	"encoding/binary"
	"fmt"
	"math"
	"unsafe"
)

// Kind says what a frame carries.
type Kind uint8

// Frame kinds. The numeric values are part of the WASM ABI (docs/wasm-abi.md).
const (
	KindAudio   Kind = 1
	KindText    Kind = 2
	KindJSON    Kind = 3
	KindBinary  Kind = 4
	KindTensor  Kind = 5
	KindControl Kind = 6
)

var kindNames = [...]string{KindAudio: "audio", KindText: "text", KindJSON: "json", KindBinary: "binary", KindTensor: "tensor", KindControl: "control"}

func (k Kind) String() string {
	if int(k) < len(kindNames) && kindNames[k] != "" {
		return kindNames[k]
	}
	return fmt.Sprintf("kind(%d)", uint8(k))
}

// ParseKind is the inverse of Kind.String.
func ParseKind(s string) (Kind, error) {
	for k, name := range kindNames {
		if name != "" && name == s {
			return Kind(k), nil
		}
	}
	return 0, fmt.Errorf("%w: unknown frame kind %q", ErrInvalid, s)
}

// SampleFormat is the encoding of audio samples in Frame.Data.
type SampleFormat uint8

// Sample formats. The numeric values are part of the WASM ABI.
const (
	F32 SampleFormat = 1 // little-endian IEEE 754 float32
	S16 SampleFormat = 2 // little-endian signed 16-bit
)

// BytesPerSample returns the size of one sample in this format.
func (f SampleFormat) BytesPerSample() int {
	switch f {
	case F32:
		return 4
	case S16:
		return 2
	}
	return 0
}

func (f SampleFormat) String() string {
	switch f {
	case F32:
		return "f32"
	case S16:
		return "s16"
	}
	return fmt.Sprintf("format(%d)", uint8(f))
}

// ControlOp is the instruction carried by a control frame.
type ControlOp uint8

// Control operations. The numeric values are part of the WASM ABI.
const (
	// EndOfStream is in-band: it follows the last data frame of a stream, and a node
	// receiving it flushes and then forwards it.
	EndOfStream ControlOp = 1
	// Flush asks every node to emit what it has buffered now. It jumps the queue.
	Flush ControlOp = 2
	// Cancel (interrupt, barge-in) discards queued data and resets. It jumps the queue.
	Cancel ControlOp = 3
)

var opNames = [...]string{EndOfStream: "eos", Flush: "flush", Cancel: "cancel"}

func (o ControlOp) String() string {
	if int(o) < len(opNames) && opNames[o] != "" {
		return opNames[o]
	}
	return fmt.Sprintf("op(%d)", uint8(o))
}

// Header is what every frame carries whatever its kind.
type Header struct {
	StreamID  string
	Seq       uint64
	Timestamp int64          // microseconds since the start of the stream
	Meta      map[string]any // passed through by nodes unless they mean to change it
}

// Frame is one unit of data. Which fields are meaningful depends on Kind:
//
//	audio:   Format, SampleRate, Channels, Data (interleaved little-endian samples)
//	text:    Data (UTF-8)
//	json:    Data (UTF-8 JSON document)
//	binary:  Data, MIME (optional)
//	tensor:  DType, Shape, Data (little-endian, row-major)
//	control: Op
type Frame struct {
	Header
	Kind Kind

	Format     SampleFormat
	SampleRate uint32
	Channels   uint16

	DType DType
	Shape []int64
	MIME  string

	Op ControlOp

	Data []byte
}

// DType is the element type of a tensor.
type DType string

// Tensor element types.
const (
	DTypeF32 DType = "f32"
	DTypeF64 DType = "f64"
	DTypeI8  DType = "i8"
	DTypeI16 DType = "i16"
	DTypeI32 DType = "i32"
	DTypeI64 DType = "i64"
	DTypeU8  DType = "u8"
)

// Size returns the size in bytes of one element, or 0 for an unknown dtype.
func (d DType) Size() int {
	switch d {
	case DTypeI8, DTypeU8:
		return 1
	case DTypeI16:
		return 2
	case DTypeF32, DTypeI32:
		return 4
	case DTypeF64, DTypeI64:
		return 8
	}
	return 0
}

// NewAudioF32 makes an f32 audio frame holding a copy of samples (interleaved).
func NewAudioF32(h Header, sampleRate uint32, channels uint16, samples []float32) *Frame {
	data := make([]byte, 4*len(samples))
	for i, s := range samples {
		binary.LittleEndian.PutUint32(data[4*i:], math.Float32bits(s))
	}
	return &Frame{Header: h, Kind: KindAudio, Format: F32, SampleRate: sampleRate, Channels: channels, Data: data}
}

// NewAudioS16 makes an s16 audio frame holding a copy of samples (interleaved).
func NewAudioS16(h Header, sampleRate uint32, channels uint16, samples []int16) *Frame {
	data := make([]byte, 2*len(samples))
	for i, s := range samples {
		binary.LittleEndian.PutUint16(data[2*i:], uint16(s))
	}
	return &Frame{Header: h, Kind: KindAudio, Format: S16, SampleRate: sampleRate, Channels: channels, Data: data}
}

// NewText makes a text frame.
func NewText(h Header, s string) *Frame {
	return &Frame{Header: h, Kind: KindText, Data: []byte(s)}
}

// NewJSON makes a JSON frame from an already encoded document.
func NewJSON(h Header, doc []byte) *Frame {
	return &Frame{Header: h, Kind: KindJSON, Data: doc}
}

// NewControl makes a control frame.
func NewControl(h Header, op ControlOp) *Frame {
	return &Frame{Header: h, Kind: KindControl, Op: op}
}

// IsControl reports whether f is a control frame with the given op.
func (f *Frame) IsControl(op ControlOp) bool { return f.Kind == KindControl && f.Op == op }

// Samples returns the number of samples per channel of an audio frame.
func (f *Frame) Samples() int {
	bps := f.Format.BytesPerSample()
	if f.Kind != KindAudio || bps == 0 || f.Channels == 0 {
		return 0
	}
	return len(f.Data) / (bps * int(f.Channels))
}

// DurationUS returns the duration of an audio frame in microseconds.
func (f *Frame) DurationUS() int64 {
	if f.SampleRate == 0 {
		return 0
	}
	return int64(f.Samples()) * 1_000_000 / int64(f.SampleRate)
}

// Float32s returns the samples of an audio frame as f32: an f32 frame's as F32
// returns them, an s16 frame's converted (v/32768), as every writer of f32
// output converts them.
func (f *Frame) Float32s() []float32 {
	if f.Format != S16 {
		return f.F32()
	}
	s16 := f.S16()
	out := make([]float32, len(s16))
	for i, v := range s16 {
		out[i] = float32(v) / 32768
	}
	return out
}

// F32 returns the samples of an f32 audio frame. The slice aliases Data when Data is
// 4-byte aligned (the usual case) and is a copy otherwise; do not write to it.
func (f *Frame) F32() []float32 {
	n := len(f.Data) / 4
	if n == 0 {
		return nil
	}
	if uintptr(unsafe.Pointer(&f.Data[0]))%4 == 0 && littleEndian {
		return unsafe.Slice((*float32)(unsafe.Pointer(&f.Data[0])), n)
	}
	out := make([]float32, n)
	for i := range out {
		out[i] = math.Float32frombits(binary.LittleEndian.Uint32(f.Data[4*i:]))
	}
	return out
}

// S16 returns the samples of an s16 audio frame, aliasing Data when it is aligned.
// Do not write to it.
func (f *Frame) S16() []int16 {
	n := len(f.Data) / 2
	if n == 0 {
		return nil
	}
	if uintptr(unsafe.Pointer(&f.Data[0]))%2 == 0 && littleEndian {
		return unsafe.Slice((*int16)(unsafe.Pointer(&f.Data[0])), n)
	}
	out := make([]int16, n)
	for i := range out {
		out[i] = int16(binary.LittleEndian.Uint16(f.Data[2*i:]))
	}
	return out
}

// Text returns the payload of a text frame.
func (f *Frame) Text() string { return string(f.Data) }

// Clone returns a copy of f that shares nothing mutable with it.
func (f *Frame) Clone() *Frame {
	c := *f
	c.Data = append([]byte(nil), f.Data...)
	c.Shape = append([]int64(nil), f.Shape...)
	if f.Meta != nil {
		c.Meta = make(map[string]any, len(f.Meta))
		for k, v := range f.Meta {
			c.Meta[k] = v
		}
	}
	return &c
}

// Validate checks that the fields of f are consistent with its kind.
func (f *Frame) Validate() error {
	switch f.Kind {
	case KindAudio:
		bps := f.Format.BytesPerSample()
		switch {
		case bps == 0:
			return fmt.Errorf("%w: audio frame: unknown sample format %d", ErrInvalid, f.Format)
		case f.SampleRate == 0:
			return fmt.Errorf("%w: audio frame: sample_rate must be > 0", ErrInvalid)
		case f.Channels == 0:
			return fmt.Errorf("%w: audio frame: channels must be > 0", ErrInvalid)
		case len(f.Data)%(bps*int(f.Channels)) != 0:
			return fmt.Errorf("%w: audio frame: %d data bytes is not a whole number of %d-channel %s samples", ErrInvalid, len(f.Data), f.Channels, f.Format)
		}
	case KindText, KindJSON, KindBinary:
	case KindTensor:
		size := f.DType.Size()
		if size == 0 {
			return fmt.Errorf("%w: tensor frame: unknown dtype %q", ErrInvalid, f.DType)
		}
		n := int64(1)
		for i, d := range f.Shape {
			if d < 0 {
				return fmt.Errorf("%w: tensor frame: shape[%d] is negative", ErrInvalid, i)
			}
			n *= d
			if n > int64(len(f.Data)) {
				break
			}
		}
		if n*int64(size) != int64(len(f.Data)) {
			return fmt.Errorf("%w: tensor frame: shape %v of %s needs %d bytes, data has %d", ErrInvalid, f.Shape, f.DType, n*int64(size), len(f.Data))
		}
	case KindControl:
		if f.Op < EndOfStream || f.Op > Cancel {
			return fmt.Errorf("%w: control frame: unknown op %d", ErrInvalid, f.Op)
		}
	default:
		return fmt.Errorf("%w: unknown frame kind %d", ErrInvalid, f.Kind)
	}
	return nil
}

var littleEndian = func() bool {
	x := uint16(1)
	return *(*byte)(unsafe.Pointer(&x)) == 1
}()
