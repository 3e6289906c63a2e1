package cli_test

import (
	"bufio"
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/remotemedia/hybrid/target/server/cli"
)

var update = flag.Bool("update", false, "rewrite docs/nodes.md and docs/definition.schema.json")

const example = "../../../examples/speech-frontend.yaml"

// TestMain points Python nodes at the repository's .venv (scripts/deps.sh makes it).
func TestMain(m *testing.M) {
	if py, err := filepath.Abs("../../../.venv/bin/python"); err == nil && os.Getenv("REMOTEMEDIA_PYTHON") == "" {
		if _, err := os.Stat(py); err == nil {
			os.Setenv("REMOTEMEDIA_PYTHON", py)
		}
	}
	os.Exit(m.Run())
}

// needTool fails in CI (where the test command installs the tool) and skips elsewhere.
func needTool(t *testing.T, name string) {
	t.Helper()
	if _, err := exec.LookPath(name); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("%s is not installed; scripts/deps.sh installs it", name)
		}
		t.Skipf("%s is not installed (scripts/deps.sh installs it)", name)
	}
}

func runCLI(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errb bytes.Buffer
	switch args[0] {
	case "run", "validate", "nodes":
		args = append(args, "--wasm-cache", filepath.Join(t.TempDir(), "cache"))
	}
	code = cli.Main(args, &out, &errb)
	return code, out.String(), errb.String()
}

func sh(t *testing.T, name string, args ...string) {
	t.Helper()
	if out, err := exec.Command(name, args...).CombinedOutput(); err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
}

func soxDuration(t *testing.T, path string) float64 {
	t.Helper()
	out, err := exec.Command("soxi", "-D", path).Output()
	if err != nil {
		t.Fatal(err)
	}
	d, err := strconv.ParseFloat(strings.TrimSpace(string(out)), 64)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// speechWAV makes a 48 kHz stereo WAV of espeak-ng sentences, trimmed of their own
// silence, separated by gaps of silence, over a faint noise floor. It returns the
// path and the true speech segments in seconds.
func speechWAV(t *testing.T, dir string, gaps []float64, sentences []string) (string, [][2]float64) {
	t.Helper()
	needTool(t, "espeak-ng")
	needTool(t, "sox")
	var parts []string
	var truth [][2]float64
	pos := 0.0
	for i, s := range sentences {
		raw := filepath.Join(dir, fmt.Sprintf("raw%d.wav", i))
		clip := filepath.Join(dir, fmt.Sprintf("clip%d.wav", i))
		gap := filepath.Join(dir, fmt.Sprintf("gap%d.wav", i))
		sh(t, "espeak-ng", "-w", raw, s)
		// Trim leading and trailing silence so the clip's edges are the speech's.
		sh(t, "sox", raw, "-r", "48000", "-c", "2", "-b", "16", clip,
			"silence", "1", "0.005", "0.5%", "reverse", "silence", "1", "0.005", "0.5%", "reverse")
		sh(t, "sox", "-n", "-r", "48000", "-c", "2", "-b", "16", gap, "trim", "0", fmt.Sprint(gaps[i]))
		d := soxDuration(t, clip)
		pos += gaps[i]
		truth = append(truth, [2]float64{pos, pos + d})
		pos += d
		parts = append(parts, gap, clip)
	}
	tail := filepath.Join(dir, "tail.wav")
	sh(t, "sox", "-n", "-r", "48000", "-c", "2", "-b", "16", tail, "trim", "0", "1")
	parts = append(parts, tail)
	clean := filepath.Join(dir, "clean.wav")
	sh(t, "sox", append(parts, clean)...)
	noise := filepath.Join(dir, "noise.wav")
	// -R: the same noise every run. Drawn afresh, it changed Whisper's
	// transcript of the test sentence from run to run (1 to 4 of 9 words off),
	// which made TestRunMixedWASMAndPython fail now and then.
	sh(t, "sox", "-R", "-n", "-r", "48000", "-c", "2", "-b", "16", noise, "synth", fmt.Sprint(soxDuration(t, clean)), "whitenoise", "vol", "0.002")
	mixed := filepath.Join(dir, "speech48.wav")
	sh(t, "sox", "-m", clean, noise, mixed)
	return mixed, truth
}

type vadEvent struct {
	Event      string  `json:"event"`
	TimeMS     float64 `json:"time_ms"`
	DurationMS float64 `json:"duration_ms"`
}

func readSegments(t *testing.T, path string) [][2]float64 {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var segs [][2]float64
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		var line struct {
			Node string   `json:"node"`
			Port string   `json:"port"`
			Data vadEvent `json:"data"`
		}
		if err := json.Unmarshal(sc.Bytes(), &line); err != nil {
			t.Fatalf("events line %q: %v", sc.Text(), err)
		}
		if line.Node != "vad" || line.Port != "events" {
			t.Fatalf("unexpected event source %s.%s", line.Node, line.Port)
		}
		switch line.Data.Event {
		case "speech_start":
			segs = append(segs, [2]float64{line.Data.TimeMS / 1000, -1})
		case "speech_end":
			if len(segs) == 0 || segs[len(segs)-1][1] >= 0 {
				t.Fatalf("speech_end without speech_start: %s", sc.Text())
			}
			segs[len(segs)-1][1] = line.Data.TimeMS / 1000
		default:
			t.Fatalf("unknown event %q", line.Data.Event)
		}
	}
	return segs
}

