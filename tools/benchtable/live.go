package main

// The live rows: `remotemedia serve` and the load tool (`remotemedia stream
// --sessions N`) as two processes on this machine, the phone front end
// (testdata/bench/phone-frontend.yaml) fed 16 kHz mono s16 in 20 ms frames at
// real-time pace, as a phone or a browser sends.

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"time"

	"github.com/remotemedia/hybrid/core/wavio"
)

// The live measurement's names in the results.
const (
	livePipeline = "phone-frontend"
	liveBench    = "Live/" + livePipeline // + "/mux=M" for the CPU runs, "/held" for the step-up
)

// Live load limits and pass marks.
const (
	ticksPerSecond = 100 // USER_HZ: the unit of utime and stime in /proc/PID/stat on Linux
	frameRate      = 50  // frames a second per session: 20 ms frames
	heldP99        = 20 * time.Millisecond
	toolSaturated  = 0.9 // the load tool's CPU over a step, in cores, from which it no longer keeps pace
	maxRampSession = 10000
	readyWait      = 2 * time.Minute // for the server to compile its modules
)

// liveConfig is what the live rows run.
type liveConfig struct {
	bin      string        // the remotemedia binary
	defs     string        // the folder of definitions the server offers
	sessions int           // sessions of the CPU and memory runs
	muxes    []int         // sessions per socket of the CPU runs
	duration time.Duration // of each run and each step
	repeat   int           // runs of each CPU measurement (the table shows the median)
	ramp     []int         // the step-up's first steps; it doubles the last one until a step fails
	rampMax  int
}

// liveFull is make bench's: muxes[0] is one session a socket, muxes[1] a
// gateway's link.
var liveFull = liveConfig{sessions: 200, muxes: []int{1, 50}, duration: 10 * time.Second, repeat: 3, ramp: []int{100, 200, 400}, rampMax: 6400}

// liveQuick checks the harness in seconds (benchtable -quick).
// The same muxes as liveFull, so that the same rows show.
var liveQuick = liveConfig{sessions: 50, muxes: liveFull.muxes, duration: 2 * time.Second, repeat: 1, ramp: []int{10, 20}, rampMax: 20}

// stepBench names the step-up's run with n sessions in the results.
func stepBench(n int) string { return fmt.Sprintf("%s/step=%d", liveBench, n) }

// muxBench names the CPU runs with mux sessions to a socket in the results.
func muxBench(mux int) string { return fmt.Sprintf("%s/mux=%d", liveBench, mux) }

// liveServer is a running `remotemedia serve`.
type liveServer struct {
	cmd  *exec.Cmd
	base string // http://127.0.0.1:PORT
	done chan struct{}
}

// startServer starts `bin serve` on a free loopback port with the definitions
// of dir, and waits until it is ready (/readyz). The caller stops it.
func startServer(ctx context.Context, bin, dir string) (*liveServer, error) {
	if _, err := os.Stat(bin); err != nil {
		return nil, fmt.Errorf("the server binary: %w (make build, or go build -o bin/remotemedia ./target/server/cmd/remotemedia)", err)
	}
	cmd := exec.Command(bin, "serve", "--python", "off", "--listen", "127.0.0.1:0", "--definitions", dir,
		"--max-sessions", strconv.Itoa(maxRampSession), "--max-sessions-per-client", strconv.Itoa(maxRampSession),
		"--max-sessions-per-socket", strconv.Itoa(maxRampSession))
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("starting %s serve: %w", bin, err)
	}
	s := &liveServer{cmd: cmd, done: make(chan struct{})}
	addr := make(chan string, 1)
	go func() { // its stdout: the address, then whatever it says until it exits
		defer close(s.done)
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			if a, ok := serverAddress(sc.Text()); ok {
				addr <- a
			}
		}
		io.Copy(io.Discard, out)
		cmd.Wait()
	}()
	ctx, cancel := context.WithTimeout(ctx, readyWait)
	defer cancel()
	select {
	case a := <-addr:
		s.base = "http://" + a
	case <-s.done:
		return nil, fmt.Errorf("%s serve exited before it listened: %v", bin, cmd.ProcessState)
	case <-ctx.Done():
		s.stop()
		return nil, fmt.Errorf("%s serve printed no address within %v", bin, readyWait)
	}
	if err := s.waitReady(ctx); err != nil {
		s.stop()
		return nil, err
	}
	return s, nil
}

var servingLine = regexp.MustCompile(`serving .* on http://([^/\s]+)/`)

