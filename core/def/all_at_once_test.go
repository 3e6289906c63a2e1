package def_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/remotemedia/hybrid/core/def"
)

// TestEveryProblemAtOnce: Parse's shape problems (unknown fields, wrong shapes)
// and Validate's (version, params, node types, connections) are reported
// together, as `remotemedia validate` promises, not the first kind alone.
func TestEveryProblemAtOnce(t *testing.T) {
	reg := testRegistry(t)
	given := "version: \"3\"\n" +
		"nodes:\n" +
		"  - {id: g, node_type: gain, params: {gain_db: \"6\"}, runtime: wasm}\n" +
		"  - {id: r, node_type: resampel}\n" +
		"connections:\n" +
		"  - {from: g, to: x, polcy: block}\n" +
		"  - b\n"
	d, err := def.Parse([]byte(given))
	if !errors.Is(err, def.ErrInvalid) || d == nil {
		t.Fatalf("Parse = %v, %v; want the shape problems and the definition read so far", d, err)
	}
	err = def.Validate(d, reg)
	expect := []string{
		`nodes[0].runtime: unknown field (did you mean "runtime_hint"?) (line 3)`,
		`connections[0].polcy: unknown field (did you mean "policy"?) (line 6)`,
		`connections[1]: must be a mapping, got scalar (line 7)`,
		`version: unsupported version "3" (want "1")`,
		`nodes[0].params.gain_db: must be a number, got string "6"`,
		`nodes[1].node_type: unknown node type "resampel" (did you mean "resample"?)`,
		`connections[0].to: unknown node "x" (did you mean "g" or "r"?)`,
	}
	if err == nil || err.Error() != strings.Join(expect, "\n") {
		t.Fatalf("Validate:\n%v\nwant:\n%s", err, strings.Join(expect, "\n"))
	}
	if _, err := def.Build(d, reg); err == nil || err.Error() != strings.Join(expect, "\n") {
		t.Fatalf("Build:\n%v\nwant the same problems", err)
	}
}
