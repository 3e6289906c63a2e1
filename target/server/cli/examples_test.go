package cli_test

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/remotemedia/hybrid/core/wavio"
)

// TestExamplesRun runs every definition in examples/ over a speech recording,
// writing each of its audio outputs (--out NODE.PORT=FILE, as `validate`
// lists them) and its events: WASM-only ones always, ones that need Python
// when the .venv is there. Each run must succeed with valid files.
func TestExamplesRun(t *testing.T) {
	defs, _ := filepath.Glob("../../../examples/*.yaml")
	if len(defs) == 0 {
		t.Fatal("no example definitions")
	}
	dir := t.TempDir()
	in, _ := speechWAV(t, dir, []float64{0.5}, []string{"The quick brown fox jumps over the lazy dog"})
	for _, d := range defs {
		name := strings.TrimSuffix(filepath.Base(d), ".yaml")
		t.Run(name, func(t *testing.T) {
			if code, _, stderr := runCLI(t, "validate", d, "--python", "off"); code != 0 {
				if os.Getenv("REMOTEMEDIA_PYTHON") == "" {
					if os.Getenv("CI") != "" {
						t.Fatal("no .venv: scripts/deps.sh installs the Python package")
					}
					t.Skipf("needs Python nodes and there is no .venv with the Python package (make deps):\n%s", stderr)
				}
			}
			code, out, stderr := runCLI(t, "validate", d)
			if code != 0 {
				t.Fatalf("validate: exit %d\n%s", code, stderr)
			}
			_, list, ok := strings.Cut(out, "\noutputs: ")
			if !ok {
				t.Fatalf("validate lists no outputs:\n%s", out)
			}
			args := []string{"run", d, "--in", in, "--events", filepath.Join(t.TempDir(), "events.jsonl")}
			var wavs []string
			for _, o := range strings.Split(strings.TrimSpace(list), ", ") {
				port, kinds, _ := strings.Cut(o, " ")
				if kinds == "(audio)" {
					wav := filepath.Join(t.TempDir(), port+".wav")
					args = append(args, "--out", port+"="+wav)
					wavs = append(wavs, wav)
				}
			}
			code, _, stderr = runCLI(t, args...)
			if code != 0 {
				t.Fatalf("%s: exit %d\n%s", strings.Join(args, " "), code, stderr)
			}
			if strings.Contains(stderr, "not written") {
				t.Errorf("outputs were dropped:\n%s", stderr)
			}
			frames := int64(0)
			for _, wav := range wavs {
				b, err := os.ReadFile(wav)
				if err != nil {
					t.Fatal(err)
				}
				if len(b) == 58 { // a complete file with no samples
					continue
				}
				r, err := wavio.NewReader(bytes.NewReader(b), wav)
				if err != nil {
					t.Fatal(err)
				}
				if _, err := r.ReadAll(); err != nil {
					t.Fatal(err)
				}
				frames += r.Frames
				if _, err := exec.LookPath("sox"); err == nil {
					if b, err := exec.Command("sox", wav, "-n", "stat").CombinedOutput(); err != nil || bytes.Contains(b, []byte("WARN")) {
						t.Errorf("sox %s -n stat: %v\n%s", wav, err, b)
					}
				}
			}
			if len(wavs) > 0 && frames == 0 {
				t.Errorf("no audio came out of %s (speech in, its VAD should pass some)", strings.Join(wavs, ", "))
			}
			t.Logf("%d audio outputs, %d sample frames", len(wavs), frames)
		})
	}
}