// serverAddress reads the address out of serve's start-up line.
func serverAddress(line string) (string, bool) {
	m := servingLine.FindStringSubmatch(line)
	if m == nil {
		return "", false
	}
	return m[1], true
}

// waitReady polls /readyz until it answers 200.
func (s *liveServer) waitReady(ctx context.Context) error {
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, s.base+"/readyz", nil)
		if err != nil {
			return err
		}
		if resp, err := http.DefaultClient.Do(req); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		select {
		case <-tick.C:
		case <-s.done:
			return fmt.Errorf("the server exited before it was ready: %v", s.cmd.ProcessState)
		case <-ctx.Done():
			return fmt.Errorf("the server at %s was not ready (/readyz) within %v", s.base, readyWait)
		}
	}
}

// stop kills the server and waits for it.
func (s *liveServer) stop() {
	s.cmd.Process.Kill()
	<-s.done
}

// cpu is the server's process CPU time so far (user + system).
func (s *liveServer) cpu() (time.Duration, error) {
	return processCPUTime(s.cmd.Process.Pid)
}

// processCPUTime reads utime + stime of a process from /proc/PID/stat.
func processCPUTime(pid int) (time.Duration, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, fmt.Errorf("the server's CPU time: %w", err)
	}
	return parseStatCPU(string(b))
}

// parseStatCPU returns utime + stime of a /proc/PID/stat line: fields 14 and
// 15, counted after the command name, which is in parentheses and may hold
// spaces.
func parseStatCPU(stat string) (time.Duration, error) {
	i := strings.LastIndexByte(stat, ')')
	if i < 0 {
		return 0, fmt.Errorf("/proc/PID/stat: no command name in %q", stat)
	}
	f := strings.Fields(stat[i+1:]) // f[0] is field 3 (state)
	if len(f) < 13 {
		return 0, fmt.Errorf("/proc/PID/stat: %d fields after the command name, want at least 13", len(f))
	}
	var ticks int64
	for _, s := range f[11:13] {
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			return 0, fmt.Errorf("/proc/PID/stat: CPU time %q: %w", s, err)
		}
		ticks += n
	}
	return time.Duration(ticks) * time.Second / ticksPerSecond, nil
}

// loadReport is what `remotemedia stream --sessions N` printed, and what its
// process cost.
type loadReport struct {
	asked, opened, held int
	sent, lost, dropped uint64
	p50, p99            time.Duration
	memKiB              float64 // server memory per session; -1 when not measured
	toolCPU, wall       time.Duration
	err                 error // the tool's failure (not every session held, say), with its message
}

var (
	sessionsLine = regexp.MustCompile(`^sessions: (\d+) asked, (\d+) opened on \d+ sockets \(\d+ per socket\), (\d+) held`)
	framesLine   = regexp.MustCompile(`^frames: (\d+) sent, (\d+) lost .*, (\d+) dropped`)
	rttLine      = regexp.MustCompile(`^round trip: p50 (\S+), p99 (\S+) over`)
	memLine      = regexp.MustCompile(`^server memory per session: (-?[\d.]+) KiB`)
)

// parseLoadReport reads the load tool's report (its standard output).
func parseLoadReport(out string) (loadReport, error) {
	r := loadReport{memKiB: -1}
	var seen [3]bool
	for _, l := range strings.Split(out, "\n") {
		var err error
		if m := sessionsLine.FindStringSubmatch(l); m != nil {
			seen[0] = true
			r.asked, _ = strconv.Atoi(m[1])
			r.opened, _ = strconv.Atoi(m[2])
			r.held, _ = strconv.Atoi(m[3])
		} else if m := framesLine.FindStringSubmatch(l); m != nil {
			seen[1] = true
			r.sent, _ = strconv.ParseUint(m[1], 10, 64)
			r.lost, _ = strconv.ParseUint(m[2], 10, 64)
			r.dropped, _ = strconv.ParseUint(m[3], 10, 64)
		} else if m := rttLine.FindStringSubmatch(l); m != nil {
			seen[2] = true
			if r.p50, err = time.ParseDuration(m[1]); err == nil {
				r.p99, err = time.ParseDuration(m[2])
			}
		} else if m := memLine.FindStringSubmatch(l); m != nil {
			r.memKiB, err = strconv.ParseFloat(m[1], 64)
		}
		if err != nil {
			return r, fmt.Errorf("the load tool's line %q: %w", l, err)
		}
	}
	for i, what := range []string{"sessions", "frames", "round trip"} {
		if !seen[i] {
			return r, fmt.Errorf("the load tool's report has no %q line:\n%s", what, out)
		}
	}
	return r, nil
}

