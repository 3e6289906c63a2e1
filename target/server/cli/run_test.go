package cli

import (
	"bytes"
	"context"
	"errors"
	"io"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/remotemedia/hybrid/core/wavio"
)

const (
	speechFrontend = "../../../examples/speech-frontend.yaml"
	fanout         = "../../../examples/fanout.yaml"
)

// runMain runs the command line with a fresh module cache, bounded in time.
func runMain(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	switch args[0] {
	case "run", "validate":
		args = append(args, "--wasm-cache", filepath.Join(t.TempDir(), "cache"))
	}
	var out, errb bytes.Buffer
	done := make(chan int, 1)
	go func() { done <- Main(args, &out, &errb) }()
	deadline := time.Now().Add(2 * time.Minute)
	if d, ok := t.Deadline(); ok && d.Before(deadline) {
		deadline = d.Add(-5 * time.Second)
	}
	select {
	case code = <-done:
	case <-time.After(time.Until(deadline)):
		t.Fatalf("remotemedia %s did not finish in time", strings.Join(args, " "))
	}
	return code, out.String(), errb.String()
}

// toneWAV writes seconds of a 440 Hz tone, 16 kHz mono, to dir/name.
func toneWAV(t *testing.T, dir, name string, seconds float64) string {
	t.Helper()
	path := filepath.Join(dir, name)
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	w := wavio.NewWriter(f, 16000, 1)
	samples := make([]float32, int(seconds*16000))
	for i := range samples {
		samples[i] = float32(0.5 * math.Sin(2*math.Pi*440*float64(i)/16000))
	}
	if err := w.Write(samples); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return path
}

// readWAV reads a whole WAV file with the reader the pipeline uses.
func readWAV(t *testing.T, path string) (*wavio.Reader, []float32) {
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
	return r, samples
}

// emptyWAV checks that path is a complete WAV file with no samples (which the
// reader refuses as input).
func emptyWAV(t *testing.T, path string) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if len(b) != 58 || string(b[:4]) != "RIFF" || string(b[50:54]) != "data" || b[54]|b[55]|b[56]|b[57] != 0 || b[4] != 50 {
		t.Errorf("%s is not an empty WAV file: % x", path, b)
	}
}

// dirNames lists dir.
func dirNames(t *testing.T, dir string) []string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	return names
}

// TestRunPicksOutputs: with two audio outputs a bare --out fails before any
// processing, naming them and the flag syntax; NODE.PORT=FILE writes each.
func TestRunPicksOutputs(t *testing.T) {
	dir := t.TempDir()
	in := toneWAV(t, dir, "in.wav", 1)
	out := filepath.Join(dir, "out.wav")
	tests := []struct {
		name   string
		args   []string
		expect []string // substrings of stderr
	}{
		{"bare --out with two audio outputs", []string{"--out", out},
			[]string{"2 outputs carry audio (speech.out, archive.out)", "--out NODE.PORT=FILE.wav", "--out speech.out=" + out}},
		{"unknown output", []string{"--out", "nope.out=" + out},
			[]string{"nope.out is not an output of the pipeline that carries audio (audio outputs: speech.out, archive.out)"}},
		{"output that carries no audio", []string{"--out", "vad.events=" + out},
			[]string{"vad.events is not an output of the pipeline that carries audio"}},
		{"bare and named", []string{"--out", out, "--out", "speech.out=" + out},
			[]string{"with several --out flags each names its output"}},
		{"one output twice", []string{"--out", "speech=" + out, "--out", "speech.out=" + out + "2"},
			[]string{"speech.out is given twice"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			code, _, stderr := runMain(t, append([]string{"run", fanout, "--in", in}, tc.args...)...)
			if code != 2 {
				t.Fatalf("exit %d, want 2 (usage); stderr:\n%s", code, stderr)
			}
			for _, want := range tc.expect {
				if !strings.Contains(stderr, want) {
					t.Errorf("stderr lacks %q:\n%s", want, stderr)
				}
			}
			if strings.Contains(stderr, "node ") || strings.Contains(stderr, "wrote") {
				t.Errorf("the run started:\n%s", stderr)
			}
			if _, err := os.Stat(out); err == nil {
				t.Errorf("%s was written", out)
			}
		})
	}

	speech, archive := filepath.Join(dir, "speech.wav"), filepath.Join(dir, "archive.wav")
	code, _, stderr := runMain(t, "run", fanout, "--in", in, "--out", "speech.out="+speech, "--out", "archive="+archive)
	if code != 0 {
		t.Fatalf("exit %d:\n%s", code, stderr)
	}
	if r, samples := readWAV(t, archive); r.SampleRate != 16000 || r.Channels != 1 || len(samples) == 0 {
		t.Errorf("archive.wav: %d Hz, %d channels, %d samples", r.SampleRate, r.Channels, len(samples))
	}
	emptyWAV(t, speech) // the tone is not speech
	for _, want := range []string{"wrote " + archive + ": archive.out", "wrote " + speech + ": no audio came out of speech.out", "not written: vad.events (add --events FILE.jsonl)"} {
		if !strings.Contains(stderr, want) {
			t.Errorf("stderr lacks %q:\n%s", want, stderr)
		}
	}
}

