package main

import (
	"context"
	"encoding/json"
	"errors"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/remotemedia/hybrid/core/frame"
)

func TestMetrics(t *testing.T) {
	// 30 ms frames onto the 10 ms grid: grid frame i takes frame (10i+5)/30
	if got := grid([]bool{false, true, false}, 30, 10); !slicesEqual(got, []bool{false, false, false, true, true, true, false, false, false, false}) {
		t.Errorf("grid: %v", got)
	}
	if got := segmentGrid([]Segment{{0.02, 0.051}, {0.08, 0.2}}, 10); !slicesEqual(got, []bool{false, false, true, true, true, false, false, false, true, true}) {
		t.Errorf("segmentGrid: %v", got)
	}
	var c counts
	c.add([]bool{true, true, true, false, false}, []bool{true, false, true, true, false})
	if c != (counts{tp: 2, fp: 1, fn: 1}) || math.Abs(c.f1()-2.0/3) > 1e-12 {
		t.Errorf("counts %+v, F1 %v", c, c.f1())
	}
	if (counts{}).f1() != 0 {
		t.Error("F1 of nothing found is not 0")
	}
	// start 0.1 off, end 0.02 off; the second segment found nothing near: two capped errors
	sum, n := boundaryErrors([]Segment{{1, 2}, {5, 6}}, []Segment{{1.1, 1.98}})
	if n != 4 || math.Abs(sum-(0.1+0.02+2*maxBoundaryErr)) > 1e-9 {
		t.Errorf("boundary errors %v over %d", sum, n)
	}
}

func slicesEqual(a, b []bool) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestLabels(t *testing.T) {
	// a 1 s "utterance": 100 ms of silence, 300 ms loud, 150 ms quiet (-50 dB: not speech, bridged), 300 ms loud, silence
	s := make([]float32, Rate)
	for i := range s {
		ms := i * 1000 / Rate
		switch {
		case ms >= 100 && ms < 400, ms >= 550 && ms < 850:
			s[i] = float32(0.5 * math.Sin(float64(i)*0.3))
		case ms >= 400 && ms < 550:
			s[i] = float32(0.0015 * math.Sin(float64(i)*0.3))
		}
	}
	trimmed, lab := labelUtterance(s)
	if len(trimmed) != 750*Rate/1000 || len(lab) != 75 {
		t.Fatalf("trimmed to %d samples, %d labels; want 750 ms", len(trimmed), len(lab))
	}
	for i, l := range lab {
		if !l {
			t.Errorf("frame %d not speech: a 150 ms gap is bridged", i)
		}
	}
	// a 250 ms gap is not bridged
	for i := 400 * Rate / 1000; i < 650*Rate/1000; i++ {
		s[i] = 0
	}
	_, lab = labelUtterance(s)
	if segs := segments(lab); len(segs) != 2 || segs[0] != (Segment{0, 0.3}) || segs[1] != (Segment{0.55, 0.75}) {
		t.Errorf("segments %v", segs)
	}
}

// TestQuick runs a small evaluation of our node alone (no Python): real speech in
// white and pink noise at 5 and 0 dB.
func TestQuick(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	r, err := Evaluate(ctx, Options{Speakers: 1, Utterances: 2, Conditions: []Condition{{"white", 5}, {"pink", 0}}})
	if errors.Is(err, errTool) && os.Getenv("CI") == "" {
		t.Skip(err)
	}
	if err != nil {
		t.Fatal(err)
	}
	r.Print(os.Stdout)
	for _, c := range r.Conditions {
		if s := r.Scores["ours"][c]; s.F1 < 0.9 || s.BoundaryMS > 150 {
			t.Errorf("%v: F1 %.3f, boundary error %.0f ms; want >= 0.9 and <= 150 ms", c, s.F1, s.BoundaryMS)
		}
	}
	if r.CPUPerHour["ours"] <= 0 {
		t.Errorf("CPU per hour %v", r.CPUPerHour["ours"])
	}
}

func TestParamErrors(t *testing.T) {
	ctx := context.Background()
	v, err := newOurs(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer v.Close(ctx)
	for params, want := range map[string]map[string]any{
		"window_ms must be 10 to 30": {"window_ms": 40.0},
		"mode must be 0, 1, 2 or 3":  {"mode": 1.5},
	} {
		if _, _, err := v.run(ctx, make([]int16, Rate), want, 20); err == nil || !strings.Contains(err.Error(), params) {
			t.Errorf("params %v: %v, want an error saying %q", want, err, params)
		}
	}
}

// BenchmarkVADEval runs the whole evaluation once (make bench: -benchtime 1x) and
// reports, per condition, each detector's frame F1 and boundary error, how ours
// compares with webrtcvad (its best mode) and Silero, and CPU time per hour of audio.
func BenchmarkVADEval(b *testing.B) {
	root := filepath.Join("..", "..")
	o := Options{Script: filepath.Join(root, "pyproxy", "python", "scripts", "vad_eval.py")}
	if py := filepath.Join(root, ".venv", "bin", "python"); fileExists(py) {
		o.Python = py
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Minute)
	defer cancel()
	r, err := Evaluate(ctx, o)
	if err != nil {
		b.Fatal(err)
	}
	for k, v := range r.Missing {
		b.Logf("%s did not run: %s", k, v)
	}
	web := r.BestWebRTC()
	for _, c := range r.Conditions {
		b.Run(strings.ReplaceAll(c.String(), " ", ""), func(b *testing.B) {
			ours := r.Scores["ours"][c]
			b.ReportMetric(ours.F1, "F1-ours")
			b.ReportMetric(ours.BoundaryMS, "boundary-ms-ours")
			if s, ok := r.Scores[web][c]; ok {
				b.ReportMetric(s.F1, "F1-webrtcvad")
				b.ReportMetric(s.BoundaryMS, "boundary-ms-webrtcvad")
				b.ReportMetric(ours.F1/s.F1, "F1-ratio-webrtcvad")
			}
			if s, ok := r.Scores["silero"][c]; ok {
				b.ReportMetric(s.F1, "F1-silero")
				b.ReportMetric(s.BoundaryMS, "boundary-ms-silero")
				b.ReportMetric(s.F1-ours.F1, "F1-gap-silero")
			}
		})
	}
	b.Run("cpu", func(b *testing.B) {
		ours := r.CPUPerHour["ours"].Seconds()
		b.ReportMetric(ours, "cpu-s/h-ours")
		if web != "" {
			b.ReportMetric(r.CPUPerHour[web].Seconds(), "cpu-s/h-webrtcvad")
			b.ReportMetric(float64(web[len(web)-1]-'0'), "webrtcvad-mode")
		}
		if s, ok := r.CPUPerHour["silero"]; ok {
			b.ReportMetric(s.Seconds(), "cpu-s/h-silero")
		}
		if s, ok := r.CPUPerHour[SileroSession]; ok { // the goal's ratio: its model calls alone against our node calls
			b.ReportMetric(s.Seconds(), "cpu-s/h-silero-session")
			b.ReportMetric(s.Seconds()/ours, "cpu-ratio-silero")
		}
	})
}

func fileExists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}

