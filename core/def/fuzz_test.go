package def_test

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/remotemedia/hybrid/core/def"
)

// FuzzParse checks that Parse then Validate never panic, and that a definition
// that validates also builds.
func FuzzParse(f *testing.F) {
	for _, dir := range []string{fixtures, filepath.Join(fixtures, "invalid")} {
		for _, file := range fixtureFiles(f, dir) {
			data, err := os.ReadFile(file)
			if err != nil {
				f.Fatal(err)
			}
			f.Add(data)
		}
	}
	reg := testRegistry(f)
	f.Fuzz(func(t *testing.T, data []byte) {
		d, err := def.Parse(data)
		if err != nil {
			return
		}
		if def.Validate(d, reg) == nil {
			if _, err := def.Build(d, reg); err != nil {
				t.Fatalf("validates but does not build: %v", err)
			}
		}
	})
}