// TestRunSaysWhatIsDropped: outputs the command line does not write are named
// on one line, except with --quiet.
func TestRunSaysWhatIsDropped(t *testing.T) {
	dir := t.TempDir()
	in := toneWAV(t, dir, "in.wav", 0.5)
	events := filepath.Join(dir, "events.jsonl")
	tests := []struct {
		name   string
		args   []string
		expect string // the line, or "" for none
	}{
		{"audio only", []string{"--out", filepath.Join(dir, "a.wav")}, "not written: vad.events (add --events FILE.jsonl)\n"},
		{"events only", []string{"--events", events}, "not written: vad.out (add --out vad.out=FILE.wav)\n"},
		{"both", []string{"--out", filepath.Join(dir, "b.wav"), "--events", events}, ""},
		{"quiet", []string{"--out", filepath.Join(dir, "c.wav"), "--quiet"}, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			code, _, stderr := runMain(t, append([]string{"run", speechFrontend, "--in", in}, tc.args...)...)
			if code != 0 {
				t.Fatalf("exit %d:\n%s", code, stderr)
			}
			if got := strings.Count(stderr, "not written"); tc.expect == "" && got != 0 || tc.expect != "" && (got != 1 || !strings.Contains(stderr, tc.expect)) {
				t.Errorf("want %q once in stderr:\n%s", tc.expect, stderr)
			}
			if slices.Contains(tc.args, "--quiet") && stderr != "" {
				t.Errorf("--quiet printed:\n%s", stderr)
			}
		})
	}
}

// TestRunFailureLeavesNoOutput: a run that fails mid-way (its input ends
// before the length its header declares, after outputs were written) leaves
// no output file, and an existing file at the target untouched; a run that
// succeeds leaves complete files and no temporary ones.
func TestRunFailureLeavesNoOutput(t *testing.T) {
	dir := t.TempDir()
	in := toneWAV(t, dir, "in.wav", 2)
	whole, err := os.ReadFile(in)
	if err != nil {
		t.Fatal(err)
	}
	truncated := filepath.Join(dir, "truncated.wav")
	if err := os.WriteFile(truncated, whole[:len(whole)/2], 0o644); err != nil { // 1 s of the declared 2 s
		t.Fatal(err)
	}
	out, events, old := filepath.Join(dir, "out.wav"), filepath.Join(dir, "events.jsonl"), filepath.Join(dir, "old.wav")
	if err := os.WriteFile(old, []byte("an earlier result"), 0o644); err != nil {
		t.Fatal(err)
	}
	before := dirNames(t, dir)

	code, _, stderr := runMain(t, "run", speechFrontend, "--in", truncated, "--out", out, "--events", events)
	if code == 0 || !strings.Contains(stderr, "truncated") {
		t.Fatalf("exit %d, want a failure naming the truncated input:\n%s", code, stderr)
	}
	code, _, stderr = runMain(t, "run", speechFrontend, "--in", truncated, "--out", old)
	if code == 0 {
		t.Fatalf("exit 0 over %s:\n%s", old, stderr)
	}
	if got := dirNames(t, dir); !slices.Equal(got, before) {
		t.Errorf("failed runs left %q, want %q", got, before)
	}
	if b, _ := os.ReadFile(old); string(b) != "an earlier result" {
		t.Errorf("the existing %s was changed: %q", old, b)
	}

	code, _, stderr = runMain(t, "run", speechFrontend, "--in", in, "--out", out, "--events", events)
	if code != 0 {
		t.Fatalf("exit %d:\n%s", code, stderr)
	}
	if got, want := dirNames(t, dir), append(slices.Clone(before), "events.jsonl", "out.wav"); !slices.Equal(got, slices.Sorted(slices.Values(want))) {
		t.Errorf("a successful run left %q, want %q", got, want)
	}
	emptyWAV(t, out) // the tone is not speech
}

