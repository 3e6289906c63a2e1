package wasmnode

import (
	"errors"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/remotemedia/hybrid/core/frame"
	"github.com/remotemedia/hybrid/core/node"
)

// emptyModule is the smallest WebAssembly binary: magic and version.
var emptyModule = []byte("\x00asm\x01\x00\x00\x00")

const polarityDecl = `{
  "node_type": "polarity",
  "doc": "Inverts the polarity of f32 audio.",
  "inputs": [{"name": "in", "kinds": ["audio"]}],
  "outputs": [
    {"name": "out", "kinds": ["audio"], "doc": "the audio, inverted"},
    {"name": "stats", "kinds": ["json"], "doc": "{\"peak\": N}"}
  ],
  "params": [
    {"name": "invert", "type": "boolean", "default": true, "doc": "invert (false: pass through)"},
    {"name": "mix", "type": "number", "default": 1, "min": 0, "max": 1, "doc": "wet share"},
    {"name": "every", "type": "integer", "default": 50, "min": 1, "max": 1000},
    {"name": "mode", "type": "string", "default": "full", "enum": ["full", "half"]},
    {"name": "label", "type": "string", "operator": true}
  ],
  "example": {"mix": 0.5}
}`

func TestDeclaredModule(t *testing.T) {
	m, err := DeclaredModule("polarity.wasm", AppendDecl(emptyModule, []byte(polarityDecl)))
	if err != nil {
		t.Fatal(err)
	}
	want := node.Spec{
		Type:    "polarity",
		Doc:     "Inverts the polarity of f32 audio.",
		Inputs:  []node.Port{{Name: "in", Kinds: []frame.Kind{frame.KindAudio}}},
		Outputs: []node.Port{{Name: "out", Kinds: []frame.Kind{frame.KindAudio}, Doc: "the audio, inverted"}, {Name: "stats", Kinds: []frame.Kind{frame.KindJSON}, Doc: `{"peak": N}`}},
		Params: []node.Param{
			{Name: "invert", Type: node.ParamBool, Default: true, Doc: "invert (false: pass through)"},
			{Name: "mix", Type: node.ParamNumber, Default: 1.0, Min: node.Bound(0), Max: node.Bound(1), Doc: "wet share"},
			{Name: "every", Type: node.ParamInteger, Default: 50, Min: node.Bound(1), Max: node.Bound(1000)},
			{Name: "mode", Type: node.ParamString, Default: "full", Enum: []string{"full", "half"}},
			{Name: "label", Type: node.ParamString, Operator: true},
		},
		Example: map[string]any{"mix": 0.5},
	}
	if m.File != "polarity.wasm" || !reflect.DeepEqual(m.Spec, want) {
		t.Fatalf("DeclaredModule =\n%+v\nwant\n%+v", m.Spec, want)
	}
}

// TestDeclDefaultPorts: a declaration without ports gets the standard audio ports.
func TestDeclDefaultPorts(t *testing.T) {
	spec, err := ParseDecl([]byte(`{"node_type": "mine", "doc": "d"}`))
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(spec.Inputs, audioIn) || !reflect.DeepEqual(spec.Outputs, audioOut) || spec.Params != nil {
		t.Fatalf("spec = %+v", spec)
	}
}

func TestDeclErrors(t *testing.T) {
	for _, tc := range []struct {
		name      string
		given     string
		expectErr string
	}{
		{"not json", `{"node_type": `, "unexpected EOF"},
		{"unknown field", `{"node_type": "a", "colour": 1}`, `unknown field "colour"`},
		{"two documents", `{"node_type": "a"} {}`, "more than one JSON document"},
		{"no type", `{"doc": "x"}`, `node_type: "" must be a lower-case name`},
		{"bad type", `{"node_type": "Gain!"}`, `node_type: "Gain!" must be`},
		{"no outputs", `{"node_type": "a", "outputs": []}`, "outputs: a node needs at least one output port"},
		{"bad kind", `{"node_type": "a", "outputs": [{"name": "o", "kinds": ["control"]}]}`, `outputs[0].kinds[0]: "control" is not a kind`},
		{"no kinds", `{"node_type": "a", "inputs": [{"name": "i"}]}`, "inputs[0].kinds: missing"},
		{"dup port", `{"node_type": "a", "outputs": [{"name": "o", "kinds": ["json"]}, {"name": "o", "kinds": ["json"]}]}`, `outputs[1].name: duplicate port "o"`},
		{"param type", `{"node_type": "a", "params": [{"name": "x", "type": "float"}]}`, `params[0].type: "float" is not one of`},
		{"dup param", `{"node_type": "a", "params": [{"name": "x", "type": "number"}, {"name": "x", "type": "number"}]}`, `params[1].name: duplicate param "x"`},
		{"default type", `{"node_type": "a", "params": [{"name": "x", "type": "number", "default": "1"}]}`, "params[0].default: must be a number, got string \"1\""},
		{"default above max", `{"node_type": "a", "params": [{"name": "x", "type": "number", "default": 11, "max": 10}]}`, "params[0].default: must be <= 10"},
		{"default exclusive min", `{"node_type": "a", "params": [{"name": "x", "type": "number", "default": 0, "min": 0, "exclusive_min": true}]}`, "params[0].default: must be > 0"},
		{"integer default", `{"node_type": "a", "params": [{"name": "x", "type": "integer", "default": 1.5}]}`, "params[0].default: must be an integer, got 1.5"},
		{"enum default", `{"node_type": "a", "params": [{"name": "x", "type": "string", "default": "c", "enum": ["a", "b"]}]}`, `params[0].default: must be one of "a", "b", got "c"`},
		{"enum on number", `{"node_type": "a", "params": [{"name": "x", "type": "number", "enum": ["1"]}]}`, "params[0].enum: only a string param"},
		{"bounds on string", `{"node_type": "a", "params": [{"name": "x", "type": "string", "max": 3}]}`, "params[0].min: only a number or integer param has bounds"},
		{"min above max", `{"node_type": "a", "params": [{"name": "x", "type": "number", "min": 3, "max": 1}]}`, "params[0].min: 3 is above max 1"},
		{"required default", `{"node_type": "a", "params": [{"name": "x", "type": "number", "required": true, "default": 1}]}`, "params[0].default: a required param has no default"},
		{"example unknown", `{"node_type": "a", "example": {"y": 1}}`, "example.y: not a declared param"},
		{"example bad", `{"node_type": "a", "params": [{"name": "x", "type": "boolean"}], "example": {"x": 1}}`, "example.x: must be a boolean, got 1"},
		{"too large", `{"node_type": "a", "doc": "` + strings.Repeat("x", MaxDeclSize) + `"}`, "over the limit"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := DeclaredModule("bad.wasm", AppendDecl(emptyModule, []byte(tc.given)))
			if !errors.Is(err, ErrDecl) || !strings.Contains(err.Error(), tc.expectErr) || !strings.HasPrefix(err.Error(), "bad.wasm: ") {
				t.Fatalf("err = %v, want ErrDecl naming bad.wasm and %q", err, tc.expectErr)
			}
		})
	}
}

