package main

// docs/benchmarks.md: the page `make bench` writes from its run (-markdown),
// with the plan's table, the stream, start-up and memory figures, the WASM
// call beside Extism's, a plot (pyproxy/python/scripts/bench_plot.py, with
// matplotlib) and every row of the table.

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Extism's Go SDK no-op plugin call: the figure its README published, and the
// one its own benchmark gave on a machine of this project's kind
// (/work/shared/FACTS.md: v1.7.1, 2 cores).
const (
	extismPublishedUS = 4.66
	extismMeasuredUS  = 61.7
)

// exampleHops are the example chain's node calls per frame: to_mono, resample,
// gain, vad.
const exampleHops = 4

// machine is where the measurements were taken.
type machine struct {
	CPU     string `json:"cpu"`
	Cores   int    `json:"cores"`
	OSArch  string `json:"os_arch"`
	Go      string `json:"go"`
	Commit  string `json:"commit"`
	Date    string `json:"date"`
	Workers string `json:"python"`
}

func thisMachine() machine {
	m := machine{CPU: "unknown CPU", Cores: runtime.NumCPU(), OSArch: runtime.GOOS + "/" + runtime.GOARCH,
		Go: runtime.Version(), Date: time.Now().UTC().Format("2006-01-02 15:04 UTC")}
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, l := range strings.Split(string(b), "\n") {
			if k, v, ok := strings.Cut(l, ":"); ok && strings.TrimSpace(k) == "model name" {
				m.CPU = strings.TrimSpace(v)
				break
			}
		}
	}
	if out, err := exec.Command("git", "describe", "--tags", "--always", "--dirty").Output(); err == nil {
		m.Commit = strings.TrimSpace(string(out))
	}
	if out, err := exec.Command(benchPython(), "--version").CombinedOutput(); err == nil {
		m.Workers = strings.TrimSpace(string(out))
	}
	return m
}

// savedMeasurements is -save's file.
type savedMeasurements struct {
	Machine machine                         `json:"machine"`
	Quick   bool                            `json:"quick"`
	Order   []string                        `json:"order"`
	Results map[string]map[string][]float64 `json:"results"`
}

func (m *measurements) save(path string) error {
	b, err := json.MarshalIndent(savedMeasurements{m.Machine, m.Quick, m.order, m.results}, "", " ")
	if err != nil {
		return err
	}
	return os.WriteFile(path, append(b, '\n'), 0o644)
}

// merge returns m with later's benchmarks put in place of its own of the same
// name; m may be nil. The machine and date stay m's.
func (m *measurements) merge(later *measurements) *measurements {
	if m == nil {
		return later
	}
	for _, name := range later.order {
		if _, seen := m.results[name]; !seen {
			m.order = append(m.order, name)
		}
		m.results[name] = later.results[name]
	}
	m.Quick = m.Quick || later.Quick
	return m
}

func loadMeasurements(path string) (*measurements, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var s savedMeasurements
	if err := json.Unmarshal(b, &s); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return &measurements{results: s.Results, order: s.Order, Machine: s.Machine, Quick: s.Quick}, nil
}

// page reads the figures of the page from the measurements, noting those not
// measured in missing (their cells show a dash).
type page struct {
	res     *measurements
	missing []string
}

// get is bench's unit (median over the runs) times scale.
func (p *page) get(bench, unit string, scale float64) (float64, bool) {
	v, ok := p.res.median(bench, unit)
	if !ok {
		p.missing = append(p.missing, bench+" "+unit)
	}
	return v * scale, ok
}

// sum adds figures, each (bench, unit, scale, times); ok only when all were measured.
func (p *page) sum(parts ...part) (float64, bool) {
	total, all := 0.0, true
	for _, q := range parts {
		v, ok := p.get(q.bench, q.unit, q.scale)
		total += v * q.times
		all = all && ok
	}
	return total, all
}

type part struct {
	bench, unit  string
	scale, times float64
}

func us(bench string) part { return part{bench, "ns/op", 1e-3, 1} }
func fmtv(v float64, ok bool) string {
	if !ok {
		return "—"
	}
	return num(v)
}

