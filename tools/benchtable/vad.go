package main

import "fmt"

// The vad rows: tools/vadeval scores the vad node at its defaults, webrtcvad (its
// best mode over the set) and Silero VAD on espeak-ng speech it generates, clean
// and in white and pink noise (docs/vad.md). One run: the scores do not swing,
// only the CPU times do.
func init() {
	suites = append(suites, suite{dir: ".", pkg: "./tools/vadeval", bench: "VADEval", benchtime: "1x", count: 1})
	const b = "BenchmarkVADEval/"
	for _, c := range []struct {
		name, bench string
		snr         float64 // -1: clean
	}{
		{"clean", "clean", -1},
		{"white 20 dB", "white20dB", 20}, {"white 10 dB", "white10dB", 10}, {"white 5 dB", "white5dB", 5}, {"white 0 dB", "white0dB", 0},
		{"pink 20 dB", "pink20dB", 20}, {"pink 10 dB", "pink10dB", 10}, {"pink 5 dB", "pink5dB", 5}, {"pink 0 dB", "pink0dB", 0},
	} {
		gap := 0.0 // Silero − ours: a target at 5 dB and above
		if c.snr != 0 {
			gap = 0.03
		}
		rows = append(rows,
			row{fmt.Sprintf("vad frame F1, %s: ours (defaults)", c.name), b + c.bench, "F1-ours", 1, "", 0, false},
			row{"  webrtcvad (its best mode)", b + c.bench, "F1-webrtcvad", 1, "", 0, false},
			row{"  Silero VAD (probability ≥ 0.5)", b + c.bench, "F1-silero", 1, "", 0, false},
			row{"  ours ÷ webrtcvad", b + c.bench, "F1-ratio-webrtcvad", 1, "", 1, false},
			row{"  Silero − ours", b + c.bench, "F1-gap-silero", 1, "", gap, true},
			row{"  boundary error: ours", b + c.bench, "boundary-ms-ours", 1, "ms", 0, true},
			row{"  boundary error: webrtcvad", b + c.bench, "boundary-ms-webrtcvad", 1, "ms", 0, true},
			row{"  boundary error: Silero VAD", b + c.bench, "boundary-ms-silero", 1, "ms", 0, true},
		)
	}
	rows = append(rows,
		row{"vad CPU per hour of audio: ours (wasm node, 20 ms frames, host calls included)", b + "cpu", "cpu-s/h-ours", 1, "s", 0, true},
		row{"  webrtcvad (Python calls included)", b + "cpu", "cpu-s/h-webrtcvad", 1, "s", 0, true},
		row{"  Silero VAD (onnxruntime, one thread, Python calls included)", b + "cpu", "cpu-s/h-silero", 1, "s", 0, true},
		row{"  Silero VAD, its model calls alone (one per 32 ms window)", b + "cpu", "cpu-s/h-silero-session", 1, "s", 0, true},
		row{"  Silero's model calls ÷ ours", b + "cpu", "cpu-ratio-silero", 1, "×", 50, false},
	)
}
