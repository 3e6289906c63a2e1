// Package wavio reads and writes WAV files as audio frames, through
// github.com/go-audio/wav. Both the CLI and the browser target use it, so a WAV
// file becomes the same frames on either side.
package wavio

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"

	"github.com/go-audio/audio"
	"github.com/go-audio/wav"
)

// ErrFormat is returned for input that is not a WAV file this package can read.
var ErrFormat = errors.New("wav: unsupported or malformed file")

const (
	formatPCM        = 1
	formatFloat      = 3
	formatExtensible = 0xFFFE
)

// Reader reads interleaved samples from a WAV file as float32 in [-1, 1].
type Reader struct {
	dec        *wav.Decoder
	buf        *audio.IntBuffer
	SampleRate int
	Channels   int
	BitDepth   int
	Float      bool  // IEEE float samples (format 3) rather than integer PCM
	Frames     int64 // sample frames (per channel) in the file
	read       int64
}

// NewReader checks the header of a WAV file and prepares to read its samples.
// name is used in errors.
func NewReader(r io.ReadSeeker, name string) (*Reader, error) {
	sub, err := extensibleSubformat(r)
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %v", ErrFormat, name, err)
	}
	dec := wav.NewDecoder(r)
	if !dec.IsValidFile() {
		return nil, fmt.Errorf("%w: %s: not a RIFF/WAVE file", ErrFormat, name)
	}
	if err := dec.FwdToPCM(); err != nil {
		return nil, fmt.Errorf("%w: %s: %v", ErrFormat, name, err)
	}
	rd := &Reader{dec: dec, SampleRate: int(dec.SampleRate), Channels: int(dec.NumChans), BitDepth: int(dec.BitDepth)}
	switch {
	case rd.SampleRate <= 0 || rd.SampleRate > 768000:
		return nil, fmt.Errorf("%w: %s: sample rate %d", ErrFormat, name, rd.SampleRate)
	case rd.Channels <= 0 || rd.Channels > 64:
		return nil, fmt.Errorf("%w: %s: %d channels", ErrFormat, name, rd.Channels)
	}
	format := dec.WavAudioFormat
	if format == formatExtensible {
		format = sub
	}
	switch format {
	case formatPCM:
		if rd.BitDepth != 8 && rd.BitDepth != 16 && rd.BitDepth != 24 && rd.BitDepth != 32 {
			return nil, fmt.Errorf("%w: %s: %d-bit PCM", ErrFormat, name, rd.BitDepth)
		}
	case formatFloat:
		if rd.BitDepth != 32 {
			return nil, fmt.Errorf("%w: %s: %d-bit float (only 32-bit float is read)", ErrFormat, name, rd.BitDepth)
		}
		rd.Float = true
	default:
		return nil, fmt.Errorf("%w: %s: audio format %d (want PCM or IEEE float)", ErrFormat, name, dec.WavAudioFormat)
	}
	if dec.PCMSize <= 0 {
		return nil, fmt.Errorf("%w: %s: no audio data", ErrFormat, name)
	}
	rd.Frames = int64(dec.PCMSize) / int64(rd.Channels*rd.BitDepth/8)
	return rd, nil
}

// extensibleSubformat returns the format code inside a WAVE_FORMAT_EXTENSIBLE
// fmt chunk (which the WAV library does not read), or 0, and rewinds r.
func extensibleSubformat(r io.ReadSeeker) (uint16, error) {
	defer r.Seek(0, io.SeekStart)
	var hdr [12]byte
	if _, err := io.ReadFull(r, hdr[:]); err != nil || string(hdr[0:4]) != "RIFF" || string(hdr[8:12]) != "WAVE" {
		return 0, nil // not a WAV file: the decoder says so
	}
	for i := 0; i < 64; i++ {
		var ch [8]byte
		if _, err := io.ReadFull(r, ch[:]); err != nil {
			return 0, nil
		}
		size := int64(binary.LittleEndian.Uint32(ch[4:]))
		if string(ch[0:4]) != "fmt " {
			if _, err := r.Seek(size+size%2, io.SeekCurrent); err != nil {
				return 0, nil
			}
			continue
		}
		if size < 26 || size > 1024 {
			return 0, nil
		}
		body := make([]byte, size)
		if _, err := io.ReadFull(r, body); err != nil {
			return 0, fmt.Errorf("fmt chunk is truncated")
		}
		if binary.LittleEndian.Uint16(body[0:]) != formatExtensible {
			return 0, nil
		}
		return binary.LittleEndian.Uint16(body[24:]), nil
	}
	return 0, nil
}

// Read reads up to len(dst)/Channels sample frames into dst (interleaved) and
// returns the number of samples (not frames) read; io.EOF after the last.
func (r *Reader) Read(dst []float32) (int, error) {
	want := len(dst) - len(dst)%r.Channels
	if want == 0 {
		return 0, fmt.Errorf("wav: read buffer smaller than one %d-channel frame", r.Channels)
	}
	if left := (r.Frames - r.read) * int64(r.Channels); int64(want) > left {
		want = int(left)
	}
	if want == 0 {
		return 0, io.EOF
	}
	if r.buf == nil || cap(r.buf.Data) < want {
		r.buf = &audio.IntBuffer{Data: make([]int, want), Format: &audio.Format{NumChannels: r.Channels, SampleRate: r.SampleRate}}
	}
	r.buf.Data = r.buf.Data[:want]
	n, err := r.dec.PCMBuffer(r.buf)
	if err != nil {
		return 0, fmt.Errorf("%w: reading samples: %v", ErrFormat, err)
	}
	n -= n % r.Channels
	if n == 0 {
		return 0, fmt.Errorf("%w: data ends after %d of %d frames (truncated file)", ErrFormat, r.read, r.Frames)
	}
	scale := 1 / float32(int64(1)<<(r.BitDepth-1))
	for i, v := range r.buf.Data[:n] {
		switch {
		case r.Float:
			dst[i] = math.Float32frombits(uint32(int32(v)))
		case r.BitDepth == 8:
			dst[i] = float32(v-128) / 128
		default:
			dst[i] = float32(v) * scale
		}
	}
	r.read += int64(n / r.Channels)
	return n, nil
}

