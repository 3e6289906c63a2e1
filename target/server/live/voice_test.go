package live

import (
	"strings"
	"testing"
)

// Live sessions turn barge-in on for a speech_buffer that leaves it unset;
// one-shot runs keep the definition as it is, and a definition's own value wins.
func TestBargeInOnInLiveSessions(t *testing.T) {
	const src = `version: "1"
nodes:
  - {id: vad, node_type: vad, params: {gate: false}}
  - {id: buf, node_type: speech_buffer}
  - {id: quiet, node_type: speech_buffer, params: {barge_in_ms: 0}}
connections:
  - {from: vad.out, to: buf.in}
  - {from: vad.events, to: buf.events}
  - {from: vad.out, to: quiet.in}
  - {from: vad.events, to: quiet.events}
`
	p, err := buildPipeline([]byte(src), testRegistry, "")
	if err != nil {
		t.Fatal(err)
	}
	params := func(g string, i int) any {
		if g == "live" {
			return p.graph.Nodes[i].Params["barge_in_ms"]
		}
		return p.oneShotGraph().Nodes[i].Params["barge_in_ms"]
	}
	for _, tc := range []struct {
		graph  string
		node   int
		expect any
	}{
		{"live", 1, DefaultBargeInMS},
		{"live", 2, 0.0},
		{"one-shot", 1, 0.0},
		{"one-shot", 2, 0.0},
	} {
		if got := params(tc.graph, tc.node); got != tc.expect {
			t.Errorf("%s graph, node %d: barge_in_ms = %v, want %v", tc.graph, tc.node, got, tc.expect)
		}
	}
	if p.graph.Nodes[0].Params["gate"] != false || len(p.graph.Edges) != 4 {
		t.Errorf("the live graph lost the rest of the definition: %+v", p.graph)
	}
	// Without a speech_buffer the live graph is the definition's own.
	q, err := buildPipeline([]byte("version: \"1\"\nnodes:\n  - {id: g, node_type: gain}\n"), testRegistry, "")
	if err != nil {
		t.Fatal(err)
	}
	if q.graph != q.oneShotGraph() {
		t.Error("a pipeline without speech_buffer got a graph of its own for live sessions")
	}
}

// A client's inline definition may name a fallback node type, but not set its
// operator-only params: they are refused as on the node itself.
func TestInlineFallbackOperatorParams(t *testing.T) {
	src := `{"version":"1","nodes":[{"id":"g","node_type":"gain","fallback":{"node_type":"model","params":{"model_path":"/etc/passwd","level":2}}}]}`
	_, err := inlinePipeline([]byte(src), testRegistry)
	if err == nil || !strings.Contains(err.Error(), "nodes[0].fallback.params.model_path: operator-only param of model") {
		t.Fatalf("got %v, want the fallback's model_path refused", err)
	}
	ok := `{"version":"1","nodes":[{"id":"g","node_type":"gain","fallback":{"node_type":"model","params":{"level":2}}}]}`
	if _, err := inlinePipeline([]byte(ok), testRegistry); err != nil {
		t.Fatalf("a client-settable fallback param: %v", err)
	}
}
