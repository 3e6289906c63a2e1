package wasmnode

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"

	"github.com/remotemedia/hybrid/core/frame"
	"github.com/remotemedia/hybrid/core/node"
)

// minBuffer is the smallest input buffer the adapter asks the guest for: a
// 20 ms frame of 48 kHz stereo f32 audio (7680 bytes) plus its header fits.
const minBuffer = 8 << 10

// wasmNode is a node.Node backed by one instance of a module. It replaces the
// instance after a trap, a timeout or memory exhaustion, and on a cancel frame.
type wasmNode struct {
	id, file string
	mod      Module
	params   []byte // the params as a JSON object
	outputs  int
	funcs    HostFuncs
	log      logger

	inst Instance // nil until started, and after a failure
	// process and flush stay bound; rm_alloc, rm_free and rm_init, which run
	// at start and when the input buffer grows, are looked up for each use: a
	// host may hold a call stack per bound function (wazero: 10 KiB), which
	// was 40 KiB of every instance's memory.
	process, flush Func
	buf, bufCap    uint32 // the input buffer from rm_alloc

	stack [2]uint64
	hdr   [HeaderSize]byte
	seq   []uint64 // next output seq per output port

	// The call in progress: emits are accepted only while emit is set.
	in       frame.Header // stream id and metadata copied onto outputs
	inData   []byte       // the input's payload, which an output that repeats it shares
	emit     node.Emit
	emitErr  error
	guestMsg []byte
	last     frame.Header // the last input, for frames emitted by rm_flush
}

var _ node.Node = (*wasmNode)(nil)

// newNode instantiates mod for the node cfg.ID and initialises it with cfg.Params.
func newNode(ctx context.Context, mod Module, file string, cfg node.Config, outputs int) (*wasmNode, error) {
	n := &wasmNode{id: cfg.ID, file: file, mod: mod, outputs: outputs, seq: make([]uint64, outputs),
		log: newLogger(cfg.ID, file)}
	params := cfg.Params
	if params == nil {
		params = map[string]any{}
	}
	var err error
	if n.params, err = json.Marshal(params); err != nil {
		return nil, n.errorf("params: %w: %w", node.ErrParams, err)
	}
	n.funcs = HostFuncs{Emit: n.onEmit, Log: n.onLog, Error: n.onError}
	if err := n.start(ctx); err != nil {
		return nil, n.errorf("%w", err)
	}
	return n, nil
}

// Process implements node.Node: the frame goes into guest memory and rm_process
// runs. A cancel frame resets the instance; other control frames are the
// scheduler's business (it calls Flush).
func (n *wasmNode) Process(ctx context.Context, port int, in *frame.Frame, emit node.Emit) error {
	if in.Kind == frame.KindControl {
		if in.Op == frame.Cancel {
			n.discard(ctx)
			if err := n.start(ctx); err != nil {
				return n.errorf("reset: %w", err)
			}
		}
		return nil
	}
	if err := n.processFrame(ctx, port, in, emit); err != nil {
		return n.errorf("%w", err)
	}
	return nil
}

func (n *wasmNode) processFrame(ctx context.Context, port int, in *frame.Frame, emit node.Emit) error {
	h, err := headerOf(in, port)
	if err != nil {
		return err
	}
	if len(in.Data) > math.MaxUint32-HeaderSize {
		return fmt.Errorf("%w: a %d-byte frame does not fit in wasm32 memory", ErrMemoryLimit, len(in.Data))
	}
	if n.inst == nil {
		if err := n.start(ctx); err != nil {
			return err
		}
	}
	if err := n.fit(ctx, uint32(HeaderSize+len(in.Data))); err != nil {
		return err
	}
	h.Encode(n.hdr[:])
	if err := n.write(ctx, n.buf, n.hdr[:]); err != nil {
		return err
	}
	if err := n.write(ctx, n.buf+HeaderSize, in.Data); err != nil {
		return err
	}
	n.last = in.Header
	n.stack[0], n.stack[1] = uint64(n.buf), uint64(len(in.Data))
	n.inData = in.Data
	err = n.call(ctx, n.process, "rm_process", in.Header, emit)
	n.inData = nil
	return err
}

// Flush implements node.Node: rm_flush, if the module exports it.
func (n *wasmNode) Flush(ctx context.Context, emit node.Emit) error {
	if n.inst == nil || n.flush == nil {
		return nil // a fresh instance has nothing buffered
	}
	if err := n.call(ctx, n.flush, "rm_flush", n.last, emit); err != nil {
		return n.errorf("%w", err)
	}
	return nil
}

// Close implements node.Node.
func (n *wasmNode) Close() error {
	n.discard(context.Background())
	return nil
}

// start makes a fresh instance: check the ABI, allocate the input buffer, rm_init.
func (n *wasmNode) start(ctx context.Context) error {
	inst, err := n.mod.Instantiate(ctx, n.funcs)
	if err != nil {
		return err
	}
	n.inst, n.buf, n.bufCap = inst, 0, 0
	if err := n.bind(ctx); err != nil {
		n.discard(ctx)
		return err
	}
	return nil
}