// TestBaselineScript runs vad_eval.py on one second of noise: one decision per
// 30 ms for webrtcvad and one probability per 32 ms for Silero, and Silero's
// model calls alone take part of its loop's CPU time. It needs the project's
// venv (.venv) with webrtcvad and Silero's model; without them it skips.
func TestBaselineScript(t *testing.T) {
	python := filepath.Join("..", "..", ".venv", "bin", "python")
	if !fileExists(python) {
		t.Skip("no .venv: scripts/deps.sh makes it")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	pcm := make([]int16, Rate)
	for i, v := range noise("white", len(pcm), 3) {
		pcm[i] = int16(v * 1000)
	}
	wav := filepath.Join(t.TempDir(), "noise.wav")
	if err := writeWAV(wav, pcm); err != nil {
		t.Fatal(err)
	}
	out, err := exec.CommandContext(ctx, python, filepath.Join("..", "..", "pyproxy", "python", "scripts", "vad_eval.py"), wav).Output()
	if err != nil {
		t.Fatal(err)
	}
	var got struct {
		WebRTC struct {
			Error string `json:"error"`
			Modes map[string]struct {
				Files map[string][]int `json:"files"`
			} `json:"modes"`
		} `json:"webrtcvad"`
		Silero struct {
			Error   string               `json:"error"`
			CPU     float64              `json:"cpu_s"`
			Session float64              `json:"session_cpu_s"`
			Files   map[string][]float64 `json:"files"`
		} `json:"silero"`
	}
	if err := json.Unmarshal(out, &got); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	if got.WebRTC.Error != "" || got.Silero.Error != "" {
		t.Skipf("a baseline cannot run here: %q %q", got.WebRTC.Error, got.Silero.Error)
	}
	if n := len(got.WebRTC.Modes["3"].Files[wav]); n != 33 { // 1000 ms / 30 ms
		t.Errorf("webrtcvad: %d decisions, want 33", n)
	}
	if n := len(got.Silero.Files[wav]); n != 31 { // 16000 / 512
		t.Errorf("Silero: %d probabilities, want 31", n)
	}
	if got.Silero.Session <= 0 || got.Silero.Session > got.Silero.CPU {
		t.Errorf("Silero: model calls %.6f s of CPU, its loop %.6f s: want 0 < calls <= loop", got.Silero.Session, got.Silero.CPU)
	}
}

// BenchmarkVADNode is one 20 ms frame (16 kHz mono) through the vad node as the
// evaluation and the server run it (wasmhost with the standard modules
// trusted, the wasmnode adapter): the frame copied in, the call, gated audio
// and events copied out. The signal is white noise at -40 dBFS with 1 s
// bursts of a voiced-like harmonic tone every 2 s, so a quarter of the frames
// are gated out as speech. Under valgrind (see docs/vad.md) it counts the
// x86 instructions of the whole call.
func BenchmarkVADNode(b *testing.B) {
	ctx := context.Background()
	o, err := newOurs(ctx)
	if err != nil {
		b.Fatal(err)
	}
	defer o.Close(ctx)
	n, _, err := o.node(ctx, nil)
	if err != nil {
		b.Fatal(err)
	}
	defer n.Close()
	s := make([]int16, 8*Rate)
	for i, v := range noise("white", len(s), 5) {
		x := 0.01 * v
		if t := float64(i) / Rate; math.Mod(t, 2) >= 1 && math.Mod(t, 2) < 1.5 {
			for h := 1; h <= 12; h++ {
				x += 0.3 / float64(h) * math.Sin(2*math.Pi*140*float64(h)*t)
			}
		}
		s[i] = int16(max(-32767, min(32767, x*32768)))
	}
	frames := audioFrames(s, 0, len(s), 20)
	emit := func(int, *frame.Frame) {}
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		f := frames[i%len(frames)]
		f.Timestamp = int64(i) * 20000
		if err := n.Process(ctx, 0, f, emit); err != nil {
			b.Fatal(err)
		}
	}
}