func TestCustomSection(t *testing.T) {
	other := AppendDecl(emptyModule, []byte(`{"node_type": "a"}`))
	other[len(emptyModule)+3] = 'R' // renames the section to "Remotemedia.node"
	for _, tc := range []struct {
		name      string
		given     []byte
		expect    string
		expectErr error
	}{
		{"none", emptyModule, "", ErrNoDecl},
		{"another section", other, "", ErrNoDecl},
		{"junk", []byte("not wasm at all"), "", ErrDecl},
		{"truncated", AppendDecl(emptyModule, []byte(`{"node_type": "a"}`))[:20], "", ErrDecl},
		{"two", AppendDecl(AppendDecl(emptyModule, []byte(`{"node_type": "a"}`)), []byte(`{"node_type": "b"}`)), "", ErrDecl},
		{"after other sections", AppendDecl(append(slices.Clone(emptyModule), 1, 1, 0), []byte(`{"node_type": "b"}`)), "b", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m, err := DeclaredModule("m.wasm", tc.given)
			if !errors.Is(err, tc.expectErr) || m.Spec.Type != tc.expect {
				t.Fatalf("DeclaredModule = %q, %v; want %q, %v", m.Spec.Type, err, tc.expect, tc.expectErr)
			}
			if err != nil && !strings.Contains(err.Error(), "m.wasm") {
				t.Fatalf("error %q does not name the file", err)
			}
		})
	}
}

// FuzzDeclaredModule: no module or declaration, however malformed, panics,
// and whatever is accepted is a registrable spec. Seeds are declared modules
// and bare declarations.
func FuzzDeclaredModule(f *testing.F) {
	f.Add(AppendDecl(emptyModule, []byte(polarityDecl)))
	f.Add(AppendDecl(append(slices.Clone(emptyModule), 1, 1, 0), []byte(`{"node_type": "a"}`)))
	f.Add([]byte(polarityDecl))
	f.Fuzz(func(t *testing.T, b []byte) {
		for _, parse := range []func([]byte) (node.Spec, error){
			func(b []byte) (node.Spec, error) { m, err := DeclaredModule("f.wasm", b); return m.Spec, err },
			ParseDecl,
		} {
			spec, err := parse(b)
			if err == nil && (!validName(spec.Type) || len(spec.Outputs) == 0) {
				t.Fatalf("accepted %q as %+v", b, spec)
			}
		}
		if stripped, err := StripDecl(b); err == nil {
			if raw, err := CustomSection(stripped, DeclSection); err != nil || raw != nil {
				t.Fatalf("StripDecl(%q) left a declaration: %q, %v", b, raw, err)
			}
		}
	})
}

func TestStripDecl(t *testing.T) {
	with := AppendDecl(append(AppendDecl(slices.Clone(emptyModule), []byte(`{"node_type": "a"}`)), 1, 1, 0), []byte(`{"node_type": "b"}`))
	got, err := StripDecl(with)
	if err != nil {
		t.Fatal(err)
	}
	if want := append(slices.Clone(emptyModule), 1, 1, 0); !slices.Equal(got, want) {
		t.Fatalf("StripDecl = %x, want %x", got, want)
	}
	if _, err := DeclaredModule("m.wasm", AppendDecl(got, []byte(`{"node_type": "c"}`))); err != nil {
		t.Fatal(err)
	}
}
