package cli

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
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
	if err != nil {
		return err
	}
	reg, cleanup, err := registryFor(ctx, d, &wf, &pf, stderr)
	if err != nil {
		return err
	}
	defer cleanup()
	if err := def.Validate(d, reg); err != nil {
		return fmt.Errorf("%s is not valid:\n%w", pos[0], err)
	}
	fmt.Fprintf(stdout, "%s: ok (%d nodes, %d connections)\n", pos[0], len(d.Nodes), len(d.Connections))
	return nil
}

type runFlags struct {
	in, out, events string
	frameMS         int
	queue           int
	quiet           bool
	progress        bool
	wasm            wasmFlags
	python          pythonFlags
}

func cmdRun(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("run", stderr, "run DEF --in IN.wav --out OUT.wav [--events EVENTS.jsonl]")
	var rf runFlags
	fs.StringVar(&rf.in, "in", "", "input WAV file (PCM 8/16/24/32-bit or 32-bit float, any rate and channel count)")
	fs.StringVar(&rf.out, "out", "", "output WAV file (32-bit float) for the pipeline's audio output")
	fs.StringVar(&rf.events, "events", "", "write non-audio outputs (VAD events, text, errors) here, one JSON object per line")
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
	if rf.out == "" && rf.events == "" {
		return fmt.Errorf("%w: give --out, --events or both, or the outputs go nowhere", errUsage)
	}
	return run(ctx, pos[0], rf, stderr)
}

func run(ctx context.Context, defPath string, rf runFlags, stderr io.Writer) error {
	data, err := os.ReadFile(defPath)
	if err != nil {
		return err
	}
	d, err := def.Parse(data)
	if err != nil {
		return fmt.Errorf("%s:\n%w", defPath, err)
	}
	reg, cleanup, err := registryFor(ctx, d, &rf.wasm, &rf.python, stderr)
	if err != nil {
		return err
	}
	defer cleanup()
	p, err := runner.Load(data, reg)
	if err != nil {
		return fmt.Errorf("%s:\n%w", defPath, err)
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

	sink := &fileSink{outPath: rf.out}
	defer sink.abort()
	if rf.events != "" {
		if sink.events, err = os.Create(rf.events); err != nil {
			return err
		}
		sink.ev = bufio.NewWriter(sink.events)
	}

	var bar *progressbar.ProgressBar
	var source runner.Source = src
	if !rf.quiet && (rf.progress || inDur >= progressAfter) {
		bar = progressbar.NewOptions64(wr.Frames,
			progressbar.OptionSetWriter(stderr),
			progressbar.OptionSetDescription("processing "+rf.in),
			progressbar.OptionShowElapsedTimeOnFinish(),
			progressbar.OptionThrottle(100*time.Millisecond),
			progressbar.OptionClearOnFinish())
		source = progressSource{src, bar}
	}

	start := time.Now()
	stats, err := runner.Run(ctx, p, source, sink.write, sched.Options{QueueSize: rf.queue, StreamID: "run"})
	if bar != nil {
		_ = bar.Finish()
	}
	if err != nil {
		return err
	}
	if err := sink.close(); err != nil {
		return err
	}
	elapsed := time.Since(start)
	if !rf.quiet {
		fmt.Fprintf(stderr, "%s: %.2f s of %d Hz %d-channel audio in %v (%.0f× real time)\n",
			rf.in, inDur.Seconds(), wr.SampleRate, wr.Channels, elapsed.Round(time.Millisecond), inDur.Seconds()/elapsed.Seconds())
		if sink.wav != nil {
			fmt.Fprintf(stderr, "wrote %s: %.2f s, %d Hz, %d channels\n", rf.out, float64(sink.samples)/float64(sink.wav.SampleRate), sink.wav.SampleRate, sink.wav.Channels)
		} else if rf.out != "" {
			fmt.Fprintf(stderr, "wrote %s: no audio came out of the pipeline (an empty file)\n", rf.out)
		}
		if rf.events != "" {
			fmt.Fprintf(stderr, "wrote %s: %d events\n", rf.events, sink.nEvents)
		}
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

// fileSink writes a run's audio output to a WAV file and everything else to an
// events file.
type fileSink struct {
	outPath  string
	out      *os.File
	wav      *wavio.Writer
	audioSrc string // node.port whose audio goes to the WAV file
	samples  int64
	events   *os.File
	ev       *bufio.Writer
	nEvents  int
	nErrors  int
	firstErr string
}

func (s *fileSink) write(o sched.Output) error {
	if o.Err != nil {
		s.nErrors++
		if s.firstErr == "" {
			s.firstErr = o.Err.Error()
		}
	}
	if o.Frame != nil && o.Frame.Kind == frame.KindAudio {
		return s.writeAudio(o)
	}
	ev, ok := runner.EventOf(o)
	if !ok || s.ev == nil {
		return nil
	}
	b, err := json.Marshal(ev)
	if err != nil {
		return err
	}
	s.nEvents++
	b = append(b, '\n')
	_, err = s.ev.Write(b)
	return err
}

func (s *fileSink) writeAudio(o sched.Output) error {
	if s.outPath == "" {
		return nil
	}
	f := o.Frame
	src := o.Node + "." + o.Port
	if s.wav == nil {
		out, err := os.Create(s.outPath)
		if err != nil {
			return err
		}
		s.out, s.audioSrc = out, src
		s.wav = wavio.NewWriter(out, int(f.SampleRate), int(f.Channels))
	}
	switch {
	case src != s.audioSrc:
		return fmt.Errorf("--out: two outputs carry audio (%s and %s); connect one of them onward or drop it", s.audioSrc, src)
	case int(f.SampleRate) != s.wav.SampleRate || int(f.Channels) != s.wav.Channels:
		return fmt.Errorf("--out: %s changed format mid-stream (%d Hz %d ch, then %d Hz %d ch); a WAV file holds one", src, s.wav.SampleRate, s.wav.Channels, f.SampleRate, f.Channels)
	}
	var samples []float32
	if f.Format == frame.S16 {
		for _, v := range f.S16() {
			samples = append(samples, float32(v)/32768)
		}
	} else {
		samples = f.F32()
	}
	s.samples += int64(len(samples) / int(f.Channels))
	return s.wav.Write(samples)
}

func (s *fileSink) close() error {
	if s.outPath != "" && s.wav == nil { // nothing came out: still leave a valid, empty WAV
		out, err := os.Create(s.outPath)
		if err != nil {
			return err
		}
		s.out = out
		s.wav = wavio.NewWriter(out, 16000, 1)
	}
	var first error
	keep := func(err error) {
		if first == nil {
			first = err
		}
	}
	if s.wav != nil {
		keep(s.wav.Close())
		keep(s.out.Close())
		s.out = nil
	}
	if s.ev != nil {
		keep(s.ev.Flush())
		keep(s.events.Close())
		s.events = nil
	}
	return first
}

// abort closes whatever close did not.
func (s *fileSink) abort() {
	if s.out != nil {
		s.out.Close()
	}
	if s.events != nil {
		s.events.Close()
	}
}

func writeStats(w io.Writer, stats []sched.NodeStats) {
	fmt.Fprintf(w, "%-14s %8s %8s %8s %7s %10s %10s\n", "node", "in", "out", "dropped", "errors", "p50", "p99")
	for _, s := range stats {
		fmt.Fprintf(w, "%-14s %8d %8d %8d %7d %10v %10v\n", s.ID, s.In, s.Out, s.Dropped, s.Errors, s.P50, s.P99)
	}
}
