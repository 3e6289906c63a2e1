//go:build js && wasm

// Command browser is core.wasm: the RemoteMedia core compiled for GOOS=js and
// run by web/remotemedia.js in a browser tab. It implements core/wasmnode.Host
// over the browser's WebAssembly API, loads the standard node modules through an
// IndexedDB cache, and exports its API to JavaScript as
// globalThis.__remotemediaCore (docs/browser.md). remotemedia.js is the public
// API; this object is its back end.
package main

import (
	"syscall/js"
)

func main() {
	c := &core{pipelines: map[int]*pipeline{}, sessions: map[int]*stream{}, pyServers: map[string]bool{}}
	js.Global().Set("__remotemediaCore", c.exports())
	select {}
}
