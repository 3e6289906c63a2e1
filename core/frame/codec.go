package frame

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"slices"
	"sort"

	"github.com/vmihailenco/msgpack/v5"
)

// WireVersion is the version of the wire encoding written by Marshal. Decoders
// accept frames of this version or older.
const WireVersion = 1

// Errors returned by this package.
var (
	// ErrInvalid is returned for a frame whose fields are inconsistent.
	ErrInvalid = errors.New("frame: invalid")
	// ErrDecode is returned when bytes are not a well-formed encoded frame.
	ErrDecode = errors.New("frame: cannot decode")
	// ErrVersion is returned for a frame encoded by a newer wire version.
	ErrVersion = errors.New("frame: unsupported wire version")
)

// Marshal encodes f in the canonical wire format (docs/wire-format.md).
func Marshal(f *Frame) ([]byte, error) {
	return AppendMarshal(nil, f)
}

// AppendMarshal appends the encoding of f to dst.
func AppendMarshal(dst []byte, f *Frame) ([]byte, error) {
	if err := f.Validate(); err != nil {
		return dst, err
	}
	buf := bytes.NewBuffer(dst)
	enc := msgpack.GetEncoder()
	defer msgpack.PutEncoder(enc)
	enc.Reset(buf)
	enc.SetSortMapKeys(true)
	if err := encode(enc, f); err != nil {
		return dst, fmt.Errorf("frame: encode: %w", err)
	}
	return buf.Bytes(), nil
}

// Write encodes f to w.
func Write(w io.Writer, f *Frame) error {
	b, err := Marshal(f)
	if err != nil {
		return err
	}
	_, err = w.Write(b)
	return err
}

func encode(e *msgpack.Encoder, f *Frame) error {
	n := 5 // v, kind, sid, seq, ts
	if len(f.Meta) > 0 {
		n++
	}
	switch f.Kind {
	case KindAudio:
		n += 4
	case KindText, KindJSON:
		n++
	case KindBinary:
		n++
		if f.MIME != "" {
			n++
		}
	case KindTensor:
		n += 3
	case KindControl:
		n++
	}
	var err error
	put := func(key string, v func() error) {
		if err != nil {
			return
		}
		if err = e.EncodeString(key); err == nil {
			err = v()
		}
	}
	str := func(s string) func() error { return func() error { return e.EncodeString(s) } }
	bin := func(b []byte) func() error { return func() error { return e.EncodeBytes(b) } }
	uint := func(u uint64) func() error { return func() error { return e.EncodeUint(u) } }

	if err = e.EncodeMapLen(n); err != nil {
		return err
	}
	put("v", uint(WireVersion))
	put("kind", str(f.Kind.String()))
	put("sid", str(f.StreamID))
	put("seq", uint(f.Seq))
	put("ts", func() error { return e.EncodeInt(f.Timestamp) })
	if len(f.Meta) > 0 {
		put("meta", func() error { return encodeMeta(e, f.Meta) })
	}
	switch f.Kind {
	case KindAudio:
		put("format", str(f.Format.String()))
		put("rate", uint(uint64(f.SampleRate)))
		put("channels", uint(uint64(f.Channels)))
		put("data", bin(f.Data))
	case KindText, KindJSON:
		put("data", func() error { return e.EncodeString(string(f.Data)) })
	case KindBinary:
		if f.MIME != "" {
			put("mime", str(f.MIME))
		}
		put("data", bin(f.Data))
	case KindTensor:
		put("dtype", str(string(f.DType)))
		put("shape", func() error {
			if err := e.EncodeArrayLen(len(f.Shape)); err != nil {
				return err
			}
			for _, d := range f.Shape {
				if err := e.EncodeInt(d); err != nil {
					return err
				}
			}
			return nil
		})
		put("data", bin(f.Data))
	case KindControl:
		put("op", str(f.Op.String()))
	}
	return err
}

