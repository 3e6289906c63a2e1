package main

import (
	"encoding/json"
	"errors"
	"flag"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

var update = flag.Bool("update", false, "rewrite testdata/instructions.json with this build's counts")

// instructionsFile is the committed baseline: benchmark name -> x86
// instructions per op under valgrind.
const instructionsFile = "../../testdata/instructions.json"

// instructionGrowth is how much a count may grow over its baseline before the
// test fails.
const instructionGrowth = 1.10

// TestInstructionCounts counts the x86 instructions per frame of the
// resampler and the example chain under valgrind, as make bench does, and
// fails when one has grown by more than 10% over the committed baseline. The
// counts are steady where timings swing; a change that makes them faster on
// purpose refreshes the baseline with -update (and says so in its commit).
func TestInstructionCounts(t *testing.T) {
	if testing.Short() {
		t.Skip("runs benchmarks under valgrind")
	}
	if _, err := exec.LookPath("valgrind"); err != nil {
		if os.Getenv("CI") == "" {
			t.Skip("valgrind is not installed (scripts/deps.sh installs it); with CI set this fails")
		}
		t.Fatal("valgrind is not installed: scripts/deps.sh installs it")
	}
	baseline := map[string]float64{}
	if b, err := os.ReadFile(instructionsFile); err == nil {
		if err := json.Unmarshal(b, &baseline); err != nil {
			t.Fatalf("%s: %v", instructionsFile, err)
		}
	} else if !*update || !errors.Is(err, os.ErrNotExist) {
		t.Fatal(err)
	}
	counted := 0
	got := map[string]float64{}
	for _, s := range suites {
		if s.counted[0] == 0 {
			continue
		}
		counted++
		t.Run(s.bench, func(t *testing.T) {
			s.dir = filepath.Join("../..", s.dir)
			name, v, err := countInstructions(s)
			if errors.Is(err, errUndecodable) {
				t.Skipf("NOT GATED: %s -bench %s: %v", s.pkg, s.bench, err)
			}
			if err != nil {
				t.Fatalf("%s -bench %s under valgrind: %v", s.pkg, s.bench, err)
			}
			got[name] = v
			base, ok := baseline[name]
			switch {
			case *update:
				t.Logf("%s: %.0f instructions per op (was %.0f)", name, v, base)
			case !ok:
				t.Errorf("%s: no baseline in %s (go test ./tools/benchtable -run InstructionCounts -update)", name, instructionsFile)
			case v > base*instructionGrowth:
				t.Errorf("%s: %.0f x86 instructions per op, %.1f%% over the baseline %.0f (more than %.0f%%): a slower build; "+
					"if it is meant, refresh the baseline with -update", name, v, (v/base-1)*100, base, (instructionGrowth-1)*100)
			default:
				t.Logf("%s: %.0f instructions per op, baseline %.0f (%+.1f%%)", name, v, base, (v/base-1)*100)
			}
		})
	}
	if counted < 2 {
		t.Errorf("%d instruction-count suites, want the resampler's and the example chain's", counted)
	}
	if *update { // a suite that could not be counted keeps its old baseline
		for name, v := range got {
			baseline[name] = v
		}
		b, err := json.MarshalIndent(baseline, "", "  ")
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(instructionsFile, append(b, '\n'), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}
