package modules_test

import (
	"testing"

	"github.com/remotemedia/hybrid/wasm-modules/native"
)

// Each benchmark runs one 20 ms frame per op: 48 kHz stereo for gain, to_mono,
// convert and chunker; 48 kHz mono for resample (to 16 kHz) and 16 kHz mono for
// vad, as in the chain mix -> resample 16k -> gain -> vad. "wasm" includes the
// (test) host's copy in and out; "native" is the Go code of package native
// (for vad the same algorithm, TestVADNativeAgrees).

const frameMS = 20

func benchWASM(b *testing.B, name, params string, rate, channels int, signal []float32) {
	h := newHarness(b, name, params)
	h.keep = false
	n := rate * frameMS / 1000 * channels
	data := f32ToBytes(signal)
	b.SetBytes(int64(4 * n))
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		k := i % (len(signal) / n)
		hd := header{Kind: 1, Format: 1, Channels: uint16(channels), Rate: uint32(rate), TS: int64(i) * frameMS * 1000}
		if err := h.send(b, hd, data[4*k*n:4*(k+1)*n]); err != nil {
			b.Fatal(err)
		}
	}
	reportRealtime(b)
}

// reportRealtime adds how many times faster than real time the benchmark ran,
// each op being one 20 ms frame.
func reportRealtime(b *testing.B) {
	if ns := b.Elapsed().Nanoseconds(); ns > 0 {
		b.ReportMetric(float64(b.N)*frameMS*1e6/float64(ns), "x-realtime")
	}
}

func BenchmarkGain(b *testing.B) {
	in := sine(48000, 2, 48000, 440, 0.5)
	b.Run("wasm", func(b *testing.B) { benchWASM(b, "gain.wasm", `{"gain_db":6}`, 48000, 2, in) })
	b.Run("native", func(b *testing.B) {
		out := make([]float32, 1920)
		b.ReportAllocs()
		for i := 0; b.Loop(); i++ {
			k := i % 25
			native.Gain(out, in[k*1920:(k+1)*1920], 2)
		}
	})
}

func BenchmarkToMono(b *testing.B) {
	in := sine(48000, 2, 48000, 440, 0.5)
	b.Run("wasm", func(b *testing.B) { benchWASM(b, "to_mono.wasm", `{}`, 48000, 2, in) })
	b.Run("native", func(b *testing.B) {
		out := make([]float32, 960)
		b.ReportAllocs()
		for i := 0; b.Loop(); i++ {
			k := i % 25
			native.ToMono(out, in[k*1920:(k+1)*1920], 2)
		}
	})
}

func BenchmarkConvert(b *testing.B) {
	in := sine(48000, 2, 48000, 440, 0.5)
	b.Run("wasm", func(b *testing.B) { benchWASM(b, "convert.wasm", `{"to":"s16"}`, 48000, 2, in) })
	b.Run("native", func(b *testing.B) {
		out := make([]int16, 1920)
		b.ReportAllocs()
		for i := 0; b.Loop(); i++ {
			k := i % 25
			native.F32ToS16(out, in[k*1920:(k+1)*1920])
		}
	})
}

func BenchmarkResample(b *testing.B) {
	in := sine(48000, 1, 48000, 440, 0.5)
	b.Run("wasm", func(b *testing.B) { benchWASM(b, "resample.wasm", `{"rate":16000}`, 48000, 1, in) })
	b.Run("wasm-fast", func(b *testing.B) { benchWASM(b, "resample.wasm", `{"rate":16000,"quality":"fast"}`, 48000, 1, in) })
	b.Run("native", func(b *testing.B) {
		r, _ := native.NewResampler(16000, "high")
		emit := func(int64, []float32) {}
		b.ReportAllocs()
		for i := 0; b.Loop(); i++ {
			k := i % 50
			r.Process(in[k*960:(k+1)*960], 48000, 1, int64(i)*20000, emit)
		}
		reportRealtime(b)
	})
}

func BenchmarkVAD(b *testing.B) {
	in := bursts(16000, 4, []segment{{0.5, 1.5}, {2, 3.2}})
	b.Run("wasm", func(b *testing.B) { benchWASM(b, "vad.wasm", `{}`, 16000, 1, in) })
	b.Run("native", func(b *testing.B) {
		v, _ := native.NewVAD(native.DefaultVADParams)
		v.OnAudio, v.OnEvent = func(int64, []float32) {}, func(native.VADEvent) {}
		b.ReportAllocs()
		for i := 0; b.Loop(); i++ {
			k := i % 200
			if err := v.Process(in[k*320:(k+1)*320], 16000, 1, int64(i)*20000); err != nil {
				b.Fatal(err)
			}
		}
	})
}

func BenchmarkChunker(b *testing.B) {
	in := sine(48000, 2, 48000, 440, 0.5)
	b.Run("wasm", func(b *testing.B) { benchWASM(b, "chunker.wasm", `{"ms":20}`, 48000, 2, in) })
}

// BenchmarkChain runs the speech front end on one 20 ms frame of 48 kHz stereo:
// to_mono -> resample 16k -> gain -> vad.
func BenchmarkChain(b *testing.B) {
	in := sine(48000, 2, 48000, 440, 0.5)
	b.Run("wasm", func(b *testing.B) {
		stages := []*harness{newHarness(b, "to_mono.wasm", `{}`), newHarness(b, "resample.wasm", `{"rate":16000}`),
			newHarness(b, "gain.wasm", `{"gain_db":6}`), newHarness(b, "vad.wasm", `{}`)}
		for _, h := range stages {
			h.keep = false
		}
		data := f32ToBytes(in)
		b.ReportAllocs()
		for i := 0; b.Loop(); i++ {
			k := i % 25
			next := output{header{Kind: 1, Format: 1, Channels: 2, Rate: 48000, TS: int64(i) * 20000}, data[k*7680 : (k+1)*7680]}
			for _, h := range stages {
				if err := h.send(b, next.header, next.Data); err != nil {
					b.Fatal(err)
				}
				next = h.last
			}
		}
	})
	b.Run("native", func(b *testing.B) {
		mono, amp := make([]float32, 960), make([]float32, 320)
		r, _ := native.NewResampler(16000, "high")
		v, _ := native.NewVAD(native.DefaultVADParams)
		v.OnAudio, v.OnEvent = func(int64, []float32) {}, func(native.VADEvent) {}
		g := native.GainFromDB(6)
		emit := func(ts int64, s []float32) {
			native.Gain(amp, s, g)
			_ = v.Process(amp[:len(s)], 16000, 1, ts) // 16 kHz mono: never an error
		}
		b.ReportAllocs()
		for i := 0; b.Loop(); i++ {
			k := i % 25
			r.Process(native.ToMono(mono, in[k*1920:(k+1)*1920], 2), 48000, 1, int64(i)*20000, emit)
		}
	})
}
