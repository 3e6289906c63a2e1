package cli

import (
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// resample has a WebAssembly and a Python implementation (wasm-modules/src/resample.c,
// pyproxy/python/remotemedia/nodes/twins.py): runtime_hint auto runs the module
// (and falls back to Python where the module is not there: a binary built
// without its modules; core/node and core/wasmnode test that choice). Both give
// the same output on speech, 48 kHz stereo to 16 kHz, within 1e-5 (float32 sums
// in another order; -100 dBFS).
func TestRuntimeHintAutoFallsBackToPython(t *testing.T) {
	needPython(t)
	dir := t.TempDir()
	in := filepath.Join(dir, "in.wav")
	for _, tool := range []string{"espeak-ng", "sox"} {
		if _, err := exec.LookPath(tool); err != nil {
			if os.Getenv("CI") != "" {
				t.Fatalf("%s: %v", tool, err)
			}
			t.Skipf("%s: %v", tool, err)
		}
	}
	for _, cmd := range [][]string{
		{"espeak-ng", "-w", filepath.Join(dir, "raw.wav"), "Resampling in two runtimes"},
		{"sox", filepath.Join(dir, "raw.wav"), "-r", "48000", "-c", "2", "-b", "16", in},
	} {
		if out, err := exec.Command(cmd[0], cmd[1:]...).CombinedOutput(); err != nil {
			t.Fatalf("%v: %v\n%s", cmd, err, out)
		}
	}
	def := func(hint string) string {
		path := filepath.Join(dir, hint+".yaml")
		yaml := "version: \"1\"\nnodes:\n  - {id: rs, node_type: resample, runtime_hint: " + hint + ", params: {rate: 16000, quality: high}}\n"
		if err := os.WriteFile(path, []byte(yaml), 0o644); err != nil {
			t.Fatal(err)
		}
		return path
	}
	run := func(name string, args ...string) []float32 {
		t.Helper()
		out := filepath.Join(dir, name+".wav")
		code, _, stderr := runMain(t, append([]string{"run", args[0], "--in", in, "--out", out}, args[1:]...)...)
		if code != 0 {
			t.Fatalf("%s: exit %d\n%s", name, code, stderr)
		}
		r, samples := readWAV(t, out)
		if r.SampleRate != 16000 || r.Channels != 2 {
			t.Fatalf("%s: %d Hz, %d channels; want 16000 Hz stereo", name, r.SampleRate, r.Channels)
		}
		return samples
	}
	wasm := run("wasm", def("wasm"))
	auto := run("auto", def("auto"))
	python := run("python", def("python"), "--python", "on")

	_, input := readWAV(t, in)
	if want := (len(input)/2*16000 + 47999) / 48000; len(wasm)/2 != want {
		t.Fatalf("wasm: %d frames out of %d in, want %d", len(wasm)/2, len(input)/2, want)
	}
	for _, c := range []struct {
		name string
		got  []float32
	}{{"auto", auto}, {"python", python}} {
		if len(c.got) != len(wasm) {
			t.Fatalf("%s: %d samples, wasm %d", c.name, len(c.got), len(wasm))
		}
		worst := 0.0
		for i := range wasm {
			worst = max(worst, math.Abs(float64(c.got[i]-wasm[i])))
		}
		t.Logf("%s: max |difference from wasm| = %.2g", c.name, worst)
		if worst > 1e-5 {
			t.Errorf("%s differs from wasm by %.3g > 1e-5", c.name, worst)
		}
	}

}
