// Command benchtable runs the project's benchmarks (`make bench`) and prints one
// table of the figures the issues ask for, each beside its target. Each suite
// runs several times (go test -count) and the table shows the median, with the
// range below it: these machines are shared and single runs swing. Compare the
// ratios, not the absolutes, across machines.
//
// The instruction-count suites do not swing: they count the x86 instructions a
// benchmark executes per op under valgrind (GOMAXPROCS=1, GOGC=off), from two
// runs of different lengths, so start-up and compilation cancel out. They are
// the figures to compare between two builds on a noisy machine.
//
// The live rows (live.go) run `remotemedia serve` and its load tool
// (`remotemedia stream --sessions N`) as two processes on this machine: the
// server's CPU and memory per live session, the capacity that implies, and the
// sessions held within 20 ms at p99 without loss. -quick runs only a short
// version of them, to check the harness.
package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"
)

// suite is one `go test -bench` invocation, run count times. With pin set it
// runs under `taskset -c pin` (the test and the processes it starts share those
// CPUs; "first" is the first CPU this process may use) and tag is appended to its
// benchmarks' names.
type suite struct {
	dir, pkg, bench, benchtime string
	count                      int
	pin, tag                   string
	counted                    [2]int // ops of the two valgrind runs: an instruction-count suite
}

var suites = []suite{
	{dir: ".", pkg: "./core/sched", bench: "Chain", benchtime: "100000x", count: 5},
	{dir: ".", pkg: "./target/wasmhost", bench: "ProcessEmpty|FuncCall", benchtime: "200000x", count: 5},
	{dir: ".", pkg: "./target/server/cli", bench: "FrontEnd|LoadModules", benchtime: "1s", count: 5},
	{dir: ".", pkg: "./wasm-modules", bench: ".", benchtime: "2000x", count: 5},
	{dir: ".", pkg: "./pyproxy", bench: "RoundTrip|Throughput|PythonFrontEnd", benchtime: "2000x", count: 3},
	// The same round trips with the client, the proxy and the worker on one CPU:
	// what the cross-CPU wake-ups of this machine cost.
	{dir: ".", pkg: "./pyproxy", bench: "RoundTrip", benchtime: "2000x", count: 3, pin: "first", tag: "@cpu0"},
	{dir: "e2e", pkg: ".", bench: "Browser", benchtime: "1x", count: 1}, // it repeats what needs repeating itself
	{dir: ".", pkg: "./wasm-modules", bench: "Resample/wasm$", counted: [2]int{1000, 3000}},
	{dir: "target/server/cli", pkg: ".", bench: "FrontEndChain", counted: [2]int{2000, 6000}},
	{dir: ".", pkg: "./tools/vadeval", bench: "VADNode$", counted: [2]int{2000, 6000}},
}

// row is one line of the table: a metric of a benchmark, and its target.
type row struct {
	what   string
	bench  string  // benchmark name without the -GOMAXPROCS suffix
	unit   string  // metric unit as go test prints it
	scale  float64 // multiply the value by this for display
	shown  string  // display unit
	target float64 // in display units; 0 = no target
	atMost bool    // true: value must be <= target; false: >=
}

