package main

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestBrowserBuildKeepsNoMethods builds core.wasm as web/Makefile does and asks
// the linker whether anything in it can still look a method up by name: one
// such call anywhere makes it keep every exported method of every type, the
// 1.7 MB this tool is for. Before the patches the linker names expr's
// runtime.Fetch, runtime.FetchMethod, checker.MethodIndex and the compiler's
// CallNode.
func TestBrowserBuildKeepsNoMethods(t *testing.T) {
	if testing.Short() {
		t.Skip("builds core.wasm")
	}
	dir := t.TempDir()
	t.Chdir("../..")
	if err := run(dir); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("go", "build", "-trimpath", "-modfile", filepath.Join(dir, "go.mod"),
		"-ldflags=-dumpdep", "-o", filepath.Join(dir, "core.wasm"), "./target/browser")
	cmd.Env = append(os.Environ(), "GOOS=js", "GOARCH=wasm")
	var deps, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &deps, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("go build: %v\n%s", err, stderr.String())
	}
	// -dumpdep writes to the linker's stderr, which go build passes on.
	out := deps.String() + stderr.String()
	if !strings.Contains(out, "main.main") {
		t.Fatalf("no dependency dump from the linker (%d bytes of output)", len(out))
	}
	callers := map[string]bool{}
	for _, line := range strings.Split(out, "\n") {
		for _, sym := range strings.Split(line, " -> ") {
			if name, ok := strings.CutSuffix(sym, " <ReflectMethod>"); ok && !callers[name] {
				callers[name] = true
				t.Errorf("core.wasm can still call methods by name: %s", name)
			}
		}
	}
}

func TestApplyNamesWhatItCannotFind(t *testing.T) {
	root := t.TempDir()
	if err := os.WriteFile(filepath.Join(root, "a.go"), []byte("x := f(y)\nx := f(y)\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err := apply(root, []patch{{"a.go", "x := f(y)", "x := 0"}, {"a.go", "gone()", "x"}})
	if err == nil {
		t.Fatal("no error for a text found twice and one not found")
	}
	for _, want := range []string{`a.go: "x := f(y)" found 2 times, want once`, `a.go: "gone()" found 0 times, want once`} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not say %q", err, want)
		}
	}
	files, err := apply(root, []patch{{"a.go", "x := f(y)\nx", "z"}})
	if err != nil {
		t.Fatal(err)
	}
	if got := string(files["a.go"]); got != "z := f(y)\n" {
		t.Errorf("patched text %q, want %q", got, "z := f(y)\n")
	}
}
