//go:build cgo

package webrtc

import (
	"bytes"
	"math"
	"testing"

	"github.com/hraban/opus"
	"github.com/pion/webrtc/v4/pkg/media"

	"github.com/remotemedia/hybrid/core/frame"
)

// tone is n samples of a 440 Hz sine at rate, amplitude 0.5, interleaved over ch channels.
func tone(n, rate, ch int) []float32 {
	out := make([]float32, n*ch)
	for i := range n {
		v := float32(0.5 * math.Sin(2*math.Pi*440*float64(i)/float64(rate)))
		for c := range ch {
			out[i*ch+c] = v
		}
	}
	return out
}

// TestOutputAudio checks the returned track's packets: 20 ms each, a gap in
// the output's timestamps sent as silence, stereo mixed down, a rate Opus
// does not take resampled; decoded, the tone is there and the gap is silent.
func TestOutputAudio(t *testing.T) {
	for _, tc := range []struct {
		name           string
		rate, channels int
		expect         int // packets: 100 ms of tone, 900 ms of gap, 100 ms of tone
	}{
		{"16 kHz mono", 16000, 1, 55},
		{"48 kHz stereo", 48000, 2, 55},
		{"44.1 kHz mono, resampled", 44100, 1, 55},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var pkts [][]byte
			p := &peer{write: func(s media.Sample) error {
				if s.Duration != frameMS*1e6 {
					t.Fatalf("a sample of %v, want 20 ms", s.Duration)
				}
				pkts = append(pkts, bytes.Clone(s.Data))
				return nil
			}}
			n := tc.rate / 10
			for _, ts := range []int64{0, 1_000_000} { // 100 ms at 0 s and at 1 s
				f := frame.NewAudioF32(frame.Header{Timestamp: ts}, uint32(tc.rate), uint16(tc.channels), tone(n, tc.rate, tc.channels))
				if err := p.audio(f); err != nil {
					t.Fatal(err)
				}
			}
			if len(pkts) != tc.expect {
				t.Fatalf("%d packets, want %d", len(pkts), tc.expect)
			}
			dec, err := opus.NewDecoder(48000, 1)
			if err != nil {
				t.Fatal(err)
			}
			pcm := make([]float32, maxFrameSamples)
			rms := make([]float64, len(pkts))
			for i, pkt := range pkts {
				k, err := dec.DecodeFloat32(pkt, pcm)
				if err != nil {
					t.Fatal(err)
				}
				var e float64
				for _, v := range pcm[:k] {
					e += float64(v) * float64(v)
				}
				rms[i] = math.Sqrt(e / float64(k))
			}
			// The tone's RMS is 0.35; packets 10..48 are the gap (the codec's
			// delay smears a packet or two at each edge).
			for _, i := range []int{2, 3, 52, 53} {
				if rms[i] < 0.2 || rms[i] > 0.5 {
					t.Errorf("packet %d: RMS %.3f, want the tone's 0.35", i, rms[i])
				}
			}
			for i := 12; i < 48; i++ {
				if rms[i] > 0.01 {
					t.Errorf("packet %d in the gap: RMS %.3f, want silence", i, rms[i])
				}
			}
		})
	}
}
