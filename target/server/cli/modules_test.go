package cli_test

import (
	"bufio"
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/remotemedia/hybrid/core/wasmnode"
	"github.com/remotemedia/hybrid/core/wavio"
)

// buildPolarity builds testdata/modules/polarity.c, a module written outside the
// tree from wasm-modules/include/remotemedia.h alone, into dir as name, with the
// build docs/wasm-abi.md gives (clang, then wasm-opt keeping the declaration).
func buildPolarity(t *testing.T, dir, name string) string {
	t.Helper()
	needTool(t, "clang")
	needTool(t, "wasm-opt")
	out := filepath.Join(dir, name)
	sh(t, "clang", "--target=wasm32", "-O3", "-msimd128", "-mbulk-memory", "-nostdlib", "-ffreestanding",
		"-Wl,--no-entry", "-Wl,--export-dynamic", "-Wl,--stack-first", "-Wl,-z,stack-size=16384",
		"-I../../../wasm-modules/include", "-o", out+".tmp", "../../../testdata/modules/polarity.c")
	sh(t, "wasm-opt", "--enable-simd", "--enable-bulk-memory", "--strip-debug", "--strip-producers", "-O3", "-o", out, out+".tmp")
	if err := os.Remove(out + ".tmp"); err != nil {
		t.Fatal(err)
	}
	return out
}

// rampWAV writes 1 s of a 0.5-amplitude 100 Hz sine, 16 kHz mono.
func rampWAV(t *testing.T, dir string) (string, []float32) {
	t.Helper()
	path := filepath.Join(dir, "in.wav")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	samples := make([]float32, 16000)
	for i := range samples {
		samples[i] = float32(0.5 * math.Sin(2*math.Pi*100*float64(i)/16000))
	}
	w := wavio.NewWriter(f, 16000, 1)
	if err := w.Write(samples); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return path, samples
}

const polarityDef = `version: v1
nodes:
  - id: pol
    node_type: polarity
%s    params: {report_every: 10}
connections: []
`

// checkPolarityRun runs def over 1 s of audio and checks the output is the input
// inverted and the stats events came: 50 frames of 20 ms, one every 10.
func checkPolarityRun(t *testing.T, dir, defPath string, extra ...string) {
	t.Helper()
	in, samples := rampWAV(t, dir)
	outWAV, events := filepath.Join(dir, "out.wav"), filepath.Join(dir, "events.jsonl")
	args := append([]string{"run", defPath, "--in", in, "--out", "pol.out=" + outWAV, "--events", events, "--python", "off", "--quiet"}, extra...)
	if code, _, stderr := runCLI(t, args...); code != 0 {
		t.Fatalf("run: exit %d: %s", code, stderr)
	}
	got := wavSamples(t, outWAV)
	if len(got) != len(samples) {
		t.Fatalf("%d samples out, want %d", len(got), len(samples))
	}
	for i := range samples {
		if got[i] != -samples[i] {
			t.Fatalf("sample %d: %v, want %v (inverted)", i, got[i], -samples[i])
		}
	}
	f, err := os.Open(events)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var stats []map[string]any
	for sc := bufio.NewScanner(f); sc.Scan(); {
		var ev struct {
			Node, Port string
			Data       map[string]any
		}
		if err := json.Unmarshal(sc.Bytes(), &ev); err != nil {
			t.Fatalf("%s: %v", sc.Text(), err)
		}
		if ev.Node == "pol" && ev.Port == "stats" {
			stats = append(stats, ev.Data)
		}
	}
	if len(stats) != 5 || stats[4]["frames"] != 50.0 || math.Abs(stats[4]["peak"].(float64)-0.5) > 1e-3 {
		t.Fatalf("stats events %v, want 5, the last {frames: 50, peak: 0.5}", stats)
	}
}