// writePage writes the Markdown page to path and its plot beside it.
func writePage(path string, res *measurements, table []tableRow) error {
	p := &page{res: res}
	var b bytes.Buffer
	m := res.Machine
	fmt.Fprintf(&b, "# Benchmarks\n\n")
	fmt.Fprintf(&b, "**%s, %d cores** (%s), %s, %s. Written by `make bench` (tools/benchtable) from its run of %s",
		m.CPU, m.Cores, m.OSArch, m.Go, m.Workers, m.Date)
	if m.Commit != "" {
		fmt.Fprintf(&b, " on `%s`", m.Commit)
	}
	fmt.Fprintf(&b, "; do not edit by hand.\n\n")
	if res.Quick {
		fmt.Fprintf(&b, "> **-quick run: tiny inputs to check the harness; these figures are not measurements.**\n\n")
	}
	fmt.Fprintf(&b, "Timings are medians over several runs on a shared machine and swing about 2× with its neighbours' load: "+
		"compare the ratios, not the absolutes, across machines. The x86 instruction counts under valgrind (at the end) do not swing; "+
		"`make test` fails when they grow by more than 10%% (testdata/instructions.json).\n\n")

	// The plan's table.
	type col struct {
		v  float64
		ok bool
	}
	server := map[string]col{}
	tab := map[string]col{}
	set := func(dst map[string]col, k string) func(float64, bool) {
		return func(v float64, ok bool) { dst[k] = col{v, ok} }
	}
	hop, hopOK := p.get("BenchmarkChain/nodes=8", "ns/hop", 1e-3)
	call, callOK := p.get("BenchmarkProcessEmpty", "ns/op", 1e-3)
	set(server, "orch")(exampleHops*(hop+call), hopOK && callOK)
	set(server, "pre")(p.sum(us("BenchmarkToMono/wasm"), us("BenchmarkResample/wasm"), us("BenchmarkGain/wasm")))
	set(server, "vad")(p.get("BenchmarkVAD/wasm", "ns/op", 1e-3))
	set(server, "model")(p.get("BenchmarkRoundTrip/websocket", "p50-µs", 1))
	set(server, "total")(p.sum(part{"BenchmarkFrontEndChain", "µs/frame", 1, 1}, part{"BenchmarkRoundTrip/websocket", "p50-µs", 1, 1}))
	tabCall, tabCallOK := p.get("BenchmarkBrowser/call/tab", "ns/call", 1e-3)
	set(tab, "orch")(exampleHops*(hop+tabCall), hopOK && tabCallOK)
	tab["pre"], tab["vad"] = server["pre"], server["vad"]
	set(tab, "model")(p.get("BenchmarkBrowser/python/tab", "p50-µs", 1))
	tab["total"] = col{tab["orch"].v + tab["pre"].v + tab["vad"].v + tab["model"].v, tab["orch"].ok && tab["pre"].ok && tab["vad"].ok && tab["model"].ok}
	py := func(style, unit string) string { return fmtv(p.get(baselineBench+style, unit, 1)) }
	fmt.Fprintf(&b, "## The plan's table: CPU µs per 20 ms frame of 48 kHz stereo\n\n")
	fmt.Fprintf(&b, "| stage | hybrid, server | hybrid, browser tab | Python baseline: as RemoteMedia ships its nodes | Python baseline: a competent engineer's |\n| --- | ---: | ---: | ---: | ---: |\n")
	for _, r := range []struct{ key, what, unit string }{
		{"orch", "orchestration (the nodes' scheduling and calls)", "orchestration_us"},
		{"pre", "preprocessing (to mono, resample 48→16 kHz, +6 dB)", "preprocessing_us"},
		{"vad", "VAD", "vad_us"},
		{"model", "a Python model stage (pass-through), through the proxy", "model_us"},
		{"total", "**total**", "total_us"},
	} {
		fmt.Fprintf(&b, "| %s | %s | %s | %s | %s |\n", r.what, fmtv(server[r.key].v, server[r.key].ok), fmtv(tab[r.key].v, tab[r.key].ok),
			py("remotemedia", r.unit), py("competent", r.unit))
	}
	fmt.Fprintf(&b, "\n- **hybrid, server**: the WASM modules under wazero (SIMD128). Orchestration: %d node calls, each a scheduler hop "+
		"(BenchmarkChain) and a WASM call with the frame copied in (BenchmarkProcessEmpty). The model stage: a pass-through Python "+
		"node's round trip over the session WebSocket, p50 (BenchmarkRoundTrip/websocket). Total: the example chain end to end "+
		"(BenchmarkFrontEndChain) plus that round trip.\n", exampleHops)
	fmt.Fprintf(&b, "- **hybrid, browser tab**: the same module bytes in headless Chromium. Orchestration: %d node calls from Go in the tab "+
		"with their copies (BenchmarkBrowser/call/tab) and scheduler hops; preprocessing and VAD: the wazero kernel times (the SIMD "+
		"kernels ran at parity in V8, FACTS.md); the model stage: the tab's round trip to a Python node, p50; total: the sum.\n", exampleHops)
	fmt.Fprintf(&b, "- **Python baselines** (pyproxy/python/scripts/bench_baselines.py), in process, so the model stage is one more "+
		"asyncio hop. *As RemoteMedia ships its nodes*: librosa.resample per 20 ms chunk, RemoteMedia's RMS VoiceActivityDetector, "+
		"an unbounded asyncio.Queue per node. *Competent*: bench_frontend.py's streaming FIR and vectorized VAD, bounded queues. "+
		"Stages are timed alone; orchestration is four pass-through nodes joined the same way; the total is the whole pipeline with "+
		"several streams at once, so it need not equal the sum.\n\n")

	// Headline ratios.
	ratio := func(a, bb col) string {
		if !a.ok || !bb.ok || bb.v == 0 {
			return "—"
		}
		return num(a.v/bb.v) + "×"
	}
	pyTotal := func(style string) col {
		v, ok := p.get(baselineBench+style, "total_us", 1)
		return col{v, ok}
	}
	noModel := func(c map[string]col) col {
		return col{c["total"].v - c["model"].v, c["total"].ok && c["model"].ok}
	}
	pyNoModel := func(style string) col {
		t, m := pyTotal(style), col{}
		m.v, m.ok = p.get(baselineBench+style, "model_us", 1)
		return col{t.v - m.v, t.ok && m.ok}
	}
	fmt.Fprintf(&b, "## Headline ratios\n\n")
	fmt.Fprintf(&b, "- Front end (everything but the model stage), CPU per frame: Python as RemoteMedia ships it / hybrid server = **%s**; "+
		"a competent engineer's Python / hybrid server = **%s**.\n", ratio(pyNoModel("remotemedia"), noModel(server)), ratio(pyNoModel("competent"), noModel(server)))
	held, heldOK := p.get(liveBench+"/held", "sessions", 1)
	best, bestS, bestOK := 0.0, 0, false
	for _, s := range sweepStreams {
		if v, ok := p.res.median(sweepBench(s), "streams"); ok && v > best {
			best, bestS, bestOK = v, s, true
		}
	}
	chain, chainOK := p.get("BenchmarkFrontEndChain", "µs/frame", 1)
	cpuStreams := col{float64(m.Cores) * 1e6 / (chain * frameRate), chainOK && chain > 0}
	shipped, shippedOK := p.get(baselineBench+"remotemedia", "streams", 1)
	fmt.Fprintf(&b, "- Real-time streams of the front end the CPUs carry (the CPUs ÷ CPU per frame, the same count for each): hybrid %s, "+
		"Python as RemoteMedia ships it %s, the competent Python in its best configuration (streams per process: %d) %s: "+
		"hybrid / as shipped = **%s**, hybrid / competent = **%s**. The live server, network and load tool included, "+
		"held %s sessions at p99 ≤ 20 ms.\n", fmtv(cpuStreams.v, cpuStreams.ok), fmtv(shipped, shippedOK), bestS, fmtv(best, bestOK),
		ratio(cpuStreams, col{shipped, shippedOK}), ratio(cpuStreams, col{best, bestOK}), fmtv(held, heldOK))
	fmt.Fprintf(&b, "- A WASM node call, a 20 ms stereo frame in: %s µs, against Extism's Go SDK's published no-op call of %s µs: Extism's / ours = **%s**.\n\n",
		fmtv(call, callOK), num(extismPublishedUS), ratio(col{extismPublishedUS, true}, col{call, callOK}))

	// Streams.
	fmt.Fprintf(&b, "## Concurrent real-time streams (50 frames a second each)\n\n| | streams |\n| --- | ---: |\n")
	fmt.Fprintf(&b, "| hybrid live server: sessions held at p99 ≤ 20 ms without loss (serve and its load tool on this machine) | %s |\n", fmtv(held, heldOK))
	fmt.Fprintf(&b, "| hybrid live server: the capacity its CPU per session frame implies (server alone) | %s |\n", fmtv(p.get(muxBench(liveFull.muxes[0]), "capacity", 1)))
	fmt.Fprintf(&b, "| hybrid in process: the example chain, 64 sessions as fast as they go | %s |\n", fmtv(p.get("BenchmarkFrontEndStreams", "streams", 1)))
	fmt.Fprintf(&b, "| hybrid, the example chain: the CPUs ÷ its CPU per frame (as the Python rows) | %s |\n", fmtv(cpuStreams.v, cpuStreams.ok))
	fmt.Fprintf(&b, "| Python as RemoteMedia ships its nodes: the CPUs ÷ CPU per frame | %s |\n", fmtv(p.get(baselineBench+"remotemedia", "streams", 1)))
	fmt.Fprintf(&b, "| Python, competent: the best of the sweep below | %s |\n\n", fmtv(best, bestOK))
	fmt.Fprintf(&b, "The Python streams are the CPUs ÷ the CPU a frame costs (the CPU a process uses, as fast as it goes). The competent "+
		"baseline (bench_frontend.py) swept over streams per process, a process per CPU:\n\n"+
		"| streams per process | CPU µs per frame | real-time streams |\n| ---: | ---: | ---: |\n")
	for _, s := range sweepStreams {
		if _, ok := p.res.median(sweepBench(s), "streams"); ok {
			fmt.Fprintf(&b, "| %d | %s | %s |\n", s, fmtv(p.get(sweepBench(s), "cpu-µs/frame", 1)), fmtv(p.get(sweepBench(s), "streams", 1)))
		}
	}
	plot := strings.TrimSuffix(path, filepath.Ext(path)) + ".svg"
	if err := writePlot(p, plot, held, cpuStreams.v, best); err != nil {
		fmt.Fprintf(os.Stderr, "benchtable: the plot: %v\n", err)
		fmt.Fprintf(&b, "\n(No plot: %v.)\n\n", err)
	} else {
		fmt.Fprintf(&b, "\n![Round-trip latency of live sessions as they are stepped up, and the streams each engine carries](%s)\n\n", filepath.Base(plot))
	}

	// Start-up and memory.
	fmt.Fprintf(&b, "## Start-up: process start to its first processed frame\n\n| | ms |\n| --- | ---: |\n")
	for _, r := range []struct {
		what, bench, unit string
		scale             float64
	}{
		{"hybrid: `remotemedia run` of the example chain on one frame, compiled-module cache empty", startupBench + "hybrid/cold", "ms", 1},
		{"hybrid: the same, modules from the cache", startupBench + "hybrid/cached", "ms", 1},
		{"hybrid: the standard modules compiled, cold (in process)", "BenchmarkLoadModules/cold", "ns/op", 1e-6},
		{"hybrid: the same from the cache", "BenchmarkLoadModules/cached", "ns/op", 1e-6},
		{"browser tab: page load to the first processed frame, cold", "BenchmarkBrowser/first-frame/cold", "ms", 1},
		{"browser tab: the same, warm (module cache)", "BenchmarkBrowser/first-frame/warm", "ms", 1},
		{"Python as RemoteMedia ships its nodes (imports librosa)", startupBench + "python/remotemedia", "ms", 1},
		{"Python, competent", startupBench + "python/competent", "ms", 1},
	} {
		fmt.Fprintf(&b, "| %s | %s |\n", r.what, fmtv(p.get(r.bench, r.unit, r.scale)))
	}
	fmt.Fprintf(&b, "\n## Memory per stream\n\n| | KiB |\n| --- | ---: |\n")
	fmt.Fprintf(&b, "| hybrid live server, per session (resident half way through the load less idle, ÷ sessions) | %s |\n", fmtv(p.get(muxBench(liveFull.muxes[0]), "KiB/session", 1)))
	fmt.Fprintf(&b, "| Python as RemoteMedia ships its nodes (resident while the streams run less before, ÷ streams) | %s |\n", py("remotemedia", "kib_per_stream"))
	fmt.Fprintf(&b, "| Python, competent (the same) | %s |\n", py("competent", "kib_per_stream"))

	fmt.Fprintf(&b, "\n## WASM call overhead beside Extism\n\n| | µs |\n| --- | ---: |\n")
	fmt.Fprintf(&b, "| a node call under wazero: an empty module, a 20 ms stereo frame copied in (BenchmarkProcessEmpty) | %s |\n", fmtv(call, callOK))
	fmt.Fprintf(&b, "| a raw export call under wazero (BenchmarkFuncCall) | %s |\n", fmtv(p.get("BenchmarkFuncCall", "ns/op", 1e-3)))
	fmt.Fprintf(&b, "| a node call in the browser tab, copies included | %s |\n", fmtv(tabCall, tabCallOK))
	fmt.Fprintf(&b, "| Extism's Go SDK, a no-op plugin call: its published figure | %s |\n", num(extismPublishedUS))
	fmt.Fprintf(&b, "| Extism's Go SDK v1.7.1, the same measured by its own benchmark on a 2-core machine of this kind (not in this run) | %s |\n", num(extismMeasuredUS))

	fmt.Fprintf(&b, "\n")
	writeVoiceSection(p, &b)
	fmt.Fprintf(&b, "## Every row of the run\n\n| measure | value | target | meets |\n| --- | ---: | --- | --- |\n")
	for _, r := range table {
		fmt.Fprintf(&b, "| %s | %s | %s | %s |\n", strings.TrimSpace(r.what), r.value, r.target, r.meets)
	}
	if len(p.missing) > 0 {
		slices.Sort(p.missing)
		fmt.Fprintf(&b, "\nNot measured in this run (a suite failed or was left out): %s.\n", strings.Join(slices.Compact(p.missing), ", "))
	}
	return os.WriteFile(path, b.Bytes(), 0o644)
}

