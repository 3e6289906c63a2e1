package native

import (
	"math"
	"math/rand/v2"
	"testing"
)

// TestVADPresenceNotSubnormal runs 20 s of steady white noise, where no band
// holds speech and each band's chance of speech decays by presenceKeep a hop:
// it must reach 0, not a subnormal float (about 200 hops in), on which
// arithmetic is many times slower in WebAssembly, which has no flush to zero.
func TestVADPresenceNotSubnormal(t *testing.T) {
	v, err := NewVAD(DefaultVADParams)
	if err != nil {
		t.Fatal(err)
	}
	v.OnAudio, v.OnEvent = func(int64, []float32) {}, func(VADEvent) {}
	rng := rand.New(rand.NewPCG(7, 1))
	frame := make([]float32, 320)
	zeroed := 0
	for i := range 1000 { // 20 s at 16 kHz
		for j := range frame {
			frame[j] = float32(0.01 * rng.NormFloat64())
		}
		if err := v.Process(frame, 16000, 1, int64(i)*20000); err != nil {
			t.Fatal(err)
		}
		for b, p := range v.presence {
			if p != 0 && math.Abs(float64(p)) < 0x1p-126 {
				t.Fatalf("hop %d: band %d's presence is subnormal (%g)", v.hops, b, p)
			}
		}
	}
	for _, p := range v.presence {
		if p == 0 {
			zeroed++
		}
	}
	if zeroed == 0 {
		t.Errorf("no band's presence reached 0 after 20 s of noise: %v", v.presence)
	}
}