func TestRunFindsSpeechSegments(t *testing.T) {
	dir := t.TempDir()
	in, truth := speechWAV(t, dir, []float64{1.0, 1.2, 0.9},
		[]string{"The quick brown fox jumps over the lazy dog", "Pipelines run in the browser too", "Hello world"})
	out, events := filepath.Join(dir, "out.wav"), filepath.Join(dir, "events.jsonl")
	code, _, stderr := runCLI(t, "run", example, "--in", in, "--out", out, "--events", events)
	if code != 0 {
		t.Fatalf("exit %d:\n%s", code, stderr)
	}
	got := readSegments(t, events)
	if len(got) != len(truth) {
		t.Fatalf("found %d speech segments %v, want %d %v", len(got), got, len(truth), truth)
	}
	for i := range truth {
		for j, edge := range []string{"start", "end"} {
			if d := math.Abs(got[i][j] - truth[i][j]); d > 0.100 {
				t.Errorf("segment %d %s at %.3f s, truth %.3f s: off by %.0f ms (> 100)", i, edge, got[i][j], truth[i][j], d*1000)
			}
		}
	}
	t.Logf("segments %v, truth %v", got, truth)

	// The output is the speech only: as long as the segments plus, for each, the
	// VAD's hangover (200 ms in the example) and a little lookback.
	speech := 0.0
	for _, s := range truth {
		speech += s[1] - s[0]
	}
	if d := soxDuration(t, out); d < speech*0.95 || d > speech+float64(len(truth))*0.3 {
		t.Errorf("out.wav is %.2f s; the speech is %.2f s", d, speech)
	}
}