func (n *wasmNode) bind(ctx context.Context) error {
	version := n.inst.Func("rm_abi_version")
	if version == nil {
		return fmt.Errorf("%w: missing export %q", ErrABI, "rm_abi_version")
	}
	if err := n.invoke(ctx, version); err != nil {
		return err
	}
	if v := int32(n.stack[0]); v != ABIVersion {
		return fmt.Errorf("%w: rm_abi_version() = %d, this host speaks %d", ErrABI, v, ABIVersion)
	}
	var initialize Func
	for _, f := range []struct {
		name string
		fn   *Func
	}{{"rm_alloc", new(Func)}, {"rm_init", &initialize}, {"rm_process", &n.process}} {
		if *f.fn = n.inst.Func(f.name); *f.fn == nil {
			return fmt.Errorf("%w: missing export %q", ErrABI, f.name)
		}
	}
	n.flush = n.inst.Func("rm_flush")
	if err := n.fit(ctx, uint32(len(n.params))); err != nil {
		return err
	}
	if err := n.write(ctx, n.buf, n.params); err != nil {
		return err
	}
	n.stack[0], n.stack[1] = uint64(n.buf), uint64(len(n.params))
	return n.call(ctx, initialize, "rm_init", frame.Header{}, nil)
}

// fit makes the input buffer hold at least size bytes: a larger one from
// rm_alloc (at least double the old), the old one given back with rm_free.
func (n *wasmNode) fit(ctx context.Context, size uint32) error {
	if size <= n.bufCap {
		return nil
	}
	want := max(uint64(size), 2*uint64(n.bufCap), minBuffer)
	want = min((want+15)&^15, math.MaxUint32-15)
	n.stack[0] = want
	if err := n.invoke(ctx, n.inst.Func("rm_alloc")); err != nil { // bind checked it is there
		return err
	}
	ptr := uint32(n.stack[0])
	switch {
	case ptr == 0:
		n.discard(ctx)
		return fmt.Errorf("%w: rm_alloc(%d) returned 0 (out of memory)", ErrMemoryLimit, want)
	case ptr%16 != 0 || uint64(ptr)+want > uint64(n.inst.MemorySize()):
		return fmt.Errorf("%w: rm_alloc(%d) returned %d: not a 16-byte aligned buffer inside the %d-byte memory", ErrABI, want, ptr, n.inst.MemorySize())
	}
	if free := n.inst.Func("rm_free"); n.bufCap > 0 && free != nil {
		n.stack[0] = uint64(n.buf)
		if err := n.invoke(ctx, free); err != nil {
			return err
		}
	}
	n.buf, n.bufCap = ptr, uint32(want)
	return nil
}

func (n *wasmNode) write(ctx context.Context, off uint32, b []byte) error {
	if err := n.inst.Write(off, b); err != nil {
		n.discard(ctx)
		return err
	}
	return nil
}

// invoke calls f with n.stack. A trap, timeout or memory exhaustion discards
// the instance: a fresh one is made before the next frame.
func (n *wasmNode) invoke(ctx context.Context, f Func) error {
	err := f.Call(ctx, n.stack[:])
	if err != nil && (errors.Is(err, ErrTrap) || errors.Is(err, ErrTimeout) || errors.Is(err, ErrMemoryLimit)) {
		n.discard(ctx)
	}
	return err
}

// call runs one of rm_init, rm_process, rm_flush with emits going to emit, and
// turns a non-zero status into an ErrGuest error with the guest's message.
func (n *wasmNode) call(ctx context.Context, f Func, name string, in frame.Header, emit node.Emit) error {
	n.in, n.emit, n.emitErr, n.guestMsg = in, emit, nil, n.guestMsg[:0]
	err := n.invoke(ctx, f)
	n.in, n.emit = frame.Header{}, nil
	switch {
	case err != nil:
		return err
	case n.emitErr != nil:
		return fmt.Errorf("%s: %w", name, n.emitErr)
	case int32(n.stack[0]) != 0:
		msg := string(n.guestMsg)
		if msg == "" {
			msg = "(no message)"
		}
		return fmt.Errorf("%s: %w: status %d: %s", name, ErrGuest, int32(n.stack[0]), msg)
	}
	return nil
}

// discard closes the instance, if any.
func (n *wasmNode) discard(ctx context.Context) {
	if n.inst == nil {
		return
	}
	if err := n.inst.Close(ctx); err != nil {
		n.log.warn("closing wasm instance", err)
	}
	n.inst, n.process, n.flush = nil, nil, nil
}

// onEmit is rm.emit: decode, copy out of guest memory, hand to the scheduler.
// A payload that is the input's, byte for byte (an open gate, a pass-through,
// a VAD's gated audio in speech), is not copied: the output shares the
// input's bytes, as frames are immutable once emitted.
func (n *wasmNode) onEmit(header, data []byte) {
	if n.emit == nil || n.emitErr != nil {
		return
	}
	h, err := DecodeHeader(header)
	if err == nil && h.Port >= uint32(n.outputs) {
		err = fmt.Errorf("%w: rm.emit: output port %d, the node has %d", ErrABI, h.Port, n.outputs)
	}
	var f *frame.Frame
	if err == nil {
		switch {
		case len(data) == 0:
			data = nil
		case len(data) == len(n.inData) && bytes.Equal(data, n.inData):
			data = n.inData
		default:
			data = bytes.Clone(data)
		}
		f, err = frameOf(h, data, n.in, n.seq[h.Port])
	}
	if err != nil {
		n.emitErr = err
		return
	}
	n.seq[h.Port]++
	n.emit(int(h.Port), f)
}

// onError is rm.error: keep the message for the call's error.
func (n *wasmNode) onError(msg []byte) { n.guestMsg = append(n.guestMsg[:0], msg...) }

// onLog is rm.log (and WASI fd_write to fd 1 and 2).
func (n *wasmNode) onLog(level int32, msg []byte) { n.log.log(level, string(msg)) }

func (n *wasmNode) errorf(format string, args ...any) error {
	return fmt.Errorf("wasm: node %q (%s): "+format, append([]any{n.id, n.file}, args...)...)
}
