package def_test

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/remotemedia/hybrid/core/def"
	"github.com/remotemedia/hybrid/core/frame"
	"github.com/remotemedia/hybrid/core/sched"
)

func TestValidate(t *testing.T) {
	reg := testRegistry(t)
	const head = "version: \"1\"\nnodes:\n"
	tests := []struct {
		name   string
		given  string
		expect []string // exact problems, in order; nil means valid
	}{
		{
			name:  "valid chain with defaults",
			given: head + "  - {id: a, node_type: to_mono}\n  - {id: b, node_type: resample}\nconnections:\n  - {from: a, to: b}\n",
		},
		{
			name:   "versions",
			given:  "version: \"3\"\nnodes: [{id: a, node_type: gain}]\n",
			expect: []string{`version: unsupported version "3" (want "1")`},
		},
		{
			name:  "accepted versions as numbers",
			given: "version: 1.0\nnodes: [{id: a, node_type: gain}]\n",
		},
		{
			name:  "duplicate and bad ids and did-you-mean",
			given: head + "  - {id: vad, node_type: vad}\n  - {id: x, node_type: resampel}\n  - {id: vad, node_type: gain}\n  - {id: \"a b\", node_type: gain}\n",
			expect: []string{
				`nodes[1].node_type: unknown node type "resampel" (did you mean "resample"?)`,
				`nodes[2].id: duplicate id "vad" (also nodes[0])`,
				`nodes[3].id: "a b" may contain only letters, digits, '_' and '-'`,
			},
		},
		{
			name: "param types and ranges",
			given: head + "  - {id: r, node_type: resample, params: {rate: 16000.5}}\n" +
				"  - {id: g, node_type: gain, params: {gain_db: \"6\", linear: 2000}}\n" +
				"  - {id: l, node_type: logger, params: {prefix: 1, every: 0}}\n" +
				"  - {id: v, node_type: vad, params: {window_ms: .nan, extra: {a: 1}}}\n",
			expect: []string{
				`nodes[0].params.rate: must be an integer, got 16000.5`,
				`nodes[1].params.gain_db: must be a number, got string "6"`,
				`nodes[1].params.linear: must be <= 1000`,
				`nodes[2].params.prefix: must be a string, got 1`,
				`nodes[2].params.every: must be > 0`,
				`nodes[3].params.window_ms: must be a finite number`,
				`nodes[3].params.extra: unknown param (vad takes: mode, window_ms, min_speech_ms, hangover_ms, pad_ms, min_level_db, threshold_db, gate, frame_events)`,
			},
		},
		{
			name:  "runtime hints",
			given: head + "  - {id: a, node_type: asr, runtime_hint: go}\n  - {id: b, node_type: gain, runtime_hint: browser}\n  - {id: c, node_type: gain, runtime_hint: wasm}\n",
			expect: []string{
				`nodes[0].runtime_hint: "asr" has no go implementation (have: python)`,
			},
		},
		{
			name: "ports and kinds",
			given: head + "  - {id: vad, node_type: vad}\n  - {id: mix, node_type: mixer}\n  - {id: log, node_type: logger, params: {prefix: x}}\n" +
				"connections:\n" +
				"  - {from: vad.events, to: mix.a}\n" +
				"  - {from: vad, to: mix.c}\n" +
				"  - {from: vad.in, to: log}\n" +
				"  - {from: vad.events, to: log}\n" +
				"  - {from: vad.events, to: log.in}\n" +
				"  - {from: vda, to: log}\n",
			expect: []string{
				`connections[0]: vad.events carries json but mix.a accepts audio`,
				`connections[1].to: mix (mixer) has no input port "c" (inputs: a, b)`,
				`connections[2].from: vad has no output port "in" (outputs: out, events)`,
				`connections[4]: duplicate of connections[3]`,
				`connections[5].from: unknown node "vda" (did you mean "vad"?)`,
			},
		},
		{
			name: "when and policy",
			given: head + "  - {id: a, node_type: gain}\n  - {id: b, node_type: gain}\n  - {id: c, node_type: gain}\nconnections:\n" +
				"  - {from: a, to: b, when: \"kidn == 'audio'\"}\n" +
				"  - {from: a, to: c, when: \"text\", policy: drop_newest}\n",
			expect: []string{
				`connections[0].when: unknown name kidn (1:1)`,
				`connections[1].policy: unknown policy "drop_newest" (want "block" or "drop_oldest")`,
				`connections[1].when: expected bool, but got string`,
			},
		},
		{
			name: "two cycles",
			given: head + "  - {id: a, node_type: gain}\n  - {id: b, node_type: gain}\n  - {id: c, node_type: gain}\n  - {id: d, node_type: gain}\nconnections:\n" +
				"  - {from: c, to: d}\n  - {from: d, to: c}\n  - {from: a, to: b}\n  - {from: b, to: a}\n",
			expect: []string{
				`connections: cycle a -> b -> a`,
				`connections: cycle c -> d -> c`,
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := parseValidate(t, reg, tt.given)
			if tt.expect == nil {
				if err != nil {
					t.Fatalf("unexpected error:\n%v", err)
				}
				return
			}
			var ve *def.ValidationError
			if !errors.As(err, &ve) {
				t.Fatalf("got %v, want a *ValidationError", err)
			}
			if !errors.Is(err, def.ErrInvalid) {
				t.Error("errors.Is(err, ErrInvalid) is false")
			}
			got := make([]string, len(ve.Problems))
			for i, p := range ve.Problems {
				got[i] = p.Path + ": " + p.Msg
			}
			if strings.Join(got, "\n") != strings.Join(tt.expect, "\n") {
				t.Errorf("got:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(tt.expect, "\n"))
			}
			if err.Error() != strings.Join(tt.expect, "\n") {
				t.Errorf("Error() = %q", err.Error())
			}
		})
	}
}

func TestParseErrors(t *testing.T) {
	tests := []struct {
		name      string
		given     string
		expectErr string
		syntax    bool
	}{
		{name: "yaml bad indent names the line", given: "version: \"1\"\nnodes:\n  - id: g\n    node_type: gain\n   params: {}\n", expectErr: "def: syntax error: yaml: line 5: ", syntax: true},
		{name: "yaml unclosed flow", given: "version: \"1\"\nnodes: [\n", expectErr: "def: syntax error: yaml: line ", syntax: true},
		{name: "json syntax names line and column", given: "{\n  \"version\": \"1\",\n  \"nodes\": [}\n", expectErr: "def: syntax error: json: line 3, column 13: invalid character '}'", syntax: true},
		{name: "empty", given: "  \n", expectErr: "def: syntax error: empty document", syntax: true},
		{name: "unknown fields with paths", given: "version: \"1\"\nnodes:\n  - {id: a, node_type: gain, param: {}}\nconnections:\n  - {from: a, to: a, polcy: block}\nextra: 1\n",
			expectErr: "nodes[0].param: unknown field (did you mean \"params\"?) (line 3)\nconnections[0].polcy: unknown field (did you mean \"policy\"?) (line 5)\nextra: unknown field (line 6)"},
		{name: "json unknown field", given: `{"version": "1", "nodes": [{"id": "a", "node_type": "gain", "runtime": "wasm"}]}`,
			expectErr: `nodes[0].runtime: unknown field (did you mean "runtime_hint"?) (line 1)`},
		{name: "wrong shapes", given: "version: [1]\nnodes: {id: a}\nconnections: [a]\n",
			expectErr: "version: must be a string, got sequence (line 1)\nnodes: must be a sequence, got mapping (line 2)\nconnections[0]: must be a mapping, got scalar (line 3)"},
		{name: "duplicate key", given: "version: \"1\"\nnodes:\n  - id: a\n    node_type: gain\n    id: b\n", expectErr: "nodes[0].id: given twice (line 5)"},
		{name: "root not a mapping", given: "- a\n", expectErr: "the definition must be a mapping, got sequence (line 1)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := def.Parse([]byte(tt.given))
			if err == nil {
				t.Fatal("no error")
			}
			if tt.syntax != errors.Is(err, def.ErrSyntax) || tt.syntax == errors.Is(err, def.ErrInvalid) {
				t.Errorf("%v: ErrSyntax %v, ErrInvalid %v", err, errors.Is(err, def.ErrSyntax), errors.Is(err, def.ErrInvalid))
			}
			if tt.syntax && !strings.HasPrefix(err.Error(), tt.expectErr) || !tt.syntax && err.Error() != tt.expectErr {
				t.Errorf("got:\n%v\nwant:\n%s", err, tt.expectErr)
			}
		})
	}
}

