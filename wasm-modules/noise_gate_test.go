package modules_test

import (
	"math"
	"math/rand/v2"
	"testing"
)

func TestNoiseGate(t *testing.T) {
	const rate = 16000
	// 0.5 s of noise at about -66 dBFS peak, 0.3 s of a 440 Hz tone at 0.5 over it, 0.5 s of noise.
	rng := rand.New(rand.NewPCG(3, 4))
	in := make([]float32, rate*13/10)
	for i := range in {
		in[i] = float32((rng.Float64()*2 - 1) * 0.0005)
	}
	onset, end := rate/2, rate*8/10
	for i := onset; i < end; i++ {
		in[i] += float32(0.5 * math.Sin(2*math.Pi*440*float64(i-onset)/rate))
	}
	h := newHarness(t, "noise_gate.wasm", `{"threshold_db":-45,"attack_ms":1,"hold_ms":50,"release_ms":100,"floor_db":-80}`)
	y, _ := runFrames(t, h, in, rate, 1, 320)
	if len(y) != len(in) {
		t.Fatalf("%d samples out, want %d", len(y), len(in))
	}
	gainAt := func(i int) float64 { return float64(y[i]) / float64(in[i]) }
	floor := math.Pow(10, -80.0/20)
	check := func(what string, from, to int, want, tol float64) {
		t.Helper()
		for i := from; i < to; i++ {
			if in[i] != 0 && math.Abs(gainAt(i)-want) > tol {
				t.Fatalf("%s: gain at sample %d (%.4f s) = %.6f, want %.6f ± %g", what, i, float64(i)/rate, gainAt(i), want, tol)
			}
		}
	}
	check("noise before the tone (closed)", 0, onset, floor, 1e-9)
	check("the tone after a 1 ms attack (open)", onset+16, end, 1, 1e-6)
	// The gate holds 50 ms (800 samples) after the tone's last block, then
	// releases linearly to the floor over 100 ms (1600 samples).
	check("hold", end, end+800, 1, 1e-6)
	if g := gainAt(end + 800 + 800); math.Abs(g-0.5) > 0.01 {
		t.Errorf("half way through the release: gain %.4f, want 0.5", g)
	}
	check("closed again after the release", end+800+1600+1, len(in), floor, 1e-7)
	// The attack ramps over the first 16 samples of the tone.
	if g := gainAt(onset + 8); math.Abs(g-(floor+8*(1-floor)/16)) > 0.01 {
		t.Errorf("half way through the attack: gain %.4f, want 0.5", g)
	}

	// Stereo takes the scalar path: each frame gets the gain the mono path gave it.
	stereo := make([]float32, 2*len(in))
	for i, v := range in {
		stereo[2*i], stereo[2*i+1] = v, -v
	}
	h = newHarness(t, "noise_gate.wasm", `{"threshold_db":-45,"attack_ms":1,"hold_ms":50,"release_ms":100,"floor_db":-80}`)
	y2, _ := runFrames(t, h, stereo, rate, 2, 320)
	for i := range in {
		if math.Abs(float64(y2[2*i]-y[i])) > 1e-6 || y2[2*i+1] != -y2[2*i] {
			t.Fatalf("stereo frame %d: %g, %g; mono %g", i, y2[2*i], y2[2*i+1], y[i])
		}
	}

	for _, p := range []string{`{"attack_ms":-1}`, `{"threshold_db":3}`} {
		if _, err := newHarnessErr(t, "noise_gate.wasm", p); err == nil {
			t.Errorf("%s accepted", p)
		}
	}
}
