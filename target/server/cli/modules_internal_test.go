package cli

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/remotemedia/hybrid/core/wasmnode"
)

// TestServeDefinitionsModules: serve --definitions DIR registers the modules
// its definitions name with module:, before the pipelines are built; one that
// redeclares a standard type stops serve with an error naming the file.
func TestServeDefinitionsModules(t *testing.T) {
	if _, err := exec.LookPath("clang"); err != nil {
		t.Skip("clang is not installed (scripts/deps.sh installs it)")
	}
	dir := t.TempDir()
	pol := filepath.Join(dir, "polarity.wasm")
	if out, err := exec.Command("clang", "--target=wasm32", "-O2", "-nostdlib", "-ffreestanding", "-Wl,--no-entry", "-Wl,--export-dynamic",
		"-I../../../wasm-modules/include", "-o", pol, "../../../testdata/modules/polarity.c").CombinedOutput(); err != nil {
		t.Fatalf("clang: %v\n%s", err, out)
	}
	write := func(name, content string) {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("pol.yaml", "version: v1\nnodes:\n  - {id: p, node_type: polarity, module: polarity.wasm}\n")
	write("again.yaml", "version: v1\nnodes:\n  - {id: p, node_type: polarity, module: ./polarity.wasm}\n") // the same bytes: fine
	ctx := context.Background()
	var w wasmFlags
	reg, h, err := w.registry(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close(ctx)
	if err := w.registerDefinitionsModules(reg, h, dir); err != nil {
		t.Fatal(err)
	}
	s, err := reg.Lookup("polarity", "wasm")
	if err != nil || len(s.Outputs) != 2 || s.Outputs[1].Name != "stats" {
		t.Fatalf("polarity after --definitions: %+v, %v", s, err)
	}

	b, err := os.ReadFile(pol)
	if err != nil {
		t.Fatal(err)
	}
	if b, err = wasmnode.StripDecl(b); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "fake.wasm"), wasmnode.AppendDecl(b, []byte(`{"node_type": "gain"}`)), 0o644); err != nil {
		t.Fatal(err)
	}
	write("fake.yaml", "version: v1\nnodes:\n  - {id: g, node_type: gain, module: fake.wasm}\n")
	reg, h2, err := w.registry(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer h2.Close(ctx)
	err = w.registerDefinitionsModules(reg, h2, dir)
	if err == nil || !strings.Contains(err.Error(), "fake.yaml: nodes[0].module: fake.wasm declares node type \"gain\", which is already a node type here") {
		t.Fatalf("err = %v", err)
	}
}

// TestDirsFS: serve hands the tab several --modules directories and the
// binary's own modules as one: the first that has a name wins, and the root
// lists every name once.
func TestDirsFS(t *testing.T) {
	a, b := t.TempDir(), t.TempDir()
	for dir, files := range map[string][]string{a: {"x.wasm", "y.wasm"}, b: {"y.wasm", "z.wasm"}} {
		for _, f := range files {
			if err := os.WriteFile(filepath.Join(dir, f), []byte(dir), 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	w := wasmFlags{memoryPages: 1, callTimeout: 1, modulesDirs: listFlag{a, b}}
	fsys, err := w.siteModules()
	if err != nil {
		t.Fatal(err)
	}
	entries, err := fs.ReadDir(fsys, ".")
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	listed := strings.Join(names, " ")
	if !strings.Contains(listed, "vad.wasm") || strings.Count(listed, "y.wasm") != 1 || !strings.Contains(listed, "x.wasm") || !strings.Contains(listed, "z.wasm") {
		t.Errorf("root lists %v, want x, y (once) and z.wasm, then the binary's own modules", names)
	}
	for name, want := range map[string]string{"x.wasm": a, "y.wasm": a, "z.wasm": b} {
		if got, err := fs.ReadFile(fsys, name); err != nil || string(got) != want {
			t.Errorf("%s = %q, %v; want the file of %s", name, got, err, want)
		}
	}
	if _, err := fs.ReadFile(fsys, "nope.wasm"); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("a missing file: %v", err)
	}
}