func TestParseFields(t *testing.T) {
	d, err := def.ParseFile(filepath.Join(fixtures, "chain.json"))
	if err != nil {
		t.Fatal(err)
	}
	want := def.Definition{
		Version:  "1",
		Metadata: def.Metadata{Name: "chain-json", Description: "the chain fixture in JSON"},
		Nodes: []def.NodeRef{
			{ID: "mono", NodeType: "to_mono"},
			{ID: "resample", NodeType: "resample", Params: map[string]any{"rate": 16000, "quality": "fast"}},
			{ID: "gain", NodeType: "gain", Params: map[string]any{"gain_db": -3.5}, QueueSize: 8, OnError: "fail"},
		},
		Connections: []def.Connection{{From: "mono", To: "resample"}, {From: "resample.out", To: "gain.in", Policy: "drop_oldest"}},
	}
	gotJSON, _ := json.Marshal(d)
	wantJSON, _ := json.Marshal(want)
	if string(gotJSON) != string(wantJSON) {
		t.Errorf("got  %s\nwant %s", gotJSON, wantJSON)
	}
	if _, err := def.ParseFile("no/such/file.yaml"); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("missing file: %v", err)
	}
}

func TestBuild(t *testing.T) {
	reg := testRegistry(t)
	build := func(t *testing.T, name string) *sched.Graph {
		t.Helper()
		d, err := def.ParseFile(filepath.Join(fixtures, name))
		if err != nil {
			t.Fatal(err)
		}
		g, err := def.Build(d, reg)
		if err != nil {
			t.Fatal(err)
		}
		return g
	}
	type edge struct {
		from     string
		fromPort int
		to       string
		toPort   int
		policy   sched.Policy
	}
	edges := func(g *sched.Graph) []edge {
		out := make([]edge, len(g.Edges))
		for i, e := range g.Edges {
			out[i] = edge{e.From, e.FromPort, e.To, e.ToPort, e.Policy}
		}
		return out
	}

	t.Run("chain params and policies", func(t *testing.T) {
		g := build(t, "chain.json")
		rs, gain := g.Nodes[1], g.Nodes[2]
		if rs.Spec.Type != "resample" || rs.Params["rate"] != int64(16000) || rs.Params["quality"] != "fast" || len(rs.Params) != 2 {
			t.Errorf("resample: %s %#v", rs.Spec.Type, rs.Params)
		}
		if gain.Params["gain_db"] != -3.5 || len(gain.Params) != 1 || gain.QueueSize != 8 || gain.OnError != sched.Fail {
			t.Errorf("gain: %#v queue %d on_error %q", gain.Params, gain.QueueSize, gain.OnError)
		}
		if g.Nodes[0].OnError != sched.Continue || g.Nodes[0].Params == nil || len(g.Nodes[0].Params) != 0 {
			t.Errorf("mono: %+v", g.Nodes[0])
		}
		want := []edge{{"mono", 0, "resample", 0, sched.Block}, {"resample", 0, "gain", 0, sched.DropOldest}}
		if got := edges(g); !slices.Equal(got, want) {
			t.Errorf("edges %v, want %v", got, want)
		}
	})
	t.Run("defaults filled", func(t *testing.T) {
		g := build(t, "fanout.yaml")
		vad := g.Nodes[0].Params
		want := map[string]any{"mode": int64(1), "min_level_db": -60.0, "window_ms": 10.0, "min_speech_ms": 60.0, "hangover_ms": 200.0, "pad_ms": 30.0, "gate": false, "frame_events": false}
		if len(vad) != len(want) {
			t.Errorf("vad params %#v", vad)
		}
		for k, v := range want {
			if vad[k] != v {
				t.Errorf("vad.%s = %#v, want %#v", k, vad[k], v)
			}
		}
		if quiet := g.Nodes[2].Params; quiet["linear"] != 0.5 || quiet["gain_db"] != 0.0 {
			t.Errorf("quiet %#v", quiet)
		}
		if log := g.Nodes[3].Params; log["every"] != int64(1) || log["level"] != "info" || log["prefix"] != "vad:" {
			t.Errorf("log %#v", log)
		}
	})
	t.Run("named ports fan-out", func(t *testing.T) {
		g := build(t, "fanout.yaml")
		want := []edge{{"vad", 0, "loud", 0, sched.Block}, {"vad", 0, "quiet", 0, sched.Block}, {"vad", 1, "log", 0, sched.Block}}
		if got := edges(g); !slices.Equal(got, want) {
			t.Errorf("edges %v, want %v", got, want)
		}
		if g.Edges[0].When != nil || g.Edges[2].When == nil || g.Edges[2].WhenSource != `json.event == "speech_start"` {
			t.Errorf("when: %+v", g.Edges)
		}
	})
	t.Run("fan-in named inputs", func(t *testing.T) {
		g := build(t, "fanin.json")
		want := []edge{{"left", 0, "mix", 0, sched.Block}, {"right", 0, "mix", 1, sched.Block}, {"mix", 0, "out", 0, sched.Block}, {"extra", 0, "out", 0, sched.Block}}
		if got := edges(g); !slices.Equal(got, want) {
			t.Errorf("edges %v, want %v", got, want)
		}
		if g.Nodes[3].Spec.Runtime != "go" || g.Nodes[0].Spec.Runtime != "wasm" {
			t.Errorf("runtimes %s %s", g.Nodes[3].Spec.Runtime, g.Nodes[0].Spec.Runtime)
		}
	})
	t.Run("invalid", func(t *testing.T) {
		g, err := def.Build(&def.Definition{Version: "1"}, reg)
		if g != nil || !errors.Is(err, def.ErrInvalid) {
			t.Errorf("got %v, %v", g, err)
		}
		if err := def.Validate(nil, reg); !errors.Is(err, def.ErrInvalid) {
			t.Errorf("nil definition: %v", err)
		}
	})
}

