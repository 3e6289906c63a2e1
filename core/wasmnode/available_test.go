package wasmnode

import (
	"context"
	"strings"
	"testing"

	"github.com/remotemedia/hybrid/core/node"
)

// checkingLoader has every module but the one named missing, and says so.
type checkingLoader struct{ missing string }

func (checkingLoader) Load(context.Context, string) ([]byte, error) { return nil, nil }

func (l checkingLoader) MissingModule(name string) string {
	if name == l.missing {
		return name + " is not in --modules ./mods"
	}
	return ""
}

// blindLoader cannot tell what it has.
type blindLoader struct{}

func (blindLoader) Load(context.Context, string) ([]byte, error) { return nil, nil }

func TestRegisterMarksMissingModulesUnavailable(t *testing.T) {
	mods := []ModuleSpec{AudioModule("gain.wasm", "gain", "g"), AudioModule("to_mono.wasm", "to_mono", "m")}
	tests := []struct {
		name   string
		given  Loader
		expect map[string]string // type -> Unavailable
	}{
		{"a checking loader", checkingLoader{missing: "gain.wasm"}, map[string]string{
			"gain": "gain: its module gain.wasm is not in --modules ./mods", "to_mono": ""}},
		{"a loader that cannot tell", blindLoader{}, map[string]string{"gain": "", "to_mono": ""}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			reg := node.NewRegistry()
			if err := Register(reg, nil, tc.given, mods); err != nil {
				t.Fatal(err)
			}
			for typ, want := range tc.expect {
				s, err := reg.Lookup(typ, "wasm")
				if err != nil || s.Unavailable != want {
					t.Errorf("%s: Unavailable %q, %v; want %q", typ, s.Unavailable, err, want)
				}
			}
		})
	}
	if why := missingModule(checkingLoader{missing: "x.wasm"}, "x", "x.wasm"); !strings.HasPrefix(why, "x: its module x.wasm") {
		t.Errorf("missingModule = %q", why)
	}
}
