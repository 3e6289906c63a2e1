package sched

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/remotemedia/hybrid/core/frame"
	"github.com/remotemedia/hybrid/core/node"
)

// ErrSplit is returned by SplitGraph for a placement it cannot run.
var ErrSplit = errors.New("sched: cannot split the graph")

// The ids and meta key of split placement (docs/placement.md). Bridge node ids
// hold a ':', which definition ids cannot, so they never collide with a node's.
const (
	// EntryID is the one source node of each side's graph: it routes the
	// pipeline's input and the frames arriving across the cut.
	EntryID = "split:in"
	// ReturnID is the front side's node that routes the frames coming back
	// from the back side, and ends the back side's input when the front's
	// frames for it have all been sent.
	ReturnID = "split:return"
	// ExitPrefix starts the id of a node that sends one output port's frames
	// across the cut: "split:" + its address.
	ExitPrefix = "split:"
	// AddrKey is the frame meta key holding a crossing frame's address: the
	// output port that produced it, "node.port", or "" (no key) for the
	// pipeline's own input.
	AddrKey = "port"
)

// Split is a graph cut in two: the front side, where the pipeline's input
// enters and its outputs leave (a browser tab), and the back side (a server),
// which runs the nodes asked for. Frames cross the cut tagged with the output
// port that produced them; each side routes them to that port's consumers on
// its side, with the connections' `when` and policy.
type Split struct {
	g    *Graph
	back map[string]bool

	// Back lists the back side's nodes, in graph order.
	Back []string
	// Cut lists the edges of the graph that cross, in graph order.
	Cut []Edge
	// Forward lists the addresses the front sends to the back, in graph order:
	// "node.port" of a front output port that feeds a back node, "" for the
	// pipeline's input when a back node is a source.
	Forward []string
	// Return lists the addresses the back sends to the front: back output ports
	// that feed a front node.
	Return []string
}

// Addr is the address of output port port of node n: "node.port".
func Addr(g *Graph, nodeID string, port int) string {
	for _, n := range g.Nodes {
		if n.ID == nodeID && port >= 0 && port < len(n.Spec.Outputs) {
			return nodeID + "." + n.Spec.Outputs[port].Name
		}
	}
	return fmt.Sprintf("%s.%d", nodeID, port)
}

// SplitGraph cuts g: the nodes named in back run on the back side, the rest on
// the front. A path from a back node through a front node to a back node is
// refused (the back side's input could not end in order), as is an empty or
// unknown back set.
func SplitGraph(g *Graph, back []string) (*Split, error) {
	if g == nil {
		return nil, fmt.Errorf("%w: nil graph", ErrSplit)
	}
	if _, _, err := check(g); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrSplit, err)
	}
	s := &Split{g: g, back: map[string]bool{}}
	ids := map[string]bool{}
	for _, n := range g.Nodes {
		ids[n.ID] = true
	}
	for _, id := range back {
		if !ids[id] {
			return nil, fmt.Errorf("%w: no node %q in the graph", ErrSplit, id)
		}
		s.back[id] = true
	}
	if len(s.back) == 0 {
		return nil, fmt.Errorf("%w: no node runs on the back side", ErrSplit)
	}
	incoming := map[string]bool{}
	for _, e := range g.Edges {
		incoming[e.To] = true
	}
	for _, n := range g.Nodes {
		if s.back[n.ID] {
			s.Back = append(s.Back, n.ID)
			if !incoming[n.ID] && !slices.Contains(s.Forward, "") {
				s.Forward = append(s.Forward, "")
			}
		}
	}
	for _, e := range g.Edges {
		if s.back[e.From] == s.back[e.To] {
			continue
		}
		s.Cut = append(s.Cut, e)
		addr := Addr(g, e.From, e.FromPort)
		list := &s.Forward
		if s.back[e.From] {
			list = &s.Return
		}
		if !slices.Contains(*list, addr) {
			*list = append(*list, addr)
		}
	}
	if err := s.checkNoRoundTrip(); err != nil {
		return nil, err
	}
	return s, nil
}

// checkNoRoundTrip refuses a front node that is downstream of a back node
// and upstream of one.
func (s *Split) checkNoRoundTrip() error {
	down := map[string]bool{} // front nodes reached from a back node
	var walk func(id string)
	walk = func(id string) {
		for _, e := range s.g.Edges {
			if e.From == id && !s.back[e.To] && !down[e.To] {
				down[e.To] = true
				walk(e.To)
			}
		}
	}
	for _, id := range s.Back {
		walk(id)
	}
	for _, e := range s.Cut {
		if !s.back[e.From] && down[e.From] {
			return fmt.Errorf("%w: %s runs in front but lies between back-side nodes (it takes their output and feeds %s); place it on the back side too",
				ErrSplit, e.From, e.To)
		}
	}
	return nil
}