func TestWhen(t *testing.T) {
	reg := testRegistry(t)
	h := frame.Header{Seq: 7, Timestamp: 40_000, Meta: map[string]any{"speech": true, "lang": "en"}}
	audio20ms := frame.NewAudioF32(h, 16000, 1, make([]float32, 320))
	audio10ms := frame.NewAudioF32(frame.Header{}, 48000, 2, make([]float32, 960))
	start := frame.NewJSON(h, []byte(`{"event":"speech_start","time_ms":120}`))
	end := frame.NewJSON(frame.Header{}, []byte(`{"event":"speech_end"}`))
	tests := []struct {
		name      string
		when      string
		given     *frame.Frame
		expect    bool
		expectErr string
	}{
		{"text length true", `len(text) > 3`, frame.NewText(h, "hello"), true, ""},
		{"text length false", `len(text) > 3`, frame.NewText(h, "hi"), false, ""},
		{"text of audio is empty", `len(text) > 3`, audio20ms, false, ""},
		{"json event true", `json.event == "speech_start"`, start, true, ""},
		{"json event false", `json.event == "speech_start"`, end, false, ""},
		{"json number", `json.time_ms > 100`, start, true, ""},
		{"json missing key", `json.missing == nil`, start, true, ""},
		{"json on audio is empty", `json.event == "speech_start"`, audio20ms, false, ""},
		{"nested optional", `json.a?.b == 1`, start, false, ""},
		{"optional not nil", `json.result?.text != nil`, frame.NewJSON(h, []byte(`{"result":{"text":"hi"}}`)), true, ""},
		{"nested missing errors", `json.a.b == 1`, start, false, "cannot fetch b from <nil>"},
		{"bad json frame", `json.event == "x"`, frame.NewJSON(h, []byte(`{`)), false, "json frame"},
		{"meta flag", `meta.speech == true`, audio20ms, true, ""},
		{"meta missing", `meta.speech == true`, audio10ms, false, ""},
		{"audio duration", `kind == "audio" && duration_ms >= 20`, audio20ms, true, ""},
		{"audio too short", `kind == "audio" && duration_ms >= 20`, audio10ms, false, ""},
		{"audio shape", `sample_rate == 48000 && channels == 2 && samples == 480`, audio10ms, true, ""},
		{"seq and ts", `seq == 7 && ts_ms == 40`, start, true, ""},
		{"non-bool at run time", `json.event`, start, false, "bool(string)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := &def.Definition{Version: "1",
				Nodes:       []def.NodeRef{{ID: "a", NodeType: "gain"}, {ID: "b", NodeType: "gain"}},
				Connections: []def.Connection{{From: "a", To: "b", When: tt.when}},
			}
			g, err := def.Build(d, reg)
			if err != nil {
				t.Fatal(err)
			}
			got, err := g.Edges[0].When(tt.given)
			if tt.expectErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.expectErr) {
					t.Fatalf("error %v, want one containing %q", err, tt.expectErr)
				}
				return
			}
			if err != nil || got != tt.expect {
				t.Errorf("got %v, %v; want %v", got, err, tt.expect)
			}
		})
	}
}

