package cli

import (
	"context"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/schollz/progressbar/v3"

	"github.com/remotemedia/hybrid/core/def"
	"github.com/remotemedia/hybrid/core/frame"
	"github.com/remotemedia/hybrid/core/runner"
	"github.com/remotemedia/hybrid/core/sched"
	"github.com/remotemedia/hybrid/core/wavio"
)

// progressAfter is the input length from which run shows a progress bar.
const progressAfter = 30 * time.Second

func cmdValidate(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("validate", stderr, "validate DEF")
	var wf wasmFlags
	var pf pythonFlags
	wf.register(fs)
	pf.register(fs)
	pos, err := parseArgs(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return fmt.Errorf("%w: want exactly one definition file, got %d arguments", errUsage, len(pos))
	}
	d, err := def.ParseFile(pos[0])
	if d == nil { // with shape problems d is still there, and Build reports them with every other
		return err
	}
	wf.log, wf.def, wf.defPath = stderr, d, pos[0]
	reg, cleanup, err := registryFor(ctx, d, &wf, &pf, stderr)
	if err != nil {
		return err
	}
	defer cleanup()
	g, err := def.Build(d, reg)
	if err != nil {
		return fmt.Errorf("%s is not valid:\n%w", pos[0], err)
	}
	for _, note := range d.Fallbacks() {
		fmt.Fprintf(stdout, "%s: %s\n", pos[0], note)
	}
	fmt.Fprintf(stdout, "%s: ok (%d nodes, %d connections)\n", pos[0], len(d.Nodes), len(d.Connections))
	fmt.Fprintf(stdout, "outputs: %s\n", outputList(pipelineOutputs(g)))
	return nil
}

type runFlags struct {
	in, events string
	outs       listFlag // --out FILE or --out NODE.PORT=FILE, repeatable
	frameMS    int
	queue      int
	quiet      bool
	progress   bool
	wasm       wasmFlags
	python     pythonFlags
}

func cmdRun(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("run", stderr, "run DEF --in IN.wav [--out [NODE.PORT=]OUT.wav ...] [--events EVENTS.jsonl]")
	var rf runFlags
	fs.StringVar(&rf.in, "in", "", "input WAV file (PCM 8/16/24/32-bit or 32-bit float, any rate and channel count)")
	fs.Var(&rf.outs, "out", "output WAV file (32-bit float) of the pipeline's audio output; NODE.PORT=FILE picks one of several (repeatable); - is standard output")
	fs.StringVar(&rf.events, "events", "", "write non-audio outputs (VAD events, text, errors) here, one JSON object per line; - is standard output")
	fs.IntVar(&rf.frameMS, "frame-ms", runner.DefaultFrameMS, "length of the frames the input is cut into")
	fs.IntVar(&rf.queue, "queue", 16, "input queue bound of each node")
	fs.BoolVar(&rf.quiet, "quiet", false, "print nothing but errors")
	fs.BoolVar(&rf.progress, "progress", false, "always show a progress bar (default: for inputs longer than 30 s)")
	rf.wasm.register(fs)
	rf.python.register(fs)
	pos, err := parseArgs(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return fmt.Errorf("%w: want exactly one definition file, got %d arguments", errUsage, len(pos))
	}
	if rf.in == "" {
		return fmt.Errorf("%w: --in is required", errUsage)
	}
	if len(rf.outs) == 0 && rf.events == "" {
		return fmt.Errorf("%w: give --out, --events or both, or the outputs go nowhere", errUsage)
	}
	return run(ctx, pos[0], rf, stdout, stderr)
}