var rows = []row{
	{"scheduler: one hop, 8-node chain", "BenchmarkChain/nodes=8", "ns/hop", 1, "ns", 1000, true},
	{"scheduler: allocations per hop", "BenchmarkChain/nodes=8", "allocs/hop", 1, "allocs", 1, true},
	{"WASM call overhead (empty node, 20 ms stereo frame in)", "BenchmarkProcessEmpty", "ns/op", 1e-3, "µs", 0.5, true},
	{"WASM raw export call", "BenchmarkFuncCall", "ns/op", 1, "ns", 0, true},
	{"example chain per 20 ms 48 kHz stereo frame (scheduler + 4 modules)", "BenchmarkFrontEndChain", "µs/frame", 1, "µs", 12, true},
	{"speech front end, 64 sessions at once, as fast as they go", "BenchmarkFrontEndStreams", "frames/s", 1, "frames/s", 0, false},
	{"  real-time streams that carries (50 frames/s each; DESIGN: hundreds)", "BenchmarkFrontEndStreams", "streams", 1, "streams", 200, false},
	{"phone front end (testdata/bench: 16 kHz mono s16 -> convert -> gain -> vad) in process, 64 sessions as fast as they go, synchronous sessions: real-time streams", "BenchmarkPhoneFrontEndStreams/synchronous", "streams", 1, "streams", 2000, false},
	{"  the same, a goroutine per node", "BenchmarkPhoneFrontEndStreams/goroutines", "streams", 1, "streams", 2000, false},
	{fmt.Sprintf("live (serve + stream --realtime, two processes): server CPU per session frame, phone front end, %d sessions %d to a socket", liveFull.sessions, liveFull.muxes[0]), muxBench(liveFull.muxes[0]), "cpu-µs/frame", 1, "µs", 25, true},
	{"  the capacity that implies (the CPUs ÷ CPU per session-second)", muxBench(liveFull.muxes[0]), "capacity", 1, "sessions", 1000, false},
	{"  round trip p99", muxBench(liveFull.muxes[0]), "p99-ms", 1, "ms", 20, true},
	{"  server memory per live session (RSS half way through the load − idle, ÷ sessions)", muxBench(liveFull.muxes[0]), "KiB/session", 1, "KiB", 512, true},
	{fmt.Sprintf("live: server CPU per session frame, %d sessions %d to a socket", liveFull.sessions, liveFull.muxes[1]), muxBench(liveFull.muxes[1]), "cpu-µs/frame", 1, "µs", 10, true},
	{"  the capacity that implies", muxBench(liveFull.muxes[1]), "capacity", 1, "sessions", 1000, false},
	{"  round trip p99", muxBench(liveFull.muxes[1]), "p99-ms", 1, "ms", 20, true},
	{"  server memory per live session", muxBench(liveFull.muxes[1]), "KiB/session", 1, "KiB", 512, true},
	{"live: sessions held at p99 ≤ 20 ms without loss, a socket each, load tool on the same machine (stepped up)", liveBench + "/held", "sessions", 1, "sessions", 0, false},
	{"  the load tool's own CPU at that load", liveBench + "/held", "tool-cpu-%", 1, "% of the CPUs", 0, true},
	{"  round trip p99 at that load", liveBench + "/held", "p99-ms", 1, "ms", 20, true},
	{"the same front end in Python (numpy, asyncio queues, 4 streams per process, a process per CPU)", "BenchmarkPythonFrontEnd", "frames/s", 1, "frames/s", 0, false},
	{"  real-time streams that carries", "BenchmarkPythonFrontEnd", "streams", 1, "streams", 0, false},
	{"standard modules loaded, cold", "BenchmarkLoadModules/cold", "ns/op", 1e-6, "ms", 0, true},
	{"standard modules loaded, from cache", "BenchmarkLoadModules/cached", "ns/op", 1e-6, "ms", 50, true},
	{"gain: wasm", "BenchmarkGain/wasm", "ns/op", 1e-3, "µs", 0, true},
	{"gain: native Go", "BenchmarkGain/native", "ns/op", 1e-3, "µs", 0, true},
	{"to_mono: wasm", "BenchmarkToMono/wasm", "ns/op", 1e-3, "µs", 0, true},
	{"to_mono: native Go", "BenchmarkToMono/native", "ns/op", 1e-3, "µs", 0, true},
	{"convert: wasm", "BenchmarkConvert/wasm", "ns/op", 1e-3, "µs", 0, true},
	{"convert: native Go", "BenchmarkConvert/native", "ns/op", 1e-3, "µs", 0, true},
	{"resample 48k→16k high: wasm", "BenchmarkResample/wasm", "ns/op", 1e-3, "µs", 0, true},
	{"resample 48k→16k fast: wasm", "BenchmarkResample/wasm-fast", "ns/op", 1e-3, "µs", 0, true},
	{"resample 48k→16k high: native Go", "BenchmarkResample/native", "ns/op", 1e-3, "µs", 0, true},
	{"resample 48k→16k high: wasm, speed", "BenchmarkResample/wasm", "x-realtime", 1, "× real time", 0, false},
	{"resample 48k→16k fast: wasm, speed", "BenchmarkResample/wasm-fast", "x-realtime", 1, "× real time", 0, false},
	{"resample 48k→16k high: native Go, speed", "BenchmarkResample/native", "x-realtime", 1, "× real time", 0, false},
	{"vad: wasm", "BenchmarkVAD/wasm", "ns/op", 1e-3, "µs", 0, true},
	{"vad: native Go", "BenchmarkVAD/native", "ns/op", 1e-3, "µs", 0, true},
	{"chunker (Go guest): wasm", "BenchmarkChunker/wasm", "ns/op", 1e-3, "µs", 0, true},
	{"chain of modules without scheduler: wasm", "BenchmarkChain/wasm", "ns/op", 1e-3, "µs", 0, true},
	{"resample 48k→16k high: x86 instructions per frame (valgrind; steady where timings swing)", "BenchmarkResample/wasm", "instructions/op", 1e-3, "k instr", 0, true},
	{"example chain: x86 instructions per frame, scheduler included (valgrind, one P)", "BenchmarkFrontEndChain", "instructions/op", 1e-3, "k instr", 0, true},
	{"vad node: x86 instructions per 20 ms frame at 16 kHz, host call included (valgrind; docs/vad.md)", "BenchmarkVADNode", "instructions/op", 1e-3, "k instr", 0, true},
	{"chain of modules without scheduler: native Go", "BenchmarkChain/native", "ns/op", 1e-3, "µs", 0, true},
	{"Python pass-through round trip natively (session WebSocket, as pipelines run), p50", "BenchmarkRoundTrip/websocket", "p50-µs", 1, "µs", 300, true},
	{"Python pass-through round trip natively (session WebSocket, as pipelines run), p99", "BenchmarkRoundTrip/websocket", "p99-µs", 1, "µs", 1000, true},
	{"Python pass-through round trip, one HTTP request per frame, p50", "BenchmarkRoundTrip/http", "p50-µs", 1, "µs", 0, true},
	{"Python pass-through round trip, one HTTP request per frame, p99", "BenchmarkRoundTrip/http", "p99-µs", 1, "µs", 0, true},
	{"Python pass-through round trip, proxy to worker pipe only, p50", "BenchmarkRoundTrip/pipe", "p50-µs", 1, "µs", 0, true},
	{"Python pass-through round trip, proxy to worker pipe only, p99", "BenchmarkRoundTrip/pipe", "p99-µs", 1, "µs", 0, true},
	{"  the same natively over the WebSocket, all on one CPU (taskset), p50", "BenchmarkRoundTrip/websocket@cpu0", "p50-µs", 1, "µs", 0, true},
	{"  the same natively over the WebSocket, all on one CPU (taskset), p99", "BenchmarkRoundTrip/websocket@cpu0", "p99-µs", 1, "µs", 0, true},
	{"  the same, proxy to worker pipe only, all on one CPU, p50", "BenchmarkRoundTrip/pipe@cpu0", "p50-µs", 1, "µs", 0, true},
	{"Python pass-through round trip from the tab, p50", "BenchmarkBrowser/python/tab", "p50-µs", 1, "µs", 0, true},
	{"Python pass-through round trip from the tab, p99", "BenchmarkBrowser/python/tab", "p99-µs", 1, "µs", 0, true},
	{"Python throughput, 4 sessions, pass-through, 1 worker", "BenchmarkThroughput/pass/workers=1", "frames/s", 1, "frames/s", 0, false},
	{"Python throughput, 4 sessions, pass-through, 2 workers", "BenchmarkThroughput/pass/workers=2", "frames/s", 1, "frames/s", 0, false},
	{"Python throughput, 4 sessions, pass-through, 4 workers", "BenchmarkThroughput/pass/workers=4", "frames/s", 1, "frames/s", 0, false},
	{"Python throughput, 4 sessions, 1 ms of Python CPU per frame, 1 worker", "BenchmarkThroughput/busy-1ms/workers=1", "frames/s", 1, "frames/s", 0, false},
	{"Python throughput, 4 sessions, 1 ms of Python CPU per frame, 2 workers", "BenchmarkThroughput/busy-1ms/workers=2", "frames/s", 1, "frames/s", 0, false},
	{"Python throughput, 4 sessions, 1 ms of Python CPU per frame, 4 workers", "BenchmarkThroughput/busy-1ms/workers=4", "frames/s", 1, "frames/s", 0, false},
	{"browser: node call in the tab (empty module, 20 ms stereo frame, copies included)", "BenchmarkBrowser/call/tab", "ns/call", 1e-3, "µs", 5, true},
	{"browser: the same call under wazero", "BenchmarkBrowser/call/wazero", "ns/call", 1e-3, "µs", 0, true},
	{"browser: core.wasm gzipped", "BenchmarkBrowser/size", "MB-gzip", 1, "MB", 2.6, true},
	{"browser: core.wasm as serve sends it (brotli, precompressed)", "BenchmarkBrowser/size", "MB-br", 1, "MB", 2.6, true},
	{"browser: core.wasm raw", "BenchmarkBrowser/size", "MB-raw", 1, "MB", 0, true},
	{"browser: page load to first processed frame, cold", "BenchmarkBrowser/first-frame/cold", "ms", 1, "ms", 600, true},
	{"browser: page load to first processed frame, warm", "BenchmarkBrowser/first-frame/warm", "ms", 1, "ms", 150, true},
}