func BenchmarkWhen(b *testing.B) {
	reg := testRegistry(b)
	for _, bc := range []struct {
		name string
		when string
		f    *frame.Frame
	}{
		{"audio", `kind == "audio" && duration_ms >= 20`, frame.NewAudioF32(frame.Header{}, 16000, 1, make([]float32, 320))},
		{"json", `json.event == "speech_start"`, frame.NewJSON(frame.Header{}, []byte(`{"event":"speech_start","time_ms":120}`))},
	} {
		b.Run(bc.name, func(b *testing.B) {
			d := &def.Definition{Version: "1",
				Nodes:       []def.NodeRef{{ID: "a", NodeType: "gain"}, {ID: "b", NodeType: "gain"}},
				Connections: []def.Connection{{From: "a", To: "b", When: bc.when}},
			}
			g, err := def.Build(d, reg)
			if err != nil {
				b.Fatal(err)
			}
			when := g.Edges[0].When
			b.ReportAllocs()
			for b.Loop() {
				if ok, err := when(bc.f); !ok || err != nil {
					b.Fatal(ok, err)
				}
			}
		})
	}
}

func TestSchema(t *testing.T) {
	reg := testRegistry(t)
	data, err := def.Schema(reg)
	if err != nil {
		t.Fatal(err)
	}
	var s struct {
		Schema string `json:"$schema"`
		Defs   map[string]struct {
			Type                 string                    `json:"type"`
			Description          string                    `json:"description"`
			AdditionalProperties *bool                     `json:"additionalProperties"`
			Required             []string                  `json:"required"`
			Properties           map[string]map[string]any `json:"properties"`
			AllOf                []any                     `json:"allOf"`
		} `json:"$defs"`
	}
	if err := json.Unmarshal(data, &s); err != nil {
		t.Fatalf("schema is not JSON: %v", err)
	}
	if s.Schema != "https://json-schema.org/draft/2020-12/schema" {
		t.Errorf("$schema %q", s.Schema)
	}
	for _, typ := range reg.Types() {
		p, ok := s.Defs["params."+typ]
		if !ok || p.AdditionalProperties == nil || *p.AdditionalProperties || p.Description == "" {
			t.Errorf("params.%s: %+v", typ, p)
		}
	}
	rate := s.Defs["params.resample"].Properties["rate"]
	if rate["type"] != "integer" || rate["minimum"] != 1000.0 || rate["maximum"] != 384000.0 || rate["default"] != 16000.0 || rate["description"] != "output sample rate in Hz" {
		t.Errorf("resample.rate: %v", rate)
	}
	if q := s.Defs["params.resample"].Properties["quality"]; q["type"] != "string" || len(q["enum"].([]any)) != 3 {
		t.Errorf("resample.quality: %v", q)
	}
	if every := s.Defs["params.logger"].Properties["every"]; every["exclusiveMinimum"] != 0.0 || every["minimum"] != nil {
		t.Errorf("logger.every: %v", every)
	}
	if req := s.Defs["params.logger"].Required; len(req) != 1 || req[0] != "prefix" {
		t.Errorf("logger required: %v", req)
	}
	if gate := s.Defs["params.vad"].Properties["gate"]; gate["type"] != "boolean" || gate["default"] != true {
		t.Errorf("vad.gate: %v", gate)
	}
	if n := len(s.Defs["node"].AllOf); n != len(reg.Types()) {
		t.Errorf("node has %d if/then rules, want %d", n, len(reg.Types()))
	}
	choices := s.Defs["node"].Properties["node_type"]["oneOf"].([]any)
	if len(choices) != len(reg.Types()) {
		t.Errorf("node_type choices: %v", choices)
	}
}

// TestSpecExamples checks that every spec's Example params validate.
func TestSpecExamples(t *testing.T) {
	reg := testRegistry(t)
	for _, spec := range reg.Specs() {
		t.Run(spec.Type, func(t *testing.T) {
			d := &def.Definition{Version: "1", Nodes: []def.NodeRef{{ID: "n", NodeType: spec.Type, RuntimeHint: string(spec.Runtime), Params: spec.Example}}}
			if spec.Example == nil && len(spec.Params) > 0 {
				for _, p := range spec.Params {
					if p.Required {
						t.Fatalf("spec has a required param %q but no Example", p.Name)
					}
				}
			}
			if err := def.Validate(d, reg); err != nil {
				t.Errorf("Example %v:\n%v", spec.Example, err)
			}
		})
	}
}
