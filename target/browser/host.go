//go:build js && wasm

package main

import (
	"context"
	"syscall/js"

	"github.com/remotemedia/hybrid/target/internal/jsutil"
)

// The WebAssembly host is target/wasmhost's js backend (core.go makes it).
// What the rest of the page's Go code needs of JavaScript is shared with it
// in target/internal/jsutil.

// nanotime is jsutil.Nanotime: the monotonic clock, cheaper than time.Now.
func nanotime() int64 { return jsutil.Nanotime() }

// await is jsutil.Await: it blocks until the promise p settles.
func await(ctx context.Context, p js.Value) (js.Value, error) { return jsutil.Await(ctx, p) }
