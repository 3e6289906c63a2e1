//go:build js && wasm

package main

import (
	"context"
	"errors"
	"syscall/js"

	"github.com/remotemedia/hybrid/core/wasmnode"
)

// benchCall(moduleBytes, payloadBytes, iterations) -> {ns_per_call}: the
// per-frame cost of one node call in this tab: the header and payload written
// into guest memory, then rm_process called (the e2e benchmark runs it on the
// empty test module, beside the same loop under wazero).
func (c *core) benchCall(args []js.Value) (any, error) {
	wasm, err := bytesOf(arg(args, 0))
	if err != nil {
		return nil, err
	}
	size, iters := arg(args, 1).Int(), arg(args, 2).Int()
	if size < 0 || iters <= 0 {
		return nil, errors.New("benchCall: want (bytes, payloadBytes >= 0, iterations > 0)")
	}
	ctx := context.Background()
	mod, err := c.host.Compile(ctx, "bench.wasm", wasm)
	if err != nil {
		return nil, err
	}
	in, err := mod.Instantiate(ctx, wasmnode.HostFuncs{Emit: func(_, _ []byte) {}})
	if err != nil {
		return nil, err
	}
	defer in.Close(ctx)
	buf := make([]byte, wasmnode.HeaderSize+size)
	stack := []uint64{uint64(len(buf)), 0}
	if err := in.Func("rm_alloc").Call(ctx, stack); err != nil {
		return nil, err
	}
	ptr := uint32(stack[0])
	process := in.Func("rm_process")
	run := func(n int) (float64, error) {
		start := nanotime()
		for range n {
			if err := in.Write(ptr, buf); err != nil {
				return 0, err
			}
			stack[0], stack[1] = uint64(ptr), uint64(size)
			if err := process.Call(ctx, stack); err != nil {
				return 0, err
			}
		}
		return float64(nanotime()-start) / float64(n), nil
	}
	if _, err := run(min(iters, 1000)); err != nil { // warm up the JIT tiers
		return nil, err
	}
	ns, err := run(iters)
	if err != nil {
		return nil, err
	}
	return map[string]any{"ns_per_call": ns}, nil
}
