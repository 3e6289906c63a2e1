//go:build js && wasm

package main

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"syscall/js"

	"github.com/remotemedia/hybrid/core/def"
	"github.com/remotemedia/hybrid/core/wasmnode"
)

// promise runs fn on a new goroutine (it may block on the event loop, which a
// js.FuncOf callback must not) and returns a Promise of its result.
func promise(fn func() (any, error)) js.Value {
	var executor js.Func
	executor = js.FuncOf(func(_ js.Value, args []js.Value) any {
		resolve, reject := args[0], args[1]
		go func() {
			defer executor.Release()
			defer func() {
				if r := recover(); r != nil {
					reject.Invoke(jsError(fmt.Errorf("core.wasm: internal error: %v", r)))
				}
			}()
			v, err := fn()
			if err != nil {
				reject.Invoke(jsError(err))
				return
			}
			resolve.Invoke(v)
		}()
		return nil
	})
	return js.Global().Get("Promise").New(executor)
}

// jsError turns err into a JavaScript Error with a `kind` ("invalid", "syntax",
// "trap", "timeout", "memory", "imports", "abi", "guest", "error") and, for an
// invalid definition, `problems`: [{path, message}] listing every problem.
func jsError(err error) js.Value {
	e := js.Global().Get("Error").New(err.Error())
	kind := "error"
	for _, k := range []struct {
		err  error
		name string
	}{
		{def.ErrInvalid, "invalid"}, {def.ErrSyntax, "syntax"}, {wasmnode.ErrTimeout, "timeout"},
		{wasmnode.ErrMemoryLimit, "memory"}, {wasmnode.ErrTrap, "trap"}, {wasmnode.ErrImports, "imports"},
		{wasmnode.ErrABI, "abi"}, {wasmnode.ErrGuest, "guest"},
	} {
		if errors.Is(err, k.err) {
			kind = k.name
			break
		}
	}
	e.Set("kind", kind)
	var ve *def.ValidationError
	if errors.As(err, &ve) {
		ps := make([]any, len(ve.Problems))
		for i, p := range ve.Problems {
			ps[i] = map[string]any{"path": p.Path, "message": p.Msg}
		}
		e.Set("problems", js.ValueOf(ps))
	}
	return e
}

// bytesOf copies a Uint8Array (or an ArrayBuffer) into Go.
func bytesOf(v js.Value) ([]byte, error) {
	if v.InstanceOf(js.Global().Get("ArrayBuffer")) {
		v = js.Global().Get("Uint8Array").New(v)
	}
	if !v.InstanceOf(js.Global().Get("Uint8Array")) {
		return nil, errors.New("want a Uint8Array or an ArrayBuffer")
	}
	b := make([]byte, v.Length())
	js.CopyBytesToGo(b, v)
	return b, nil
}

// float32Array returns a Float32Array holding the little-endian f32 bytes b.
func float32Array(b []byte) js.Value {
	u8 := js.Global().Get("Uint8Array").New(len(b))
	js.CopyBytesToJS(u8, b)
	return js.Global().Get("Float32Array").New(u8.Get("buffer"), 0, len(b)/4)
}

// float32s copies a Float32Array into Go.
func float32s(v js.Value) ([]float32, error) {
	if !v.InstanceOf(js.Global().Get("Float32Array")) {
		return nil, errors.New("want a Float32Array of interleaved samples")
	}
	n := v.Length()
	u8 := js.Global().Get("Uint8Array").New(v.Get("buffer"), v.Get("byteOffset"), n*4)
	b := make([]byte, n*4)
	js.CopyBytesToGo(b, u8)
	return bytesToF32(b), nil
}

func bytesToF32(b []byte) []float32 {
	out := make([]float32, len(b)/4)
	for i := range out {
		out[i] = math.Float32frombits(binary.LittleEndian.Uint32(b[4*i:]))
	}
	return out
}
