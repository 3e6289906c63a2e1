package live

import (
	"os"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/remotemedia/hybrid/core/frame"
	"github.com/remotemedia/hybrid/core/sched"
)

// BenchmarkLiveSession streams 20 ms frames of 16 kHz mono s16 (what a browser
// or phone sends) through voice (convert, gain, vad) over one socket, as fast as it
// goes; the time and allocations are per frame, client and server together.
func BenchmarkLiveSession(b *testing.B) {
	for _, tc := range []struct {
		name     string
		sessions int
	}{{"1-session", 1}, {"16-sessions", 16}} {
		b.Run(tc.name, func(b *testing.B) {
			_, hs := newTestServer(b, Config{})
			ctx := testCtx(b)
			conn := dial(b, ctx, hs, "/v1/pipelines/voice/ws")
			samples := make([]int16, 320)
			for i := range samples {
				samples[i] = int16(i * 50)
			}
			sids := make([]string, tc.sessions)
			for i := range sids {
				sids[i] = "s" + string(rune('a'+i))
			}
			per := max(b.N/tc.sessions, 1)
			var frames []*frame.Frame
			for i := range per {
				for _, sid := range sids {
					frames = append(frames, frame.NewAudioS16(frame.Header{StreamID: sid, Seq: uint64(i), Timestamp: int64(i) * 20000}, 16000, 1, samples))
				}
			}
			for _, sid := range sids {
				frames = append(frames, eos(sid))
			}
			b.ReportAllocs()
			b.ResetTimer()
			go func() { _ = send(ctx, conn, frames, tc.sessions) }()
			collect(b, ctx, conn, sids...)
		})
	}
}

// BenchmarkSessionMemory reports the heap a live session of voice (convert,
// gain, vad) holds once it has taken some frames, run as live runs it
// (synchronously, its linear memories mapped outside the heap): the three WASM
// instances (wazero's state, call stacks) and the scheduler's state; and the
// process's resident memory per session, which adds the pages of linear memory
// the guests touched (Linux only). The socket's share is not counted. The
// time per op is meaningless.
func BenchmarkSessionMemory(b *testing.B) {
	ps, err := LoadFS(fstest.MapFS{"voice.yaml": {Data: []byte(voiceDef)}}, testRegistry)
	if err != nil {
		b.Fatal(err)
	}
	ctx := testCtx(b)
	samples := make([]int16, 320)
	for i := range samples {
		samples[i] = int16(i * 50)
	}
	const n = 100
	for range b.N {
		var m0, m1 runtime.MemStats
		debug.FreeOSMemory()
		runtime.ReadMemStats(&m0)
		rss0 := residentBytes()
		ss := make([]*sched.Session, n)
		for i := range ss {
			s, err := sched.Start(sessionContext(ctx), ps[0].graph, sched.Options{Synchronous: true, OnOutput: func(sched.Output) {}})
			if err != nil {
				b.Fatal(err)
			}
			for q := range 10 {
				if err := s.Push(ctx, frame.NewAudioS16(frame.Header{Seq: uint64(q), Timestamp: int64(q) * 20000}, 16000, 1, samples)); err != nil {
					b.Fatal(err)
				}
			}
			ss[i] = s
		}
		debug.FreeOSMemory()
		runtime.ReadMemStats(&m1)
		b.ReportMetric(float64(m1.HeapInuse-m0.HeapInuse)/n/1024, "KiB/session")
		if rss1 := residentBytes(); rss0 > 0 && rss1 > 0 {
			b.ReportMetric(float64(rss1-rss0)/n/1024, "resident-KiB/session")
		}
		for _, s := range ss {
			_ = s.Close()
		}
	}
}

// residentBytes is the process's resident memory (/proc/self/statm), or 0
// where there is no /proc.
func residentBytes() int64 {
	b, err := os.ReadFile("/proc/self/statm")
	if err != nil {
		return 0
	}
	f := strings.Fields(string(b))
	if len(f) < 2 {
		return 0
	}
	pages, err := strconv.ParseInt(f[1], 10, 64)
	if err != nil {
		return 0
	}
	return pages * int64(os.Getpagesize())
}
