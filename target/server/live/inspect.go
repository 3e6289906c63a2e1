package live

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/remotemedia/hybrid/core/sched"
)

// The inspector's routes (docs/server.md, "Inspector"), read-only and behind
// the same token as the rest of the API:
//
//	GET /v1/inspect                           the live sessions, with graph and stats
//	GET /v1/inspect/stream?interval_ms=500    the same as server-sent events, every interval
//
// A session is named by an opaque id made from the server's memory of it, never
// by its client's address or the stream id its client chose, so one client
// learns nothing about another from them.

// Bounds of the stream's interval_ms.
const (
	DefaultInspectInterval = 500 * time.Millisecond
	MinInspectInterval     = 100 * time.Millisecond
	MaxInspectInterval     = time.Minute
)

// SessionView is one live session as the inspector shows it.
type SessionView struct {
	ID string `json:"id"`
	// Pipeline is the offered pipeline's name; "inline" for a definition a
	// client sent (whose metadata.name is the client's, not shown to others).
	Pipeline string `json:"pipeline"`
	// Inline says the definition came from the client (/v1/inline/ws).
	Inline bool `json:"inline"`
	// Synchronous says the session runs on its socket's reader goroutine.
	Synchronous bool            `json:"synchronous"`
	FramesIn    uint64          `json:"frames_in"`
	Graph       GraphView       `json:"graph"`
	Stats       []NodeStatsView `json:"stats"`
}

// GraphView is a pipeline's graph: the nodes with their ports and the edges
// between them, by port name. The tab's Pipeline.graph() has the same shape.
type GraphView struct {
	Nodes []GraphNode `json:"nodes"`
	Edges []GraphEdge `json:"edges"`
}

// GraphNode is a node of a GraphView.
type GraphNode struct {
	ID       string   `json:"id"`
	NodeType string   `json:"node_type"`
	Runtime  string   `json:"runtime"`
	Inputs   []string `json:"inputs"`
	Outputs  []string `json:"outputs"`
}

// GraphEdge is an edge of a GraphView; When is its condition's text, if any.
type GraphEdge struct {
	From     string `json:"from"`
	FromPort string `json:"from_port"`
	To       string `json:"to"`
	ToPort   string `json:"to_port"`
	When     string `json:"when,omitempty"`
}

// NodeStatsView is a node's sched.NodeStats with times in µs, under the keys
// the tab's Pipeline.stats() uses.
type NodeStatsView struct {
	ID           string  `json:"id"`
	In           uint64  `json:"in"`
	Out          uint64  `json:"out"`
	Dropped      uint64  `json:"dropped"`
	Errors       uint64  `json:"errors"`
	Filtered     uint64  `json:"filtered"`
	P50US        float64 `json:"p50_us"`
	P99US        float64 `json:"p99_us"`
	WorkMeanUS   float64 `json:"work_mean_us"`
	BlockedP50US float64 `json:"blocked_p50_us"`
	BlockedP99US float64 `json:"blocked_p99_us"`
	WaitP50US    float64 `json:"wait_p50_us"`
	WaitP99US    float64 `json:"wait_p99_us"`
	Queue        int     `json:"queue"`
}

// graphView describes g.
func graphView(g *sched.Graph) GraphView {
	v := GraphView{Nodes: make([]GraphNode, 0, len(g.Nodes)), Edges: make([]GraphEdge, 0, len(g.Edges))}
	ports := map[string]*GraphNode{}
	for _, n := range g.Nodes {
		gn := GraphNode{ID: n.ID, Inputs: []string{}, Outputs: []string{}}
		if n.Spec != nil {
			gn.NodeType, gn.Runtime = n.Spec.Type, string(n.Spec.Runtime)
			for _, p := range n.Spec.Inputs {
				gn.Inputs = append(gn.Inputs, p.Name)
			}
			for _, p := range n.Spec.Outputs {
				gn.Outputs = append(gn.Outputs, p.Name)
			}
		}
		v.Nodes = append(v.Nodes, gn)
	}
	for i := range v.Nodes {
		ports[v.Nodes[i].ID] = &v.Nodes[i]
	}
	name := func(id string, out bool, i int) string {
		n := ports[id]
		if n == nil {
			return strconv.Itoa(i)
		}
		list := n.Inputs
		if out {
			list = n.Outputs
		}
		if i >= 0 && i < len(list) {
			return list[i]
		}
		return strconv.Itoa(i)
	}
	for _, e := range g.Edges {
		v.Edges = append(v.Edges, GraphEdge{From: e.From, FromPort: name(e.From, true, e.FromPort), To: e.To, ToPort: name(e.To, false, e.ToPort), When: e.WhenSource})
	}
	return v
}

