// Command exproverlay writes a go.mod for building core.wasm with a copy of
// github.com/expr-lang/expr that cannot call Go methods.
//
// Why: expr looks methods up by name at run time (reflect's MethodByName and
// Method(i)). A program that can do that makes the Go linker keep every
// exported method of every type that may be boxed in an interface, used or
// not: 1.7 MB of core.wasm's 11.5 MB, and with them the bytes every first
// visit downloads, inflates and compiles (docs/browser.md, "Start-up").
//
// What changes: in the browser build, a `when:` expression sees no methods.
// None of the values one can reach has any (whenEnv's fields, JSON documents
// and frame metadata are maps, lists, strings, numbers and booleans), so every
// expression that is valid on the server means the same in the tab; one that
// calls a method on a value that has it fails to compile in the tab. The
// server and the CLI build expr unchanged.
//
// Each patch names the exact text it replaces and must find it exactly once:
// a new expr version that moved the code fails here, naming the file and the
// text, rather than building a core.wasm with the methods back in.
// web/Makefile runs it before building core.wasm:
//
//	go run ./tools/exproverlay web/dist/.expr-overlay
//
// It writes DIR/expr (expr's module, patched), DIR/go.mod (this module's go.mod
// with expr replaced by DIR/expr) and DIR/go.sum, for
// `go build -modfile DIR/go.mod`. (`go build -overlay` cannot patch a file in
// the module cache.)
package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

const module = "github.com/expr-lang/expr"

// patch replaces old with new, once, in file (relative to expr's module root).
type patch struct{ file, old, new string }

var patches = []patch{
	// The checker's method sets are empty: every type has no methods.
	{"checker/nature/nature.go", "numMethod := t.NumMethod()", "numMethod := 0 // browser build: no methods (tools/exproverlay)"},
	{"checker/nature/nature.go", "method := n.Type.Method(i)", "method := reflect.Method{} // unreachable: no methods"},
	{"checker/nature/utils.go", "rm := s.rType.Method(s.idx)", "rm := reflect.Method{} // unreachable: no methods"},
	{"checker/info.go", "if m, ok := base.MethodByName(name.Value); ok {", "if m, ok := (reflect.Method{}), false; ok { // browser build: no methods"},
	{"compiler/compiler.go", "if _, ok = callee.Node.Type().MethodByName(prop.Value); ok &&", "if ok = false && prop != nil; ok &&"},
	// The VM never fetches a method; a member of that name is looked up as a
	// field or key instead, as for a type without methods.
	{"vm/runtime/runtime.go", "method := v.MethodByName(methodName)", "method, _ := reflect.Value{}, methodName // browser build: no methods"},
	{"vm/runtime/runtime.go", "method := v.Method(method.Index)", "method := reflect.Value{} // browser build: no methods"},
	{"builtin/lib.go", "method := v.MethodByName(methodName)", "method, _ := reflect.Value{}, methodName // browser build: no methods"},
}

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: exproverlay DIR")
		os.Exit(2)
	}
	if err := run(os.Args[1]); err != nil {
		fmt.Fprintln(os.Stderr, "exproverlay:", err)
		os.Exit(1)
	}
}

func run(dir string) error {
	root, version, err := moduleDir()
	if err != nil {
		return err
	}
	out, err := filepath.Abs(dir)
	if err != nil {
		return err
	}
	files, err := apply(root, patches)
	if err != nil {
		return fmt.Errorf("%s %s: %w (update tools/exproverlay for this version)", module, version, err)
	}
	copyDir := filepath.Join(out, "expr")
	if err := os.RemoveAll(copyDir); err != nil {
		return err
	}
	if err := os.CopyFS(copyDir, os.DirFS(root)); err != nil {
		return fmt.Errorf("copying %s: %w", root, err)
	}
	for name, text := range files {
		dst := filepath.Join(copyDir, filepath.FromSlash(name))
		if err := os.WriteFile(dst, text, 0o644); err != nil {
			return err
		}
	}
	mod, err := os.ReadFile("go.mod")
	if err != nil {
		return fmt.Errorf("run it from the repository's root: %w", err)
	}
	sum, err := os.ReadFile("go.sum")
	if err != nil {
		return err
	}
	mod = fmt.Appendf(mod, "\n// Written by tools/exproverlay: expr without method calls, for core.wasm.\nreplace %s => %s\n", module, copyDir)
	if err := os.WriteFile(filepath.Join(out, "go.sum"), sum, 0o644); err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(out, "go.mod"), mod, 0o644)
}

// moduleDir returns the directory and version of the expr this module builds
// with (downloading it if need be).
func moduleDir() (dir, version string, err error) {
	cmd := exec.Command("go", "mod", "download", "-json", module)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	b, err := cmd.Output()
	if err != nil {
		return "", "", fmt.Errorf("go mod download %s: %v: %s", module, err, strings.TrimSpace(stderr.String()))
	}
	var m struct{ Dir, Version, Error string }
	if err := json.Unmarshal(b, &m); err != nil {
		return "", "", fmt.Errorf("go mod download %s: %w", module, err)
	}
	if m.Error != "" || m.Dir == "" {
		return "", "", fmt.Errorf("go mod download %s: %s", module, m.Error)
	}
	return m.Dir, m.Version, nil
}

// apply returns the patched text of each file the patches touch.
func apply(root string, ps []patch) (map[string][]byte, error) {
	files := map[string][]byte{}
	var errs []error
	for _, p := range ps {
		text, ok := files[p.file]
		if !ok {
			b, err := os.ReadFile(filepath.Join(root, filepath.FromSlash(p.file)))
			if err != nil {
				return nil, err
			}
			text = b
		}
		if n := bytes.Count(text, []byte(p.old)); n != 1 {
			errs = append(errs, fmt.Errorf("%s: %q found %d times, want once", p.file, p.old, n))
			continue
		}
		files[p.file] = bytes.Replace(text, []byte(p.old), []byte(p.new), 1)
	}
	return files, errors.Join(errs...)
}
