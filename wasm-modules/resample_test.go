package modules_test

import (
	"fmt"
	"math"
	"testing"

	"github.com/remotemedia/hybrid/wasm-modules/native"
)

type stream struct {
	samples []float32
	ts      []int64 // per output frame
	lens    []int
}

// resampleWASM runs in through resample.wasm in frames of the given sizes (in
// sample frames, cycling) and flushes.
func resampleWASM(t *testing.T, params string, in []float32, rate, channels int, sizes []int) stream {
	h := newHarness(t, "resample.wasm", params)
	var s stream
	collect := func() {
		for _, o := range h.take() {
			if o.Channels != uint16(channels) || o.Kind != 1 || o.Format != 1 {
				t.Fatalf("output header %+v", o.header)
			}
			s.samples = append(s.samples, o.f32()...)
			s.ts = append(s.ts, o.TS)
			s.lens = append(s.lens, len(o.Data)/4/channels)
		}
	}
	for i, k := 0, 0; i < len(in)/channels; k++ {
		n := min(sizes[k%len(sizes)], len(in)/channels-i)
		h.sendF32(t, uint32(rate), uint16(channels), int64(i)*1000000/int64(rate), in[i*channels:(i+n)*channels])
		collect()
		i += n
	}
	h.doFlush(t)
	collect()
	return s
}

func resampleNative(t *testing.T, out int, quality string, in []float32, rate, channels int, sizes []int) stream {
	r, err := native.NewResampler(out, quality)
	if err != nil {
		t.Fatal(err)
	}
	var s stream
	emit := func(ts int64, o []float32) {
		s.samples = append(s.samples, o...)
		s.ts = append(s.ts, ts)
		s.lens = append(s.lens, len(o)/channels)
	}
	for i, k := 0, 0; i < len(in)/channels; k++ {
		n := min(sizes[k%len(sizes)], len(in)/channels-i)
		r.Process(in[i*channels:(i+n)*channels], rate, channels, int64(i)*1000000/int64(rate), emit)
		i += n
	}
	r.Flush(emit)
	return s
}

func TestResampleMatchesNative(t *testing.T) {
	tests := []struct {
		name              string
		in, out, channels int
		quality           string
		sizes             []int
	}{
		{"48k to 16k stereo", 48000, 16000, 2, "high", []int{960, 480, 17, 1000}},
		{"44.1k to 16k", 44100, 16000, 1, "high", []int{441, 882, 5}},
		{"16k to 48k", 16000, 48000, 1, "high", []int{320, 7, 160}},
		{"48k to 16k fast", 48000, 16000, 1, "fast", []int{960}},
		{"48k to 16k mono, ragged frames", 48000, 16000, 1, "high", []int{960, 333, 1, 2000}},
		{"48k to 8k mono", 48000, 8000, 1, "best", []int{960, 71}},
		{"48k to 44101 interpolated phases", 48000, 44101, 1, "high", []int{960, 333}},
		{"22.05k to 8k 3 channels", 22050, 8000, 3, "fast", []int{100, 441}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			n := tc.in / 4 // 250 ms
			in := sine(n, tc.channels, float64(tc.in), 997, 0.6)
			params := fmt.Sprintf(`{"rate":%d,"quality":%q}`, tc.out, tc.quality)
			got := resampleWASM(t, params, in, tc.in, tc.channels, tc.sizes)
			want := resampleNative(t, tc.out, tc.quality, in, tc.in, tc.channels, tc.sizes)
			if total := (int64(n)*int64(tc.out) + int64(tc.in) - 1) / int64(tc.in); int64(len(got.samples)/tc.channels) != total {
				t.Fatalf("%d output frames, want ceil(%d*%d/%d) = %d", len(got.samples)/tc.channels, n, tc.out, tc.in, total)
			}
			assertClose(t, "resample", got.samples, want.samples, 2e-6)
			done := 0
			for i, ts := range got.ts {
				if exp := int64(done) * 1000000 / int64(tc.out); ts != exp || ts != want.ts[i] {
					t.Fatalf("frame %d timestamp %d, want %d (native %d)", i, ts, exp, want.ts[i])
				}
				done += got.lens[i]
			}
		})
	}
}

// snrDB compares y[from:to] with amp*sin(2 pi f n / rate).
func snrDB(y []float32, from, to int, rate, f, amp float64) float64 {
	var sig, noise float64
	for n := from; n < to; n++ {
		ref := amp * math.Sin(2*math.Pi*f*float64(n)/rate)
		sig += ref * ref
		d := float64(y[n]) - ref
		noise += d * d
	}
	return 10 * math.Log10(sig/noise)
}

