//go:build cgo

package webrtc

import (
	"fmt"

	"github.com/hraban/opus"
)

// audioBuilt says this build decodes and encodes Opus (libopus through cgo).
const audioBuilt = true

// opusDecoder decodes one Opus stream to 48 kHz mono float32 (libopus mixes
// a stereo stream down; SILK, CELT and hybrid frames all decode).
type opusDecoder struct {
	d   *opus.Decoder
	pcm []float32
}

func newDecoder() (*opusDecoder, error) {
	d, err := opus.NewDecoder(opusRate, 1)
	if err != nil {
		return nil, fmt.Errorf("webrtc: opus decoder: %w", err)
	}
	return &opusDecoder{d: d, pcm: make([]float32, maxFrameSamples)}, nil
}

// decode returns the samples of one packet, valid until the next call.
func (d *opusDecoder) decode(packet []byte) ([]float32, error) {
	n, err := d.d.DecodeFloat32(packet, d.pcm)
	if err != nil {
		return nil, fmt.Errorf("webrtc: decoding an Opus packet of %d bytes: %w", len(packet), err)
	}
	return d.pcm[:n], nil
}

// opusEncoder encodes mono float32 at one of Opus's rates (8, 12, 16, 24 or
// 48 kHz) into 20 ms packets.
type opusEncoder struct {
	e   *opus.Encoder
	buf []byte
}

func newEncoder(rate int) (*opusEncoder, error) {
	e, err := opus.NewEncoder(rate, 1, opus.AppAudio)
	if err != nil {
		return nil, fmt.Errorf("webrtc: opus encoder at %d Hz: %w", rate, err)
	}
	return &opusEncoder{e: e, buf: make([]byte, 4000)}, nil
}

// encode returns the packet of one 20 ms frame, valid until the next call.
func (e *opusEncoder) encode(pcm []float32) ([]byte, error) {
	n, err := e.e.EncodeFloat32(pcm, e.buf)
	if err != nil {
		return nil, fmt.Errorf("webrtc: encoding %d samples to Opus: %w", len(pcm), err)
	}
	return e.buf[:n], nil
}
