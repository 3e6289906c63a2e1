package main

// The Python baselines of docs/benchmarks.md and the start-up rows:
// pyproxy/python/scripts/bench_baselines.py (the front end and a model stage as
// RemoteMedia ships its nodes and as a competent engineer writes them, with the
// plan's per-stage breakdown), bench_frontend.py swept over streams per
// process, and the time from a process's start to its first processed frame.

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"time"

	"github.com/remotemedia/hybrid/core/wavio"
)

const (
	pyScripts     = "pyproxy/python/scripts"
	baselineBench = "PythonBaseline/" // + style, + "competent/streams=S" for the sweep
	startupBench  = "Startup/"        // + what
)

// baselineStyles are bench_baselines.py's --style values.
var baselineStyles = []string{"remotemedia", "competent"}

// sweepStreams are the streams per process bench_frontend.py is swept over.
var sweepStreams = []int{1, 2, 4, 8, 16}

func init() {
	for _, style := range []struct{ style, what string }{
		{"remotemedia", "Python baseline as RemoteMedia ships its nodes (librosa per chunk, RMS VAD, unbounded queues)"},
		{"competent", "Python baseline as a competent engineer writes it (bench_frontend.py's nodes, bounded queues)"},
	} {
		b := baselineBench + style.style
		rows = append(rows,
			row{style.what + ": CPU per frame, front end and a model stage", b, "total_us", 1, "µs", 0, true},
			row{"  real-time streams that carries (the CPUs ÷ CPU per frame)", b, "streams", 1, "streams", 0, false},
			row{"  memory per stream", b, "kib_per_stream", 1, "KiB", 0, true},
			row{"  start-up to the first processed frame", startupBench + "python/" + style.style, "ms", 1, "ms", 0, true},
		)
	}
	for _, s := range sweepStreams {
		rows = append(rows, row{fmt.Sprintf("competent Python front end (bench_frontend.py), %d streams per process, a process per CPU: CPU per frame", s),
			sweepBench(s), "cpu-µs/frame", 1, "µs", 0, true})
	}
	rows = append(rows,
		row{"start-up: remotemedia run of the example chain on one frame, module cache empty", startupBench + "hybrid/cold", "ms", 1, "ms", 0, true},
		row{"  the same, modules from the cache", startupBench + "hybrid/cached", "ms", 1, "ms", 0, true},
	)
}

// sweepBench names the sweep's run with s streams a process in the results.
func sweepBench(s int) string { return fmt.Sprintf("%scompetent/streams=%d", baselineBench, s) }

// benchPython is the interpreter the baselines run on: the repository's .venv
// (scripts/deps.sh bench installs librosa and matplotlib there).
func benchPython() string {
	if _, err := os.Stat(".venv/bin/python"); err == nil {
		return ".venv/bin/python"
	}
	return "python3"
}