// TestRunSpecialOutputs: /dev/null takes either output, and messages say
// "1 channel".
func TestRunSpecialOutputs(t *testing.T) {
	in := toneWAV(t, t.TempDir(), "in.wav", 0.5)
	code, _, stderr := runMain(t, "run", speechFrontend, "--in", in, "--out", os.DevNull, "--events", os.DevNull)
	if code != 0 {
		t.Fatalf("--out /dev/null: exit %d:\n%s", code, stderr)
	}
	if strings.Contains(stderr, "1 channels") || !strings.Contains(stderr, "1 channel\n") && !strings.Contains(stderr, "no audio came out") {
		t.Errorf("stderr:\n%s", stderr)
	}
}

// TestRunOutputSoxReadsSilently: sox reads run's float output without a warning.
func TestRunOutputSoxReadsSilently(t *testing.T) {
	if _, err := exec.LookPath("sox"); err != nil {
		t.Skip("sox is not installed")
	}
	dir := t.TempDir()
	in, out := toneWAV(t, dir, "in.wav", 1), filepath.Join(dir, "out.wav")
	if code, _, stderr := runMain(t, "run", fanout, "--in", in, "--out", "archive.out="+out, "--quiet"); code != 0 {
		t.Fatalf("exit %d:\n%s", code, stderr)
	}
	for _, args := range [][]string{{"--i", out}, {out, "-n", "stat"}} {
		b, err := exec.Command("sox", args...).CombinedOutput()
		if err != nil || strings.Contains(string(b), "WARN") {
			t.Errorf("sox %s: %v\n%s", strings.Join(args, " "), err, b)
		}
	}
}

// TestProgressOnlyOnATerminal: a long input shows no progress bar when stderr
// is not a terminal, unless --progress asks for it.
func TestProgressOnlyOnATerminal(t *testing.T) {
	in := toneWAV(t, t.TempDir(), "in.wav", progressAfter.Seconds()+1)
	for _, tc := range []struct {
		args []string
		bar  bool
	}{{nil, false}, {[]string{"--progress"}, true}} {
		code, _, stderr := runMain(t, append([]string{"run", speechFrontend, "--in", in, "--out", os.DevNull}, tc.args...)...)
		if code != 0 {
			t.Fatalf("exit %d:\n%s", code, stderr)
		}
		if got := strings.Contains(stderr, "processing "+in); got != tc.bar {
			t.Errorf("%v: progress bar shown %v, want %v:\n%s", tc.args, got, tc.bar, stderr)
		}
	}
}

func TestFramesReadsStdin(t *testing.T) {
	golden, err := os.ReadFile("../../../testdata/wire/audio_f32_stereo.msgpack")
	if err != nil {
		t.Fatal(err)
	}
	defer func() { stdin = os.Stdin }()
	stdin = bytes.NewReader(append(append([]byte{}, golden...), golden...))
	code, out, stderr := runMain(t, "frames", "-")
	if code != 0 || strings.Count(out, `"kind":"audio"`) != 2 {
		t.Fatalf("frames -: exit %d\n%s%s", code, out, stderr)
	}
	stdin = bytes.NewReader(golden[:len(golden)-3])
	if code, _, stderr := runMain(t, "frames", "-"); code != 1 || !strings.Contains(stderr, "standard input: frame 0") {
		t.Errorf("frames - on a truncated stream: exit %d\n%s", code, stderr)
	}
}

