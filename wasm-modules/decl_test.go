package modules_test

import (
	"reflect"
	"testing"

	"github.com/remotemedia/hybrid/core/wasmnode"
)

// TestGoModuleDeclaration: the Go guest SDK's route to a declaration (the
// sdk/go/declare step of the Makefile) gives the chunker the spec that
// wasmnode.Standard has for it, so a tab or another server registering the
// module from its bytes alone gets the same node type.
func TestGoModuleDeclaration(t *testing.T) {
	m, err := wasmnode.DeclaredModule("chunker.wasm", loadModule(t, "chunker.wasm"))
	if err != nil {
		t.Fatal(err)
	}
	for _, std := range wasmnode.Standard {
		if std.File == "chunker.wasm" {
			if !reflect.DeepEqual(m.Spec, std.Spec) {
				t.Fatalf("chunker.wasm declares\n%+v\nwasmnode.Standard has\n%+v", m.Spec, std.Spec)
			}
			return
		}
	}
	t.Fatal("no chunker in wasmnode.Standard")
}

// TestRustModuleDeclaration: the Rust node declares its type with
// #[link_section], and the Makefile's strip step keeps the section.
func TestRustModuleDeclaration(t *testing.T) {
	m, err := wasmnode.DeclaredModule("dc_block.wasm", loadModule(t, "dc_block.wasm"))
	if err != nil {
		t.Fatal(err)
	}
	if m.Spec.Type != "dc_block" || m.Spec.Params[0].Name != "cutoff_hz" || m.Spec.Example["cutoff_hz"] != 20.0 {
		t.Fatalf("dc_block.wasm declares %+v", m.Spec)
	}
}
