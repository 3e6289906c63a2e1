package modules_test

import (
	"fmt"
	"math"
	"testing"
)

// amplitudeAt is the amplitude of y's component at f Hz over y[from:to] (least squares).
func amplitudeAt(y []float32, rate, f float64, from, to int) float64 {
	var ss, sc, cc, ys, yc float64
	for n := from; n < to; n++ {
		w := 2 * math.Pi * f * float64(n) / rate
		s, c := math.Sin(w), math.Cos(w)
		ss, sc, cc, ys, yc = ss+s*s, sc+s*c, cc+c*c, ys+s*float64(y[n]), yc+c*float64(y[n])
	}
	det := ss*cc - sc*sc
	return math.Hypot((ys*cc-yc*sc)/det, (yc*ss-ys*sc)/det)
}

// butterworthHP is the float64 reference: the same RBJ biquads, one sample at a time.
func butterworthHP(x []float64, rate, cutoff float64, order int) []float64 {
	qs := map[int][]float64{2: {1 / math.Sqrt2}, 4: {0.5411961001461970, 1.3065629648763766}}[order]
	y := append([]float64(nil), x...)
	w0 := 2 * math.Pi * cutoff / rate
	for _, q := range qs {
		alpha := math.Sin(w0) / (2 * q)
		a0 := 1 + alpha
		b0, b1, b2 := (1+math.Cos(w0))/2/a0, -(1+math.Cos(w0))/a0, (1+math.Cos(w0))/2/a0
		a1, a2 := -2*math.Cos(w0)/a0, (1-alpha)/a0
		var x1, x2, y1, y2 float64
		for n, v := range y {
			o := b0*v + b1*x1 + b2*x2 - a1*y1 - a2*y2
			x2, x1, y2, y1 = x1, v, y1, o
			y[n] = o
		}
	}
	return y
}

func TestHighpass(t *testing.T) {
	const rate = 48000
	t.Run("removes DC, passes speech band", func(t *testing.T) {
		// 0.3 DC + a 1 kHz tone at 0.25, in ragged frames.
		in := sine(rate, 1, rate, 1000, 0.25)
		for i := range in {
			in[i] += 0.3
		}
		h := newHarness(t, "highpass.wasm", `{"cutoff_hz":80}`)
		y, _ := runFrames(t, h, in, rate, 1, 333)
		tail := y[rate/2:]
		var mean float64
		for _, v := range tail {
			mean += float64(v)
		}
		mean /= float64(len(tail))
		if math.Abs(mean) > 1e-5 {
			t.Errorf("DC left after 0.5 s: %g (from 0.3)", mean)
		}
		if a := amplitudeAt(y, rate, 1000, rate/2, rate); math.Abs(20*math.Log10(a/0.25)) > 0.01 {
			t.Errorf("1 kHz at %.4f dB, want 0 ± 0.01", 20*math.Log10(a/0.25))
		}
	})
	for _, order := range []int{2, 4} {
		for _, f := range []float64{20, 40, 80, 160, 400} {
			t.Run(fmt.Sprintf("order %d at %g Hz", order, f), func(t *testing.T) {
				h := newHarness(t, "highpass.wasm", fmt.Sprintf(`{"cutoff_hz":80,"order":%d}`, order))
				y, _ := runFrames(t, h, sine(rate, 1, rate, f, 0.5), rate, 1, 960)
				got := 20 * math.Log10(amplitudeAt(y, rate, f, rate/2, rate)/0.5)
				r := math.Pow(math.Tan(math.Pi*f/rate)/math.Tan(math.Pi*80/rate), float64(2*order)) // bilinear-warped Butterworth
				want := 10 * math.Log10(r/(1+r))
				if math.Abs(got-want) > 0.05 {
					t.Errorf("gain %.3f dB, want %.3f dB", got, want)
				}
			})
		}
	}
	t.Run("matches a float64 reference, stereo, odd frames", func(t *testing.T) {
		in := sine(9600, 2, rate, 50, 0.4)
		for i := range in {
			in[i] += float32(0.1 * math.Sin(float64(i)*0.37))
		}
		h := newHarness(t, "highpass.wasm", `{"cutoff_hz":120,"order":4}`)
		y, _ := runFrames(t, h, in, rate, 2, 7)
		for c := range 2 {
			x := make([]float64, 9600)
			for i := range x {
				x[i] = float64(in[2*i+c])
			}
			want := butterworthHP(x, rate, 120, 4)
			for i := range want {
				if d := math.Abs(float64(y[2*i+c]) - want[i]); d > 2e-5 {
					t.Fatalf("channel %d sample %d: %g, want %g (diff %g)", c, i, y[2*i+c], want[i], d)
				}
			}
		}
	})
	for _, p := range []string{`{"cutoff_hz":0}`, `{"order":3}`} {
		if _, err := newHarnessErr(t, "highpass.wasm", p); err == nil {
			t.Errorf("%s accepted", p)
		}
	}
	h := newHarness(t, "highpass.wasm", `{"cutoff_hz":9000}`)
	if err := h.send(t, header{Kind: 1, Format: 1, Channels: 1, Rate: 16000}, f32ToBytes(make([]float32, 160))); err == nil {
		t.Error("cutoff 9 kHz at 16 kHz accepted")
	}
}