func TestVersion(t *testing.T) {
	for _, arg := range []string{"--version", "version"} {
		code, out, stderr := runMain(t, arg)
		if code != 0 || !strings.HasPrefix(out, "remotemedia ") || !strings.Contains(out, "(go1.") || stderr != "" {
			t.Errorf("%s: exit %d, stdout %q, stderr %q", arg, code, out, stderr)
		}
	}
	defer func(v string) { version = v }(version)
	version = "v1.2.3"
	if _, out, _ := runMain(t, "--version"); !strings.HasPrefix(out, "remotemedia v1.2.3 (go1.") {
		t.Errorf("with the link-time version: %q", out)
	}
}

// needPython skips a test when there is no Python with the remotemedia package
// (TestMain points REMOTEMEDIA_PYTHON at the repository's .venv).
func needPython(t *testing.T) {
	t.Helper()
	if os.Getenv("REMOTEMEDIA_PYTHON") == "" {
		if os.Getenv("CI") != "" {
			t.Fatal("no .venv: scripts/deps.sh installs the Python package")
		}
		t.Skip("no .venv with the Python package (make deps)")
	}
}

// failingNodes are Python nodes that pass audio through for `after` frames,
// then raise (Raise), kill their own worker with SIGKILL (Die), or write a line
// to the FIFO fifo and block (Block).
const failingNodes = `import os, signal, time
from remotemedia import Node, register_node

@register_node
class Raise(Node):
    def __init__(self, after: int = 5, **kwargs):
        super().__init__(**kwargs)
        self.after, self.n = after, 0

    def process(self, data):
        self.n += 1
        if self.n > self.after:
            raise RuntimeError(f"frame {self.n} is one too many")
        return data

@register_node
class Block(Node):
    def __init__(self, after: int = 5, fifo: str = "", **kwargs):
        super().__init__(**kwargs)
        self.after, self.n, self.fifo = after, 0, fifo

    def process(self, data):
        self.n += 1
        if self.n > self.after:
            with open(self.fifo, "w") as f:
                f.write("blocked\n")
            time.sleep(600)
        return data

@register_node
class Die(Node):
    def __init__(self, after: int = 5, **kwargs):
        super().__init__(**kwargs)
        self.after, self.n = after, 0

    def process(self, data):
        self.n += 1
        if self.n > self.after:
            os.kill(os.getpid(), signal.SIGKILL)
        return data
`

