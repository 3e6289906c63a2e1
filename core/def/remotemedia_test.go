package def_test

import (
	"reflect"
	"strings"
	"testing"

	"github.com/remotemedia/hybrid/core/def"
	"github.com/remotemedia/hybrid/core/node"
)

// remoteMediaRegistry is testRegistry plus stand-ins for the Python ports the
// aliases name, so that their params are checked.
func remoteMediaRegistry(t *testing.T) *node.Registry {
	t.Helper()
	reg := testRegistry(t)
	py := func(typ string, params ...node.Param) {
		err := reg.Register(node.Spec{Type: typ, Runtime: node.RuntimePython, New: noNew, Params: params,
			Inputs: []node.Port{{Name: "in"}}, Outputs: []node.Port{{Name: "out"}}})
		if err != nil {
			t.Fatal(err)
		}
	}
	num := func(name string, def float64) node.Param {
		return node.Param{Name: name, Type: node.ParamNumber, Default: def, Doc: name}
	}
	py("VoiceActivityDetector", num("frame_duration_ms", 30), num("energy_threshold", 0.02))
	py("SileroVAD", num("threshold", 0.5), num("min_silence_ms", 300))
	py("KokoroTTS", node.Param{Name: "voice", Type: node.ParamString, Default: "af_heart", Doc: "voice"}, num("speed", 1))
	return reg
}

// A RemoteMedia manifest loads unchanged: camelCase keys, manifest-only fields,
// RemoteMedia node types with their (camelCase) params and RemoteMedia runtime
// hints become a definition of ours.
func TestRemoteMediaManifestLoads(t *testing.T) {
	manifest := `{
  "version": "v1",
  "metadata": {"name": "rm-speech", "description": "from RemoteMedia", "created_at": "2025-01-01T00:00:00Z", "author": "x"},
  "python_env": {"python_version": "3.11"},
  "nodes": [
    {"id": "chunk", "nodeType": "AudioChunkerNode", "params": {"chunkSize": 960}, "isStreaming": true},
    {"id": "rs", "node_type": "FastResampleNode", "params": {"sourceRate": 48000, "targetRate": 16000, "quality": "Low", "channels": 1}, "runtime_hint": "rust"},
    {"id": "vad", "node_type": "VoiceActivityDetector", "params": {"energy_threshold": 0.01, "include_metadata": true}, "is_streaming": true, "capabilities": {"cpu": {"cores": 1}}},
    {"id": "silero", "node_type": "SileroVADNode", "params": {"threshold": 0.6, "samplingRate": 16000, "minSilenceDurationMs": 250}},
    {"id": "tts", "node_type": "KokoroTTSNode", "params": {"voice": "af_bella", "sample_rate": 24000, "stream_chunks": true}, "runtimeHint": "cpython"}
  ],
  "connections": [{"from": "chunk", "to": "rs"}, {"from": "rs", "to": "vad"}, {"from": "vad", "to": "silero"}]
}`
	d, err := def.Parse([]byte(manifest))
	if err != nil {
		t.Fatal(err)
	}
	g, err := def.Build(d, remoteMediaRegistry(t))
	if err != nil {
		t.Fatal(err)
	}
	if d.Metadata != (def.Metadata{Name: "rm-speech", Description: "from RemoteMedia"}) {
		t.Errorf("metadata = %+v", d.Metadata)
	}
	expect := []struct {
		typ     string
		runtime node.Runtime
		params  map[string]any
	}{
		{"chunker", node.RuntimeWASM, map[string]any{"ms": 60.0}}, // 960 samples at 16 kHz
		{"resample", node.RuntimeWASM, map[string]any{"rate": int64(16000), "quality": "fast"}},
		{"vad", node.RuntimeWASM, map[string]any{"gate": false, "min_level_db": -40.0}},
		{"SileroVAD", node.RuntimePython, map[string]any{"threshold": 0.6, "min_silence_ms": 250.0}},
		{"KokoroTTS", node.RuntimePython, map[string]any{"voice": "af_bella", "speed": 1.0}},
	}
	for i, e := range expect {
		n := g.Nodes[i]
		got := map[string]any{} // the params the manifest sets; the others are the type's defaults
		for k := range e.params {
			got[k] = n.Params[k]
		}
		if n.Spec.Type != e.typ || n.Spec.Runtime != e.runtime || !reflect.DeepEqual(got, e.params) {
			t.Errorf("nodes[%d] = %s/%s %v, want %s/%s %v", i, n.Spec.Type, n.Spec.Runtime, n.Params, e.typ, e.runtime, e.params)
		}
	}
	if d.Nodes[4].RuntimeHint != "python" || d.Nodes[1].RuntimeHint != "auto" {
		t.Errorf("runtime hints = %q, %q; want python (cpython), auto (rust)", d.Nodes[4].RuntimeHint, d.Nodes[1].RuntimeHint)
	}
}

