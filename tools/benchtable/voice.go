package main

import (
	"bytes"
	"fmt"
)

// The voice rows: examples/voice.yaml turn by turn (BenchmarkVoiceTurn,
// target/server/cli/voice_bench_test.go), the time from the end of speech to
// the transcript and to the first reply audio, through a live session of
// `remotemedia serve` fed at real-time pace and through the same pipeline in
// plain Python (pyproxy/python/scripts/bench_voice.py), with the same models.
// Three runs of 5 turns a side (after a warm-up turn each): the benchmark
// reports the median of its turns, the table the median of the runs (the
// Whisper call is most of a turn and swings with the machine's load). `-only
// voice` runs these rows alone.
const voiceBench = "BenchmarkVoiceTurn/"

func init() {
	suites = append(suites, suite{dir: ".", pkg: "./target/server/cli", bench: "VoiceTurn", benchtime: "5x", count: 3})
	rows = append(rows,
		row{"voice turn (examples/voice.yaml, one utterance, live session at real-time pace): end of speech to the utterance cut for Whisper", voiceBench + "live", "utterance_ms", 1, "ms", 0, true},
		row{"  end of speech to transcript", voiceBench + "live", "transcript_ms", 1, "ms", 0, true},
		row{"  end of speech to first reply audio", voiceBench + "live", "reply_ms", 1, "ms", 0, true},
		row{"  the same pipeline in plain Python (the package's nodes, asyncio): end of speech to the utterance", voiceBench + "python", "utterance_ms", 1, "ms", 0, true},
		row{"  plain Python: end of speech to transcript", voiceBench + "python", "transcript_ms", 1, "ms", 0, true},
		row{"  plain Python: end of speech to first reply audio", voiceBench + "python", "reply_ms", 1, "ms", 0, true},
	)
}

// writeVoiceSection writes the page's voice table: hybrid against plain Python.
func writeVoiceSection(p *page, b *bytes.Buffer) {
	fmt.Fprintf(b, "## The voice pipeline, turn by turn: end of speech to transcript and to reply audio\n\n")
	fmt.Fprintf(b, "| ms, median over the turns | hybrid: live session of `remotemedia serve` | the same pipeline in plain Python | Python ÷ hybrid |\n| --- | ---: | ---: | ---: |\n")
	cell := func(side, unit string) (float64, bool) { return p.get(voiceBench+side, unit, 1) }
	line := func(what string, h float64, hok bool, py float64, pok bool) {
		ratio := "—"
		if hok && pok && h > 0 {
			ratio = num(py/h) + "×"
		}
		fmt.Fprintf(b, "| %s | %s | %s | %s |\n", what, fmtv(h, hok), fmtv(py, pok), ratio)
	}
	for _, r := range []struct{ what, unit string }{
		{"end of speech to the utterance cut out for Whisper (VAD, segment buffer, their orchestration)", "utterance_ms"},
		{"end of speech to the transcript", "transcript_ms"},
		{"end of speech to the first reply audio", "reply_ms"},
	} {
		h, hok := cell("live", r.unit)
		py, pok := cell("python", r.unit)
		line(r.what, h, hok, py, pok)
	}
	diff := func(side string) (float64, bool) {
		t, tok := cell(side, "transcript_ms")
		u, uok := cell(side, "utterance_ms")
		return t - u, tok && uok
	}
	h, hok := diff("live")
	py, pok := diff("python")
	line("the difference of the medians: utterance to transcript (the Whisper call and its hops)", h, hok, py, pok)
	fmt.Fprintf(b, "\nexamples/voice.yaml on espeak-ng utterances (half a second of silence, a sentence, a second of silence; three sentences, "+
		"three runs of five turns a side, each after a warm-up), fed a 20 ms frame every 20 ms; the end of speech is the last sample above 1%% of full scale "+
		"(BenchmarkVoiceTurn, target/server/cli). **Hybrid**: the WASM vad and speech_buffer, Whisper and espeak-ng in Python workers, "+
		"over a WebSocket session on loopback, timed at the client. **Plain Python** (pyproxy/python/scripts/bench_voice.py): the "+
		"package's energy VoiceActivityDetector, a VADTriggeredBuffer-style segment buffer, WhisperASR in a thread and EspeakTTS, "+
		"one asyncio loop. Both cut the utterance once the vad's 300 ms hangover has passed without speech (speech_buffer's 150 ms "+
		"of post-roll are in hand by then) and use the same models (Whisper tiny.en int8, beam 5; espeak-ng), so the Whisper call is most of either figure and "+
		"only orchestration, preprocessing and the VAD differ (docs/voice.md).\n\n")
}
