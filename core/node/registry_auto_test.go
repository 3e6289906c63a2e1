package node

import (
	"context"
	"testing"

	"github.com/remotemedia/hybrid/core/frame"
)

// runtime_hint auto picks the first runtime in Preference order that can run
// here, and falls back past one whose Unavailable says why it cannot.
func TestLookupAutoFallsBack(t *testing.T) {
	newNode := func(context.Context, Config) (Node, error) { return nil, nil }
	out := []Port{{Name: "out", Kinds: []frame.Kind{frame.KindAudio}}}
	tests := []struct {
		name       string
		given      []Spec
		hint       string
		expect     Runtime
		expectWhy  string
		expectFail bool
	}{
		{"wasm first", []Spec{{Runtime: RuntimePython}, {Runtime: RuntimeWASM}}, "auto", RuntimeWASM, "", false},
		{"module missing: python", []Spec{{Runtime: RuntimeWASM, Unavailable: "no module"}, {Runtime: RuntimePython}}, "auto", RuntimePython, "", false},
		{"empty hint is auto", []Spec{{Runtime: RuntimeWASM, Unavailable: "no module"}, {Runtime: RuntimePython}}, "", RuntimePython, "", false},
		{"placement hints are auto", []Spec{{Runtime: RuntimeWASM, Unavailable: "no module"}, {Runtime: RuntimePython}}, "server", RuntimePython, "", false},
		{"none can run: the preferred, with why", []Spec{{Runtime: RuntimeWASM, Unavailable: "no module"}, {Runtime: RuntimePython, Unavailable: "no model"}}, "auto", RuntimeWASM, "no module", false},
		{"an explicit hint does not fall back", []Spec{{Runtime: RuntimeWASM, Unavailable: "no module"}, {Runtime: RuntimePython}}, "wasm", RuntimeWASM, "no module", false},
		{"an explicit hint without that runtime", []Spec{{Runtime: RuntimeWASM}}, "python", "", "", true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := NewRegistry()
			for _, s := range tc.given {
				s.Type, s.New, s.Outputs = "resample", newNode, out
				r.MustRegister(s)
			}
			s, err := r.Lookup("resample", tc.hint)
			if tc.expectFail {
				if err == nil {
					t.Fatalf("Lookup(%q) = %s, want an error", tc.hint, s.Runtime)
				}
				return
			}
			if err != nil || s.Runtime != tc.expect || s.Unavailable != tc.expectWhy {
				t.Fatalf("Lookup(%q) = %+v, %v; want %s (unavailable %q)", tc.hint, s, err, tc.expect, tc.expectWhy)
			}
		})
	}
}