var line = regexp.MustCompile(`^(Benchmark\S+?)(?:-\d+)?\s+\d+\s+(.*)$`)

// measurements are the figures of every run: benchmark -> unit -> one value per
// run, and the benchmarks in the order they came.
type measurements struct {
	results map[string]map[string][]float64
	order   []string
	Machine machine // where they were measured
	Quick   bool    // by -quick: harness checks, not figures
}

// median is the median of bench's unit over the runs, false when not measured.
func (m *measurements) median(bench, unit string) (float64, bool) {
	vs, ok := m.results[bench][unit]
	if !ok || len(vs) == 0 {
		return 0, false
	}
	return median(vs), true
}

// summary is one benchmark's figures: median [min-max] of each unit.
func (m *measurements) summary(name string) string {
	var parts []string
	for unit, vs := range m.results[name] {
		p := fmt.Sprintf("%s %s", num(median(vs)), unit)
		if lo, hi := slices.Min(vs), slices.Max(vs); len(vs) > 1 && lo != hi {
			p += fmt.Sprintf(" [%s-%s]", num(lo), num(hi))
		}
		parts = append(parts, p)
	}
	sort.Strings(parts)
	return strings.Join(parts, ", ")
}

func (m *measurements) add(name, unit string, v float64) {
	if _, seen := m.results[name]; !seen {
		m.order = append(m.order, name)
		m.results[name] = map[string][]float64{}
	}
	m.results[name][unit] = append(m.results[name][unit], v)
}

