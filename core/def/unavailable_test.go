package def_test

import (
	"strings"
	"testing"

	"github.com/remotemedia/hybrid/core/node"
)

// A type unavailable at its defaults (its default model is not installed) fails
// validation, unless the definition names its own model through an
// operator-only param: then only opening the node can tell.
func TestUnavailableAtDefaults(t *testing.T) {
	reg := node.NewRegistry()
	err := reg.Register(node.Spec{
		Type: "Whisper", Runtime: node.RuntimePython, New: noNew,
		Unavailable: "Whisper: the default model is not installed",
		Params: []node.Param{
			{Name: "model_path", Type: node.ParamString, Operator: true, Doc: "model directory"},
			{Name: "beam_size", Type: node.ParamInteger, Default: 5, Doc: "beam width"},
		},
		Inputs:  []node.Port{{Name: "in"}},
		Outputs: []node.Port{{Name: "out"}},
	})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name      string
		given     string
		expectErr string
	}{
		{"defaults", "{id: w, node_type: Whisper}", "nodes[0].node_type: Whisper cannot run here: the default model is not installed"},
		{"client param only", "{id: w, node_type: Whisper, params: {beam_size: 2}}", "cannot run here"},
		{"own model", "{id: w, node_type: Whisper, params: {model_path: /models/w}}", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := parseValidate(t, reg, "version: \"1\"\nnodes:\n  - "+tc.given+"\n")
			switch {
			case tc.expectErr == "" && err != nil:
				t.Fatalf("want valid, got %v", err)
			case tc.expectErr != "" && (err == nil || !strings.Contains(err.Error(), tc.expectErr)):
				t.Fatalf("want an error with %q, got %v", tc.expectErr, err)
			}
		})
	}
}