// OnBack reports whether node id runs on the back side.
func (s *Split) OnBack(id string) bool { return s.back[id] }

// BackGraph is the back side's graph: its nodes and the edges between them,
// the entry node (the only source) routing what arrives by address, and an
// exit node per Return address, whose output port "out" no edge consumes:
// the back side sends what reaches Outputs from an exit (ExitAddr) across.
func (s *Split) BackGraph() *Graph {
	return s.side(true, nil)
}

// FrontGraph is the front side's graph, with its exits sending through b and
// the return node (ReturnID) routing what comes back. Run it without
// Options.Synchronous: the return node waits for the back side's last frames.
func (s *Split) FrontGraph(b Bridge) *Graph {
	return s.side(false, b)
}

// ExitAddr returns the address an exit node sends, and whether id is an exit.
func ExitAddr(id string) (string, bool) {
	switch {
	case id == EntryID || id == ReturnID || !strings.HasPrefix(id, ExitPrefix):
		return "", false
	case id == inputExit:
		return "", true
	}
	return strings.TrimPrefix(id, ExitPrefix), true
}

// inputExit is the id of the exit that sends the pipeline's input.
const inputExit = ExitPrefix + "input"

// IsBridge reports whether id names a node SplitGraph added.
func IsBridge(id string) bool { return strings.HasPrefix(id, ExitPrefix) }

// Bridge carries a front side's frames across the cut.
type Bridge interface {
	// Send sends f, produced by the output port addr ("" for the pipeline's
	// input), to the back side. It is called from several nodes' goroutines.
	Send(ctx context.Context, addr string, f *frame.Frame) error
	// EndInput ends the back side's input: every frame for it has been sent.
	EndInput(ctx context.Context) error
	// Next returns the next frame coming back once the front's input has
	// ended and its frames were no longer pushed into the session (its
	// AddrKey meta names its address), or io.EOF when the back side is done.
	Next(ctx context.Context) (*frame.Frame, error)
}

// side builds one side's graph.
func (s *Split) side(back bool, b Bridge) *Graph {
	mine := func(id string) bool { return s.back[id] == back }
	g := &Graph{}
	incoming := map[string]bool{}
	for _, e := range s.g.Edges {
		incoming[e.To] = true
	}
	// What arrives at the entry: the pipeline's input, then the addresses
	// crossing towards this side.
	arriving := s.Forward
	if !back {
		arriving = []string{""}
	}
	entry := &router{addrs: arriving}
	var ret *router
	if !back {
		ret = &router{addrs: s.Return, bridge: b, ret: true}
		entry.pass = s.Return // pushed back into the session: on to the return node
	}
	g.Nodes = append(g.Nodes, entry.def(EntryID))
	for _, n := range s.g.Nodes {
		if mine(n.ID) {
			g.Nodes = append(g.Nodes, n)
		}
	}
	// Routes from the entry (and the return node) to this side's consumers.
	route := func(from, addr string, k int) {
		if addr == "" {
			for _, n := range s.g.Nodes {
				if mine(n.ID) && !incoming[n.ID] {
					g.Edges = append(g.Edges, Edge{From: from, FromPort: k, To: n.ID, Policy: Block})
				}
			}
			return
		}
		for _, e := range s.g.Edges {
			if Addr(s.g, e.From, e.FromPort) == addr && mine(e.To) && !mine(e.From) {
				e.From, e.FromPort = from, k
				g.Edges = append(g.Edges, e)
			}
		}
	}
	for k, addr := range entry.addrs {
		route(EntryID, addr, k)
	}
	if len(entry.pass) > 0 {
		g.Edges = append(g.Edges, Edge{From: EntryID, FromPort: len(entry.addrs), To: ReturnID, ToPort: 0, Policy: Block})
	}
	for _, e := range s.g.Edges {
		if mine(e.From) && mine(e.To) {
			g.Edges = append(g.Edges, e)
		}
	}
	// Exits: one per address this side sends.
	sending := s.Return
	if !back {
		sending = s.Forward
	}
	var exits []string
	for _, addr := range sending {
		id := ExitPrefix + addr
		if addr == "" {
			id = inputExit
		}
		exits = append(exits, id)
		x := &exit{addr: addr, bridge: b}
		g.Nodes = append(g.Nodes, x.def(id, back))
		if addr == "" {
			g.Edges = append(g.Edges, Edge{From: EntryID, FromPort: 0, To: id, Policy: Block})
			continue
		}
		nodeID, _, _ := strings.Cut(addr, ".")
		for _, e := range s.g.Edges {
			if e.From == nodeID && Addr(s.g, e.From, e.FromPort) == addr {
				g.Edges = append(g.Edges, Edge{From: e.From, FromPort: e.FromPort, To: id, Policy: Block})
				break
			}
		}
	}
	if !back {
		g.Nodes = append(g.Nodes, ret.def(ReturnID))
		for _, id := range exits {
			g.Edges = append(g.Edges, Edge{From: id, FromPort: 0, To: ReturnID, ToPort: 1, Policy: Block})
		}
		for k, addr := range ret.addrs {
			route(ReturnID, addr, k)
		}
	}
	return g
}

