package cli

import (
	"bufio"
	"bytes"
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/remotemedia/hybrid/core/client"
	"github.com/remotemedia/hybrid/core/frame"
	"github.com/remotemedia/hybrid/core/runner"
	"github.com/remotemedia/hybrid/core/sched"
	"github.com/remotemedia/hybrid/core/wavio"
	"github.com/remotemedia/hybrid/pyproxy"
	"github.com/remotemedia/hybrid/target/server/clientws"
)

// Bounds of stream's load mode.
const (
	maxLoadSessions = 10000
	maxLoadDuration = time.Hour
	// endWait bounds the wait for a session's end frame once its input ended.
	endWait = 30 * time.Second
)

type streamFlags struct {
	in, events       string
	outs             listFlag
	frameMS          int
	realtime         bool
	token, tokenFile string
	sessions, mux    int
	duration         time.Duration
	quiet            bool
	format           string // of the audio frames sent: f32 or s16
}

func cmdStream(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("stream", stderr, "stream URL/NAME --in IN.wav [--out [NODE.PORT=]OUT.wav ...] [--events EVENTS.jsonl] [--realtime]\n"+
		"       remotemedia stream URL/NAME --in IN.wav --sessions N --duration D [--mux M]   (load)")
	var sf streamFlags
	fs.StringVar(&sf.in, "in", "", "input WAV `file`, cut into frames as remotemedia run cuts it")
	fs.Var(&sf.outs, "out", "output WAV file (32-bit float) of the pipeline's audio output; NODE.PORT=FILE picks one of several (repeatable); - is standard output")
	fs.StringVar(&sf.events, "events", "", "write non-audio outputs (VAD events, text, errors) here, one JSON object per line; - is standard output")
	fs.IntVar(&sf.frameMS, "frame-ms", runner.DefaultFrameMS, "length of the frames the input is cut into")
	fs.BoolVar(&sf.realtime, "realtime", false, "send at real-time pace (default: as fast as the server takes the frames)")
	fs.StringVar(&sf.token, "token", "", "the server's bearer token (visible in ps: prefer --token-file or $REMOTEMEDIA_TOKEN)")
	fs.StringVar(&sf.tokenFile, "token-file", "", "file holding the server's bearer token (default: $REMOTEMEDIA_TOKEN)")
	fs.IntVar(&sf.sessions, "sessions", 1, fmt.Sprintf("load: open this many concurrent sessions, each looping over the input at real-time pace (at most %d)", maxLoadSessions))
	fs.DurationVar(&sf.duration, "duration", 0, fmt.Sprintf("load: how long each session streams (at most %v); gives load mode with --sessions 1", maxLoadDuration))
	fs.IntVar(&sf.mux, "mux", 1, "load: sessions per WebSocket (1: a socket each)")
	fs.BoolVar(&sf.quiet, "quiet", false, "print nothing but errors")
	fs.StringVar(&sf.format, "format", "f32", "sample format of the audio frames sent: f32 (as run cuts them) or s16 (2 bytes a sample, as a browser or phone sends; the pipeline must take s16)")
	pos, err := parseArgs(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return fmt.Errorf("%w: want exactly one URL/NAME (e.g. http://127.0.0.1:8080/speech-frontend), got %d arguments", errUsage, len(pos))
	}
	base, name, err := splitPipelineURL(pos[0])
	if err != nil {
		return err
	}
	if sf.in == "" {
		return fmt.Errorf("%w: --in is required", errUsage)
	}
	if sf.format != "f32" && sf.format != "s16" {
		return fmt.Errorf("%w: --format %q: want f32 or s16", errUsage, sf.format)
	}
	tok, err := pyproxy.LoadToken(sf.token, sf.tokenFile)
	if err != nil {
		return fmt.Errorf("%w: %v", errUsage, err)
	}
	c := clientws.New(base, tok)
	if sf.sessions > 1 || sf.duration > 0 {
		switch {
		case len(sf.outs) > 0 || sf.events != "":
			return fmt.Errorf("%w: load mode (--sessions, --duration) writes no outputs: drop --out and --events", errUsage)
		case sf.sessions < 1 || sf.sessions > maxLoadSessions:
			return fmt.Errorf("%w: --sessions %d: want 1 to %d", errUsage, sf.sessions, maxLoadSessions)
		case sf.duration <= 0 || sf.duration > maxLoadDuration:
			return fmt.Errorf("%w: --duration %v: load mode needs one, at most %v", errUsage, sf.duration, maxLoadDuration)
		case sf.mux < 1:
			return fmt.Errorf("%w: --mux %d: want at least 1", errUsage, sf.mux)
		}
		return streamLoad(ctx, c, name, sf, stdout, stderr)
	}
	if len(sf.outs) == 0 && sf.events == "" {
		return fmt.Errorf("%w: give --out, --events or both, or the outputs go nowhere", errUsage)
	}
	return streamOnce(ctx, c, name, sf, stdout, stderr)
}

