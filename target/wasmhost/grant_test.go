//go:build !js

package wasmhost

import (
	"context"
	"strings"
	"testing"

	"github.com/tetratelabs/wazero"
)

// TestGrantedMatchesWazero: every import the grant table allows is a function
// the wazero backend provides, with the same signature (the js backend's shim
// is checked by the conformance suite's modules).
func TestGrantedMatchesWazero(t *testing.T) {
	ctx := context.Background()
	rt := wazero.NewRuntime(ctx)
	defer rt.Close(ctx)
	rm, err := instantiateRM(ctx, rt)
	if err != nil {
		t.Fatal(err)
	}
	if err := instantiateWASI(ctx, rt); err != nil {
		t.Fatal(err)
	}
	defs := map[string]map[string]string{rmModule: {}, wasiModule: {}} // module -> name -> "params|results"
	for name, def := range rm.ExportedFunctionDefinitions() {
		defs[rmModule][name] = string(def.ParamTypes()) + "|" + string(def.ResultTypes())
	}
	for name, def := range rt.Module(wasiModule).ExportedFunctionDefinitions() {
		defs[wasiModule][name] = string(def.ParamTypes()) + "|" + string(def.ResultTypes())
	}
	for full, sig := range granted {
		mod, name, _ := strings.Cut(full, ".")
		got, ok := defs[mod][name]
		if !ok {
			t.Errorf("%s is granted but the wazero backend does not provide it", full)
			continue
		}
		if want := sig.Params + "|" + sig.Results; got != want {
			t.Errorf("%s: wazero's signature %q, the grant table's %q", full, got, want)
		}
	}
	for name := range defs[rmModule] {
		if _, ok := granted[rmModule+"."+name]; !ok {
			t.Errorf("rm.%s is provided but not in the grant table", name)
		}
	}
}
