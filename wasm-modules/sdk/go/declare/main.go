// Command declare gives a node module built with the Go guest SDK its node type
// declaration (docs/wasm-abi.md, "Declaring the node type"). Go's linker cannot
// place a custom section, so this appends one, in place:
//
//	GOOS=wasip1 GOARCH=wasm go build -buildmode=c-shared -o mynode.wasm .
//	go run github.com/remotemedia/hybrid/wasm-modules/sdk/go/declare mynode.wasm node.json
//
// node.json is the declaration document. It is checked as the host checks it
// (core/wasmnode.ParseDecl) before it is written; a module that already has a
// declaration gets the new one in its place.
package main

import (
	"errors"
	"fmt"
	"os"

	"github.com/remotemedia/hybrid/core/wasmnode"
)

func main() {
	if len(os.Args) != 3 {
		fmt.Fprintln(os.Stderr, "usage: declare MODULE.wasm DECL.json")
		os.Exit(2)
	}
	if err := declare(os.Args[1], os.Args[2]); err != nil {
		fmt.Fprintf(os.Stderr, "declare: %v\n", err)
		os.Exit(1)
	}
}

func declare(modPath, declPath string) error {
	decl, err := os.ReadFile(declPath)
	if err != nil {
		return err
	}
	if _, err := wasmnode.ParseDecl(decl); err != nil {
		return fmt.Errorf("%s: %w", declPath, err)
	}
	wasm, err := os.ReadFile(modPath)
	if err != nil {
		return err
	}
	wasm, err = wasmnode.StripDecl(wasm)
	if err != nil {
		return fmt.Errorf("%s: %w", modPath, err)
	}
	out := wasmnode.AppendDecl(wasm, decl)
	if _, err := wasmnode.DeclaredModule(modPath, out); err != nil {
		return errors.Join(errors.New("the declared module does not read back"), err)
	}
	return os.WriteFile(modPath, out, 0o644)
}