// splitPipelineURL splits http://host:port[/prefix]/NAME into the server's
// base URL and the pipeline's name; ws and wss stand for http and https, and a
// base ending in /v1/pipelines is the server's root.
func splitPipelineURL(s string) (base, name string, err error) {
	u := s
	if rest, ok := strings.CutPrefix(u, "ws"); ok && (strings.HasPrefix(rest, "://") || strings.HasPrefix(rest, "s://")) {
		u = "http" + rest
	}
	if !strings.HasPrefix(u, "http://") && !strings.HasPrefix(u, "https://") {
		return "", "", fmt.Errorf("%w: %q: want http://HOST:PORT/NAME (or https://, ws://, wss://)", errUsage, s)
	}
	u = strings.TrimSuffix(u, "/ws")
	i := strings.LastIndex(u, "/")
	if i < len("https://") || i == len(u)-1 {
		return "", "", fmt.Errorf("%w: %q names no pipeline: want http://HOST:PORT/NAME", errUsage, s)
	}
	base, name = u[:i], u[i+1:]
	base = strings.TrimSuffix(base, "/v1/pipelines")
	return base, name, nil
}

// s16Source turns the f32 frames of a source into s16 ones (scaled by
// 32768, rounded, clipped).
type s16Source struct{ src runner.Source }

func (s s16Source) Next() (*frame.Frame, error) {
	f, err := s.src.Next()
	if err != nil || f.Kind != frame.KindAudio || f.Format != frame.F32 {
		return f, err
	}
	in := f.F32()
	out := make([]int16, len(in))
	for i, v := range in {
		out[i] = int16(max(-32768, min(32767, math.Round(float64(v)*32768))))
	}
	return frame.NewAudioS16(f.Header, f.SampleRate, f.Channels, out), nil
}

// source is the input's frames in the format asked for.
func (sf *streamFlags) source(src *runner.PCMSource) runner.Source {
	if sf.format == "s16" {
		return s16Source{src}
	}
	return src
}

// openInput opens the WAV file and cuts it into frames as run does.
func openInput(path string, frameMS int) (*runner.PCMSource, *wavio.Reader, io.Closer, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, nil, nil, err
	}
	wr, err := wavio.NewReader(f, path)
	if err != nil {
		f.Close()
		return nil, nil, nil, err
	}
	src, err := runner.NewReaderSource(wr.Read, wr.SampleRate, wr.Channels, frameMS, "run")
	if err != nil {
		f.Close()
		return nil, nil, nil, err
	}
	return src, wr, f, nil
}

// catalogueOutputs reads pipeline's outputs from the server's catalogue.
func catalogueOutputs(ctx context.Context, c *client.Client, name string) ([]pipelineOutput, error) {
	list, err := c.Pipelines(ctx)
	if err != nil {
		return nil, err
	}
	var names []string
	for _, p := range list {
		names = append(names, p.Name)
		if p.Name != name {
			continue
		}
		var outs []pipelineOutput
		for _, o := range p.Outputs {
			po := pipelineOutput{name: o.Node + "." + o.Port}
			for _, k := range o.Kinds {
				switch k {
				case "audio":
					po.audio = true
				case "control":
				default:
					po.other = append(po.other, k)
				}
			}
			outs = append(outs, po)
		}
		return outs, nil
	}
	return nil, fmt.Errorf("the server at %s has no pipeline %q (it has: %s)", c.BaseURL, name, strings.Join(names, ", "))
}

