//go:build js && wasm

// Package jsutil holds the two JavaScript helpers that the js backend of
// target/wasmhost and the page's Go code (target/browser) both need.
package jsutil

import (
	"context"
	"errors"
	"syscall/js"
	_ "unsafe" // go:linkname
)

// Nanotime is the runtime's monotonic clock: on js/wasm a direct import of
// performance.now, far cheaper than time.Now (two syscall/js round trips).
//
//go:linkname Nanotime runtime.nanotime
func Nanotime() int64

// Await blocks until the promise p settles and returns its value, or its
// rejection as an error, or ctx's error when ctx is done first. It must not
// run on the goroutine of a js.FuncOf callback (the event loop would never get
// to settle p).
func Await(ctx context.Context, p js.Value) (js.Value, error) {
	type result struct {
		v   js.Value
		err error
	}
	ch := make(chan result, 1)
	ok := js.FuncOf(func(_ js.Value, args []js.Value) any {
		ch <- result{v: args[0]}
		return nil
	})
	fail := js.FuncOf(func(_ js.Value, args []js.Value) any {
		ch <- result{err: errors.New(args[0].Call("toString").String())}
		return nil
	})
	defer ok.Release()
	defer fail.Release()
	p.Call("then", ok, fail)
	select {
	case r := <-ch:
		return r.v, r.err
	case <-ctx.Done():
		return js.Value{}, ctx.Err()
	}
}
