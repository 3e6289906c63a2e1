package live

import (
	"runtime"
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
// gain, vad) holds once it has taken some frames, run as live runs it (synchronously):
// the three WASM instances (linear memory, call stacks) and the scheduler's
// state; the socket's share is not counted. The time per op is meaningless.
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
		runtime.GC()
		runtime.ReadMemStats(&m0)
		ss := make([]*sched.Session, n)
		for i := range ss {
			s, err := sched.Start(ctx, ps[0].graph, sched.Options{Synchronous: true, OnOutput: func(sched.Output) {}})
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
		runtime.GC()
		runtime.ReadMemStats(&m1)
		b.ReportMetric(float64(m1.HeapInuse-m0.HeapInuse)/n/1024, "KiB/session")
		for _, s := range ss {
			_ = s.Close()
		}
	}
}