func TestResampleQuality(t *testing.T) {
	tests := []struct {
		name    string
		in, out int
		expect  float64 // minimum SNR in dB
	}{
		{"48k to 16k", 48000, 16000, 80},
		{"44.1k to 16k", 44100, 16000, 80},
		{"16k to 48k", 16000, 48000, 80},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			in := sine(tc.in/2, 1, float64(tc.in), 1000, 0.5)
			y := resampleWASM(t, fmt.Sprintf(`{"rate":%d}`, tc.out), in, tc.in, 1, []int{tc.in / 50}).samples
			skip := tc.out / 20 // 50 ms of start-up (zeros before the start) and tail
			snr := snrDB(y, skip, len(y)-skip, float64(tc.out), 1000, 0.5)
			t.Logf("SNR %.1f dB", snr)
			if snr < tc.expect {
				t.Errorf("SNR %.1f dB < %.0f dB", snr, tc.expect)
			}
		})
	}
	t.Run("10 kHz stopband 48k to 16k", func(t *testing.T) {
		in := sine(24000, 1, 48000, 10000, 0.5)
		y := resampleWASM(t, `{"rate":16000}`, in, 48000, 1, []int{960}).samples
		var e float64
		for _, v := range y[800 : len(y)-800] {
			e += float64(v) * float64(v)
		}
		att := 10 * math.Log10(0.125/(e/float64(len(y)-1600)))
		t.Logf("attenuation %.1f dB", att)
		if att < 60 {
			t.Errorf("10 kHz attenuated by %.1f dB < 60 dB", att)
		}
	})
	t.Run("fast quality still passes 1 kHz", func(t *testing.T) {
		in := sine(24000, 1, 48000, 1000, 0.5)
		y := resampleWASM(t, `{"rate":16000,"quality":"fast"}`, in, 48000, 1, []int{960}).samples
		if snr := snrDB(y, 800, len(y)-800, 16000, 1000, 0.5); snr < 50 {
			t.Errorf("fast SNR %.1f dB < 50 dB", snr)
		}
	})
}

func TestResampleRateChangeAndPassThrough(t *testing.T) {
	h := newHarness(t, "resample.wasm", `{"rate":16000}`)
	h.sendF32(t, 48000, 1, 0, sine(4800, 1, 48000, 500, 0.5))
	h.sendF32(t, 32000, 1, 100000, sine(3200, 1, 32000, 500, 0.5)) // ends the 48k stream
	h.sendF32(t, 16000, 1, 200000, sine(1600, 1, 16000, 500, 0.5)) // same rate: passes through
	h.doFlush(t)
	n48, n32, n16 := 0, 0, 0
	for _, o := range h.take() {
		n := len(o.Data) / 4
		switch {
		case o.TS < 100000:
			n48 += n
		case o.TS < 200000:
			n32 += n
		default:
			n16 += n
		}
	}
	if n48 != 1600 || n32 != 1600 || n16 != 1600 {
		t.Fatalf("output frames per segment %d, %d, %d; want 1600 each", n48, n32, n16)
	}
	for _, p := range []string{`{"rate":500}`, `{"rate":16000,"quality":"superb"}`} {
		if _, err := newHarnessErr(t, "resample.wasm", p); err == nil {
			t.Errorf("%s accepted", p)
		}
	}
}

// resampler resamples one whole mono signal from rate in to rate out.
type resampler func(t testing.TB, in []float32, inRate, outRate int) []float32

// wasmResampler is resample.wasm at quality, fed 20 ms frames and flushed.
func wasmResampler(quality string) resampler {
	return func(t testing.TB, in []float32, inRate, outRate int) []float32 {
		h := newHarness(t, "resample.wasm", fmt.Sprintf(`{"rate":%d,"quality":%q}`, outRate, quality))
		var y []float32
		step := inRate / 50
		for i := 0; i < len(in); i += step {
			h.sendF32(t, uint32(inRate), 1, int64(i)*1000000/int64(inRate), in[i:min(i+step, len(in))])
		}
		h.doFlush(t)
		for _, o := range h.take() {
			y = append(y, o.f32()...)
		}
		return y
	}
}

