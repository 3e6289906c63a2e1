package modules_test

import "testing"

// One 20 ms frame per op, as in bench_test.go: 48 kHz mono for the level
// monitor, the high-pass filter and the noise gate, 16 kHz mono for the log-mel
// front end (two 10 ms hops a frame).

func BenchmarkLevel(b *testing.B) {
	benchWASM(b, "level.wasm", `{}`, 48000, 1, sine(48000, 1, 48000, 440, 0.5))
}

func BenchmarkHighpass(b *testing.B) {
	in := sine(48000, 1, 48000, 440, 0.5)
	b.Run("order=2", func(b *testing.B) { benchWASM(b, "highpass.wasm", `{"order":2}`, 48000, 1, in) })
	b.Run("order=4", func(b *testing.B) { benchWASM(b, "highpass.wasm", `{"order":4}`, 48000, 1, in) })
}

func BenchmarkNoiseGate(b *testing.B) {
	in := sine(48000, 1, 48000, 440, 0.5)
	clear(in[:24000]) // half a second closed, half open
	benchWASM(b, "noise_gate.wasm", `{}`, 48000, 1, in)
}

func BenchmarkLogMel(b *testing.B) {
	in := sine(16000, 1, 16000, 440, 0.5)
	b.Run("n_mels=80", func(b *testing.B) { benchWASM(b, "logmel.wasm", `{"n_mels":80}`, 16000, 1, in) })
	b.Run("n_mels=128", func(b *testing.B) { benchWASM(b, "logmel.wasm", `{"n_mels":128}`, 16000, 1, in) })
}
