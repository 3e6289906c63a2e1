package cli

import (
	"testing"

	"github.com/remotemedia/hybrid/core/def"
)

// TestNeedsPython: `run --python auto` starts the workers for a node type the
// WASM registry does not have, but not for a likely typo of one; a Python type
// that differs from a WASM type only in case (PassThrough, passthrough) is not
// a typo.
func TestNeedsPython(t *testing.T) {
	reg := testNodes(t)
	for _, tc := range []struct {
		typ  string
		want bool
	}{
		{"PassThrough", true},
		{"WhisperASR", true},
		{"passthrough", false},
		{"gain", false},
		{"gainn", false}, // a typo of gain: validation suggests it
	} {
		d := &def.Definition{Version: "1", Nodes: []def.NodeRef{{ID: "n", NodeType: tc.typ}}}
		if got, _ := needsPython(d, reg); got != tc.want {
			t.Errorf("needsPython(%s) = %v, want %v", tc.typ, got, tc.want)
		}
	}
}