// encodeMeta writes the metadata map with its keys sorted, so that equal frames
// always encode to equal bytes.
func encodeMeta(e *msgpack.Encoder, m map[string]any) error {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	if err := e.EncodeMapLen(len(keys)); err != nil {
		return err
	}
	for _, k := range keys {
		if err := e.EncodeString(k); err != nil {
			return err
		}
		if err := e.Encode(m[k]); err != nil {
			return err
		}
	}
	return nil
}

// Unmarshal decodes exactly one frame from b. Bulk payloads (Data) alias b.
func Unmarshal(b []byte) (*Frame, error) {
	f, n, err := UnmarshalPrefix(b)
	if err != nil {
		return nil, err
	}
	if n != len(b) {
		return nil, fmt.Errorf("%w: %d trailing bytes after the frame", ErrDecode, len(b)-n)
	}
	return f, nil
}

// UnmarshalPrefix decodes the frame at the start of b and returns it with the number
// of bytes it took. A stream of frames is their encodings concatenated. Data aliases b.
func UnmarshalPrefix(b []byte) (*Frame, int, error) {
	r := bytes.NewReader(b)
	d := msgpack.GetDecoder()
	defer msgpack.PutDecoder(d)
	d.Reset(r)
	f, err := decode(d, r, b)
	if err != nil {
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			if r.Len() == 0 && len(b) > 0 {
				err = fmt.Errorf("%w: truncated frame (%d bytes)", ErrDecode, len(b))
			}
		}
		if !errors.Is(err, ErrDecode) && !errors.Is(err, ErrVersion) && !errors.Is(err, ErrInvalid) {
			err = fmt.Errorf("%w: %v", ErrDecode, err)
		}
		return nil, 0, err
	}
	return f, len(b) - r.Len(), nil
}

// Decoder reads a stream of concatenated frames from a reader. Unlike Unmarshal,
// the frames it returns own their payloads.
type Decoder struct{ d *msgpack.Decoder }

// NewDecoder returns a Decoder reading from r.
func NewDecoder(r io.Reader) *Decoder { return &Decoder{d: msgpack.NewDecoder(r)} }

// Decode returns the next frame, or io.EOF at a clean end of stream. A stream
// that ends inside a frame returns an error wrapping ErrDecode.
func (x *Decoder) Decode() (*Frame, error) {
	if _, err := x.d.PeekCode(); err == io.EOF {
		return nil, io.EOF
	}
	f, err := decode(x.d, nil, nil)
	switch {
	case err == nil:
	case errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF):
		err = fmt.Errorf("%w: truncated frame: the stream ends inside it (%v)", ErrDecode, err)
	case !errors.Is(err, ErrDecode) && !errors.Is(err, ErrVersion) && !errors.Is(err, ErrInvalid):
		err = fmt.Errorf("%w: %v", ErrDecode, err)
	}
	return f, err
}