// options are the command line's.
type options struct {
	only, bin, defs string
	quick           bool
}

func main() {
	var o options
	flag.StringVar(&o.only, "only", "", "run only the suites whose package or -bench pattern contains this (the pattern ignoring case: \"voice\" runs the voice rows; \"live\": only the live rows, \"baselines\": only the Python baselines and start-up)")
	flag.BoolVar(&o.quick, "quick", false, "check every benchmark's harness on tiny inputs: each suite once (-benchtime 1x), a short version of the live rows and the baselines; no instruction counts (the tests gate those)")
	flag.StringVar(&o.bin, "bin", "bin/remotemedia", "the remotemedia binary the live rows serve and load with")
	flag.StringVar(&o.defs, "definitions", "testdata/bench", "the folder holding the live rows' definition ("+livePipeline+".yaml)")
	markdown := flag.String("markdown", "", "also write the results as this Markdown page (make bench: docs/benchmarks.md) and its plot beside it (.svg)")
	save := flag.String("save", "", "also save every measurement to this JSON file (for -from)")
	from := flag.String("from", "", "run nothing: print (and -markdown) the measurements that -save wrote (a comma list merges several runs, e.g. a later -only live)")
	flag.Parse()

	var res *measurements
	var failed []string
	if *from != "" {
		for _, f := range strings.Split(*from, ",") {
			r, err := loadMeasurements(f)
			if err != nil {
				fmt.Fprintf(os.Stderr, "benchtable: %v\n", err)
				os.Exit(1)
			}
			res = res.merge(r)
		}
	} else {
		res = &measurements{results: map[string]map[string][]float64{}, Machine: thisMachine(), Quick: o.quick}
		failed = runAll(o, res)
	}
	if *save != "" {
		if err := res.save(*save); err != nil {
			failed = append(failed, err.Error())
		}
	}
	table := tableOf(res)
	if res.Quick {
		fmt.Printf("-quick: every suite once on tiny inputs; %d sessions for %v, stepped up to %d; the labels name make bench's counts\n\n", liveQuick.sessions, liveQuick.duration, liveQuick.rampMax)
	}
	tw := tabwriter.NewWriter(os.Stdout, 2, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "MEASURE\tVALUE\tTARGET\tMEETS")
	for _, r := range table {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", r.what, r.value, r.target, r.meets)
	}
	tw.Flush()

	fmt.Println("\nAll benchmarks (per op unless the unit says otherwise; median [min-max] over the runs):")
	for _, name := range res.order {
		fmt.Printf("  %-48s %s\n", name, res.summary(name))
	}
	if *markdown != "" {
		if err := writePage(*markdown, res, table); err != nil {
			failed = append(failed, fmt.Sprintf("writing %s: %v", *markdown, err))
		}
	}
	if len(failed) > 0 {
		fmt.Fprintf(os.Stderr, "benchtable: some suites failed:\n  %s\n", strings.Join(failed, "\n  "))
		os.Exit(1)
	}
}

