package def_test

import (
	"errors"
	"flag"
	"os"
	"path/filepath"
	"testing"

	"github.com/remotemedia/hybrid/core/def"
)

var update = flag.Bool("update", false, "rewrite testdata/defs/invalid/*.want")

const fixtures = "../../testdata/defs"

func fixtureFiles(t testing.TB, dir string) []string {
	t.Helper()
	var files []string
	for _, ext := range []string{"*.yaml", "*.json"} {
		m, err := filepath.Glob(filepath.Join(dir, ext))
		if err != nil {
			t.Fatal(err)
		}
		files = append(files, m...)
	}
	if len(files) == 0 {
		t.Fatalf("no fixtures in %s", dir)
	}
	return files
}

func TestValidFixturesBuild(t *testing.T) {
	reg := testRegistry(t)
	files := append(fixtureFiles(t, fixtures), fixtureFiles(t, "../../examples")...)
	for _, file := range files {
		t.Run(filepath.Base(file), func(t *testing.T) {
			d, err := def.ParseFile(file)
			if err != nil {
				t.Fatal(err)
			}
			g, err := def.Build(d, reg)
			if err != nil {
				t.Fatalf("Build:\n%v", err)
			}
			if len(g.Nodes) != len(d.Nodes) || len(g.Edges) != len(d.Connections) {
				t.Fatalf("graph has %d nodes, %d edges; definition %d, %d", len(g.Nodes), len(g.Edges), len(d.Nodes), len(d.Connections))
			}
		})
	}
}

// TestInvalidFixtures checks the exact error of each invalid fixture against its
// .want file (regenerate with -update).
func TestInvalidFixtures(t *testing.T) {
	reg := testRegistry(t)
	for _, file := range fixtureFiles(t, filepath.Join(fixtures, "invalid")) {
		t.Run(filepath.Base(file), func(t *testing.T) {
			src, err := os.ReadFile(file)
			if err != nil {
				t.Fatal(err)
			}
			err = parseValidate(t, reg, string(src))
			if err == nil {
				t.Fatal("no error")
			}
			if !errors.Is(err, def.ErrInvalid) && !errors.Is(err, def.ErrSyntax) {
				t.Errorf("error %v is neither ErrInvalid nor ErrSyntax", err)
			}
			golden := file + ".want"
			if *update {
				if err := os.WriteFile(golden, []byte(err.Error()+"\n"), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, rerr := os.ReadFile(golden)
			if rerr != nil {
				t.Fatalf("%v (run with -update)", rerr)
			}
			if got := err.Error() + "\n"; got != string(want) {
				t.Errorf("got:\n%s\nwant:\n%s", got, want)
			}
		})
	}
}