// runLoad runs the load tool against the server's pipeline: n sessions, mux
// to a socket, for d, fed wav as s16 at real-time pace.
func runLoad(ctx context.Context, bin, url, wav string, n, mux int, d time.Duration) (loadReport, error) {
	ctx, cancel := context.WithTimeout(ctx, d+2*time.Minute) // the tool waits at most 30 s for the end frames
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, "stream", url, "--in", wav, "--format", "s16", "--realtime",
		"--sessions", strconv.Itoa(n), "--mux", strconv.Itoa(mux), "--duration", d.String())
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	fmt.Fprintf(os.Stderr, "benchtable: %s\n", strings.Join(cmd.Args, " "))
	start := time.Now()
	runErr := cmd.Run()
	wall := time.Since(start)
	r, err := parseLoadReport(out.String())
	if err != nil {
		if runErr != nil {
			return r, fmt.Errorf("the load tool: %v: %s", runErr, strings.TrimSpace(errOut.String()))
		}
		return r, err
	}
	r.wall = wall
	r.toolCPU = cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime()
	if runErr != nil {
		r.err = fmt.Errorf("%v: %s", runErr, lastLine(errOut.String()))
	}
	return r, nil
}

func lastLine(s string) string {
	s = strings.TrimSpace(s)
	return s[strings.LastIndexByte(s, '\n')+1:]
}

