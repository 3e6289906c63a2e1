//go:build js && wasm

package main

import "syscall/js"

// prefetched returns the fetch of url that remotemedia.js began while core.wasm
// was still compiling (globalThis.__remotemediaPrefetch, url -> Promise), taken
// once; else it starts one with opts. So init's request for the module index
// overlaps the compilation instead of following it.
func prefetched(url string, opts js.Value) js.Value {
	if pre := js.Global().Get("__remotemediaPrefetch"); pre.Type() == js.TypeObject {
		if p := pre.Get(url); p.Type() == js.TypeObject {
			pre.Delete(url)
			return p
		}
	}
	return js.Global().Call("fetch", url, opts)
}
