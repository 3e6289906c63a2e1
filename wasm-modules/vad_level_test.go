package modules_test

import (
	"encoding/json"
	"fmt"
	"math"
	"testing"

	"github.com/remotemedia/hybrid/wasm-modules/native"
)

// TestVADLevelFloor checks min_level_db, which the module measures in two
// ways: with gate (the default) from its ring of recent audio and only for a
// frame whose probability is at least 0.5, without gate as the audio comes in.
// A loud burst (about -26 dBFS) and a quiet one (about -46 dBFS): with
// min_level_db -36 only the loud one is speech, with -60 both are; the same
// events with and without gate, in mono and stereo (the mono mix is what is
// measured), at every window_ms, whatever the input frames (the odd ones make
// the ring wrap inside a decision frame).
func TestVADLevelFloor(t *testing.T) {
	const rate = 16000
	in := bursts(rate, 4, []segment{{0.5, 1.5}, {2, 3.2}})
	for i := 2 * rate; i < len(in); i++ {
		in[i] *= 0.1 // the second burst 20 dB down
	}
	loud, quiet := meanSquareDB(in[rate:rate+rate/2]), meanSquareDB(in[2*rate+rate/4:3*rate])
	if loud < -30 || loud > -22 || quiet < -50 || quiet > -42 {
		t.Fatalf("bursts at %.1f and %.1f dBFS, want about -26 and -46", loud, quiet)
	}
	stereo := make([]float32, 2*len(in))
	for i, v := range in {
		stereo[2*i], stereo[2*i+1] = 1.5*v, 0.5*v // mixed: v
	}
	for _, c := range []struct {
		floor    float64
		segments []segment
	}{
		{-36, []segment{{0.5, 1.5}}},
		{-60, []segment{{0.5, 1.5}, {2, 3.2}}},
	} {
		for _, window := range []int{10, 20, 30} {
			var want []native.VADEvent
			for _, run := range []struct {
				gate     bool
				channels int
				frame    int
			}{{true, 1, 320}, {false, 1, 320}, {true, 1, 137}, {true, 2, 160}, {false, 2, 211}, {true, 1, 1000}} {
				name := fmt.Sprintf("min_level_db %.0f window_ms %d gate %v, %d channels, frames of %d", c.floor, window, run.gate, run.channels, run.frame)
				params := fmt.Sprintf(`{"min_level_db":%g,"window_ms":%d,"gate":%v}`, c.floor, window, run.gate)
				h := newHarness(t, "vad.wasm", params)
				src := in
				if run.channels == 2 {
					src = stereo
				}
				step := run.frame * run.channels
				for i := 0; i < len(src); i += step {
					end := min(i+step, len(src))
					h.sendF32(t, rate, uint16(run.channels), int64(i/run.channels)*1000000/rate, src[i:end])
				}
				h.doFlush(t)
				var events []native.VADEvent
				for _, o := range h.take() {
					if o.Port == 1 {
						var e native.VADEvent
						if err := json.Unmarshal(o.Data, &e); err != nil {
							t.Fatalf("%s: event %q: %v", name, o.Data, err)
						}
						events = append(events, e)
					}
				}
				checkSegments(t, events, c.segments, 0, 0.25)
				if want == nil {
					want = events
					continue
				}
				if len(events) != len(want) {
					t.Fatalf("%s: %d events, want %d as with gate and 320-sample frames", name, len(events), len(want))
				}
				for i := range events {
					if events[i].Event != want[i].Event || events[i].TimeMS != want[i].TimeMS {
						t.Errorf("%s: event %d is %s at %.1f ms, want %s at %.1f ms", name, i, events[i].Event, events[i].TimeMS, want[i].Event, want[i].TimeMS)
					}
				}
			}
		}
	}
}

// meanSquareDB is the mean square of s in dBFS.
func meanSquareDB(s []float32) float64 {
	var sum float64
	for _, v := range s {
		sum += float64(v) * float64(v)
	}
	return 10 * math.Log10(sum/float64(len(s)))
}