func runBaselines(ctx context.Context, o options, res *measurements) error {
	py := benchPython()
	frames, streams, sweep, starts := "1000", "8", sweepStreams, 5
	if o.quick {
		frames, streams, sweep, starts = "60", "2", sweepStreams[:2], 1
	}
	for _, style := range baselineStyles {
		fmt.Fprintf(os.Stderr, "benchtable: Python baseline %s\n", style)
		out, err := exec.CommandContext(ctx, py, filepath.Join(pyScripts, "bench_baselines.py"), "--style", style, "--frames", frames, "--streams", streams).Output()
		if err != nil {
			return fmt.Errorf("bench_baselines.py --style %s: %w%s", style, err, stderrOf(err))
		}
		var r map[string]any
		if err := json.Unmarshal(out, &r); err != nil {
			return fmt.Errorf("bench_baselines.py --style %s printed %q: %w", style, out, err)
		}
		for _, unit := range []string{"orchestration_us", "preprocessing_us", "vad_us", "model_us", "total_us", "kib_per_stream"} {
			v, ok := r[unit].(float64)
			if !ok {
				return fmt.Errorf("bench_baselines.py --style %s: no %s in %s", style, unit, out)
			}
			res.add(baselineBench+style, unit, v)
		}
		total, _ := r["total_us"].(float64)
		res.add(baselineBench+style, "streams", float64(runtime.NumCPU())*1e6/(total*frameRate))
	}
	procs := strconv.Itoa(runtime.NumCPU())
	for _, s := range sweep {
		fmt.Fprintf(os.Stderr, "benchtable: bench_frontend.py, %s processes, %d streams each\n", procs, s)
		out, err := exec.CommandContext(ctx, py, filepath.Join(pyScripts, "bench_frontend.py"), "--frames", frames, "--procs", procs, "--streams", strconv.Itoa(s)).Output()
		if err != nil {
			return fmt.Errorf("bench_frontend.py --streams %d: %w%s", s, err, stderrOf(err))
		}
		var r struct {
			FramesPerS float64 `json:"frames_per_s"`
			UsPerFrame float64 `json:"us_per_frame"`
		}
		if err := json.Unmarshal(out, &r); err != nil || r.FramesPerS <= 0 {
			return fmt.Errorf("bench_frontend.py --streams %d printed %q (%v)", s, out, err)
		}
		res.add(sweepBench(s), "cpu-µs/frame", r.UsPerFrame)
		res.add(sweepBench(s), "streams", float64(runtime.NumCPU())*1e6/(r.UsPerFrame*frameRate))
	}
	return startups(ctx, o, py, starts, res)
}

// startups times processes from their start to their exit after one processed
// frame: the hybrid binary running the example chain with its compiled-module
// cache empty and filled, and each Python baseline.
func startups(ctx context.Context, o options, py string, n int, res *measurements) error {
	dir, err := os.MkdirTemp("", "benchtable-startup")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	in := filepath.Join(dir, "frame.wav")
	if err := writeFrameWAV(in); err != nil {
		return err
	}
	run := func(name string, args ...string) (float64, error) {
		start := time.Now()
		cmd := exec.CommandContext(ctx, name, args...)
		if out, err := cmd.CombinedOutput(); err != nil {
			return 0, fmt.Errorf("%s %v: %w\n%s", name, args, err, out)
		}
		return float64(time.Since(start).Microseconds()) / 1e3, nil
	}
	hybrid := func(cache string) (float64, error) {
		return run(o.bin, "run", "examples/speech-frontend.yaml", "--in", in, "--out", filepath.Join(dir, "out.wav"), "--quiet", "--python", "off", "--wasm-cache", cache)
	}
	for i := range n {
		cold := filepath.Join(dir, fmt.Sprintf("cache%d", i))
		ms, err := hybrid(cold)
		if err != nil {
			return err
		}
		res.add(startupBench+"hybrid/cold", "ms", ms)
		if ms, err = hybrid(cold); err != nil {
			return err
		}
		res.add(startupBench+"hybrid/cached", "ms", ms)
		for _, style := range baselineStyles {
			ms, err := run(py, filepath.Join(pyScripts, "bench_baselines.py"), "--style", style, "--startup")
			if err != nil {
				return err
			}
			res.add(startupBench+"python/"+style, "ms", ms)
		}
	}
	return nil
}

// writeFrameWAV writes one 20 ms frame of 48 kHz stereo tone.
func writeFrameWAV(path string) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	w := wavio.NewWriter(f, 48000, 2)
	s := make([]float32, 2*960)
	for i := range s {
		s[i] = 0.1 * float32((i/2)%48) / 48
	}
	err = w.Write(s)
	if cerr := w.Close(); err == nil {
		err = cerr
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

// stderrOf is a failed command's standard error, on a line of its own.
func stderrOf(err error) string {
	if ee, ok := err.(*exec.ExitError); ok && len(ee.Stderr) > 0 {
		return "\n" + string(ee.Stderr)
	}
	return ""
}