// failingPipeline writes the Python nodes and a definition gain -> NODETYPE
// (with on_error, and params as a YAML flow mapping) to dir.
func failingPipeline(t *testing.T, dir, nodeType, onError string, params ...string) (def, module string) {
	t.Helper()
	module = filepath.Join(dir, "failing_nodes.py")
	def = filepath.Join(dir, "failing.yaml")
	yaml := `version: "1"
nodes:
  - {id: gain, node_type: gain, params: {gain_db: 0}}
  - {id: py, node_type: ` + nodeType + `, runtime_hint: python, on_error: ` + onError + `, params: {` + strings.Join(params, ", ") + `}}
connections:
  - {from: gain, to: py}
`
	if err := os.WriteFile(module, []byte(failingNodes), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(def, []byte(yaml), 0o644); err != nil {
		t.Fatal(err)
	}
	return def, module
}

// TestRunNodeFailureLeavesNoOutput: a node that fails under the fail policy
// after some frames, whose audio was already written, leaves no output files.
func TestRunNodeFailureLeavesNoOutput(t *testing.T) {
	needPython(t)
	dir := t.TempDir()
	def, module := failingPipeline(t, dir, "Raise", "fail")
	in := toneWAV(t, dir, "in.wav", 2)
	before := dirNames(t, dir)
	code, _, stderr := runMain(t, "run", def, "--in", in, "--out", filepath.Join(dir, "out.wav"), "--events", filepath.Join(dir, "events.jsonl"), "--module", module, "--python", "on")
	if code == 0 || !strings.Contains(stderr, "frame 6 is one too many") {
		t.Fatalf("exit %d, want the node's failure:\n%s", code, stderr)
	}
	if got := dirNames(t, dir); !slices.Equal(got, before) {
		t.Errorf("the failed run left %q, want %q", got, before)
	}
}

// TestRunStopsWhenWorkerDies: when a Python node's worker dies (SIGKILL), the
// run fails at once with the reason, under the continue policy too, instead
// of failing every remaining frame, and writes no output.
func TestRunStopsWhenWorkerDies(t *testing.T) {
	needPython(t)
	dir := t.TempDir()
	def, module := failingPipeline(t, dir, "Die", "continue")
	in := toneWAV(t, dir, "in.wav", 4) // 200 frames of 20 ms
	before := dirNames(t, dir)
	code, _, stderr := runMain(t, "run", def, "--in", in, "--out", filepath.Join(dir, "out.wav"), "--events", filepath.Join(dir, "events.jsonl"), "--module", module, "--python", "on")
	if code != 1 {
		t.Fatalf("exit %d, want 1:\n%s", code, stderr)
	}
	for _, want := range []string{`node "py" (Die)`, "died", "the node's session is gone"} {
		if !strings.Contains(stderr, want) {
			t.Errorf("stderr lacks %q:\n%s", want, stderr)
		}
	}
	if strings.Contains(stderr, "node errors") {
		t.Errorf("the run went on after the worker died:\n%s", stderr)
	}
	if got := dirNames(t, dir); !slices.Equal(got, before) {
		t.Errorf("the failed run left %q, want %q", got, before)
	}
}

// TestValidatePythonRequiredAndUnavailable: a Python node type's required
// param missing from a definition is a validate error, beside the type's
// unavailability when its packages are not installed.
func TestValidatePythonRequiredAndUnavailable(t *testing.T) {
	needPython(t)
	def := filepath.Join(t.TempDir(), "ultravox.yaml")
	if err := os.WriteFile(def, []byte("version: \"1\"\nnodes:\n  - {id: llm, node_type: UltravoxNode}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	code, _, stderr := runMain(t, "validate", def)
	if code != 1 || !strings.Contains(stderr, "nodes[0].params.model_path: required") {
		t.Fatalf("exit %d, want 1 with model_path required:\n%s", code, stderr)
	}
	t.Logf("%s", stderr)
}

// TestRunInterruptLeavesNoOutput: a run interrupted (its context ends, as on
// Ctrl-C) while a node is busy, after outputs were written, leaves no files.
func TestRunInterruptLeavesNoOutput(t *testing.T) {
	needPython(t)
	dir := t.TempDir()
	fifo := filepath.Join(t.TempDir(), "blocked")
	mkfifo(t, fifo)
	def, module := failingPipeline(t, dir, "Block", "continue", "fifo: "+fifo)
	in := toneWAV(t, dir, "in.wav", 2)
	before := dirNames(t, dir)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	var stderr bytes.Buffer
	go func() {
		done <- cmdRun(ctx, []string{def, "--in", in, "--out", filepath.Join(dir, "out.wav"), "--events", filepath.Join(dir, "events.jsonl"),
			"--module", module, "--python", "on", "--wasm-cache", filepath.Join(t.TempDir(), "cache")}, io.Discard, &stderr)
	}()
	blocked := make(chan error, 1)
	go func() { // the node writes to the FIFO once it has passed 5 frames on and blocks
		_, err := os.ReadFile(fifo)
		blocked <- err
	}()
	timeout := time.After(time.Minute)
	select {
	case err := <-blocked:
		if err != nil {
			t.Fatal(err)
		}
	case err := <-done:
		t.Fatalf("the run ended before the node blocked: %v\n%s", err, stderr.String())
	case <-timeout:
		t.Fatal("the node did not block in time")
	}
	cancel() // Ctrl-C
	select {
	case err := <-done:
		if !errors.Is(err, context.Canceled) {
			t.Errorf("run returned %v, want context.Canceled", err)
		}
	case <-timeout:
		t.Fatal("the interrupted run did not end in time")
	}
	if got := dirNames(t, dir); !slices.Equal(got, before) {
		t.Errorf("the interrupted run left %q, want %q", got, before)
	}
}
