package wasmnode

import (
	"encoding/binary"
	"fmt"

	"github.com/remotemedia/hybrid/core/frame"
)

// Header is the fixed 32-byte frame header at the call boundary (docs/wasm-abi.md,
// "The frame at the call boundary").
type Header struct {
	Kind       frame.Kind
	Format     frame.SampleFormat
	Channels   uint16
	SampleRate uint32
	Timestamp  int64 // µs
	Port       uint32
	Seq        uint64
}

// Encode writes h into b[:HeaderSize].
func (h *Header) Encode(b []byte) {
	_ = b[HeaderSize-1]
	b[0] = byte(h.Kind)
	b[1] = byte(h.Format)
	binary.LittleEndian.PutUint16(b[2:], h.Channels)
	binary.LittleEndian.PutUint32(b[4:], h.SampleRate)
	binary.LittleEndian.PutUint64(b[8:], uint64(h.Timestamp))
	binary.LittleEndian.PutUint32(b[16:], h.Port)
	binary.LittleEndian.PutUint32(b[20:], 0)
	binary.LittleEndian.PutUint64(b[24:], h.Seq)
}

// DecodeHeader reads a header from b, which must hold at least HeaderSize bytes.
func DecodeHeader(b []byte) (Header, error) {
	if len(b) < HeaderSize {
		return Header{}, fmt.Errorf("%w: frame header is %d bytes, want %d", ErrABI, len(b), HeaderSize)
	}
	return Header{
		Kind:       frame.Kind(b[0]),
		Format:     frame.SampleFormat(b[1]),
		Channels:   binary.LittleEndian.Uint16(b[2:]),
		SampleRate: binary.LittleEndian.Uint32(b[4:]),
		Timestamp:  int64(binary.LittleEndian.Uint64(b[8:])),
		Port:       binary.LittleEndian.Uint32(b[16:]),
		Seq:        binary.LittleEndian.Uint64(b[24:]),
	}, nil
}

// headerOf returns the boundary header of a data frame arriving on port.
func headerOf(f *frame.Frame, port int) (Header, error) {
	h := Header{Kind: f.Kind, Timestamp: f.Timestamp, Port: uint32(port), Seq: f.Seq}
	switch f.Kind {
	case frame.KindAudio:
		h.Format, h.Channels, h.SampleRate = f.Format, f.Channels, f.SampleRate
	case frame.KindText, frame.KindJSON, frame.KindBinary:
	default:
		return h, fmt.Errorf("%w: %s frames do not cross the ABI in v%d", ErrABI, f.Kind, ABIVersion)
	}
	return h, nil
}

// frameOf builds the output frame the guest emitted, with data (no longer guest
// memory: onEmit copies it out, or passes the input's own bytes) and the
// input's stream id and metadata.
func frameOf(h Header, data []byte, in frame.Header, seq uint64) (*frame.Frame, error) {
	f := &frame.Frame{
		Header: frame.Header{StreamID: in.StreamID, Seq: seq, Timestamp: h.Timestamp, Meta: in.Meta},
		Kind:   h.Kind,
		Data:   data,
	}
	switch h.Kind {
	case frame.KindAudio:
		f.Format, f.Channels, f.SampleRate = h.Format, h.Channels, h.SampleRate
	case frame.KindText, frame.KindJSON, frame.KindBinary:
	case frame.KindControl: // a flush or a cancel of the module's own (barge-in), its op in the format byte
		if op := frame.ControlOp(h.Format); op != frame.Flush && op != frame.Cancel {
			return nil, fmt.Errorf("%w: rm.emit: a control frame's op (format byte) must be %d (flush) or %d (cancel), got %d", ErrABI, frame.Flush, frame.Cancel, op)
		}
		f.Op, f.Data = frame.ControlOp(h.Format), nil
	default:
		return nil, fmt.Errorf("%w: rm.emit: frame kind %d cannot be emitted", ErrABI, h.Kind)
	}
	if err := f.Validate(); err != nil {
		return nil, fmt.Errorf("%w: rm.emit: %w", ErrABI, err)
	}
	return f, nil
}
