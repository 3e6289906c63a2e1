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
			{Name: "quality", Type: node.ParamString, Default: "high", Enum: []string{"fast", "high", "best"}, Doc: "filter length: `fast` 8 zero crossings per side (60 dB design), `high` 16 (90 dB), `best` 32 (100 dB)"},
		},
		Inputs: audioIn, Outputs: audioOut,
		Example: map[string]any{"rate": 16000},
	}},
	{File: "vad.wasm", Spec: node.Spec{
		Type: "vad",
		Doc: "Energy voice activity detector on f32 audio with an adaptive noise floor and hangover. " +
			"Emits speech_start/speech_end events on `events` and, with gate, only speech audio on `out`.",
		Params: []node.Param{
			{Name: "threshold_db", Type: node.ParamNumber, Default: 9.0, Min: node.Bound(0), Max: node.Bound(60), Doc: "how far above the noise floor (dB) a window must be to count as speech"},
			{Name: "min_level_db", Type: node.ParamNumber, Default: -50.0, Min: node.Bound(-120), Max: node.Bound(0), Doc: "windows quieter than this (dBFS) are never speech"},
			{Name: "window_ms", Type: node.ParamNumber, Default: 10.0, Min: node.Bound(1), Max: node.Bound(100), Doc: "analysis window length"},
			{Name: "min_speech_ms", Type: node.ParamNumber, Default: 60.0, Min: node.Bound(0), Max: node.Bound(5000), Doc: "speech must last this long before speech_start"},
			{Name: "hangover_ms", Type: node.ParamNumber, Default: 200.0, Min: node.Bound(0), Max: node.Bound(5000), Doc: "silence must last this long before speech_end"},
			{Name: "gate", Type: node.ParamBool, Default: true, Doc: "emit only speech audio on `out` (false: all audio)"},
		},
		Inputs: audioIn,
		Outputs: []node.Port{
			{Name: "out", Kinds: []frame.Kind{frame.KindAudio}, Doc: "audio (only speech when gate is true)"},
			{Name: "events", Kinds: []frame.Kind{frame.KindJSON}, Doc: `{"event":"speech_start"|"speech_end","time_ms":N[,"duration_ms":N]}`},
		},
		Example: map[string]any{"threshold_db": 9.0, "hangover_ms": 200.0},
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