func writeFile(t *testing.T, dir, name, content string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestBadInputsFailClearly(t *testing.T) {
	dir := t.TempDir()
	goodWAV := filepath.Join(dir, "good.wav")
	needTool(t, "sox")
	sh(t, "sox", "-n", "-r", "48000", "-c", "2", "-b", "16", goodWAV, "synth", "0.5", "sine", "440")
	whole, _ := os.ReadFile(goodWAV)
	truncated := writeFile(t, dir, "truncated.wav", string(whole[:30]))
	garbage := writeFile(t, dir, "garbage.wav", strings.Repeat("not a wav ", 20))
	golden, err := os.ReadFile("../../../testdata/wire/audio_f32_stereo.msgpack")
	if err != nil {
		t.Fatal(err)
	}
	stream := append(append([]byte{}, golden...), golden...)
	truncMsgpack := writeFile(t, dir, "trunc.msgpack", string(stream[:len(stream)-5]))
	chain := func(body string) string {
		return writeFile(t, dir, fmt.Sprintf("def%d.yaml", len(body)), "version: \"1\"\nnodes:\n"+body)
	}
	tests := []struct {
		name   string
		args   []string
		expect []string // substrings of stderr
	}{
		{"malformed yaml", []string{"validate", writeFile(t, dir, "bad.yaml", "version: \"1\"\nnodes: [\n  - id: a\n")}, []string{"line"}},
		{"unknown node type", []string{"validate", chain("  - {id: a, node_type: gian}\n")}, []string{"nodes[0].node_type", "gian", "gain"}},
		{"cycle", []string{"validate", chain("  - {id: a, node_type: gain}\n  - {id: b, node_type: gain}\nconnections:\n  - {from: a, to: b}\n  - {from: b, to: a}\n")}, []string{"cycle"}},
		{"kind mismatch", []string{"validate", chain("  - {id: v, node_type: vad}\n  - {id: g, node_type: gain}\nconnections:\n  - {from: v.events, to: g}\n")}, []string{"connections[0]", "json", "audio"}},
		{"bad param", []string{"validate", chain("  - {id: r, node_type: resample, params: {rate: -5}}\n")}, []string{"nodes[0].params.rate"}},
		{"every problem at once", []string{"validate", writeFile(t, dir, "many.yaml", "version: \"9\"\ncolour: blue\nnodes:\n  - {id: r, node_type: resample, params: {rate: -5}}\n  - {id: g, node_type: gian, speed: 3}\n")},
			[]string{"version", "colour", "nodes[0].params.rate", "nodes[1].node_type", "nodes[1].speed"}},
		{"truncated wav", []string{"run", example, "--in", truncated, "--out", filepath.Join(dir, "o.wav")}, []string{"truncated.wav"}},
		{"garbage wav", []string{"run", example, "--in", garbage, "--out", filepath.Join(dir, "o.wav")}, []string{"garbage.wav", "not a RIFF/WAVE file"}},
		{"missing input", []string{"run", example, "--in", filepath.Join(dir, "nope.wav"), "--out", filepath.Join(dir, "o.wav")}, []string{"nope.wav"}},
		{"no output", []string{"run", example, "--in", goodWAV}, []string{"--out"}},
		{"unknown command", []string{"frobnicate"}, []string{"unknown command"}},
		{"missing --modules directory", []string{"run", example, "--in", goodWAV, "--out", filepath.Join(dir, "o.wav"), "--modules", filepath.Join(dir, "nope")}, []string{"--modules", "nope", "not a directory"}},
		{"truncated msgpack", []string{"frames", truncMsgpack}, []string{"frame 1", "truncated"}},
		{"garbage msgpack", []string{"frames", garbage}, []string{"frame 0", "cannot decode"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			code, _, stderr := runCLI(t, tc.args...)
			if code == 0 {
				t.Fatalf("exit 0, want failure; stderr:\n%s", stderr)
			}
			for _, want := range tc.expect {
				if !strings.Contains(stderr, want) {
					t.Errorf("stderr lacks %q:\n%s", want, stderr)
				}
			}
			if strings.Contains(stderr, "panic") || strings.Contains(stderr, "goroutine ") {
				t.Errorf("stderr shows a panic:\n%s", stderr)
			}
		})
	}
}

func TestValidateExamples(t *testing.T) {
	defs, _ := filepath.Glob("../../../examples/*.yaml")
	if len(defs) == 0 {
		t.Fatal("no example definitions")
	}
	for _, d := range defs {
		if code, out, stderr := runCLI(t, "validate", d); code != 0 || !strings.Contains(out, "ok") {
			t.Errorf("%s: exit %d\n%s%s", d, code, out, stderr)
		}
	}
}

// The committed node reference and schema are what the specs generate.
func TestGeneratedDocsAreCurrent(t *testing.T) {
	for _, tc := range []struct{ file, flag string }{
		{"../../../docs/nodes.md", "--markdown"},
		{"../../../docs/definition.schema.json", "--schema"},
	} {
		code, out, stderr := runCLI(t, "nodes", tc.flag)
		if code != 0 {
			t.Fatalf("nodes %s: exit %d: %s", tc.flag, code, stderr)
		}
		if *update {
			if err := os.WriteFile(tc.file, []byte(out), 0o644); err != nil {
				t.Fatal(err)
			}
		}
		have, err := os.ReadFile(tc.file)
		if err != nil {
			t.Fatal(err)
		}
		if string(have) != out {
			t.Errorf("%s is stale: run `go test ./target/server/cli -run GeneratedDocs -update` (or `make docs`)", tc.file)
		}
	}
}

// A definition mixing WASM nodes with a Python model node runs against real
// worker processes: the VAD's speech reaches Whisper, whose transcript comes back.
func TestRunMixedWASMAndPython(t *testing.T) {
	if _, err := os.Stat("../../../.venv/bin/python"); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("no .venv: scripts/deps.sh installs the Python package")
		}
		t.Skip("no .venv with the Python package (make deps)")
	}
	dir := t.TempDir()
	// Whisper tiny.en hears this one from espeak-ng whole ("The quick brown fox"
	// lost 3 of its 9 words, exactly the allowance, so a change of CPU could fail it).
	sentence := "Please call Stella and ask her to bring these things with her from the store"
	in, _ := speechWAV(t, dir, []float64{0.8}, []string{sentence})
	events := filepath.Join(dir, "events.jsonl")
	code, _, stderr := runCLI(t, "run", "../../../examples/transcribe.yaml", "--in", in, "--events", events, "--python", "on")
	if code != 0 {
		t.Fatalf("exit %d:\n%s", code, stderr)
	}
	raw, err := os.ReadFile(events)
	if err != nil {
		t.Fatal(err)
	}
	var transcript []string
	for _, line := range strings.Split(strings.TrimSpace(string(raw)), "\n") {
		var ev struct{ Node, Kind, Text string }
		if err := json.Unmarshal([]byte(line), &ev); err != nil {
			t.Fatalf("%q: %v", line, err)
		}
		if ev.Node == "asr" && ev.Kind == "text" {
			transcript = append(transcript, ev.Text)
		}
	}
	got := strings.Join(transcript, " ")
	want := strings.Fields(strings.ToLower(sentence))
	words := map[string]bool{}
	for _, w := range strings.Fields(strings.ToLower(got)) {
		words[strings.Trim(w, ".,!?")] = true
	}
	missing := 0
	for _, w := range want {
		if !words[w] {
			missing++
		}
	}
	t.Logf("transcript %q: %d of %d words missing", got, missing, len(want))
	if missing > len(want)/3 {
		t.Fatalf("transcript %q misses %d of %d words of %q", got, missing, len(want), sentence)
	}
}

// `nodes` lists the WASM node types; with --python on, the worker's types too.
func TestNodesListsBothRuntimes(t *testing.T) {
	code, out, stderr := runCLI(t, "nodes")
	if code != 0 || !strings.Contains(out, "resample") || strings.Contains(out, "WhisperASR") {
		t.Fatalf("nodes: exit %d\n%s%s", code, out, stderr)
	}
	if os.Getenv("REMOTEMEDIA_PYTHON") == "" {
		if os.Getenv("CI") != "" {
			t.Fatal("no .venv: scripts/deps.sh installs the Python package")
		}
		t.Skip("no .venv with the Python package (make deps)")
	}
	code, out, stderr = runCLI(t, "nodes", "--python", "on")
	if code != 0 || !strings.Contains(out, "WhisperASR") || !strings.Contains(out, "python") || !strings.Contains(out, "vad") {
		t.Fatalf("nodes --python on: exit %d\n%s%s", code, out, stderr)
	}
}