// latencies collects round trips. The outputs of a pipeline do not keep the
// seq of the input frame they come from (a WASM node numbers each output port
// on its own; a VAD gate holds silence back and a resampler regroups samples),
// so frames are matched by media time instead: a frame's round trip runs from
// its send to the arrival of the first audio output it completes, the one
// whose last sample lies in the frame's time span. That is the server's and
// the network's delay, without the pipeline's own look-ahead (a VAD's
// pre-roll, sent once speech is sure, is completed by the frame that made it
// sure). Frames that complete no output audio (silence a gate drops) are not
// counted, nor are events, whose timestamps name the moment they describe.
type latencies struct {
	mu        sync.Mutex
	inputs    []sentFrame // in send order, so in media-time order
	rtts      []time.Duration
	inputDone bool // every frame and the eos were sent
}

// sentFrame is an input frame's media span (µs) and send time.
type sentFrame struct {
	start, end int64
	at         time.Time
	answered   bool
}

func newLatencies() *latencies { return &latencies{} }

// span is an audio frame's media time span in µs.
func span(f *frame.Frame) (start, end int64) {
	if f.SampleRate == 0 {
		return f.Timestamp, f.Timestamp
	}
	return f.Timestamp, f.Timestamp + int64(f.Samples())*1_000_000/int64(f.SampleRate)
}

func (l *latencies) sent(f *frame.Frame, at time.Time) {
	a, b := span(f)
	l.mu.Lock()
	l.inputs = append(l.inputs, sentFrame{start: a, end: b, at: at})
	l.mu.Unlock()
}

// arrived answers the input frame an audio output's last sample lies in.
func (l *latencies) arrived(f *frame.Frame, at time.Time) {
	if f.Kind != frame.KindAudio {
		return
	}
	_, b := span(f)
	l.mu.Lock()
	defer l.mu.Unlock()
	i, _ := slices.BinarySearchFunc(l.inputs, b, func(in sentFrame, t int64) int { return cmp.Compare(in.end, t) })
	if i < len(l.inputs) && l.inputs[i].start < b && !l.inputs[i].answered {
		l.inputs[i].answered = true
		l.rtts = append(l.rtts, at.Sub(l.inputs[i].at))
	}
	if i > 4096 { // outputs come in media-time order: forget the frames before, so a long session keeps a short list
		l.inputs = append(l.inputs[:0], l.inputs[i:]...)
	}
}

// percentiles returns the p50 and p99 of ds (sorted in place).
func percentiles(ds []time.Duration) (p50, p99 time.Duration) {
	if len(ds) == 0 {
		return 0, 0
	}
	slices.Sort(ds)
	at := func(q float64) time.Duration {
		i := int(q*float64(len(ds))+0.5) - 1
		return ds[max(0, min(i, len(ds)-1))]
	}
	return at(0.50), at(0.99)
}

// toSchedOutput turns a session's output into what run's file sink writes.
func toSchedOutput(o client.Output) sched.Output {
	if o.Error != nil {
		msg := strings.TrimPrefix(o.Error.Error, fmt.Sprintf("sched: node %q: ", o.Error.Node))
		return sched.Output{Node: o.Node, Err: &sched.NodeError{Node: o.Error.Node, Frame: true, Seq: o.Error.Seq, Timestamp: o.Error.TSUS, Err: errors.New(msg)}}
	}
	return sched.Output{Node: o.Node, Port: o.Port, Frame: o.Frame}
}

// errSessionOver stops stream's sender once the session's end frame came.
var errSessionOver = errors.New("the session is over")

