//go:build !cgo

package webrtc

// audioBuilt says this build has no Opus codec: libopus needs cgo.
const audioBuilt = false

type opusDecoder struct{}

func newDecoder() (*opusDecoder, error) { return nil, ErrNoAudio }

func (*opusDecoder) decode([]byte) ([]float32, error) { return nil, ErrNoAudio }

type opusEncoder struct{}

func newEncoder(int) (*opusEncoder, error) { return nil, ErrNoAudio }

func (*opusEncoder) encode([]float32) ([]byte, error) { return nil, ErrNoAudio }