// ReadAll reads every remaining sample.
func (r *Reader) ReadAll() ([]float32, error) {
	out := make([]float32, 0, (r.Frames-r.read)*int64(r.Channels))
	buf := make([]float32, 4096*r.Channels)
	for {
		n, err := r.Read(buf)
		out = append(out, buf[:n]...)
		if err == io.EOF {
			return out, nil
		}
		if err != nil {
			return out, err
		}
	}
}

// Writer writes 32-bit float WAV (format 3, IEEE float) with the header the
// format asks of non-PCM data: an 18-byte fmt chunk (cbSize 0) and a fact chunk
// with the frame count, the layout sox itself writes, so sox and other tools
// read the file without a warning. The samples are stored bit for bit.
// (WAVE_FORMAT_EXTENSIBLE is not used: sox 14.4 warns "wave header missing
// extended part of fmt chunk" on every extensible float file.)
//
// The header goes out with the first samples and its sizes are set by Close,
// which seeks back to them. Where the file cannot seek (a pipe), the sizes stay
// 0xFFFFFFFF, the streaming convention: "until the end of the file".
type Writer struct {
	w          io.WriteSeeker
	buf        []byte
	started    bool
	frames     int64 // sample frames written
	err        error // the first write error: later calls return it
	SampleRate int
	Channels   int
}

// headerSize is the length of what Writer puts before the samples: RIFF header,
// fmt chunk (8+18), fact chunk (8+4) and the data chunk's header.
const headerSize = 12 + 26 + 12 + 8

// maxDataBytes is the most sample data a RIFF file's 32-bit sizes can describe.
const maxDataBytes = math.MaxUint32 - headerSize

// NewWriter starts a 32-bit float WAV file on w.
func NewWriter(w io.WriteSeeker, sampleRate, channels int) *Writer {
	return &Writer{w: w, SampleRate: sampleRate, Channels: channels}
}

// header returns the file's header for dataBytes of samples; unknown sizes
// (dataBytes < 0) are 0xFFFFFFFF.
func (w *Writer) header(dataBytes int64) []byte {
	le := binary.LittleEndian
	riff, data, frames := uint32(math.MaxUint32), uint32(math.MaxUint32), uint32(0)
	if dataBytes >= 0 {
		riff, data, frames = uint32(headerSize-8+dataBytes), uint32(dataBytes), uint32(min(w.frames, math.MaxUint32))
	}
	h := make([]byte, 0, headerSize)
	h = append(h, "RIFF"...)
	h = le.AppendUint32(h, riff)
	h = append(h, "WAVEfmt "...)
	h = le.AppendUint32(h, 18)
	h = le.AppendUint16(h, formatFloat)
	h = le.AppendUint16(h, uint16(w.Channels))
	h = le.AppendUint32(h, uint32(w.SampleRate))
	h = le.AppendUint32(h, uint32(w.SampleRate*w.Channels*4)) // bytes per second
	h = le.AppendUint16(h, uint16(w.Channels*4))              // block align
	h = le.AppendUint16(h, 32)                                // bits per sample
	h = le.AppendUint16(h, 0)                                 // cbSize: no extension
	h = append(h, "fact"...)
	h = le.AppendUint32(h, 4)
	h = le.AppendUint32(h, frames)
	h = append(h, "data"...)
	h = le.AppendUint32(h, data)
	return h
}

// Write appends interleaved samples.
func (w *Writer) Write(samples []float32) error {
	if w.err != nil {
		return w.err
	}
	if w.Channels <= 0 || w.SampleRate <= 0 {
		return fmt.Errorf("wav: cannot write %d Hz %d-channel audio", w.SampleRate, w.Channels)
	}
	if len(samples)%w.Channels != 0 {
		return fmt.Errorf("wav: %d samples is not a whole number of %d-channel frames", len(samples), w.Channels)
	}
	if (w.frames*int64(w.Channels)+int64(len(samples)))*4 > maxDataBytes {
		return fmt.Errorf("wav: more than %d bytes of samples do not fit in a WAV file", int64(maxDataBytes))
	}
	w.buf = w.buf[:0]
	if !w.started {
		w.buf = append(w.buf, w.header(-1)...)
		w.started = true
	}
	for _, s := range samples {
		w.buf = binary.LittleEndian.AppendUint32(w.buf, math.Float32bits(s))
	}
	if _, err := w.w.Write(w.buf); err != nil {
		w.err = fmt.Errorf("wav: %w", err)
		return w.err
	}
	w.frames += int64(len(samples) / w.Channels)
	return nil
}

// Close finishes the header: a file with no samples is still a valid, empty
// WAV file. It does not close the underlying writer.
func (w *Writer) Close() error {
	if err := w.Write(nil); err != nil { // writes the header if nothing has
		return err
	}
	if _, err := w.w.Seek(0, io.SeekStart); err != nil {
		return nil // not seekable (a pipe): the streaming sizes stay
	}
	if _, err := w.w.Write(w.header(w.frames * int64(w.Channels) * 4)); err != nil {
		return fmt.Errorf("wav: finishing the header: %w", err)
	}
	_, err := w.w.Seek(0, io.SeekEnd)
	return err
}
