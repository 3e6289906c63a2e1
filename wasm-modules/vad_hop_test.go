package modules_test

import (
	"math"
	"strconv"
	"testing"
)

// TestVADHopProbabilities checks how the 20 ms analysis hops map onto decision
// frames (docs/vad.md, "How it decides"): with window_ms 10 there is a frame
// event every 10 ms and the two frames of a hop share its probability; with
// window_ms 30 a frame's probability is the mean of the hops that end in it
// (one or two). The input comes in 7 ms frames, so hops span input frames.
func TestVADHopProbabilities(t *testing.T) {
	const rate = 16000
	in := noisyBursts(rate, 3, []segment{{1.0, 1.6}, {2.1, 2.5}}, "pink", 0.005)
	run := func(window int) []float64 {
		r := runVADWASM(t, `{"frame_events":true,"window_ms":`+strconv.Itoa(window)+`}`, in, rate, 112, 0)
		var probs []float64
		for _, e := range r.events {
			if e.Event != "frame" {
				continue
			}
			if want := float64(len(probs) * window); math.Abs(e.TimeMS-want) > 1e-6 {
				t.Fatalf("window_ms %d: frame %d at %.3f ms, want %.0f", window, len(probs), e.TimeMS, want)
			}
			probs = append(probs, e.Probability)
		}
		return probs
	}
	ten := run(10)
	if len(ten) != 300 {
		t.Fatalf("window_ms 10: %d frame events for 3 s, want 300", len(ten))
	}
	hops := make([]float64, len(ten)/2)
	changes := 0
	for j := range hops {
		hops[j] = ten[2*j]
		if ten[2*j+1] != ten[2*j] {
			t.Errorf("window_ms 10: frames %d and %d (one hop) have probabilities %.3f and %.3f", 2*j, 2*j+1, ten[2*j], ten[2*j+1])
		}
		if j > 0 && hops[j] != hops[j-1] {
			changes++
		}
	}
	if changes < len(hops)/2 {
		t.Errorf("window_ms 10: the probability changed between only %d of %d hops", changes, len(hops))
	}
	thirty := run(30)
	if len(thirty) != 100 {
		t.Fatalf("window_ms 30: %d frame events for 3 s, want 100", len(thirty))
	}
	for k, got := range thirty {
		var sum float64
		var n int
		for j := range hops { // hop j ends at 20(j+1) ms
			if end := 20 * (j + 1); end > 30*k && end <= 30*(k+1) {
				sum += hops[j]
				n++
			}
		}
		if want := sum / float64(n); n == 0 || math.Abs(got-want) > 1.5e-3 { // each printed to 3 decimals
			t.Errorf("window_ms 30: frame %d probability %.3f, want the mean %.4f of its %d hops", k, got, want, n)
		}
	}
}