func run(ctx context.Context, defPath string, rf runFlags, stdout, stderr io.Writer) error {
	data, err := os.ReadFile(defPath)
	if err != nil {
		return err
	}
	d, err := def.Parse(data)
	if d == nil { // with shape problems d is still there, and runner.Load reports them with every other
		return fmt.Errorf("%s:\n%w", defPath, err)
	}
	rf.wasm.log, rf.wasm.def, rf.wasm.defPath = stderr, d, defPath
	reg, cleanup, err := registryFor(ctx, d, &rf.wasm, &rf.python, stderr)
	if err != nil {
		return err
	}
	defer cleanup()
	p, err := runner.Load(data, reg)
	if err != nil {
		return fmt.Errorf("%s:\n%w", defPath, err)
	}
	for _, note := range p.Def.Fallbacks() {
		fmt.Fprintf(stderr, "remotemedia: %s\n", note)
	}
	outs := pipelineOutputs(p.Graph)
	files, err := mapOutputs(rf.outs, outs, p.Graph)
	if err != nil {
		return err
	}
	for _, f := range files {
		if f == rf.events && f != os.DevNull {
			return fmt.Errorf("%w: --events %s is also an --out file", errUsage, f)
		}
	}

	inFile, err := os.Open(rf.in)
	if err != nil {
		return err
	}
	defer inFile.Close()
	wr, err := wavio.NewReader(inFile, rf.in)
	if err != nil {
		return err
	}
	src, err := runner.NewReaderSource(wr.Read, wr.SampleRate, wr.Channels, rf.frameMS, "run")
	if err != nil {
		return err
	}
	inDur := time.Duration(wr.Frames) * time.Second / time.Duration(wr.SampleRate)

	sink, err := newFileSink(files, rf.events, stdout)
	if err != nil {
		return err
	}
	defer sink.abort() // a failed or interrupted run leaves no output files
	if dropped := unwritten(outs, files, rf.events != ""); len(dropped) > 0 && !rf.quiet {
		fmt.Fprintf(stderr, "not written: %s\n", strings.Join(dropped, ", "))
	}

	var bar *progressbar.ProgressBar
	var source runner.Source = src
	if !rf.quiet && (rf.progress || (inDur >= progressAfter && isTerminal(stderr))) {
		bar = progressbar.NewOptions64(wr.Frames,
			progressbar.OptionSetWriter(stderr),
			progressbar.OptionSetDescription("processing "+rf.in),
			progressbar.OptionShowElapsedTimeOnFinish(),
			progressbar.OptionThrottle(100*time.Millisecond),
			progressbar.OptionClearOnFinish())
		source = progressSource{src, bar}
	}

	start := time.Now()
	stats, err := runner.Run(ctx, p, source, sink.write, sched.Options{QueueSize: rf.queue, StreamID: "run", Spin: true})
	if bar != nil {
		_ = bar.Finish()
	}
	if err != nil {
		return err
	}
	if err := sink.commit(); err != nil {
		return err
	}
	elapsed := time.Since(start)
	if !rf.quiet {
		fmt.Fprintf(stderr, "%s: %.2f s of %d Hz %d-channel audio in %v (%.0f× real time)\n",
			rf.in, inDur.Seconds(), wr.SampleRate, wr.Channels, elapsed.Round(time.Millisecond), inDur.Seconds()/elapsed.Seconds())
		sink.report(stderr)
		writeStats(stderr, stats)
	}
	if sink.nErrors > 0 {
		return fmt.Errorf("finished with %d node errors (first: %s)", sink.nErrors, sink.firstErr)
	}
	return nil
}

type progressSource struct {
	src *runner.PCMSource
	bar *progressbar.ProgressBar
}

func (p progressSource) Next() (*frame.Frame, error) {
	f, err := p.src.Next()
	if err == nil {
		_ = p.bar.Set64(p.src.SamplesRead())
	}
	return f, err
}

// isTerminal reports whether w is a terminal (a character device: a terminal,
// or /dev/null, where a progress bar does no harm).
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}

// writeStats prints the per-node table: work is the time inside Process less
// blocked, the time its outputs waited for room downstream (docs/scheduler.md).
func writeStats(w io.Writer, stats []sched.NodeStats) {
	us := sched.FormatMicros
	fmt.Fprintf(w, "%-14s %8s %8s %8s %7s %9s %9s %9s %11s %11s\n", "node", "in", "out", "dropped", "errors",
		"work mean", "work p50", "work p99", "blocked p50", "blocked p99")
	for _, s := range stats {
		var mean time.Duration
		if s.In > 0 {
			mean = s.Work / time.Duration(s.In)
		}
		fmt.Fprintf(w, "%-14s %8d %8d %8d %7d %9s %9s %9s %11s %11s\n", s.ID, s.In, s.Out, s.Dropped, s.Errors,
			us(mean), us(s.P50), us(s.P99), us(s.BlockedP50), us(s.BlockedP99))
	}
	fmt.Fprintln(w, "(µs per frame; work: inside the node; blocked: its outputs waiting for room downstream)")
}