func decode(d *msgpack.Decoder, r *bytes.Reader, src []byte) (*Frame, error) {
	n, err := d.DecodeMapLen()
	if err != nil {
		return nil, err
	}
	if n < 0 {
		return nil, fmt.Errorf("%w: frame is nil, want a map", ErrDecode)
	}
	f := &Frame{}
	var version uint64
	var kind, format, op string
	seen := 0
	for i := 0; i < n; i++ {
		key, err := d.DecodeString()
		if err != nil {
			return nil, fmt.Errorf("%w: key %d: %w", ErrDecode, i, err)
		}
		switch key {
		case "v":
			version, err = d.DecodeUint64()
			seen |= 1
		case "kind":
			kind, err = d.DecodeString()
			seen |= 2
		case "sid":
			f.StreamID, err = d.DecodeString()
		case "seq":
			f.Seq, err = d.DecodeUint64()
		case "ts":
			f.Timestamp, err = d.DecodeInt64()
		case "meta":
			var m map[string]any
			md := metaDecoder{d: d, r: r}
			m, err = md.decodeMap(0)
			if len(m) > 0 {
				f.Meta = m
			}
		case "format":
			format, err = d.DecodeString()
		case "rate":
			var v uint32
			v, err = d.DecodeUint32()
			f.SampleRate = v
		case "channels":
			var v uint16
			v, err = d.DecodeUint16()
			f.Channels = v
		case "mime":
			f.MIME, err = d.DecodeString()
		case "dtype":
			var s string
			s, err = d.DecodeString()
			f.DType = DType(s)
		case "shape":
			var l int
			l, err = d.DecodeArrayLen()
			if err == nil && r != nil && l > r.Len() {
				err = fmt.Errorf("shape has %d dims, more than the bytes left", l)
			}
			for j := 0; err == nil && j < l; j++ {
				var v int64
				v, err = d.DecodeInt64()
				f.Shape = append(f.Shape, v)
			}
		case "op":
			op, err = d.DecodeString()
		case "data":
			f.Data, err = decodeData(d, r, src)
		default:
			err = d.Skip()
		}
		if err != nil {
			return nil, fmt.Errorf("%w: field %q: %w", ErrDecode, key, err)
		}
	}
	if seen&1 == 0 {
		return nil, fmt.Errorf("%w: missing field \"v\"", ErrDecode)
	}
	if version == 0 || version > WireVersion {
		return nil, fmt.Errorf("%w: %d (this build reads up to %d)", ErrVersion, version, WireVersion)
	}
	if seen&2 == 0 {
		return nil, fmt.Errorf("%w: missing field \"kind\"", ErrDecode)
	}
	if f.Kind, err = ParseKind(kind); err != nil {
		return nil, err
	}
	switch f.Kind {
	case KindAudio:
		switch format {
		case "f32":
			f.Format = F32
		case "s16":
			f.Format = S16
		default:
			return nil, fmt.Errorf("%w: audio frame: unknown format %q", ErrInvalid, format)
		}
	case KindControl:
		for o, name := range opNames {
			if name != "" && name == op {
				f.Op = ControlOp(o)
			}
		}
		if f.Op == 0 {
			return nil, fmt.Errorf("%w: control frame: unknown op %q", ErrInvalid, op)
		}
	}
	if err := f.Validate(); err != nil {
		return nil, err
	}
	return f, nil
}

// Bounds on metadata, which comes from the network. A container's or string's
// declared length is checked against the bytes left in the input (when known)
// and is never used to size an allocation up front: containers grow as their
// entries are read, strings as their bytes arrive, so a frame that lies about its
// lengths is rejected having allocated about as much as it holds.
const (
	maxMetaDepth = 32
	maxMetaItems = 1 << 16 // containers' entries and elements in one frame's metadata
	metaPrealloc = 16      // entries allocated ahead of reading them
	metaChunk    = 4 << 10 // bytes of a string read ahead of the rest
)

// metaDecoder decodes one frame's metadata; r, when not nil, holds the rest of
// the input.
type metaDecoder struct {
	d     *msgpack.Decoder
	r     *bytes.Reader
	items int // entries and elements so far
}

// count admits n more entries or elements, each taking at least one byte.
func (m *metaDecoder) count(n int) error {
	m.items += n
	switch {
	case m.items > maxMetaItems:
		return fmt.Errorf("metadata holds more than %d entries and elements", maxMetaItems)
	case m.r != nil && n > m.r.Len():
		return fmt.Errorf("metadata container of %d elements is longer than the input allows (%d bytes left)", n, m.r.Len())
	}
	return nil
}

func (m *metaDecoder) decodeMap(depth int) (map[string]any, error) {
	n, err := m.d.DecodeMapLen()
	if err != nil || n <= 0 {
		return nil, err
	}
	if err := m.count(2 * n); err != nil {
		return nil, err
	}
	out := make(map[string]any, min(n, metaPrealloc))
	for i := 0; i < n; i++ {
		c, err := m.d.PeekCode()
		if err != nil {
			return nil, err
		}
		if !isStrCode(c) {
			return nil, fmt.Errorf("metadata keys must be strings, got msgpack code 0x%02x", c)
		}
		k, err := m.decodeString(c)
		if err != nil {
			return nil, fmt.Errorf("metadata key: %w", err)
		}
		if out[k], err = m.decodeValue(depth + 1); err != nil {
			return nil, err
		}
	}
	return out, nil
}

