//go:build wasip1

package rm

import (
	"errors"
	"math"
	"unsafe"
)

// Errors reported by the SDK.
var (
	// ErrNoNode: the module never called Register.
	ErrNoNode = errors.New("rm: no node registered (call rm.Register from main or init)")
	// ErrBuffer: the host passed a pointer that rm_alloc did not return.
	ErrBuffer = errors.New("rm: unknown buffer")
)

// Frame is one frame at the call boundary. Data is valid only during the call
// that received it; Process may modify it in place and emit it.
type Frame struct {
	Kind        Kind
	Format      Format
	Channels    uint16
	SampleRate  uint32
	TimestampUS int64
	Port        uint32 // input port index
	Seq         uint64
	Data        []byte
}

// F32 returns the payload as f32 samples (no copy).
func (f Frame) F32() []float32 {
	if len(f.Data) < 4 {
		return nil
	}
	return unsafe.Slice((*float32)(unsafe.Pointer(&f.Data[0])), len(f.Data)/4)
}

// S16 returns the payload as s16 samples (no copy).
func (f Frame) S16() []int16 {
	if len(f.Data) < 2 {
		return nil
	}
	return unsafe.Slice((*int16)(unsafe.Pointer(&f.Data[0])), len(f.Data)/2)
}

// Node is what a module implements. The host calls Init once, then Process per
// input frame and Flush at end of stream; a non-nil error fails that call and its
// text is reported to the host.
type Node interface {
	Init(p Params) error
	Process(f Frame) error
	Flush() error
}

var node Node

// Register makes n the module's node. Call it from main or init.
func Register(n Node) { node = n }

//go:wasmimport rm emit
func hostEmit(header unsafe.Pointer, data unsafe.Pointer, n uint32)

//go:wasmimport rm log
func hostLog(level int32, msg unsafe.Pointer, n uint32)

//go:wasmimport rm error
func hostError(msg unsafe.Pointer, n uint32)

// Log sends a log line to the host.
func Log(level int32, msg string) {
	hostLog(level, unsafe.Pointer(unsafe.StringData(msg)), uint32(len(msg)))
}

var header [32]byte

func put16(b []byte, v uint16) { b[0], b[1] = byte(v), byte(v>>8) }
func put32(b []byte, v uint32) { put16(b, uint16(v)); put16(b[2:], uint16(v>>16)) }
func put64(b []byte, v uint64) { put32(b, uint32(v)); put32(b[4:], uint32(v>>32)) }
func get16(b []byte) uint16    { return uint16(b[0]) | uint16(b[1])<<8 }
func get32(b []byte) uint32    { return uint32(get16(b)) | uint32(get16(b[2:]))<<16 }
func get64(b []byte) uint64    { return uint64(get32(b)) | uint64(get32(b[4:]))<<32 }

// Emit hands f to the host on output port `port` (f.Port and f.Seq are ignored).
// The host copies the frame before Emit returns.
func Emit(port uint32, f Frame) {
	header = [32]byte{0: byte(f.Kind), 1: byte(f.Format)}
	put16(header[2:], f.Channels)
	put32(header[4:], f.SampleRate)
	put64(header[8:], uint64(f.TimestampUS))
	put32(header[16:], port)
	hostEmit(unsafe.Pointer(&header[0]), unsafe.Pointer(unsafe.SliceData(f.Data)), uint32(len(f.Data)))
}

// EmitF32 emits interleaved f32 audio on port.
func EmitF32(port, rate uint32, channels uint16, timestampUS int64, samples []float32) {
	data := unsafe.Slice((*byte)(unsafe.Pointer(unsafe.SliceData(samples))), 4*len(samples))
	Emit(port, Frame{Kind: KindAudio, Format: F32, Channels: channels, SampleRate: rate, TimestampUS: timestampUS, Data: data})
}

// EmitJSON emits a JSON document on port.
func EmitJSON(port uint32, timestampUS int64, doc []byte) {
	Emit(port, Frame{Kind: KindJSON, TimestampUS: timestampUS, Data: doc})
}

// buffers keeps rm_alloc'd memory reachable until rm_free, keyed by its address.
var buffers = map[uint32][]byte{}

//go:wasmexport rm_abi_version
func abiVersion() int32 { return 1 }

//go:wasmexport rm_alloc
func alloc(size uint32) uint32 {
	if size > math.MaxInt32 {
		return 0
	}
	b := make([]byte, size+16)
	addr := uint32(uintptr(unsafe.Pointer(&b[0])))
	skip := (16 - addr%16) % 16
	buffers[addr+skip] = b[skip : skip+size]
	return addr + skip
}

//go:wasmexport rm_free
func free(ptr uint32) { delete(buffers, ptr) }

func status(err error) int32 {
	if err == nil {
		return 0
	}
	msg := err.Error()
	hostError(unsafe.Pointer(unsafe.StringData(msg)), uint32(len(msg)))
	return 1
}

func buffer(ptr, n uint32) ([]byte, error) {
	b, ok := buffers[ptr]
	if !ok || uint64(n) > uint64(len(b)) {
		return nil, ErrBuffer
	}
	return b[:n], nil
}

//go:wasmexport rm_init
func initNode(ptr, n uint32) int32 {
	if node == nil {
		return status(ErrNoNode)
	}
	b, err := buffer(ptr, n)
	if err != nil {
		return status(err)
	}
	return status(node.Init(Params(b)))
}

//go:wasmexport rm_process
func process(ptr, n uint32) int32 {
	if node == nil {
		return status(ErrNoNode)
	}
	b, err := buffer(ptr, 32+n)
	if err != nil {
		return status(err)
	}
	return status(node.Process(Frame{
		Kind:        Kind(b[0]),
		Format:      Format(b[1]),
		Channels:    get16(b[2:]),
		SampleRate:  get32(b[4:]),
		TimestampUS: int64(get64(b[8:])),
		Port:        get32(b[16:]),
		Seq:         get64(b[24:]),
		Data:        b[32:],
	}))
}

//go:wasmexport rm_flush
func flush() int32 {
	if node == nil {
		return status(ErrNoNode)
	}
	return status(node.Flush())
}