// toneGain is the gain in dB of a tone of f Hz through r: the amplitude of the
// output's component at f (least squares over the output's steady middle,
// 50 ms in from each end) over the input's 0.5.
func toneGain(t testing.TB, r resampler, inRate, outRate int, f float64) float64 {
	y := r(t, sine(inRate/4, 1, float64(inRate), f, 0.5), inRate, outRate)
	var ss, sc, cc, ys, yc float64
	for n := outRate / 20; n < len(y)-outRate/20; n++ {
		w := 2 * math.Pi * f * float64(n) / float64(outRate)
		s, c := math.Sin(w), math.Cos(w)
		ss, sc, cc, ys, yc = ss+s*s, sc+s*c, cc+c*c, ys+s*float64(y[n]), yc+c*float64(y[n])
	}
	det := ss*cc - sc*sc
	a, b := (ys*cc-yc*sc)/det, (yc*ss-ys*sc)/det
	return 20 * math.Log10(math.Hypot(a, b)/0.5)
}

// passbandEdge is the frequency (to 1 Hz) where r's gain first falls to -0.1 dB,
// found by bisection between a quarter of the lower rate and its Nyquist.
func passbandEdge(t testing.TB, r resampler, inRate, outRate int) float64 {
	lo, hi := float64(min(inRate, outRate))/4, float64(min(inRate, outRate))/2
	for hi-lo > 1 {
		if mid := (lo + hi) / 2; toneGain(t, r, inRate, outRate, mid) >= -0.1 {
			lo = mid
		} else {
			hi = mid
		}
	}
	return lo
}

// stopband is, for a rate going down, the least attenuation in dB of tones from
// the output's Nyquist to the input's (every step Hz): what reaches the output of
// a tone that cannot be represented there, by aliasing or leakage, as RMS (50 ms
// in from each end) against the input's 0.5/sqrt(2).
func stopband(t testing.TB, r resampler, inRate, outRate int, step float64) float64 {
	worst := math.Inf(1)
	for f := float64(outRate) / 2; f < float64(inRate)/2; f += step {
		y := r(t, sine(inRate/10, 1, float64(inRate), f, 0.5), inRate, outRate)
		var e float64
		mid := y[outRate/50 : len(y)-outRate/50]
		for _, v := range mid {
			e += float64(v) * float64(v)
		}
		worst = min(worst, 10*math.Log10(0.125/(e/float64(len(mid))+1e-30)))
	}
	return worst
}

// TestResamplePassbandAndStopband measures each quality's passband edge at
// -0.1 dB and its stopband from the module's output (docs/nodes.md lists them).
func TestResamplePassbandAndStopband(t *testing.T) {
	tests := []struct {
		quality         string
		in, out         int
		edge, stop      float64 // at least: Hz at -0.1 dB, dB from the lower Nyquist up
		stepHz, edgeMax float64
	}{
		{"high", 48000, 16000, 0.9 * 8000, 90, 97, 8000},
		{"high", 44100, 16000, 0.9 * 8000, 90, 211, 8000},
		{"best", 48000, 16000, 0.94 * 8000, 105, 211, 8000},
		{"fast", 48000, 16000, 0.7 * 8000, 60, 211, 8000},
		{"high", 16000, 48000, 0.9 * 8000, 0, 0, 8000},
	}
	for _, tc := range tests {
		t.Run(fmt.Sprintf("%s %d to %d", tc.quality, tc.in, tc.out), func(t *testing.T) {
			r := wasmResampler(tc.quality)
			edge := passbandEdge(t, r, tc.in, tc.out)
			t.Logf("-0.1 dB at %.0f Hz (%.3f of Nyquist)", edge, edge/float64(min(tc.in, tc.out)/2))
			if edge < tc.edge || edge >= tc.edgeMax {
				t.Errorf("-0.1 dB at %.0f Hz, want in [%.0f, %.0f)", edge, tc.edge, tc.edgeMax)
			}
			if g := toneGain(t, r, tc.in, tc.out, 1000); math.Abs(g) > 0.001 {
				t.Errorf("gain at 1 kHz %.4f dB, want 0 ± 0.001", g)
			}
			if tc.stop == 0 {
				return
			}
			stop := stopband(t, r, tc.in, tc.out, tc.stepHz)
			t.Logf("stopband: at least %.1f dB down from %d Hz to %d Hz", stop, tc.out/2, tc.in/2)
			if stop < tc.stop {
				t.Errorf("stopband %.1f dB, want >= %.0f dB", stop, tc.stop)
			}
		})
	}
}