// selectedBy tells whether -only only selects s: empty, or contained in its
// folder and package, or in its -bench pattern ignoring case ("voice" selects
// VoiceTurn).
func (s suite) selectedBy(only string) bool {
	return only == "" || strings.Contains(s.dir+"/"+s.pkg, only) || strings.Contains(strings.ToLower(s.bench), strings.ToLower(only))
}

// runAll runs the suites, the live rows and the baselines o selects into res,
// and returns what failed.
func runAll(o options, res *measurements) []string {
	var failed []string
	for _, s := range suites {
		if !s.selectedBy(o.only) {
			continue
		}
		if s.counted[0] > 0 {
			if o.quick {
				continue // TestInstructionCounts (tools/benchtable) gates them in make test
			}
			name, v, err := countInstructions(s)
			if err != nil {
				fmt.Fprintf(os.Stderr, "benchtable: %s -bench %s under valgrind: %v\n", s.pkg, s.bench, err)
				if !errors.Is(err, exec.ErrNotFound) {
					failed = append(failed, fmt.Sprintf("%s %s (valgrind): %v", s.dir, s.pkg, err))
				}
				continue
			}
			res.add(name, "instructions/op", v)
			continue
		}
		count, benchtime := s.count, s.benchtime
		if o.quick {
			count, benchtime = 1, "1x"
		}
		args := []string{"go", "test", "-run", "^$", "-bench", s.bench, "-benchmem", "-count", strconv.Itoa(count), "-benchtime", benchtime, s.pkg}
		if s.pin != "" {
			if _, err := exec.LookPath("taskset"); err != nil {
				fmt.Fprintf(os.Stderr, "benchtable: skipping %s -bench %s on CPU %s: no taskset (util-linux)\n", s.pkg, s.bench, s.pin)
				continue
			}
			cpus := s.pin
			if cpus == "first" {
				cpus = firstCPU()
			}
			args = append([]string{"taskset", "-c", cpus}, args...)
		}
		fmt.Fprintf(os.Stderr, "benchtable: %s %s\n", s.dir, strings.Join(args, " "))
		cmd := exec.Command(args[0], args[1:]...)
		cmd.Dir = s.dir
		var out bytes.Buffer
		cmd.Stdout = &out
		cmd.Stderr = os.Stderr
		if err := cmd.Run(); err != nil {
			failed = append(failed, fmt.Sprintf("%s %s: %v", s.dir, s.pkg, err))
		}
		sc := bufio.NewScanner(&out)
		for sc.Scan() {
			m := line.FindStringSubmatch(sc.Text())
			if m == nil {
				continue
			}
			name := m[1] + s.tag
			f := strings.Fields(m[2])
			for i := 0; i+1 < len(f); i += 2 {
				if v, err := strconv.ParseFloat(f[i], 64); err == nil {
					res.add(name, f[i+1], v)
				}
			}
		}
	}
	if o.only == "" || o.only == "live" {
		cfg := liveFull
		if o.quick {
			cfg = liveQuick
		}
		cfg.bin, cfg.defs = o.bin, o.defs
		fmt.Fprintf(os.Stderr, "benchtable: live rows: %s serve and stream, %d sessions for %v (%d runs each), then stepped up from %d\n",
			cfg.bin, cfg.sessions, cfg.duration, cfg.repeat, cfg.ramp[0])
		start := time.Now()
		if err := runLive(context.Background(), cfg, res); err != nil {
			failed = append(failed, fmt.Sprintf("live rows: %v", err))
		}
		fmt.Fprintf(os.Stderr, "benchtable: live rows took %v\n", time.Since(start).Round(time.Second))
	}
	if o.only == "" || o.only == "baselines" {
		if err := runBaselines(context.Background(), o, res); err != nil {
			failed = append(failed, fmt.Sprintf("baselines: %v", err))
		}
	}
	return failed
}

