package live

import (
	"testing"

	"github.com/remotemedia/hybrid/core/frame"
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