// writeInputWAV writes seconds of speech-like audio (a 220 Hz tone with a
// 3 Hz envelope), 16 kHz mono, on s16 steps so that --format s16 sends it
// unchanged.
func writeInputWAV(path string, seconds int) error {
	const rate = 16000
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	w := wavio.NewWriter(f, rate, 1)
	s := make([]float32, seconds*rate)
	for i := range s {
		t := float64(i) / rate
		v := 0.3 * math.Sin(2*math.Pi*220*t) * (0.5 + 0.5*math.Sin(2*math.Pi*3*t))
		s[i] = float32(math.Round(v*32767) / 32768)
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

// liveRun is one load run and the server CPU it took.
type liveRun struct {
	loadReport
	serverCPU time.Duration
}

// framesIn is the frames the server took in.
func (r liveRun) framesIn() uint64 { return r.sent - min(r.sent, r.lost) }

// cpuPerFrame is the server's CPU per frame taken in, in µs.
func (r liveRun) cpuPerFrame() float64 {
	return r.serverCPU.Seconds() * 1e6 / float64(max(r.framesIn(), 1))
}

// toolShare is the load tool's CPU over the run as a share of the machine, in %.
func (r liveRun) toolShare() float64 {
	return 100 * r.toolCPU.Seconds() / r.wall.Seconds() / float64(runtime.NumCPU())
}

// ok says whether the run held: every session held, nothing lost, p99 within
// heldP99, the load tool below saturation.
func (r liveRun) ok() (bool, string) {
	switch {
	case r.err != nil:
		return false, r.err.Error()
	case r.opened < r.asked || r.held < r.opened:
		return false, fmt.Sprintf("%d of %d sessions held", r.held, r.asked)
	case r.lost > 0:
		return false, fmt.Sprintf("%d frames lost", r.lost)
	case r.p99 > heldP99:
		return false, fmt.Sprintf("p99 %v > %v", r.p99, heldP99)
	case r.toolCPU.Seconds()/r.wall.Seconds() >= toolSaturated:
		return false, fmt.Sprintf("the load tool saturated (%.2f CPUs)", r.toolCPU.Seconds()/r.wall.Seconds())
	}
	return true, ""
}

// measure starts a server, runs the load once against it, reads the server's
// CPU time around the load, and stops it. A new server each time: its idle
// memory, which the load tool's memory per session starts from, is a fresh
// server's, not one that kept the heap of a run before.
func measure(ctx context.Context, cfg liveConfig, wav string, n, mux int) (liveRun, error) {
	srv, err := startServer(ctx, cfg.bin, cfg.defs)
	if err != nil {
		return liveRun{}, err
	}
	defer srv.stop()
	before, err := srv.cpu()
	if err != nil {
		return liveRun{}, err
	}
	rep, err := runLoad(ctx, cfg.bin, srv.base+"/"+livePipeline, wav, n, mux, cfg.duration)
	if err != nil {
		return liveRun{}, err
	}
	after, err := srv.cpu()
	if err != nil {
		return liveRun{}, err
	}
	r := liveRun{loadReport: rep, serverCPU: after - before}
	fmt.Fprintf(os.Stderr, "benchtable:   %d sessions, %d per socket: %d held, %d lost, p99 %v, server %.1f µs/frame, %.0f KiB/session, load tool %.0f%% of the CPUs\n",
		n, mux, r.held, r.lost, r.p99, r.cpuPerFrame(), r.memKiB, r.toolShare())
	return r, nil
}

// cpuRuns measures the server's CPU and memory per session with cfg.sessions
// sessions, mux to a socket, cfg.repeat times, into res.
func cpuRuns(ctx context.Context, cfg liveConfig, wav string, mux int, res *measurements) error {
	name := muxBench(mux)
	for range cfg.repeat {
		r, err := measure(ctx, cfg, wav, cfg.sessions, mux)
		if err != nil {
			return err
		}
		if r.err != nil {
			return fmt.Errorf("%d sessions, %d per socket: %w", cfg.sessions, mux, r.err)
		}
		perFrame := r.cpuPerFrame()
		res.add(name, "cpu-µs/frame", perFrame)
		res.add(name, "capacity", float64(runtime.NumCPU())*1e6/(perFrame*frameRate))
		res.add(name, "p99-ms", r.p99.Seconds()*1e3)
		res.add(name, "lost", float64(r.lost))
		if r.memKiB >= 0 {
			res.add(name, "KiB/session", r.memKiB)
		}
	}
	return nil
}

// stepUp raises the sessions (a socket each) from cfg.ramp on, doubling, until
// a step does not hold; then tries once half way between the last step that
// held and the one that did not. It records the largest that held.
func stepUp(ctx context.Context, cfg liveConfig, wav string, res *measurements) error {
	var best *liveRun
	try := func(n int) (bool, error) {
		r, err := measure(ctx, cfg, wav, n, 1)
		if err != nil {
			return false, err
		}
		ok, why := r.ok()
		step := stepBench(n) // each step's latency, for docs/benchmarks.md's plot
		res.add(step, "p50-ms", r.p50.Seconds()*1e3)
		res.add(step, "p99-ms", r.p99.Seconds()*1e3)
		res.add(step, "held", map[bool]float64{true: 1}[ok])
		if !ok {
			fmt.Fprintf(os.Stderr, "benchtable:   %d sessions did not hold: %s\n", n, why)
			return false, nil
		}
		best = &r
		return true, nil
	}
	held, failed := 0, 0
	for i := 0; ; i++ {
		n := 2 * held
		if i < len(cfg.ramp) {
			n = cfg.ramp[i]
		}
		if n > cfg.rampMax || n == 0 {
			break
		}
		ok, err := try(n)
		if err != nil {
			return err
		}
		if !ok {
			failed = n
			break
		}
		held = n
	}
	for n := cfg.ramp[0] / 2; held == 0 && n >= 5; n /= 2 { // the first step did not hold: step down until one does
		ok, err := try(n)
		if err != nil {
			return err
		}
		if ok {
			held = n
		} else {
			failed = n
		}
	}
	if held > 0 && failed > 0 && failed-held > held/4 {
		mid := (held + failed) / 2
		if ok, err := try(mid); err != nil {
			return err
		} else if ok {
			held = mid
		}
	}
	name := liveBench + "/held"
	res.add(name, "sessions", float64(held))
	if best != nil {
		res.add(name, "tool-cpu-%", best.toolShare())
		res.add(name, "p99-ms", best.p99.Seconds()*1e3)
	}
	return nil
}

// runLive measures the live rows into res. Every server and load tool it
// starts is stopped before it returns.
func runLive(ctx context.Context, cfg liveConfig, res *measurements) error {
	dir, err := os.MkdirTemp("", "benchtable-live")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	wav := filepath.Join(dir, "phone.wav")
	if err := writeInputWAV(wav, 2); err != nil {
		return fmt.Errorf("writing the input: %w", err)
	}
	if _, err := os.Stat(cfg.bin); err != nil {
		return fmt.Errorf("the server binary: %w (make build, or go build -o bin/remotemedia ./target/server/cmd/remotemedia)", err)
	}
	if _, err := os.Stat(filepath.Join(cfg.defs, livePipeline+".yaml")); err != nil {
		return fmt.Errorf("the bench definition: %w", err)
	}
	var errs []error
	for _, mux := range cfg.muxes {
		if err := cpuRuns(ctx, cfg, wav, mux, res); err != nil {
			errs = append(errs, err)
		}
	}
	if err := stepUp(ctx, cfg, wav, res); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}
