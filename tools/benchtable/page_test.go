package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestWritePage: the page's plan table, ratios and stream rows are computed
// from the measurements as their notes say.
func TestWritePage(t *testing.T) {
	res := &measurements{results: map[string]map[string][]float64{}, Machine: machine{CPU: "Test CPU", Cores: 2}}
	for _, m := range []struct {
		bench, unit string
		v           float64
	}{
		{"BenchmarkChain/nodes=8", "ns/hop", 100},
		{"BenchmarkProcessEmpty", "ns/op", 400},
		{"BenchmarkToMono/wasm", "ns/op", 1000},
		{"BenchmarkResample/wasm", "ns/op", 6000},
		{"BenchmarkGain/wasm", "ns/op", 1000},
		{"BenchmarkVAD/wasm", "ns/op", 2000},
		{"BenchmarkRoundTrip/websocket", "p50-µs", 190},
		{"BenchmarkRoundTrip/websocket", "p50-µs", 200}, // the median of 190, 200, 210
		{"BenchmarkRoundTrip/websocket", "p50-µs", 210},
		{"BenchmarkFrontEndChain", "µs/frame", 12},
		{"BenchmarkBrowser/call/tab", "ns/call", 900},
		{"BenchmarkBrowser/python/tab", "p50-µs", 300},
		{baselineBench + "remotemedia", "total_us", 150},
		{baselineBench + "remotemedia", "model_us", 1},
		{baselineBench + "remotemedia", "streams", 150},
		{baselineBench + "competent", "total_us", 91},
		{baselineBench + "competent", "model_us", 1},
		{liveBench + "/held", "sessions", 400},
		{sweepBench(1), "streams", 200},
		{sweepBench(2), "streams", 150},
	} {
		res.add(m.bench, m.unit, m.v)
	}
	path := filepath.Join(t.TempDir(), "benchmarks.md")
	if err := writePage(path, res, tableOf(res)); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	page := string(b)
	for _, want := range []string{
		"**Test CPU, 2 cores**",
		"| orchestration (the nodes' scheduling and calls) | 2 | 4 |",                         // 4 × (0.1 + 0.4), 4 × (0.1 + 0.9)
		"| preprocessing (to mono, resample 48→16 kHz, +6 dB) | 8 | 8 |",                      // 1 + 6 + 1
		"| a Python model stage (pass-through), through the proxy | 200 | 300 | 1 | 1 |",      // p50s; the baselines' hop
		"| **total** | 212 | 314 | 150 | 91.0 |",                                              // chain + round trip; the tab's sum
		"hybrid server = **12.4×**; a competent engineer's Python / hybrid server = **7.5×**", // 149/12, 90/12
		// 2 cores × 1e6 / (12 µs × 50) = 3333 streams; the competent best 200; as shipped 150
		"hybrid 3333, Python as RemoteMedia ships it 150, the competent Python in its best configuration (streams per process: 1) 200: hybrid / as shipped = **22.2×**, hybrid / competent = **16.7×**",
		"4.66 µs: Extism's / ours = **11.7×**", // 4.66 / 0.4
	} {
		if !strings.Contains(page, want) {
			t.Errorf("the page lacks %q:\n%s", want, page)
		}
	}
	if !strings.Contains(page, "Not measured in this run") || !strings.Contains(page, "BenchmarkFrontEndStreams streams") {
		t.Errorf("the page does not list what was not measured:\n%s", page)
	}
}

// TestMergeMeasurements: a later run's benchmark replaces the same one of the
// first run (all its units), the others stay, new ones come last.
func TestMergeMeasurements(t *testing.T) {
	first := &measurements{results: map[string]map[string][]float64{}, Machine: machine{CPU: "first"}}
	first.add("A", "ns/op", 1)
	first.add("Live", "p99-ms", 30)
	first.add("Live", "sessions", 0)
	later := &measurements{results: map[string]map[string][]float64{}, Machine: machine{CPU: "later"}}
	later.add("Live", "p99-ms", 12)
	later.add("B", "ns/op", 2)
	m := (*measurements)(nil).merge(first).merge(later)
	if got := strings.Join(m.order, ","); got != "A,Live,B" {
		t.Errorf("order %s, want A,Live,B", got)
	}
	if v, _ := m.median("Live", "p99-ms"); v != 12 {
		t.Errorf("Live p99 %v, want the later run's 12", v)
	}
	if _, ok := m.median("Live", "sessions"); ok {
		t.Errorf("Live keeps the first run's sessions: a benchmark is replaced whole")
	}
	if v, _ := m.median("A", "ns/op"); v != 1 || m.Machine.CPU != "first" {
		t.Errorf("A %v on %q, want the first run's 1 on \"first\"", v, m.Machine.CPU)
	}
}
