package wasmnode

import (
	"github.com/remotemedia/hybrid/core/frame"
	"github.com/remotemedia/hybrid/core/node"
)

// ModuleSpec is a node type implemented by a WASM module file.
type ModuleSpec struct {
	File string    // module file name, as passed to Loader.Load
	Spec node.Spec // New is filled in by Register
}

// The standard audio ports: one audio input "in" and one audio output "out".
var (
	audioIn  = []node.Port{{Name: "in", Kinds: []frame.Kind{frame.KindAudio}}}
	audioOut = []node.Port{{Name: "out", Kinds: []frame.Kind{frame.KindAudio}}}
)

// tapKinds are the kinds passthrough carries: those the WASM ABI's header has.
var tapKinds = []frame.Kind{frame.KindAudio, frame.KindText, frame.KindJSON, frame.KindBinary}

// AudioModule is a node type of module file with the standard audio ports, as
// gain, convert, to_mono, resample and chunker have: what a custom module
// registered without a spec of its own gets (the tab's registerModule).
func AudioModule(file, typ, doc string) ModuleSpec {
	return ModuleSpec{File: file, Spec: node.Spec{Type: typ, Doc: doc, Inputs: audioIn, Outputs: audioOut}}
}

// Standard lists the standard node modules built from wasm-modules/ and embedded
// in the server binary. Their params are what docs/nodes.md documents.
var Standard = []ModuleSpec{
	{File: "gain.wasm", Spec: node.Spec{
		Type: "gain",
		Doc:  "Multiplies f32 audio by a gain given in dB or as a linear factor.",
		Params: []node.Param{
			{Name: "gain_db", Type: node.ParamNumber, Default: 0.0, Min: node.Bound(-120), Max: node.Bound(60), Doc: "gain in decibels; ignored when `linear` is set"},
			{Name: "linear", Type: node.ParamNumber, Min: node.Bound(0), Max: node.Bound(1000), Doc: "gain as a linear factor; overrides gain_db"},
		},
		Inputs: audioIn, Outputs: audioOut,
		Example: map[string]any{"gain_db": 6.0},
	}},
	{File: "convert.wasm", Spec: node.Spec{
		Type: "convert",
		Doc:  "Converts audio between s16 and f32 samples (s16 to f32 divides by 32768; f32 to s16 scales, rounds and clips).",
		Params: []node.Param{
			{Name: "to", Type: node.ParamString, Default: "f32", Enum: []string{"f32", "s16"}, Doc: "the output sample format"},
		},
		Inputs: audioIn, Outputs: audioOut,
		Example: map[string]any{"to": "s16"},
	}},
	{File: "to_mono.wasm", Spec: node.Spec{
		Type:    "to_mono",
		Doc:     "Mixes interleaved f32 audio of any channel count down to one channel by averaging.",
		Inputs:  audioIn,
		Outputs: audioOut,
	}},
	{File: "resample.wasm", Spec: node.Spec{
		Type: "resample",
		Doc:  "Resamples f32 audio (any channel count) to another rate with a polyphase windowed-sinc filter; any rate pair.",
		Params: []node.Param{
			{Name: "rate", Type: node.ParamInteger, Default: 16000, Min: node.Bound(1000), Max: node.Bound(384000), Doc: "output sample rate in Hz"},
			{Name: "quality", Type: node.ParamString, Default: "high", Enum: []string{"fast", "high", "best"}, Doc: "the filter, as measured from the output: -0.1 dB at 0.72 (`fast`), 0.91 (`high`), 0.95 (`best`) of the lower rate's Nyquist (48 to 16 kHz: 5.8, 7.3, 7.6 kHz), and at least 62, 92, 110 dB of stopband (design) from that Nyquist up (no aliasing); the filters are 76, 352 and 712 taps long at 48 kHz, and the cost per frame grows with them"},
		},
		Inputs: audioIn, Outputs: audioOut,
		Example: map[string]any{"rate": 16000},
	}},
	{File: "vad.wasm", Spec: node.Spec{
		Type: "vad",
		Doc: "Spectral voice activity detector on f32 audio at 8-48 kHz: per-band speech-to-noise likelihood ratios over an adaptive " +
			"noise model, smoothed by a two-state hidden Markov model into a speech probability; its defaults hold in white and pink noise " +
			"down to 0 dB SNR (docs/vad.md). Emits speech_start/speech_end events on `events` and, with gate, only speech audio on `out`.",
		Params: []node.Param{
			{Name: "mode", Type: node.ParamInteger, Default: 1, Min: node.Bound(0), Max: node.Bound(3), Doc: "aggressiveness: how far above the noise's own level the speech evidence must be (margins 0.12, 0.22, 0.3, 0.4; 0 keeps the most speech, 3 makes the fewest false alarms)"},
			{Name: "window_ms", Type: node.ParamNumber, Default: 10.0, Min: node.Bound(10), Max: node.Bound(30), Doc: "decision frame, rounded to 10, 20 or 30 ms (the analysis runs every 20 ms: with 10, both frames of a hop share its probability)"},
			{Name: "min_speech_ms", Type: node.ParamNumber, Default: 60.0, Min: node.Bound(0), Max: node.Bound(5000), Doc: "speech must last this long before speech_start"},
			{Name: "hangover_ms", Type: node.ParamNumber, Default: 200.0, Min: node.Bound(0), Max: node.Bound(5000), Doc: "minimum silence: silence must last this long before speech_end"},
			{Name: "pad_ms", Type: node.ParamNumber, Default: 30.0, Min: node.Bound(0), Max: node.Bound(1000), Doc: "with gate, audio from this long before speech_start goes out too (the hangover pads the end)"},
			{Name: "min_level_db", Type: node.ParamNumber, Default: -60.0, Min: node.Bound(-120), Max: node.Bound(0), Doc: "frames quieter than this (dBFS) are never speech"},
			{Name: "threshold_db", Type: node.ParamNumber, Min: node.Bound(0), Max: node.Bound(60), Doc: "ignored: the energy detector's threshold, accepted so older definitions load (use mode)"},
			{Name: "gate", Type: node.ParamBool, Default: true, Doc: "emit only speech audio on `out` (false: all audio)"},
			{Name: "frame_events", Type: node.ParamBool, Default: false, Doc: "also emit an event for every window_ms frame (`\"event\":\"frame\"`), with its probability"},
		},
		Inputs: audioIn,
		Outputs: []node.Port{
			{Name: "out", Kinds: []frame.Kind{frame.KindAudio}, Doc: "audio (only speech when gate is true)"},
			{Name: "events", Kinds: []frame.Kind{frame.KindJSON}, Doc: `{"event":"speech_start"|"speech_end"|"frame","time_ms":N[,"duration_ms":N],"has_speech":B,"probability":P,"is_speech_start":B,"is_speech_end":B}`},
		},
		Example: map[string]any{"mode": 1, "hangover_ms": 200.0},
	}},
	{File: "speech_buffer.wasm", Spec: node.Spec{
		Type: "speech_buffer",
		Doc: "Cuts f32 audio into utterances at the vad node's events (RemoteMedia's VADTriggeredBuffer): one audio frame per utterance, " +
			"from pre_roll_ms before speech_start to post_roll_ms after speech_end, stamped with its first sample's time. " +
			"Feed it the vad's `out` (gate: false, for the pre-roll) on `in` and its `events` on `events`.",
		Params: []node.Param{
			{Name: "pre_roll_ms", Type: node.ParamNumber, Default: 300.0, Min: node.Bound(0), Max: node.Bound(5000), Doc: "audio kept from before the speech start (needs ungated audio)"},
			{Name: "post_roll_ms", Type: node.ParamNumber, Default: 100.0, Min: node.Bound(0), Max: node.Bound(5000), Doc: "audio kept after the speech end (at most the vad's hangover_ms is there at once; more waits for the audio)"},
			{Name: "min_speech_ms", Type: node.ParamNumber, Default: 250.0, Min: node.Bound(0), Max: node.Bound(60000), Doc: "speech shorter than this (speech_start to speech_end) is dropped, not sent"},
			{Name: "max_speech_ms", Type: node.ParamNumber, Default: 30000.0, Min: node.Bound(100), Max: node.Bound(600000), Doc: "longer speech goes out in pieces of this length as it comes"},
			{Name: "barge_in_ms", Type: node.ParamNumber, Default: 0.0, Min: node.Bound(0), Max: node.Bound(5000), Doc: "barge-in: once an utterance has gone out, speech the vad has not ended this long after its onset sends a barge_in event and a cancel frame down `out` (the reply's queued work and audio are dropped); 0: off (live sessions turn it on: docs/voice.md)"},
		},
		Inputs: []node.Port{
			{Name: "in", Kinds: []frame.Kind{frame.KindAudio}, Doc: "f32 audio (the vad's out)"},
			{Name: "events", Kinds: []frame.Kind{frame.KindJSON}, Doc: "the vad's speech_start/speech_end events"},
		},
		Outputs: []node.Port{
			{Name: "out", Kinds: []frame.Kind{frame.KindAudio}, Doc: "one frame per utterance, timestamped at its start"},
			{Name: "events", Kinds: []frame.Kind{frame.KindJSON}, Doc: `{"event":"utterance"|"dropped","start_ms":S,"end_ms":E,"speech_ms":D} per utterance; {"event":"barge_in","time_ms":onset,"start_ms":S} on barge-in`},
		},
		Example: map[string]any{"pre_roll_ms": 300.0, "min_speech_ms": 250.0},
	}},
	{File: "text_collector.wasm", Spec: node.Spec{
		Type: "text_collector",
		Doc: "Collects streaming text into sentences (RemoteMedia's TextCollectorNode): each sentence leaves as one text frame once it ends " +
			"(. ! ? followed by a space or the end of the piece, or a line break), so TTS can speak the first while the rest comes; the rest on flush.",
		Params: []node.Param{
			{Name: "min_chars", Type: node.ParamInteger, Default: 0, Min: node.Bound(0), Max: node.Bound(10000), Doc: "a sentence shorter than this is joined with the next"},
			{Name: "max_chars", Type: node.ParamInteger, Default: 400, Min: node.Bound(16), Max: node.Bound(1000000), Doc: "text this long without a sentence end is cut at its last space"},
		},
		Inputs:  []node.Port{{Name: "in", Kinds: []frame.Kind{frame.KindText}}},
		Outputs: []node.Port{{Name: "out", Kinds: []frame.Kind{frame.KindText}, Doc: "one sentence per frame"}},
		Example: map[string]any{"min_chars": 12},
	}},
	{File: "passthrough.wasm", Spec: node.Spec{
		Type: "passthrough",
		Doc: "Emits every frame unchanged (metadata included). A named tap: a port that feeds other nodes " +
			"(a transcript routed to TTS) also becomes a pipeline output through one.",
		Inputs:  []node.Port{{Name: "in", Kinds: tapKinds}},
		Outputs: []node.Port{{Name: "out", Kinds: tapKinds}},
	}},
	{File: "level.wasm", Spec: node.Spec{
		Type: "level",
		Doc: "Level, clipping and silence monitor for f32 audio (RemoteMedia's AudioLevel, ClippingDetector and SilenceDetector in one): " +
			"audio passes through on `out`; per window, the RMS and peak in dBFS and the clipped sample count go out on `events`, and silence_start/silence_end when the RMS stays below silence_db.",
		Params: []node.Param{
			{Name: "window_ms", Type: node.ParamNumber, Default: 100.0, Min: node.Bound(1), Max: node.Bound(10000), Doc: "measurement window (all channels together)"},
			{Name: "clip_level", Type: node.ParamNumber, Default: 0.999, Min: node.Bound(0), ExclusiveMin: true, Max: node.Bound(2), Doc: "a sample whose magnitude reaches this counts as clipped"},
			{Name: "silence_db", Type: node.ParamNumber, Default: -60.0, Min: node.Bound(-120), Max: node.Bound(0), Doc: "a window whose RMS is below this (dBFS) is silent"},
			{Name: "silence_ms", Type: node.ParamNumber, Default: 500.0, Min: node.Bound(0), Max: node.Bound(600000), Doc: "silent windows must last this long before silence_start (stamped at the first of them)"},
			{Name: "levels", Type: node.ParamBool, Default: true, Doc: "emit every window's level event (false: only windows with clipped samples, and the silence events)"},
		},
		Inputs: audioIn,
		Outputs: []node.Port{
			{Name: "out", Kinds: []frame.Kind{frame.KindAudio}, Doc: "the audio, unchanged"},
			{Name: "events", Kinds: []frame.Kind{frame.KindJSON}, Doc: `{"event":"level","time_ms":T,"rms_db":R,"peak_db":P,"clipped":N} per window (dBFS, floored at -120); {"event":"silence_start","time_ms":T}; {"event":"silence_end","time_ms":T,"duration_ms":D}`},
		},
		Example: map[string]any{"window_ms": 100.0, "silence_db": -60.0},
	}},
	{File: "highpass.wasm", Spec: node.Spec{
		Type: "highpass",
		Doc:  "Butterworth high-pass filter for f32 audio (any channel count): takes out DC and rumble; -3 dB at cutoff_hz, 12 (order 2) or 24 (order 4) dB per octave below it.",
		Params: []node.Param{
			{Name: "cutoff_hz", Type: node.ParamNumber, Default: 80.0, Min: node.Bound(1), Max: node.Bound(20000), Doc: "the -3 dB frequency; must be below the input's Nyquist"},
			{Name: "order", Type: node.ParamInteger, Default: 2, Min: node.Bound(2), Max: node.Bound(4), Doc: "2 or 4: one or two biquads"},
		},
		Inputs: audioIn, Outputs: audioOut,
		Example: map[string]any{"cutoff_hz": 80.0},
	}},
	{File: "noise_gate.wasm", Spec: node.Spec{
		Type: "noise_gate",
		Doc: "Noise gate for f32 audio: opens when a block's peak reaches threshold_db (blocks of 32 sample frames from the start of each input frame), holds hold_ms after the last such block, " +
			"and moves the gain linearly between 1 and floor_db, up over attack_ms and down over release_ms.",
		Params: []node.Param{
			{Name: "threshold_db", Type: node.ParamNumber, Default: -45.0, Min: node.Bound(-120), Max: node.Bound(0), Doc: "peak level (dBFS) that opens the gate"},
			{Name: "attack_ms", Type: node.ParamNumber, Default: 1.0, Min: node.Bound(0), Max: node.Bound(1000), Doc: "time to open fully"},
			{Name: "hold_ms", Type: node.ParamNumber, Default: 50.0, Min: node.Bound(0), Max: node.Bound(10000), Doc: "time the gate stays open after the level falls below the threshold"},
			{Name: "release_ms", Type: node.ParamNumber, Default: 100.0, Min: node.Bound(0), Max: node.Bound(10000), Doc: "time to close fully after the hold"},
			{Name: "floor_db", Type: node.ParamNumber, Default: -80.0, Min: node.Bound(-120), Max: node.Bound(0), Doc: "the gain when closed (-120: silence)"},
		},
		Inputs: audioIn, Outputs: audioOut,
		Example: map[string]any{"threshold_db": -45.0, "hold_ms": 50.0},
	}},
	{File: "logmel.wasm", Spec: node.Spec{
		Type: "logmel",
		Doc: "Whisper's log-mel front end on 16 kHz mono f32 audio: 25 ms Hann window (n_fft 400), 10 ms hop, Slaney mel filterbank, log10, " +
			"clamped at the maximum minus 8, (x+4)/4; within 1e-3 of Whisper's log_mel_spectrogram. Out: f32 audio frames with channels = n_mels and " +
			"sample_rate = 100, i.e. [frames][n_mels] (Whisper's models take the transpose).",
		Params: []node.Param{
			{Name: "n_mels", Type: node.ParamInteger, Default: 80, Min: node.Bound(80), Max: node.Bound(128), Doc: "80 (Whisper up to large-v2) or 128 (large-v3)"},
			{Name: "clamp", Type: node.ParamString, Default: "running", Enum: []string{"running", "segment"}, Doc: "`running`: each frame goes out at once, clamped at the maximum so far (Whisper's values once the loudest frame has passed); `segment`: frames go out together at flush or every segment_s, clamped at their own maximum (exactly Whisper's for that segment)"},
			{Name: "segment_s", Type: node.ParamNumber, Default: 30.0, Min: node.Bound(0.01), Max: node.Bound(600), Doc: "with clamp segment, the longest segment (Whisper's window is 30 s)"},
		},
		Inputs:  audioIn,
		Outputs: []node.Port{{Name: "out", Kinds: []frame.Kind{frame.KindAudio}, Doc: "log-mel frames: f32, channels = n_mels, sample_rate = 100"}},
		Example: map[string]any{"n_mels": 80, "clamp": "running"},
	}},
	{File: "chunker.wasm", Spec: node.Spec{
		Type: "chunker",
		Doc:  "Re-frames audio into chunks of a fixed duration; the remainder is emitted at end of stream. Written in Go with the Go guest SDK.",
		Params: []node.Param{
			{Name: "ms", Type: node.ParamNumber, Default: 20.0, Min: node.Bound(1), Max: node.Bound(10000), Doc: "chunk duration in milliseconds"},
		},
		Inputs: audioIn, Outputs: audioOut,
		Example: map[string]any{"ms": 30.0},
	}},
}
