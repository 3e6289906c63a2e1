package def_test

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/remotemedia/hybrid/core/def"
)

// TestModuleField: a node's module: is read as written; a node whose module
// nobody loaded names the module, not a misspelt node type.
func TestModuleField(t *testing.T) {
	src := `
version: v1
nodes:
  - {id: pol, node_type: polarity, module: ./polarity.wasm}
`
	d, err := def.Parse([]byte(src))
	if err != nil {
		t.Fatal(err)
	}
	if d.Nodes[0].Module != "./polarity.wasm" {
		t.Fatalf("Module = %q", d.Nodes[0].Module)
	}
	err = def.Validate(d, testRegistry(t))
	if err == nil || !strings.Contains(err.Error(), `nodes[0].module: ./polarity.wasm was not loaded, so node type "polarity" is unknown here`) {
		t.Fatalf("Validate = %v", err)
	}
}

// TestSchemaModule: the schema lets a node name its module.
func TestSchemaModule(t *testing.T) {
	b, err := def.Schema(testRegistry(t))
	if err != nil {
		t.Fatal(err)
	}
	var schema struct {
		Defs map[string]struct {
			Properties map[string]struct {
				Type string `json:"type"`
			} `json:"properties"`
		} `json:"$defs"`
	}
	if err := json.Unmarshal(b, &schema); err != nil {
		t.Fatal(err)
	}
	if got := schema.Defs["node"].Properties["module"].Type; got != "string" {
		t.Fatalf("schema's node.module type = %q, want string: %.400s", got, b)
	}
}