// streamOnce streams the input through one session and writes its outputs as
// run does.
func streamOnce(ctx context.Context, c *client.Client, name string, sf streamFlags, stdout, stderr io.Writer) error {
	outs, err := catalogueOutputs(ctx, c, name)
	if err != nil {
		return err
	}
	flags := slices.Clone([]string(sf.outs))
	for i, fl := range flags { // a bare NODE=FILE means the node's first output
		if n, file, ok := strings.Cut(fl, "="); ok && !strings.Contains(n, ".") && !strings.ContainsAny(n, `/\`) {
			for _, o := range outs {
				if strings.HasPrefix(o.name, n+".") {
					flags[i] = o.name + "=" + file
					break
				}
			}
		}
	}
	files, err := mapOutputs(flags, outs, &sched.Graph{})
	if err != nil {
		return err
	}
	for _, f := range files {
		if f == sf.events && f != os.DevNull {
			return fmt.Errorf("%w: --events %s is also an --out file", errUsage, f)
		}
	}
	src, wr, closer, err := openInput(sf.in, sf.frameMS)
	if err != nil {
		return err
	}
	defer closer.Close()
	sink, err := newFileSink(files, sf.events, stdout)
	if err != nil {
		return err
	}
	defer sink.abort()
	if dropped := unwritten(outs, files, sf.events != ""); len(dropped) > 0 && !sf.quiet {
		fmt.Fprintf(stderr, "not written: %s\n", strings.Join(dropped, ", "))
	}

	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	sess, err := c.Open(ctx, name)
	if err != nil {
		return err
	}
	defer sess.Close()

	lat := newLatencies()
	start := time.Now()
	sendErr := make(chan error, 1)
	var nSent int
	go func() {
		err := sendAll(ctx, sess, sf.source(src), sf.realtime, start, lat, &nSent)
		// A send refused because the session's end has come (the server ended it
		// early, or is shutting down) leaves the receiver to read to that end
		// and say why.
		if err != nil && !errors.Is(err, client.ErrEnded) && !errors.Is(err, client.ErrDraining) {
			cancel(err)
		}
		sendErr <- err
	}()

	var sinkErr error
	for {
		o, err := sess.Recv(ctx)
		if err == io.EOF {
			break
		}
		if err != nil {
			if serr := context.Cause(ctx); serr != nil && ctx.Err() != nil {
				err = serr
			}
			return err
		}
		if o.Frame != nil {
			lat.arrived(o.Frame, time.Now())
		}
		if o.Error != nil && o.Error.Node == "" { // the server's, not a node's: the end frame says the rest
			fmt.Fprintf(stderr, "server: %s\n", o.Error.Error)
			continue
		}
		if sinkErr == nil {
			if sinkErr = sink.write(toSchedOutput(o)); sinkErr != nil {
				cancel(sinkErr)
				return sinkErr
			}
		}
	}
	// The end frame came: a sender still at work (the server ended the
	// session early, say when it shuts down) stops.
	end := sess.End()
	cancel(errSessionOver)
	if err := <-sendErr; err != nil && !errors.Is(err, errSessionOver) && !errors.Is(err, client.ErrEnded) && !errors.Is(err, client.ErrDraining) {
		return err
	}
	switch {
	case end.Error != "":
		return fmt.Errorf("the session failed on the server: %s", end.Error)
	case sess.Draining() && !lat.inputDone:
		return fmt.Errorf("the server shut down mid-stream: it took %d frames of the input, not all of it", end.FramesIn)
	case end.FramesIn != uint64(nSent) || !lat.inputDone:
		return fmt.Errorf("the server ended the session having taken %d frames of the input, not all of it (is it shutting down?)", end.FramesIn)
	}
	if err := sink.commit(); err != nil {
		return err
	}
	elapsed := time.Since(start)
	if !sf.quiet {
		inDur := time.Duration(wr.Frames) * time.Second / time.Duration(wr.SampleRate)
		fmt.Fprintf(stderr, "%s: %.2f s of %d Hz %d-channel audio streamed to %s/%s in %v (%.1f× real time)\n",
			sf.in, inDur.Seconds(), wr.SampleRate, wr.Channels, c.BaseURL, name, elapsed.Round(time.Millisecond), inDur.Seconds()/elapsed.Seconds())
		sink.report(stderr)
		p50, p99 := percentiles(lat.rtts)
		fmt.Fprintf(stderr, "round trip (send of a frame to the arrival of the output audio it completes): p50 %v, p99 %v over %d of %d frames (frames that complete no output audio, such as silence a VAD gate drops, are not counted)\n",
			p50.Round(time.Microsecond), p99.Round(time.Microsecond), len(lat.rtts), nSent)
		fmt.Fprintf(stderr, "server: %s in, %d dropped by the loss policy\n", plural(int(end.FramesIn), "frame"), end.Dropped)
		writeRemoteStats(stderr, end.Stats)
	}
	if sink.nErrors > 0 {
		return fmt.Errorf("finished with %d node errors (first: %s)", sink.nErrors, sink.firstErr)
	}
	return nil
}

// sendAll sends every frame of src, at real-time pace when realtime is set,
// then ends the input.
func sendAll(ctx context.Context, sess *client.Session, src runner.Source, realtime bool, start time.Time, lat *latencies, n *int) error {
	for {
		f, err := src.Next()
		if err == io.EOF {
			if err := sess.CloseInput(ctx); err != nil {
				return err
			}
			lat.mu.Lock()
			lat.inputDone = true
			lat.mu.Unlock()
			return nil
		}
		if err != nil {
			return fmt.Errorf("reading input: %w", err)
		}
		if realtime {
			if err := sleepUntil(ctx, start.Add(time.Duration(f.Timestamp)*time.Microsecond)); err != nil {
				return err
			}
		}
		lat.sent(f, time.Now())
		if err := sess.Send(ctx, f); err != nil {
			return err
		}
		*n++
	}
}

func sleepUntil(ctx context.Context, t time.Time) error {
	d := time.Until(t)
	if d <= 0 {
		return nil
	}
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case <-timer.C:
		return nil
	case <-ctx.Done():
		return context.Cause(ctx)
	}
}

// writeRemoteStats prints the per-node table of an end frame.
func writeRemoteStats(w io.Writer, stats []client.NodeStats) {
	fmt.Fprintf(w, "%-14s %8s %8s %8s %7s %9s %9s %11s %11s\n", "node", "in", "out", "dropped", "errors",
		"work p50", "work p99", "blocked p50", "blocked p99")
	for _, s := range stats {
		fmt.Fprintf(w, "%-14s %8d %8d %8d %7d %9d %9d %11d %11d\n", s.ID, s.In, s.Out, s.Dropped, s.Errors,
			s.WorkP50US, s.WorkP99US, s.BlockedP50US, s.BlockedP99US)
	}
	fmt.Fprintln(w, "(µs per frame, measured on the server)")
}

// loadResult is what one load session saw.
type loadResult struct {
	held           bool // it streamed for the duration and got its end without error
	sent, framesIn uint64
	dropped        uint64
	rtts           []time.Duration
	err            error
}

// streamLoad opens sf.sessions sessions, sf.mux to a socket, each looping over
// the input at real-time pace for sf.duration, and reports what they held.
// Each socket has one pacer, which sends each tick's frame of every session on
// it in one message.
func streamLoad(ctx context.Context, c *client.Client, name string, sf streamFlags, stdout, stderr io.Writer) error {
	src, wr, closer, err := openInput(sf.in, sf.frameMS)
	if err != nil {
		return err
	}
	var input []*frame.Frame
	frames := sf.source(src)
	for {
		f, err := frames.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			closer.Close()
			return fmt.Errorf("reading %s: %w", sf.in, err)
		}
		input = append(input, f)
	}
	closer.Close()
	if len(input) == 0 {
		return fmt.Errorf("%s holds no audio", sf.in)
	}
	last := input[len(input)-1]
	loopUS := last.Timestamp + int64(last.Samples())*1_000_000/int64(wr.SampleRate)

	before := sampleServer(ctx, c)
	ownBefore, ownOK := processCPU()

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	results := make([]loadResult, sf.sessions)
	var wg sync.WaitGroup
	var sockets []*client.Socket
	defer func() {
		for _, s := range sockets {
			s.Close()
		}
	}()
	opened := 0
	var openErr error
	for i := 0; i < sf.sessions && openErr == nil; i += sf.mux {
		sock, err := c.Connect(ctx, name)
		if err != nil {
			openErr = fmt.Errorf("opening socket %d: %w", len(sockets)+1, err)
			break
		}
		sockets = append(sockets, sock)
		var sessions []*client.Session
		for j := i; j < min(i+sf.mux, sf.sessions); j++ {
			sess, err := sock.Open("s" + strconv.Itoa(j))
			if err != nil {
				openErr = err
				break
			}
			sessions = append(sessions, sess)
		}
		if len(sessions) == 0 {
			break
		}
		opened += len(sessions)
		wg.Add(1)
		go func(res []loadResult) {
			defer wg.Done()
			loadSocket(ctx, sock, sessions, input, loopUS, sf.duration, res)
		}(results[i : i+len(sessions)])
	}
	// Sample the server's memory half way, when every session runs.
	during := serverSample{rss: -1, cpu: -1}
	if before.rss >= 0 && opened > 0 {
		timer := time.NewTimer(sf.duration / 2)
		select {
		case <-timer.C:
			during = sampleServer(ctx, c)
		case <-ctx.Done():
		}
		timer.Stop()
	}
	wg.Wait()
	after := sampleServer(ctx, c)
	ownAfter, _ := processCPU()

	var held int
	var sent, framesIn, dropped, noEnd uint64
	var all []time.Duration
	var firstErr error
	for _, r := range results[:opened] {
		if r.held {
			held++
		}
		sent += r.sent
		framesIn += r.framesIn
		dropped += r.dropped
		all = append(all, r.rtts...)
		if r.err != nil && firstErr == nil {
			firstErr = r.err
		}
		if r.err != nil {
			noEnd += r.sent - min(r.sent, r.framesIn)
		}
	}
	lost := sent - min(sent, framesIn)
	p50, p99 := percentiles(all)
	fmt.Fprintf(stdout, "sessions: %d asked, %d opened on %d sockets (%d per socket), %d held for %v at real-time pace\n",
		sf.sessions, opened, len(sockets), sf.mux, held, sf.duration)
	fmt.Fprintf(stdout, "frames: %d sent, %d lost (sent but not counted in by the server's end frames; %d of them in sessions that failed), %d dropped by the pipeline's loss policy\n",
		sent, lost, noEnd, dropped)
	fmt.Fprintf(stdout, "round trip: p50 %v, p99 %v over %d frames (send of a frame to the arrival of the output audio it completes; frames that complete none are not counted)\n",
		p50.Round(time.Microsecond), p99.Round(time.Microsecond), len(all))
	switch {
	case before.rss < 0:
		fmt.Fprintf(stdout, "server memory per session: not measured (%s)\n", before.missing("process_resident_memory_bytes"))
	case during.rss < 0 || opened == 0:
		fmt.Fprintln(stdout, "server memory per session: not measured (no sample during the load)")
	default:
		fmt.Fprintf(stdout, "server memory per session: %.0f KiB (resident %.1f MiB before, %.1f MiB half way through the load)\n",
			(during.rss-before.rss)/float64(opened)/1024, before.rss/(1<<20), during.rss/(1<<20))
	}
	perFrame := func(seconds float64, frames uint64) string {
		return fmt.Sprintf("%.1f µs per frame", seconds*1e6/float64(max(frames, 1)))
	}
	switch {
	case before.cpu < 0 || after.cpu < 0:
		fmt.Fprintf(stdout, "server CPU: not measured (%s)\n", after.missing("process_cpu_seconds_total"))
	default:
		fmt.Fprintf(stdout, "server CPU: %s taken in (%.2f s of CPU over the load; includes opening and ending the sessions)\n",
			perFrame(after.cpu-before.cpu, framesIn), after.cpu-before.cpu)
	}
	if ownOK {
		own := (ownAfter - ownBefore).Seconds()
		fmt.Fprintf(stdout, "load tool CPU: %s sent (%.2f s)\n", perFrame(own, sent), own)
	}
	if openErr != nil {
		return openErr
	}
	if firstErr != nil {
		return fmt.Errorf("%d of %d sessions were not held; first: %w", opened-held, opened, firstErr)
	}
	return nil
}

// loadSocket paces the sessions of one socket: at each frame's time, one
// message with that frame of every session, looping over input for d; then it
// ends their input and waits for their end frames. res gets each session's
// result.
func loadSocket(ctx context.Context, sock *client.Socket, sessions []*client.Session, input []*frame.Frame, loopUS int64, d time.Duration, res []loadResult) {
	lats := make([]*latencies, len(sessions))
	ends := make([]*client.End, len(sessions))
	over := make([]atomic.Bool, len(sessions)) // its receiver is done: a refused or failed session gets no more frames
	sent := make([]uint64, len(sessions))
	recvErrs := make([]error, len(sessions))
	var recv sync.WaitGroup
	for i, sess := range sessions {
		lats[i] = newLatencies()
		recv.Add(1)
		go func() {
			defer recv.Done()
			defer over[i].Store(true)
			for {
				o, err := sess.Recv(ctx)
				if err == io.EOF {
					ends[i] = sess.End()
					return
				}
				if err != nil {
					recvErrs[i] = err
					return
				}
				if o.Frame != nil {
					lats[i].arrived(o.Frame, time.Now())
				}
			}
		}()
	}

	start := time.Now()
	stop := start.Add(d)
	timer := time.NewTimer(0)
	defer timer.Stop()
	<-timer.C
	frames := make([]frame.Frame, len(sessions))
	ptrs := make([]*frame.Frame, len(sessions))
	var seq uint64
	var sendErr error
send:
	for loop := int64(0); ; loop++ {
		for _, in := range input {
			ts := loop*loopUS + in.Timestamp
			at := start.Add(time.Duration(ts) * time.Microsecond)
			if !at.Before(stop) {
				break send
			}
			if wait := time.Until(at); wait > 0 {
				timer.Reset(wait)
				select {
				case <-timer.C:
				case <-ctx.Done():
					sendErr = ctx.Err()
					break send
				}
			}
			now := time.Now()
			batch := ptrs[:0]
			for i, sess := range sessions {
				if over[i].Load() {
					continue
				}
				frames[i] = *in
				frames[i].StreamID, frames[i].Seq, frames[i].Timestamp = sess.ID(), seq, ts
				batch = append(batch, &frames[i])
				lats[i].sent(&frames[i], now)
				sent[i]++
			}
			if len(batch) == 0 {
				break send
			}
			if sendErr = sock.Send(ctx, batch...); sendErr != nil {
				break send
			}
			seq++
		}
	}
	if sendErr == nil {
		batch := ptrs[:0]
		for i, sess := range sessions {
			if !over[i].Load() {
				batch = append(batch, frame.NewControl(frame.Header{StreamID: sess.ID()}, frame.EndOfStream))
			}
		}
		sendErr = sock.Send(ctx, batch...)
	}
	endCtx, cancel := context.WithTimeout(ctx, endWait)
	defer cancel()
	done := make(chan struct{})
	go func() {
		recv.Wait()
		close(done)
	}()
	select {
	case <-done:
	case <-endCtx.Done():
		for _, sess := range sessions {
			sess.Close()
		}
		<-done
	}
	for i, sess := range sessions {
		r := &res[i]
		r.sent = sent[i]
		lats[i].mu.Lock()
		r.rtts = lats[i].rtts
		lats[i].mu.Unlock()
		switch {
		case ends[i] != nil && ends[i].Error != "":
			r.err = fmt.Errorf("session %s failed: %s", sess.ID(), ends[i].Error)
		case sendErr != nil:
			r.err = sendErr
		case ends[i] == nil && recvErrs[i] != nil && endCtx.Err() != nil:
			r.err = fmt.Errorf("session %s: no end frame within %v of the end of its input", sess.ID(), endWait)
		case recvErrs[i] != nil:
			r.err = recvErrs[i]
		}
		if ends[i] != nil {
			r.framesIn, r.dropped = ends[i].FramesIn, ends[i].Dropped
		}
		r.held = r.err == nil
	}
}

// serverSample is what the load tool reads from the server's /metrics.
type serverSample struct {
	rss, cpu float64 // process_resident_memory_bytes, process_cpu_seconds_total; -1 when absent
	err      error   // why /metrics could not be read
}

// sampleServer reads the server's process series from its /metrics.
func sampleServer(ctx context.Context, c *client.Client) serverSample {
	s := serverSample{rss: -1, cpu: -1}
	body, err := c.Get(ctx, "/metrics")
	if err != nil {
		s.err = err
		return s
	}
	sc := bufio.NewScanner(bytes.NewReader(body))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		name, v, ok := strings.Cut(sc.Text(), " ")
		if !ok {
			continue
		}
		f, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
		if err != nil {
			continue
		}
		switch name {
		case "process_resident_memory_bytes":
			s.rss = f
		case "process_cpu_seconds_total":
			s.cpu = f
		}
	}
	return s
}

// missing says why a series of a sample is not there.
func (s serverSample) missing(series string) string {
	if s.err != nil {
		return s.err.Error()
	}
	return "the server's /metrics has no " + series + " series"
}