// Each RemoteMedia name resolves to our type with its params mapped.
func TestRemoteMediaNodeTypes(t *testing.T) {
	tests := []struct {
		name     string
		given    string
		expect   string // node_type after Parse
		params   map[string]any
		errMatch string
	}{
		{"resampler default", "{id: n, node_type: AudioResampler}", "resample", map[string]any{"rate": 44100}, ""},
		{"resampler", "{id: n, node_type: AudioResampler, params: {target_sample_rate: 8000}}", "resample", map[string]any{"rate": 8000}, ""},
		{"vad filter mode", "{id: n, node_type: VoiceActivityDetector, params: {filter_mode: true, frame_duration_ms: 20}}", "vad", map[string]any{"gate": true, "window_ms": 20}, ""},
		{"vad in python", "{id: n, node_type: VoiceActivityDetector, runtime_hint: python, params: {filter_mode: true, speech_threshold: 0.4}}", "VoiceActivityDetector", map[string]any{"filter_mode": true, "speech_threshold": 0.4}, ""},
		{"buffer seconds to ms", "{id: n, node_type: VADTriggeredBuffer, params: {min_speech_duration_s: 0.8, max_speech_duration_s: 8, silence_duration_s: 1.0}}", "speech_buffer", map[string]any{"min_speech_ms": 800, "max_speech_ms": 8000, "pre_roll_ms": 1000, "barge_in_ms": 0}, ""},
		{"audio buffer", "{id: n, node_type: AudioBuffer, params: {buffer_size_samples: 1600}}", "chunker", map[string]any{"ms": 100}, ""},
		{"whisper", "{id: n, node_type: WhisperTranscriptionNode, params: {device: cuda, language: en}}", "WhisperASR", map[string]any{"language": "en"}, ""},
		{"whisper hub id", "{id: n, node_type: WhisperTranscriptionNode, params: {model_id: openai/whisper-large-v3-turbo}}", "", nil, "nodes[0].params.model_id: RemoteMedia's hub model id is not used here"},
		{"not a number", "{id: n, node_type: VADTriggeredBuffer, params: {min_speech_duration_s: soon}}", "", nil, "nodes[0].params.min_speech_duration_s: must be a number"},
		{"our own type untouched", "{id: n, node_type: resample, params: {rate: 8000}}", "resample", map[string]any{"rate": 8000}, ""},
		{"text collector", "{id: n, node_type: TextCollectorNode, params: {min_sentence_length: 3, split_pattern: '[.!?]+'}}", "text_collector", map[string]any{"min_chars": 3}, ""},
		{"clipping monitor", "{id: n, node_type: ClippingDetector, params: {saturation_threshold: 0.9, crest_factor_threshold_db: 3}}", "level", map[string]any{"clip_level": 0.9, "levels": false}, ""},
		{"silence monitor", "{id: n, node_type: SilenceDetectorNode, params: {silence_threshold_db: -45}}", "level", map[string]any{"silence_db": -45, "silence_ms": 500, "levels": false}, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			d, err := def.Parse([]byte("version: \"1\"\nnodes:\n  - " + tc.given + "\n"))
			if tc.errMatch != "" {
				if err == nil || !strings.Contains(err.Error(), tc.errMatch) {
					t.Fatalf("err = %v, want %q", err, tc.errMatch)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			n := d.Nodes[0]
			if n.NodeType != tc.expect || !reflect.DeepEqual(n.Params, tc.params) {
				t.Errorf("got %s %#v, want %s %#v", n.NodeType, n.Params, tc.expect, tc.params)
			}
		})
	}
}

// A RemoteMedia name whose type this build lacks is a validation problem that
// says so, not an unknown type with a far-fetched suggestion.
func TestRemoteMediaTypeNotInThisBuild(t *testing.T) {
	err := parseValidate(t, node.NewRegistry(), "version: v1\nnodes:\n  - {id: buf, node_type: VADTriggeredBuffer}\n")
	want := "nodes[0].node_type: speech_buffer (for RemoteMedia's VADTriggeredBuffer) is not available in this build"
	if err == nil || !strings.Contains(err.Error(), want) {
		t.Fatalf("err = %v, want %q", err, want)
	}
	err = parseValidate(t, node.NewRegistry(), "version: v1\nnodes:\n  - {id: asr, node_type: WhisperTranscriptionNode}\n")
	want = "nodes[0].node_type: WhisperASR (for RemoteMedia's WhisperTranscriptionNode) is a Python node type, and no Python workers run here"
	if err == nil || !strings.Contains(err.Error(), want) {
		t.Fatalf("err = %v, want %q", err, want)
	}
}

// A definition of ours is not changed by the RemoteMedia reading: unknown
// fields stay errors.
func TestRemoteMediaLeavesOursStrict(t *testing.T) {
	err := parseValidate(t, testRegistry(t), "version: \"1\"\nmetadata: {name: a, author: b}\nnodes:\n  - {id: g, node_type: gain, colour: red}\n")
	if err == nil || !strings.Contains(err.Error(), "metadata.author: unknown field") || !strings.Contains(err.Error(), "nodes[0].colour: unknown field") {
		t.Fatalf("err = %v, want metadata.author and nodes[0].colour unknown", err)
	}
}

// RemoteMediaTypes lists each alias with its target.
func TestRemoteMediaTypes(t *testing.T) {
	types := def.RemoteMediaTypes()
	for name, want := range map[string]string{"AudioResampler": "resample", "WhisperTranscriptionNode": "WhisperASR", "KokoroTTSNode": "KokoroTTS", "TextCollectorNode": "text_collector"} {
		if types[name] != want {
			t.Errorf("%s -> %q, want %q", name, types[name], want)
		}
	}
}

// A RemoteMedia chain VoiceActivityDetector -> VADTriggeredBuffer ->
// WhisperTranscriptionNode becomes vad -> speech_buffer -> WhisperASR with both
// edges the buffer needs (audio and the vad's events) and Whisper transcribing
// each utterance.
func TestRemoteMediaSpeechBufferWiring(t *testing.T) {
	src := `version: v1
nodes:
  - {id: vad, node_type: VoiceActivityDetector}
  - {id: buf, node_type: VADTriggeredBuffer, params: {min_speech_duration_s: 0.5}}
  - {id: asr, node_type: WhisperTranscriptionNode}
connections:
  - {from: vad, to: buf}
  - {from: buf, to: asr}
`
	d, err := def.Parse([]byte(src))
	if err != nil {
		t.Fatal(err)
	}
	want := []def.Connection{{From: "vad", To: "buf"}, {From: "buf", To: "asr"}, {From: "vad.events", To: "buf.events"}}
	if !reflect.DeepEqual(d.Connections, want) {
		t.Fatalf("connections = %+v, want %+v", d.Connections, want)
	}
	if asr := d.Nodes[2]; asr.NodeType != "WhisperASR" || !reflect.DeepEqual(asr.Params, map[string]any{"per_utterance": true}) {
		t.Errorf("asr = %s %v, want WhisperASR transcribing per utterance", asr.NodeType, asr.Params)
	}
	d.Nodes, d.Connections = d.Nodes[:2], []def.Connection{want[0], want[2]}
	g, err := def.Build(d, testRegistry(t))
	if err != nil {
		t.Fatal(err)
	}
	if len(g.Edges) != 2 || g.Nodes[0].Params["gate"] != false || g.Nodes[1].Params["min_speech_ms"] != 500.0 {
		t.Errorf("edges %d, vad gate %v, min_speech_ms %v; want 2, false, 500", len(g.Edges), g.Nodes[0].Params["gate"], g.Nodes[1].Params["min_speech_ms"])
	}
}