// router is the entry and the return node: it sends each frame on the output
// port of its address (AddrKey meta; none for the pipeline's input), without
// that meta; a frame whose address is in pass goes on unchanged on the last
// port ("return"). The return node, at its end, ends the back side's input and
// routes what still comes back (Bridge.Next) until the back side is done.
type router struct {
	addrs  []string
	pass   []string
	bridge Bridge // the return node's
	ret    bool   // the return node
}

func (r *router) def(id string) NodeDef {
	spec := &node.Spec{Type: "split", Runtime: node.RuntimeGo, Doc: "routes frames crossing a split placement's cut",
		Inputs: []node.Port{{Name: "in"}}}
	if r.ret {
		spec.Inputs = append(spec.Inputs, node.Port{Name: "done"})
	}
	for _, a := range r.addrs {
		name := a
		if a == "" {
			name = "input"
		}
		spec.Outputs = append(spec.Outputs, node.Port{Name: name})
	}
	if len(r.pass) > 0 {
		spec.Outputs = append(spec.Outputs, node.Port{Name: "return"})
	}
	spec.New = func(context.Context, node.Config) (node.Node, error) { return r, nil }
	return NodeDef{ID: id, Spec: spec, OnError: Continue}
}

func (r *router) Process(_ context.Context, _ int, f *frame.Frame, emit node.Emit) error {
	if f.Kind == frame.KindControl {
		return nil
	}
	addr, _ := f.Meta[AddrKey].(string)
	k := slices.Index(r.addrs, addr)
	if k < 0 && slices.Contains(r.pass, addr) {
		emit(len(r.addrs), f)
		return nil
	}
	if k < 0 {
		return fmt.Errorf("%w: a frame for %q, which crosses no cut edge here (have %q)", ErrSplit, addr, r.addrs)
	}
	emit(k, withoutAddr(f))
	return nil
}

func (r *router) Flush(ctx context.Context, emit node.Emit) error {
	if !r.ret || r.bridge == nil {
		return nil
	}
	if err := r.bridge.EndInput(ctx); err != nil {
		return fmt.Errorf("%w: %w", node.ErrFatal, err)
	}
	for {
		f, err := r.bridge.Next(ctx)
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return fmt.Errorf("%w: %w", node.ErrFatal, err)
		}
		if err := r.Process(ctx, 0, f, emit); err != nil {
			return err
		}
	}
}

func (r *router) Close() error { return nil }

// withoutAddr returns f without its AddrKey meta (a copy when it has one).
func withoutAddr(f *frame.Frame) *frame.Frame {
	if _, ok := f.Meta[AddrKey]; !ok {
		return f
	}
	c := *f
	c.Meta = nil
	if len(f.Meta) > 1 {
		c.Meta = make(map[string]any, len(f.Meta)-1)
		for k, v := range f.Meta {
			if k != AddrKey {
				c.Meta[k] = v
			}
		}
	}
	return &c
}

// exit sends one output port's frames across: through the bridge in front,
// to Outputs (port "out") on the back side.
type exit struct {
	addr   string
	bridge Bridge
}

func (x *exit) def(id string, back bool) NodeDef {
	spec := &node.Spec{Type: "split", Runtime: node.RuntimeGo, Doc: "sends frames across a split placement's cut",
		Inputs: []node.Port{{Name: "in"}}, Outputs: []node.Port{{Name: "out"}}}
	if !back {
		spec.Outputs[0].Name = "done" // only its end of stream goes out, to the return node
	}
	spec.New = func(context.Context, node.Config) (node.Node, error) { return x, nil }
	return NodeDef{ID: id, Spec: spec, OnError: Fail}
}

func (x *exit) Process(ctx context.Context, _ int, f *frame.Frame, emit node.Emit) error {
	if f.Kind == frame.KindControl {
		// A cancel a node sent (speech_buffer's barge-in) crosses, so the other
		// side drops the work it has queued too; end of stream and flush cross
		// as the input's end (the return node's EndInput) and Control.
		if f.Op == frame.Cancel && x.bridge != nil {
			if err := x.bridge.Send(ctx, x.addr, f); err != nil {
				return fmt.Errorf("%w: %w", node.ErrFatal, err)
			}
		}
		return nil
	}
	if x.bridge == nil {
		emit(0, f)
		return nil
	}
	if err := x.bridge.Send(ctx, x.addr, f); err != nil {
		return fmt.Errorf("%w: %w", node.ErrFatal, err)
	}
	return nil
}

func (x *exit) Flush(context.Context, node.Emit) error { return nil }

func (x *exit) Close() error { return nil }
