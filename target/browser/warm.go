//go:build js && wasm

package main

import (
	"sync"

	"github.com/remotemedia/hybrid/core/node"
	"github.com/remotemedia/hybrid/core/runner"
	"github.com/remotemedia/hybrid/core/wasmnode"
)

// warmDefinition names the standard node types a first pipeline usually
// does, with params of each kind.
const warmDefinition = `version: "1"
nodes:
  - {id: mono, node_type: to_mono}
  - {id: resample, node_type: resample, params: {rate: 16000, quality: high}}
  - {id: gain, node_type: gain, params: {gain_db: 6}}
  - {id: vad, node_type: vad, params: {gate: true, mode: 1}}
connections:
  - {from: mono, to: resample}
  - {from: resample, to: gain}
  - {from: gain, to: vad}
`

// warmUp loads warmDefinition and throws it away. The browser compiles a
// WebAssembly function when it is first called, so the first definition a tab
// loads took about 60 ms where the next takes 1-2 (the YAML decoder, the
// definition's checks, the graph); init runs warmUp on a goroutine, which runs
// while init waits for IndexedDB and the network, so that the page's first
// rm.pipeline finds that code compiled. Once is enough: warmOnce.
func warmUp() {
	reg := node.NewRegistry()
	if wasmnode.Register(reg, nil, nil, wasmnode.Standard) != nil {
		return
	}
	_, _ = runner.Load([]byte(warmDefinition), reg)
}

// warmOnce runs warmUp for the first init only.
var warmOnce sync.Once