func statsView(stats []sched.NodeStats) []NodeStatsView {
	us := func(d time.Duration) float64 { return float64(d) / float64(time.Microsecond) }
	out := make([]NodeStatsView, len(stats))
	for i, s := range stats {
		mean := 0.0
		if s.In > 0 {
			mean = us(s.Work) / float64(s.In)
		}
		out[i] = NodeStatsView{ID: s.ID, In: s.In, Out: s.Out, Dropped: s.Dropped, Errors: s.Errors, Filtered: s.Filtered,
			P50US: us(s.P50), P99US: us(s.P99), WorkMeanUS: mean, BlockedP50US: us(s.BlockedP50), BlockedP99US: us(s.BlockedP99),
			WaitP50US: us(s.WaitP50), WaitP99US: us(s.WaitP99), Queue: s.QueueLen}
	}
	return out
}

// inspectKey keys the opaque session ids of this process.
var inspectKey = func() []byte {
	b := make([]byte, 32)
	_, _ = rand.Read(b) // crypto/rand.Read does not fail (Go 1.24+)
	return b
}()

// opaqueID names a session for the inspector: a keyed hash of where the
// server holds it, stable for the session's life, meaningless outside.
func opaqueID(ls *session) string {
	h := sha256.New()
	h.Write(inspectKey)
	fmt.Fprintf(h, "%p", ls)
	return hex.EncodeToString(h.Sum(nil)[:6])
}

// Sessions returns the live sessions, in no particular order.
func (s *Server) Sessions() []SessionView {
	s.mu.Lock()
	socks := make([]*socket, 0, len(s.sockets))
	for k := range s.sockets {
		socks = append(socks, k)
	}
	s.mu.Unlock()
	out := []SessionView{}
	for _, k := range socks {
		k.mu.Lock()
		sessions := make([]*session, 0, len(k.sessions))
		for _, ls := range k.sessions {
			sessions = append(sessions, ls)
		}
		k.mu.Unlock()
		for _, ls := range sessions {
			if ls.s == nil || ls.pipe == nil || ls.ended.Load() {
				continue
			}
			name, inline := ls.pipe.Name, ls.pipe.Source == ""
			if inline { // the name a client gave its own definition is not shown to others
				name = "inline"
			}
			out = append(out, SessionView{ID: opaqueID(ls), Pipeline: name, Inline: inline,
				Synchronous: ls.pipe.synchronous, FramesIn: ls.framesIn.Load(),
				Graph: graphView(ls.pipe.graph), Stats: statsView(ls.s.Stats())})
		}
	}
	return out
}

func (s *Server) listSessions(c echo.Context) error {
	return c.JSON(http.StatusOK, map[string]any{"sessions": s.Sessions()})
}

// streamSessions sends the sessions as a server-sent event ("sessions") at
// once and then every interval_ms, until the client leaves or the server
// drains (so a shutdown does not wait for inspectors).
func (s *Server) streamSessions(c echo.Context) error {
	interval := DefaultInspectInterval
	if q := c.QueryParam("interval_ms"); q != "" {
		ms, err := strconv.Atoi(q)
		d := time.Duration(ms) * time.Millisecond
		if err != nil || d < MinInspectInterval || d > MaxInspectInterval {
			return httpError(c, http.StatusBadRequest, fmt.Errorf("live: interval_ms %q: want %d to %d", q, MinInspectInterval.Milliseconds(), MaxInspectInterval.Milliseconds()))
		}
		interval = d
	}
	w := c.Response()
	w.Header().Set(echo.HeaderContentType, "text/event-stream")
	w.Header().Set(echo.HeaderCacheControl, "no-store")
	w.Header().Set("X-Accel-Buffering", "no") // nginx: do not buffer the stream
	w.WriteHeader(http.StatusOK)
	tick := time.NewTicker(interval)
	defer tick.Stop()
	for {
		b, err := json.Marshal(map[string]any{"sessions": s.Sessions()})
		if err != nil {
			return err
		}
		if _, err := fmt.Fprintf(w, "event: sessions\ndata: %s\n\n", b); err != nil {
			return nil // the client left
		}
		w.Flush()
		select {
		case <-c.Request().Context().Done():
			return nil
		case <-s.drainCh:
			return nil
		case <-tick.C:
		}
	}
}
