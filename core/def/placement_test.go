package def_test

import (
	"reflect"
	"testing"

	"github.com/remotemedia/hybrid/core/def"
)

func TestServerNodes(t *testing.T) {
	reg := testRegistry(t)
	d, err := def.Parse([]byte(`version: "1"
nodes:
  - {id: a, node_type: gain}
  - {id: b, node_type: gain, runtime_hint: server}
  - {id: c, node_type: asr} # Python only
  - {id: d, node_type: gain, runtime_hint: browser}
connections:
  - {from: a, to: b}
  - {from: b, to: c}
`))
	if err != nil {
		t.Fatal(err)
	}
	g, err := def.Build(d, reg)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := def.ServerNodes(d, g), []string{"b", "c"}; !reflect.DeepEqual(got, want) {
		t.Errorf("ServerNodes = %q, want %q (the server hint and the Python node)", got, want)
	}
}
