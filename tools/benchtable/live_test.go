package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// A report as `remotemedia stream --sessions` prints it (target/server/cli/stream.go).
const loadOutput = `sessions: 200 asked, 200 opened on 4 sockets (50 per socket), 199 held for 10s at real-time pace
frames: 100000 sent, 3 lost (sent but not counted in by the server's end frames; 2 of them in sessions that failed), 7 dropped by the pipeline's loss policy
round trip: p50 812µs, p99 12.345ms over 64000 frames (send of a frame to the arrival of the output audio it completes; frames that complete none are not counted)
server memory per session: 402 KiB (resident 20.1 MiB before, 98.7 MiB half way through the load)
server CPU: 11.5 µs per frame taken in (1.15 s of CPU over the load; includes opening and ending the sessions)
load tool CPU: 9.0 µs per frame sent (0.90 s)
`

func TestParseLoadReport(t *testing.T) {
	r, err := parseLoadReport(loadOutput)
	if err != nil {
		t.Fatal(err)
	}
	want := loadReport{asked: 200, opened: 200, held: 199, sent: 100000, lost: 3, dropped: 7,
		p50: 812 * time.Microsecond, p99: 12345 * time.Microsecond, memKiB: 402}
	if r != want {
		t.Errorf("parsed %+v, want %+v", r, want)
	}
	run := liveRun{loadReport: r, serverCPU: 2 * time.Second}
	if got := run.framesIn(); got != 99997 {
		t.Errorf("frames in = %d, want 99997", got)
	}
	if got, want := run.cpuPerFrame(), 2e6/99997; got != want {
		t.Errorf("CPU per frame = %v µs, want %v", got, want)
	}
}

func TestParseLoadReportMemoryNotMeasured(t *testing.T) {
	out := strings.Replace(loadOutput, "server memory per session: 402 KiB (resident 20.1 MiB before, 98.7 MiB half way through the load)",
		"server memory per session: not measured (no sample during the load)", 1)
	r, err := parseLoadReport(out)
	if err != nil {
		t.Fatal(err)
	}
	if r.memKiB != -1 {
		t.Errorf("memory per session = %v, want -1 (not measured)", r.memKiB)
	}
}

func TestParseLoadReportIncomplete(t *testing.T) {
	_, err := parseLoadReport("sessions: 2 asked, 2 opened on 2 sockets (1 per socket), 2 held for 1s at real-time pace\n")
	if err == nil || !strings.Contains(err.Error(), `no "frames" line`) {
		t.Fatalf("err = %v, want one naming the missing frames line", err)
	}
	_, err = parseLoadReport(strings.Replace(loadOutput, "p99 12.345ms", "p99 12.345parsecs", 1))
	if err == nil || !strings.Contains(err.Error(), "round trip") {
		t.Fatalf("err = %v, want one naming the round-trip line", err)
	}
}

func TestParseStatCPU(t *testing.T) {
	// utime 250 and stime 50 ticks; the command name holds a space and a parenthesis.
	stat := "4242 (remote media) serve) S 1 4242 4242 0 -1 4194560 1000 0 0 0 250 50 0 0 20 0 7 0 100 1000000 2000"
	got, err := parseStatCPU(stat)
	if err != nil {
		t.Fatal(err)
	}
	if want := 3 * time.Second; got != want {
		t.Errorf("CPU time = %v, want %v", got, want)
	}
	if _, err := parseStatCPU("4242 (x) S 1 2"); err == nil {
		t.Error("a short stat line parsed without error")
	}
}

func TestProcessCPUTimeOfSelf(t *testing.T) {
	if _, err := os.Stat("/proc/self/stat"); err != nil {
		t.Skip("no /proc")
	}
	if _, err := processCPUTime(os.Getpid()); err != nil {
		t.Fatal(err)
	}
}

func TestServerAddress(t *testing.T) {
	a, ok := serverAddress("remotemedia: serving the demo on http://127.0.0.1:40123/ (Python nodes: off; pipelines: phone-frontend)")
	if !ok || a != "127.0.0.1:40123" {
		t.Errorf("address = %q, %v; want 127.0.0.1:40123", a, ok)
	}
	if _, ok := serverAddress("remotemedia: some bundled definitions cannot run here"); ok {
		t.Error("an address read from a line without one")
	}
}

func TestStartServerWithoutBinary(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	missing := filepath.Join(t.TempDir(), "remotemedia")
	_, err := startServer(ctx, missing, t.TempDir())
	if err == nil || !strings.Contains(err.Error(), missing) || !strings.Contains(err.Error(), "make build") {
		t.Fatalf("err = %v, want one naming the missing binary and how to build it", err)
	}
}

func TestWriteInputWAV(t *testing.T) {
	path := filepath.Join(t.TempDir(), "in.wav")
	if err := writeInputWAV(path, 1); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if want := int64(16000 * 4); fi.Size() < want { // one second of 16 kHz mono f32, and a header
		t.Errorf("%s holds %d bytes, want more than %d", path, fi.Size(), want)
	}
}
