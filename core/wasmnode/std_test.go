package wasmnode

import (
	"reflect"
	"testing"

	"github.com/remotemedia/hybrid/core/frame"
	"github.com/remotemedia/hybrid/core/node"
)

// TestAudioModule: a custom module gets the ports of the standard audio
// modules (gain's), which a definition connects as it connects gain.
func TestAudioModule(t *testing.T) {
	m := AudioModule("mine.wasm", "mine", "a custom module")
	want := []node.Port{{Name: "in", Kinds: []frame.Kind{frame.KindAudio}}}
	if m.File != "mine.wasm" || m.Spec.Type != "mine" || m.Spec.Doc != "a custom module" || !reflect.DeepEqual(m.Spec.Inputs, want) {
		t.Fatalf("AudioModule = %+v", m)
	}
	if len(m.Spec.Outputs) != 1 || m.Spec.Outputs[0].Name != "out" || !reflect.DeepEqual(m.Spec.Outputs[0].Kinds, []frame.Kind{frame.KindAudio}) {
		t.Fatalf("outputs %+v, want one audio port out", m.Spec.Outputs)
	}
	for _, std := range Standard {
		if std.Spec.Type == "gain" && (!reflect.DeepEqual(std.Spec.Inputs, m.Spec.Inputs) || !reflect.DeepEqual(std.Spec.Outputs, m.Spec.Outputs)) {
			t.Fatalf("gain's ports %+v %+v differ from AudioModule's", std.Spec.Inputs, std.Spec.Outputs)
		}
	}
}