// TestCustomModuleFromModulesDir: a module built outside the tree becomes a node
// type through --modules: nodes lists it with its declared params and ports,
// the schema has it, run runs it.
func TestCustomModuleFromModulesDir(t *testing.T) {
	dir := t.TempDir()
	mods := filepath.Join(dir, "mods")
	if err := os.Mkdir(mods, 0o755); err != nil {
		t.Fatal(err)
	}
	buildPolarity(t, mods, "polarity.wasm")
	for _, name := range []string{"gain", "convert", "to_mono", "resample", "vad", "chunker"} { // --modules replaces the standard files it has
		b, err := os.ReadFile("../../../wasm-modules/build/" + name + ".wasm")
		if err != nil {
			t.Skipf("standard modules not built: %v", err)
		}
		if err := os.WriteFile(filepath.Join(mods, name+".wasm"), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	code, out, stderr := runCLI(t, "nodes", "--modules", mods, "--python", "off")
	if code != 0 {
		t.Fatalf("nodes: exit %d: %s", code, stderr)
	}
	for _, want := range []string{
		"polarity     wasm    Inverts the polarity of f32 audio; reports the peak level on stats.",
		"invert         boolean  (default true) invert the polarity (false: pass through)",
		"report_every   integer  (default 25) frames between two stats events",
		"ports: in in(audio), out out(audio), stats(json)",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("nodes --modules does not list %q:\n%s", want, out)
		}
	}
	if !strings.Contains(out, "dc_block") {
		t.Errorf("with --modules, the built-in dc_block is not listed (the binary's modules serve what the directories lack):\n%s", out)
	}
	code, schema, stderr := runCLI(t, "nodes", "--schema", "--modules", mods, "--python", "off")
	if code != 0 || !strings.Contains(schema, `"polarity"`) || !strings.Contains(schema, `"report_every"`) {
		t.Fatalf("nodes --schema: exit %d: %s\n%.500s", code, stderr, schema)
	}
	defPath := filepath.Join(dir, "pol.yaml")
	if err := os.WriteFile(defPath, []byte(strings.Replace(polarityDef, "%s", "", 1)), 0o644); err != nil {
		t.Fatal(err)
	}
	checkPolarityRun(t, dir, defPath, "--modules", mods)
}

// TestCustomModuleFromDefinition: a definition's module: loads the type from a
// file beside it, with no --modules; the built-in types stay.
func TestCustomModuleFromDefinition(t *testing.T) {
	dir := t.TempDir()
	buildPolarity(t, dir, "polarity.wasm")
	defPath := filepath.Join(dir, "pol.yaml")
	if err := os.WriteFile(defPath, []byte(strings.Replace(polarityDef, "%s", "    module: ./polarity.wasm\n", 1)), 0o644); err != nil {
		t.Fatal(err)
	}
	if code, out, stderr := runCLI(t, "validate", defPath, "--python", "off"); code != 0 || !strings.Contains(out, "ok (1 nodes") {
		t.Fatalf("validate: exit %d: %s %s", code, out, stderr)
	}
	checkPolarityRun(t, dir, defPath)
}

// TestCustomModuleErrors: what is wrong with a custom module is said, naming it.
func TestCustomModuleErrors(t *testing.T) {
	dir := t.TempDir()
	pol, err := os.ReadFile(buildPolarity(t, dir, "polarity.wasm"))
	if err != nil {
		t.Fatal(err)
	}
	redeclare := func(name, decl string) string {
		b, err := wasmnode.StripDecl(pol)
		if err != nil {
			t.Fatal(err)
		}
		sub := filepath.Join(dir, strings.TrimSuffix(name, ".wasm"))
		if err := os.MkdirAll(sub, 0o755); err != nil {
			t.Fatal(err)
		}
		path := filepath.Join(sub, name)
		if decl != "" {
			b = wasmnode.AppendDecl(b, []byte(decl))
		}
		if err := os.WriteFile(path, b, 0o644); err != nil {
			t.Fatal(err)
		}
		return sub
	}
	for _, tc := range []struct {
		name      string
		args      []string
		expectErr []string
	}{
		{"a standard type", []string{"nodes", "--modules", redeclare("fake.wasm", `{"node_type": "gain"}`)},
			[]string{"fake.wasm declares node type \"gain\", which the standard module gain.wasm already has"}},
		{"a bad declaration", []string{"nodes", "--modules", redeclare("bad.wasm", `{"node_type": "bad", "params": [{"name": "x", "type": "number", "default": 5, "max": 1}]}`)},
			[]string{"bad.wasm: wasm: bad node declaration: params[0].default: must be <= 1"}},
		{"two modules of one type", []string{"nodes", "--modules", redeclare("one.wasm", `{"node_type": "twin"}`), "--modules", redeclare("two.wasm", `{"node_type": "twin"}`)},
			[]string{"two.wasm declares node type \"twin\", which the module", "one.wasm already has"}},
		{"not a directory", []string{"nodes", "--modules", filepath.Join(dir, "nope")}, []string{"--modules " + filepath.Join(dir, "nope") + ": not a directory"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, _, stderr := runCLI(t, append(tc.args, "--python", "off")...)
			if code != 1 {
				t.Fatalf("exit %d, want 1: %s", code, stderr)
			}
			for _, want := range tc.expectErr {
				if !strings.Contains(stderr, want) {
					t.Errorf("stderr %q does not say %q", stderr, want)
				}
			}
		})
	}

	t.Run("no declaration", func(t *testing.T) { // skipped with a warning
		sub := redeclare("plain.wasm", "")
		code, out, stderr := runCLI(t, "nodes", "--modules", sub, "--modules", "../../../wasm-modules/build", "--python", "off")
		if code != 0 || !strings.Contains(stderr, "plain.wasm declares no node type") || !strings.Contains(out, "gain ") {
			t.Fatalf("exit %d: %s\n%s", code, stderr, out)
		}
	})

	defErrs := []struct {
		name, node, expectErr string
	}{
		{"module of another type", "node_type: gain\n    module: ./polarity.wasm", `nodes[0].module: ./polarity.wasm declares node type "polarity", not "gain"`},
		{"missing module", "node_type: polarity\n    module: ./nope.wasm", "nodes[0].module: open "},
		{"module without a declaration", "node_type: polarity\n    module: ./plain/plain.wasm", "nodes[0].module: ./plain/plain.wasm: wasm: module declares no node type"},
		{"module redeclaring a standard type", "node_type: gain\n    module: ./fake/fake.wasm", `./fake/fake.wasm declares node type "gain", which is already a node type here`},
	}
	for _, tc := range defErrs {
		t.Run(tc.name, func(t *testing.T) {
			defPath := filepath.Join(dir, "d.yaml")
			if err := os.WriteFile(defPath, []byte("version: v1\nnodes:\n  - id: n\n    "+tc.node+"\n"), 0o644); err != nil {
				t.Fatal(err)
			}
			code, _, stderr := runCLI(t, "validate", defPath, "--python", "off")
			if code != 1 || !strings.Contains(stderr, tc.expectErr) || !strings.Contains(stderr, defPath) {
				t.Fatalf("exit %d, want 1 naming %s and %q: %s", code, defPath, tc.expectErr, stderr)
			}
		})
	}
}

// TestBuiltInDeclaredModules: the Rust dc_block, built into the binary, is a
// node type without an entry in wasmnode.Standard: its declaration makes it one.
func TestBuiltInDeclaredModules(t *testing.T) {
	if _, err := os.Stat("../../../wasm-modules/build/dc_block.wasm"); err != nil {
		t.Skipf("dc_block.wasm not built: %v", err)
	}
	code, out, stderr := runCLI(t, "nodes", "--python", "off")
	if code != 0 || !strings.Contains(out, "dc_block     wasm    Removes the DC offset") || !strings.Contains(out, "cutoff_hz      number   (default 10)") {
		t.Fatalf("nodes: exit %d: %s\n%s", code, stderr, out)
	}
}

// wavSamples reads a whole WAV file with the reader the pipeline uses.
func wavSamples(t *testing.T, path string) []float32 {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	r, err := wavio.NewReader(f, path)
	if err != nil {
		t.Fatal(err)
	}
	samples, err := r.ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	return samples
}