func (m *metaDecoder) decodeValue(depth int) (any, error) {
	if depth > maxMetaDepth {
		return nil, fmt.Errorf("metadata nested deeper than %d", maxMetaDepth)
	}
	c, err := m.d.PeekCode()
	if err != nil {
		return nil, err
	}
	switch {
	case c == 0xde || c == 0xdf || (c >= 0x80 && c <= 0x8f):
		return m.decodeMap(depth)
	case c == 0xdc || c == 0xdd || (c >= 0x90 && c <= 0x9f):
		n, err := m.d.DecodeArrayLen()
		if err != nil || n < 0 {
			return nil, err
		}
		if err := m.count(n); err != nil {
			return nil, err
		}
		a := make([]any, 0, min(n, metaPrealloc))
		for range n {
			v, err := m.decodeValue(depth + 1)
			if err != nil {
				return nil, err
			}
			a = append(a, v)
		}
		return a, nil
	case isStrCode(c):
		return m.decodeString(c)
	case c == 0xc4 || c == 0xc5 || c == 0xc6: // bin
		n, err := m.d.DecodeBytesLen()
		if err != nil || n < 0 {
			return nil, err
		}
		return m.readN(n)
	case c == 0xc7 || c == 0xc8 || c == 0xc9: // ext with a length
		return nil, fmt.Errorf("metadata holds a msgpack extension (code 0x%02x): not supported", c)
	}
	return m.d.DecodeInterface() // nil, bool, numbers, fixext
}

func (m *metaDecoder) decodeString(c byte) (string, error) {
	n, err := strLen(m.d, c)
	if err != nil {
		return "", err
	}
	b, err := m.readN(n)
	return string(b), err
}

// readN reads a string's or bin's n bytes, growing its buffer as they arrive.
func (m *metaDecoder) readN(n int) ([]byte, error) {
	if m.r != nil && n > m.r.Len() {
		return nil, fmt.Errorf("metadata string of %d bytes is longer than the input allows (%d bytes left)", n, m.r.Len())
	}
	b := make([]byte, 0, min(n, metaChunk))
	for len(b) < n {
		k := min(n-len(b), max(len(b), metaChunk))
		b = slices.Grow(b, k)[:len(b)+k]
		if err := m.d.ReadFull(b[len(b)-k:]); err != nil {
			return nil, err
		}
	}
	return b, nil
}

// decodeData reads a str or bin value; the result aliases src.
func decodeData(d *msgpack.Decoder, r *bytes.Reader, src []byte) ([]byte, error) {
	c, err := d.PeekCode()
	if err != nil {
		return nil, err
	}
	if r == nil { // streaming: copy
		if isStrCode(c) {
			s, err := d.DecodeString()
			return []byte(s), err
		}
		return d.DecodeBytes()
	}
	var n int
	if isStrCode(c) {
		// DecodeString would allocate; read the length by hand.
		n, err = strLen(d, c)
	} else {
		n, err = d.DecodeBytesLen()
	}
	if err != nil {
		return nil, err
	}
	if n < 0 {
		return nil, nil
	}
	if n > r.Len() {
		return nil, fmt.Errorf("truncated: payload of %d bytes, %d left", n, r.Len())
	}
	start := len(src) - r.Len()
	if _, err := r.Seek(int64(n), io.SeekCurrent); err != nil {
		return nil, err
	}
	return src[start : start+n : start+n], nil
}

func isStrCode(c byte) bool {
	return (c >= 0xa0 && c <= 0xbf) || c == 0xd9 || c == 0xda || c == 0xdb
}

func strLen(d *msgpack.Decoder, c byte) (int, error) {
	if err := d.ReadFull(make([]byte, 1)); err != nil {
		return 0, err
	}
	var b []byte
	switch c {
	case 0xd9:
		b = make([]byte, 1)
	case 0xda:
		b = make([]byte, 2)
	case 0xdb:
		b = make([]byte, 4)
	default:
		return int(c & 0x1f), nil
	}
	if err := d.ReadFull(b); err != nil {
		return 0, err
	}
	n := 0
	for _, x := range b {
		n = n<<8 | int(x)
	}
	return n, nil
}
