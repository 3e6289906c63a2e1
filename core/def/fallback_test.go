package def_test

import (
	"reflect"
	"strings"
	"testing"

	"github.com/remotemedia/hybrid/core/def"
	"github.com/remotemedia/hybrid/core/frame"
	"github.com/remotemedia/hybrid/core/node"
)

// fallbackRegistry is testRegistry plus Piper, a TTS type that cannot run here,
// and Broken, another.
func fallbackRegistry(t *testing.T) *node.Registry {
	t.Helper()
	reg := testRegistry(t)
	for _, typ := range []string{"Piper", "Broken"} {
		err := reg.Register(node.Spec{
			Type: typ, Runtime: node.RuntimePython, New: noNew,
			Unavailable: typ + ": the piper library is not installed",
			Params:      []node.Param{{Name: "model_path", Type: node.ParamString, Operator: true, Doc: "model directory"}},
			Inputs:      []node.Port{{Name: "in", Kinds: []frame.Kind{frame.KindText}}},
			Outputs:     []node.Port{{Name: "out", Kinds: []frame.Kind{frame.KindAudio}}},
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	return reg
}

func TestFallback(t *testing.T) {
	const head = "version: \"1\"\nnodes:\n  - {id: text, node_type: asr}\n  - "
	const tail = "\nconnections:\n  - {from: text, to: tts}\n"
	tests := []struct {
		name       string
		given      string // the second node
		expectType string
		expect     map[string]any // its params
		expectNote string
		expectErr  string
	}{
		// Naming its own model, a type unavailable at its defaults runs as itself, as before.
		{name: "unavailable without fallback", given: "{id: tts, node_type: Piper, params: {model_path: /m}}",
			expectType: "Piper", expect: map[string]any{"model_path": "/m"}},
		{name: "fallback by name", given: "{id: tts, node_type: Piper, params: {model_path: /m}, fallback: EspeakTTS}",
			expectType: "EspeakTTS", expect: map[string]any{"voice": "en", "speed": int64(175)},
			expectNote: "nodes[1] (tts): Piper cannot run here (the piper library is not installed): it runs as its fallback EspeakTTS"},
		{name: "fallback with params", given: "{id: tts, node_type: Piper, fallback: {node_type: EspeakTTS, params: {voice: en-us}}}",
			expectType: "EspeakTTS", expect: map[string]any{"voice": "en-us", "speed": int64(175)}, expectNote: "runs as its fallback EspeakTTS"},
		{name: "available: the fallback waits", given: "{id: tts, node_type: KokoroTTS, fallback: EspeakTTS}",
			expectType: "KokoroTTS", expect: map[string]any{"voice": "af_heart"}},
		{name: "fallback params are checked even when not needed", given: "{id: tts, node_type: KokoroTTS, fallback: {node_type: EspeakTTS, params: {voise: x}}}",
			expectErr: `nodes[1].fallback.params.voise: unknown param (did you mean "voice"?)`},
		{name: "unknown fallback", given: "{id: tts, node_type: Piper, fallback: EspeekTTS}",
			expectErr: `nodes[1].fallback.node_type: unknown node type "EspeekTTS" (did you mean "EspeakTTS"?)`},
		{name: "fallback unavailable too", given: "{id: tts, node_type: Piper, fallback: Broken}",
			expectErr: "nodes[1].fallback.node_type: the fallback Broken cannot run here either: the piper library is not installed"},
		{name: "fallback's ports must fit", given: "{id: tts, node_type: Piper, fallback: gain}",
			expectErr: "connections[0]: text.text carries text but tts.in accepts audio"},
		{name: "fallback missing its type", given: "{id: tts, node_type: Piper, fallback: {params: {}}}",
			expectErr: "nodes[1].fallback.node_type: missing"},
		{name: "fallback of the wrong shape", given: "{id: tts, node_type: Piper, fallback: [EspeakTTS]}",
			expectErr: "nodes[1].fallback: must be a mapping, got sequence"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			reg := fallbackRegistry(t)
			d, err := def.Parse([]byte(head + tc.given + tail))
			if d == nil {
				t.Fatal(err)
			}
			graph, err := def.Build(d, reg) // with Parse's shape problems, if any
			if tc.expectErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.expectErr) {
					t.Fatalf("want an error with %q, got %v", tc.expectErr, err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			n := graph.Nodes[1]
			if n.Spec.Type != tc.expectType || !reflect.DeepEqual(n.Params, tc.expect) {
				t.Errorf("node runs as %s %v, want %s %v", n.Spec.Type, n.Params, tc.expectType, tc.expect)
			}
			notes := strings.Join(d.Fallbacks(), "\n")
			if (tc.expectNote == "") != (notes == "") || !strings.Contains(notes, tc.expectNote) {
				t.Errorf("Fallbacks() = %q, want %q", notes, tc.expectNote)
			}
		})
	}
}

// Without a fallback, a type that cannot run here is a problem, as before.
func TestNoFallbackStaysAProblem(t *testing.T) {
	err := parseValidate(t, fallbackRegistry(t), "version: \"1\"\nnodes:\n  - {id: tts, node_type: Piper}\n")
	if err == nil || !strings.Contains(err.Error(), "nodes[0].node_type: Piper cannot run here: the piper library is not installed") {
		t.Fatalf("got %v", err)
	}
}
