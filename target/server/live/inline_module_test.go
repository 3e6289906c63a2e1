package live

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/remotemedia/hybrid/core/frame"
	"github.com/remotemedia/hybrid/core/node"
)

// TestInlineRefusesModule: a client's inline definition may not name a module
// file, even for a node type the server has (module: is a path on the server).
func TestInlineRefusesModule(t *testing.T) {
	reg := node.NewRegistry()
	audio := []node.Port{{Name: "in", Kinds: []frame.Kind{frame.KindAudio}}}
	if err := reg.Register(node.Spec{Type: "gain", Runtime: node.RuntimeWASM, Inputs: audio, Outputs: audio,
		New: func(context.Context, node.Config) (node.Node, error) { return nil, errors.New("not made") }}); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name      string
		given     string
		expectErr string
	}{
		{"module", `{"version":"1","nodes":[{"id":"g","node_type":"gain","module":"/tmp/evil.wasm"}]}`, "nodes[0].module: a client may not name a module file"},
		{"no module", `{"version":"1","nodes":[{"id":"g","node_type":"gain"}]}`, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := inlinePipeline([]byte(tc.given), reg)
			if tc.expectErr == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if !errors.Is(err, ErrInline) || err == nil || !strings.Contains(err.Error(), tc.expectErr) {
				t.Fatalf("err = %v, want ErrInline with %q", err, tc.expectErr)
			}
		})
	}
}
