package def

import (
	"errors"
	"fmt"
	"math/bits"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
)

// TestYAMLSyntaxErrorCostIsBounded: the offending line of a syntax error near the
// end of a long document is found in about log2(lines) parses, not one parse per
// line (a 65 KB file took 64 s of CPU).
func TestYAMLSyntaxErrorCostIsBounded(t *testing.T) {
	var b strings.Builder
	b.WriteString("version: \"1\"\nnodes:\n")
	for i := 0; b.Len() < 60<<10; i++ {
		fmt.Fprintf(&b, "  - id: n%d\n    node_type: gain\n", i)
	}
	badLine := strings.Count(b.String(), "\n") + 1
	b.WriteString("   params: {}\n") // indented under nothing
	data := []byte(b.String())
	var doc yaml.Node
	perr := yaml.Unmarshal(data, &doc)
	if perr == nil {
		t.Fatal("the document parses")
	}
	parses := 0
	counting := func(in []byte, v any) error { parses++; return yaml.Unmarshal(in, v) }
	err := yamlSyntaxError(data, perr, counting)
	if want := fmt.Sprintf("yaml: line %d: ", badLine); !strings.HasPrefix(err.Error(), want) {
		t.Fatalf("error %q, want it to start with %q", err, want)
	}
	lines := badLine
	if limit := 2 * bits.Len(uint(lines)); parses > limit {
		t.Fatalf("%d parses for %d lines, want at most %d", parses, lines, limit)
	}
}

// TestDefinitionLimits: an oversized document is refused before parsing, and too
// many nodes or connections is reported with the other problems.
func TestDefinitionLimits(t *testing.T) {
	big := []byte("version: \"1\"\n# " + strings.Repeat("x", MaxSize) + "\n")
	if _, err := Parse(big); !errors.Is(err, ErrTooLarge) || !strings.Contains(err.Error(), fmt.Sprintf("the definition is %d bytes, over the limit of 1048576 (1 MiB)", len(big))) {
		t.Fatalf("Parse of %d bytes = %v, want ErrTooLarge", len(big), err)
	}
	var b strings.Builder
	b.WriteString("version: \"1\"\nnodes:\n")
	for i := range MaxNodes + 1 {
		fmt.Fprintf(&b, "  - {id: n%d, node_type: gain}\n", i)
	}
	b.WriteString("connections:\n")
	for range MaxConnections + 1 {
		b.WriteString("  - {from: n0, to: n1}\n")
	}
	b.WriteString("extra: 1\n")
	_, err := Parse([]byte(b.String()))
	want := "nodes: 1001 nodes, over the limit of 1000 (line 3)\nconnections: 4001 connections, over the limit of 4000 (line 1005)\nextra: unknown field (line 5006)"
	if !errors.Is(err, ErrInvalid) || err.Error() != want {
		t.Fatalf("Parse = %v, want\n%s", err, want)
	}
}
