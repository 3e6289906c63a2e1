package def_test

import (
	"context"
	"errors"
	"testing"

	"github.com/remotemedia/hybrid/core/def"
	"github.com/remotemedia/hybrid/core/frame"
	"github.com/remotemedia/hybrid/core/node"
	"github.com/remotemedia/hybrid/core/wasmnode"
)

var errNoNew = errors.New("test registry: nodes are not made in def tests")

func noNew(context.Context, node.Config) (node.Node, error) { return nil, errNoNew }

// testSpecs are small specs beside the standard ones: a fan-in node with named
// inputs, a json/text sink, and a Python-only node with a text output.
var testSpecs = []node.Spec{
	{
		Type: "mixer", Runtime: node.RuntimeGo, Doc: "mixes two audio inputs",
		Inputs: []node.Port{
			{Name: "a", Kinds: []frame.Kind{frame.KindAudio}},
			{Name: "b", Kinds: []frame.Kind{frame.KindAudio}},
		},
		Outputs: []node.Port{{Name: "out", Kinds: []frame.Kind{frame.KindAudio}}},
	},
	{
		Type: "logger", Runtime: node.RuntimeGo, Doc: "logs json and text frames",
		Params: []node.Param{
			{Name: "prefix", Type: node.ParamString, Required: true, Doc: "line prefix"},
			{Name: "level", Type: node.ParamString, Default: "info", Enum: []string{"debug", "info"}, Doc: "log level"},
			{Name: "every", Type: node.ParamInteger, Default: 1, Min: node.Bound(0), ExclusiveMin: true, Doc: "log every n-th frame"},
		},
		Inputs:  []node.Port{{Name: "in", Kinds: []frame.Kind{frame.KindJSON, frame.KindText}}},
		Outputs: []node.Port{{Name: "out", Kinds: []frame.Kind{frame.KindJSON}}},
		Example: map[string]any{"prefix": "> ", "every": 10},
	},
	{
		Type: "asr", Runtime: node.RuntimePython, Doc: "speech to text",
		Params:  []node.Param{{Name: "model", Type: node.ParamString, Default: "tiny.en", Doc: "model name"}},
		Inputs:  []node.Port{{Name: "in", Kinds: []frame.Kind{frame.KindAudio}}},
		Outputs: []node.Port{{Name: "text", Kinds: []frame.Kind{frame.KindText}}},
	},
	{
		// As core/pynode registers a Python node type: params from the worker, one
		// port each way carrying every kind (examples/transcribe.yaml uses it).
		Type: "WhisperASR", Runtime: node.RuntimePython, Doc: "Whisper speech to text",
		Params: []node.Param{
			{Name: "beam_size", Type: node.ParamInteger, Default: 5, Doc: "beam width"},
			{Name: "per_utterance", Type: node.ParamBool, Default: false, Doc: "each frame is one utterance"},
		},
		Inputs:  []node.Port{{Name: "in"}},
		Outputs: []node.Port{{Name: "out"}},
	},
	{
		// The TTS nodes of examples/voice.yaml.
		Type: "EspeakTTS", Runtime: node.RuntimePython, Doc: "espeak-ng text to speech",
		Params: []node.Param{
			{Name: "voice", Type: node.ParamString, Default: "en", Doc: "voice name"},
			{Name: "speed", Type: node.ParamInteger, Default: 175, Doc: "words per minute"},
		},
		Inputs:  []node.Port{{Name: "in"}},
		Outputs: []node.Port{{Name: "out"}},
	},
	{
		// Registered as a go implementation so that remoteMediaRegistry's python
		// stand-in can sit beside it; fallback_test.go makes one unavailable.
		Type: "KokoroTTS", Runtime: node.RuntimeGo, Doc: "Kokoro text to speech",
		Params: []node.Param{
			{Name: "model_path", Type: node.ParamString, Operator: true, Doc: "model directory"},
			{Name: "voice", Type: node.ParamString, Default: "af_heart", Doc: "voice name"},
		},
		Inputs:  []node.Port{{Name: "in"}},
		Outputs: []node.Port{{Name: "out"}},
	},
}

// testRegistry registers wasmnode.Standard as wasm specs and testSpecs, all with
// a New that fails: def never calls it.
func testRegistry(t testing.TB) *node.Registry {
	t.Helper()
	reg := node.NewRegistry()
	for _, m := range wasmnode.Standard {
		s := m.Spec
		s.Runtime = node.RuntimeWASM
		s.New = noNew
		if err := reg.Register(s); err != nil {
			t.Fatal(err)
		}
	}
	for _, s := range testSpecs {
		s.New = noNew
		if err := reg.Register(s); err != nil {
			t.Fatal(err)
		}
	}
	return reg
}

// parseValidate returns the error of Parse, else of Validate.
func parseValidate(t testing.TB, reg *node.Registry, src string) error {
	t.Helper()
	d, err := def.Parse([]byte(src))
	if err != nil {
		return err
	}
	return def.Validate(d, reg)
}
