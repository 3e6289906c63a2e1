package def

import "github.com/remotemedia/hybrid/core/sched"

// LiveBargeInMS is the barge_in_ms a live session (the server's WebSocket
// sessions, a tab's open and stream) gives each speech_buffer node whose
// definition leaves it unset: in a live session the user may talk over a
// reply, and then the reply's queued work and audio are cancelled and the
// client is told to stop playing it (docs/voice.md). `remotemedia run`,
// one-shot runs and a tab's process, which take a file faster than real time,
// keep the node's default (off): there every reply is still in flight when the
// next utterance starts, and nothing is played.
const LiveBargeInMS = 150.0

// WithLiveBargeIn returns g with barge-in on (LiveBargeInMS) for each
// speech_buffer node whose definition d does not set barge_in_ms, or g itself
// when there is none. g's nodes are d's, in order (Build).
func WithLiveBargeIn(d *Definition, g *sched.Graph) *sched.Graph {
	var out *sched.Graph
	for i, n := range g.Nodes {
		if n.Spec == nil || n.Spec.Type != "speech_buffer" || i >= len(d.Nodes) {
			continue
		}
		if _, set := d.Nodes[i].Params["barge_in_ms"]; set {
			continue
		}
		if out == nil {
			c := *g
			c.Nodes = append([]sched.NodeDef(nil), g.Nodes...)
			out = &c
		}
		params := make(map[string]any, len(n.Params)+1)
		for k, v := range n.Params {
			params[k] = v
		}
		params["barge_in_ms"] = LiveBargeInMS
		out.Nodes[i].Params = params
	}
	if out == nil {
		return g
	}
	return out
}