// tableRow is one line of the table as printed.
type tableRow struct{ what, value, target, meets string }

// tableOf renders the rows that have a measurement in res.
func tableOf(res *measurements) []tableRow {
	var table []tableRow
	for _, r := range rows {
		v, ok := res.median(r.bench, r.unit)
		if !ok {
			continue
		}
		v *= r.scale
		target, meets := "", ""
		if r.target > 0 {
			op := "≥"
			if r.atMost {
				op = "≤"
			}
			target = fmt.Sprintf("%s %s %s", op, num(r.target), r.shown)
			meets = "yes"
			if (r.atMost && v > r.target) || (!r.atMost && v < r.target) {
				meets = "NO"
			}
		}
		table = append(table, tableRow{r.what, num(v) + " " + r.shown, target, meets})
	}
	return table
}

// errUndecodable is valgrind failing on an x86 instruction it does not know.
var errUndecodable = errors.New("valgrind cannot decode an instruction of the benchmark")

// countInstructions builds s's test binary and runs its benchmark under valgrind
// for s.counted[0] and then s.counted[1] ops; the difference of the two
// instruction totals over the difference of the ops is the count per op. It
// returns the benchmark's name as go test prints it (without -GOMAXPROCS).
func countInstructions(s suite) (string, float64, error) {
	if _, err := exec.LookPath("valgrind"); err != nil {
		return "", 0, fmt.Errorf("%w: valgrind (apt-get install valgrind) counts the instructions", exec.ErrNotFound)
	}
	dir, err := os.MkdirTemp("", "benchtable")
	if err != nil {
		return "", 0, err
	}
	defer os.RemoveAll(dir)
	bin := dir + "/bench.test"
	build := exec.Command("go", "test", "-c", "-o", bin, s.pkg)
	build.Dir, build.Stderr = s.dir, os.Stderr
	if err := build.Run(); err != nil {
		return "", 0, fmt.Errorf("go test -c: %w", err)
	}
	refs := regexp.MustCompile(`I\s+refs:\s+([\d,]+)`)
	unhandled := regexp.MustCompile(`unhandled instruction bytes: [0-9A-Fa-fx ]+`)
	var name string
	var total [2]float64
	for i, ops := range s.counted {
		fmt.Fprintf(os.Stderr, "benchtable: %s valgrind %s -test.bench %s -test.benchtime %dx\n", s.dir, s.pkg, s.bench, ops)
		cmd := exec.Command("valgrind", "--tool=cachegrind", "--cache-sim=no", "--smc-check=all", "--cachegrind-out-file=/dev/null",
			bin, "-test.run", "^$", "-test.bench", s.bench, "-test.benchtime", strconv.Itoa(ops)+"x")
		cmd.Dir = s.dir
		cmd.Env = append(os.Environ(), "GOMAXPROCS=1", "GOGC=off")
		out, err := cmd.CombinedOutput()
		if m := unhandled.FindSubmatch(out); m != nil {
			return "", 0, fmt.Errorf("%w (%s): a module this benchmark runs uses a wasm operation wazero compiles to it "+
				"(f32x4.neg and f64x2.neg become CMPPS/CMPPD with predicate 8, which valgrind 3.19 rejects)", errUndecodable, m[0])
		}
		if err != nil {
			return "", 0, fmt.Errorf("%w\n%s", err, out)
		}
		m := refs.FindSubmatch(out)
		if m == nil {
			return "", 0, fmt.Errorf("no instruction total in valgrind's output:\n%s", out)
		}
		total[i], _ = strconv.ParseFloat(strings.ReplaceAll(string(m[1]), ",", ""), 64)
		for _, l := range strings.Split(string(out), "\n") {
			if b := line.FindStringSubmatch(l); b != nil {
				name = b[1]
			}
		}
	}
	if name == "" {
		return "", 0, fmt.Errorf("-bench %s ran no benchmark", s.bench)
	}
	return name, (total[1] - total[0]) / float64(s.counted[1]-s.counted[0]), nil
}

// firstCPU is the first CPU in this process's affinity (Cpus_allowed_list in
// /proc/self/status), "0" when that cannot be read.
func firstCPU() string {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return "0"
	}
	for _, l := range strings.Split(string(b), "\n") {
		if list, ok := strings.CutPrefix(l, "Cpus_allowed_list:"); ok {
			if first := strings.FieldsFunc(list, func(r rune) bool { return r == '-' || r == ',' || r == ' ' || r == '\t' }); len(first) > 0 {
				return first[0]
			}
		}
	}
	return "0"
}

func median(vs []float64) float64 {
	s := slices.Sorted(slices.Values(vs))
	if n := len(s); n%2 == 0 {
		return (s[n/2-1] + s[n/2]) / 2
	}
	return s[len(s)/2]
}

func num(v float64) string {
	switch {
	case v >= 100:
		return strconv.FormatFloat(v, 'f', 0, 64)
	case v >= 10:
		return strconv.FormatFloat(v, 'f', 1, 64)
	default:
		return strconv.FormatFloat(v, 'g', 3, 64)
	}
}