// writePlot draws the live step-up's round-trip latency against sessions and
// the streams each engine carries, with matplotlib (bench_plot.py), to path.
func writePlot(p *page, path string, held, cpuStreams, best float64) error {
	type point struct {
		Sessions int     `json:"sessions"`
		P50      float64 `json:"p50_ms"`
		P99      float64 `json:"p99_ms"`
		Held     bool    `json:"held"`
	}
	var steps []point
	prefix := liveBench + "/step="
	for _, name := range p.res.order {
		n, err := strconv.Atoi(strings.TrimPrefix(name, prefix))
		if !strings.HasPrefix(name, prefix) || err != nil {
			continue
		}
		p50, _ := p.res.median(name, "p50-ms")
		p99, _ := p.res.median(name, "p99-ms")
		h, _ := p.res.median(name, "held")
		steps = append(steps, point{n, p50, p99, h == 1})
	}
	slices.SortFunc(steps, func(a, b point) int { return a.Sessions - b.Sessions })
	shipped, _ := p.res.median(baselineBench+"remotemedia", "streams")
	streams := []map[string]any{
		{"what": "hybrid live server\n(held, p99 ≤ 20 ms)", "streams": held},
		{"what": "hybrid front end\n(CPUs ÷ CPU a frame)", "streams": cpuStreams},
		{"what": "Python as RemoteMedia\nships (the same)", "streams": shipped},
		{"what": "Python competent,\nbest sweep (the same)", "streams": best},
	}
	data, err := json.Marshal(map[string]any{"steps": steps, "streams": streams, "title": fmt.Sprintf("%s, %d cores", p.res.Machine.CPU, p.res.Machine.Cores)})
	if err != nil {
		return err
	}
	cmd := exec.Command(benchPython(), filepath.Join(pyScripts, "bench_plot.py"), path)
	cmd.Stdin = bytes.NewReader(data)
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("bench_plot.py: %w: %s", err, strings.TrimSpace(string(out)))
	}
	return nil
}
