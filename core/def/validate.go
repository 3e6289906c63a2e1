package def

import (
	"fmt"
	"slices"
	"strings"

	"github.com/remotemedia/hybrid/core/node"
	"github.com/remotemedia/hybrid/core/sched"
)

// Versions lists the accepted values of `version`.
var Versions = []string{"1", "1.0", "v1"}

// RuntimeHints lists the accepted values of `runtime_hint` ("" means auto).
var RuntimeHints = []string{"auto", "wasm", "go", "python", "server", "browser"}

// Validate checks d against the node types of reg and returns nil or a
// *ValidationError listing every problem at once, each with its path.
func Validate(d *Definition, reg *node.Registry) error {
	_, ps := check(d, reg)
	return ps.err()
}

// Build validates d and turns it into a graph for the scheduler: each node's
// implementation resolved through reg.Lookup with its runtime_hint, its params
// checked and completed with defaults (number params as float64, integer params
// as int64), connection endpoints resolved to port indexes, and `when:`
// expressions compiled. Build does not call Spec.New.
func Build(d *Definition, reg *node.Registry) (*sched.Graph, error) {
	g, ps := check(d, reg)
	if err := ps.err(); err != nil {
		return nil, err
	}
	return g, nil
}

// checker holds what check has resolved so far.
type checker struct {
	d     *Definition
	reg   *node.Registry
	ps    problems
	ids   map[string]int // node id -> index of its first definition
	nodes []sched.NodeDef

	fallbacks []string // nodes given their fallback (fallback.go)
}

func check(d *Definition, reg *node.Registry) (*sched.Graph, problems) {
	if d == nil {
		return nil, problems{{Msg: "no definition"}}
	}
	if reg == nil {
		reg = node.NewRegistry()
	}
	c := &checker{d: d, reg: reg, ids: map[string]int{}, nodes: make([]sched.NodeDef, len(d.Nodes))}
	switch {
	case d.Version == "":
		c.ps.add("version", "missing (want %q)", Versions[0])
	case !contains(Versions, d.Version):
		c.ps.add("version", "unsupported version %q (want %q)", d.Version, Versions[0])
	}
	if len(d.Nodes) == 0 {
		c.ps.add("nodes", "a definition needs at least one node")
	}
	runtimes := map[string][]string{}
	for _, s := range reg.Specs() {
		runtimes[s.Type] = append(runtimes[s.Type], string(s.Runtime))
	}
	for i := range d.Nodes {
		c.checkNode(i, runtimes)
	}
	edges, adj := c.checkConnections()
	c.checkCycles(adj)
	d.fallbacks = c.fallbacks
	return &sched.Graph{Nodes: c.nodes, Edges: edges}, withShape(d.shape, c.ps)
}

// withShape puts Parse's shape problems first and leaves out the problems found
// at the same paths or under them since (a field of the wrong shape also reads
// as missing).
func withShape(shape, ps problems) problems {
	if len(shape) == 0 {
		return ps
	}
	paths := make(map[string]bool, len(shape))
	for _, p := range shape {
		paths[p.Path] = true
	}
	under := func(path string) bool { // path or one of its parents has a shape problem
		for {
			if paths[path] {
				return true
			}
			i := strings.LastIndexAny(path, ".[")
			if i <= 0 {
				return false
			}
			path = path[:i]
		}
	}
	out := append(problems(nil), shape...)
	for _, p := range ps {
		if !under(p.Path) {
			out = append(out, p)
		}
	}
	return out
}

func validID(id string) bool {
	for _, r := range id {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '_' || r == '-') {
			return false
		}
	}
	return true
}

func (c *checker) checkNode(i int, runtimes map[string][]string) {
	n := c.d.Nodes[i]
	path := fmt.Sprintf("nodes[%d]", i)
	switch j, dup := c.ids[n.ID]; {
	case n.ID == "":
		c.ps.add(path+".id", "missing")
	case !validID(n.ID):
		c.ps.add(path+".id", "%q may contain only letters, digits, '_' and '-'", n.ID)
	case dup:
		c.ps.add(path+".id", "duplicate id %q (also nodes[%d])", n.ID, j)
	default:
		c.ids[n.ID] = i
	}
	hint := n.RuntimeHint
	if hint != "" && !contains(RuntimeHints, hint) {
		c.ps.add(path+".runtime_hint", "unknown runtime hint %q (want one of %s)", hint, strings.Join(RuntimeHints, ", "))
		hint = "auto"
	}
	if n.QueueSize < 0 {
		c.ps.add(path+".queue_size", "must be >= 0")
	}
	onError := sched.ErrorPolicy(n.OnError)
	switch onError {
	case "":
		onError = sched.Continue
	case sched.Continue, sched.Fail:
	default:
		c.ps.add(path+".on_error", "unknown policy %q (want %q or %q)", n.OnError, sched.Continue, sched.Fail)
	}
	c.nodes[i] = sched.NodeDef{ID: n.ID, QueueSize: n.QueueSize, OnError: onError}

	if n.NodeType == "" {
		c.ps.add(path+".node_type", "missing")
		return
	}
	if n.Host != nil { // its type is the hosts' (host.go)
		c.checkHost(i, path)
		return
	}
	have := runtimes[n.NodeType]
	if len(have) == 0 {
		if rm, python := remoteMediaNamesOf(n.NodeType); len(rm) > 0 {
			where := "is not available in this build"
			if python {
				where = "is a Python node type, and no Python workers run here"
			}
			c.ps.add(path+".node_type", "%s (for RemoteMedia's %s) %s", n.NodeType, strings.Join(rm, ", "), where)
			return
		}
		if n.Module != "" {
			c.ps.add(path+".module", "%s was not loaded, so node type %q is unknown here (remotemedia run, validate and serve load a definition's modules; a tab registers one with rm.registerModule)", n.Module, n.NodeType)
			return
		}
		c.ps.add(path+".node_type", "unknown node type %q%s", n.NodeType, didYouMean(n.NodeType, c.reg.Types()))
		return
	}
	spec, err := c.reg.Lookup(n.NodeType, hint)
	if err != nil {
		c.ps.add(path+".runtime_hint", "%q has no %s implementation (have: %s)", n.NodeType, hint, strings.Join(have, ", "))
		if spec, err = c.reg.Lookup(n.NodeType, "auto"); err != nil {
			return
		}
	}
	c.nodes[i].Spec = spec
	if c.checkFallback(i, spec) {
		return
	}
	if spec.Unavailable != "" && !setsOperatorParam(spec, n.Params) {
		c.ps.add(path+".node_type", "%s cannot run here: %s", n.NodeType, strings.TrimPrefix(spec.Unavailable, n.NodeType+": "))
	}
	c.nodes[i].Params = checkParams(path+".params", spec, n.Params, &c.ps)
}

// setsOperatorParam reports whether params set one of spec's operator-only
// params. Spec.Unavailable describes a type at its defaults (the default model
// is not installed, say), so a definition that names its own model or program
// is not refused for it: opening the node tells whether that one is there.
func setsOperatorParam(spec *node.Spec, params map[string]any) bool {
	for _, p := range spec.Params {
		if _, ok := params[p.Name]; ok && p.Operator {
			return true
		}
	}
	return false
}

// endpoint is a resolved connection end: node index and port index.
type endpoint struct{ node, port int }

// resolveEndpoint parses "node" or "node.port". It returns the node index (-1
// when unknown) and the port index (-1 when it cannot be resolved).
func (c *checker) resolveEndpoint(s, path string, output bool) endpoint {
	if s == "" {
		c.ps.add(path, "missing")
		return endpoint{-1, -1}
	}
	id, port, named := strings.Cut(s, ".")
	i, ok := c.ids[id]
	if !ok {
		ids := make([]string, 0, len(c.ids))
		for id := range c.ids {
			ids = append(ids, id)
		}
		slices.Sort(ids)
		c.ps.add(path, "unknown node %q%s", id, didYouMean(id, ids))
		return endpoint{-1, -1}
	}
	spec := c.nodes[i].Spec
	if spec == nil {
		return endpoint{i, -1} // its node_type is already reported
	}
	dir, ports := "input", spec.Inputs
	if output {
		dir, ports = "output", spec.Outputs
	}
	name := id
	if id != spec.Type {
		name += " (" + spec.Type + ")"
	}
	names := make([]string, len(ports))
	for k, p := range ports {
		names[k] = p.Name
	}
	switch {
	case len(ports) == 0:
		c.ps.add(path, "%s has no %s ports", name, dir)
	case !named:
		return endpoint{i, 0}
	case port == "":
		c.ps.add(path, "empty port name in %q", s)
	default:
		if k := slices.Index(names, port); k >= 0 {
			return endpoint{i, k}
		}
		c.ps.add(path, "%s has no %s port %q (%ss: %s)", name, dir, port, dir, strings.Join(names, ", "))
	}
	return endpoint{i, -1}
}

// intersects reports whether a port carrying from may feed a port accepting to;
// a port with no Kinds carries or accepts anything.
func intersects(from, to node.Port) bool {
	if len(from.Kinds) == 0 || len(to.Kinds) == 0 {
		return true
	}
	for _, k := range from.Kinds {
		if to.Accepts(k) {
			return true
		}
	}
	return false
}

// checkConnections resolves the connections into edges and returns them with the
// adjacency of the node graph (every connection between known nodes) for cycles.
func (c *checker) checkConnections() ([]sched.Edge, [][]int) {
	adj := make([][]int, len(c.d.Nodes))
	seen := map[[4]int]int{}
	edges := make([]sched.Edge, 0, len(c.d.Connections))
	for i, conn := range c.d.Connections {
		path := fmt.Sprintf("connections[%d]", i)
		from := c.resolveEndpoint(conn.From, path+".from", true)
		to := c.resolveEndpoint(conn.To, path+".to", false)
		policy := sched.Policy(conn.Policy)
		switch policy {
		case "":
			policy = sched.Block
		case sched.Block, sched.DropOldest:
		default:
			c.ps.add(path+".policy", "unknown policy %q (want %q or %q)", conn.Policy, sched.Block, sched.DropOldest)
		}
		edge := sched.Edge{Policy: policy, WhenSource: conn.When}
		if conn.When != "" {
			when, err := compileWhen(conn.When)
			if err != nil {
				c.ps.add(path+".when", "%v", err)
			}
			edge.When = when
		}
		if from.node >= 0 && to.node >= 0 {
			adj[from.node] = append(adj[from.node], to.node)
		}
		if from.port < 0 || to.port < 0 {
			continue
		}
		key := [4]int{from.node, from.port, to.node, to.port}
		if j, dup := seen[key]; dup {
			c.ps.add(path, "duplicate of connections[%d]", j)
			continue
		}
		seen[key] = i
		src, dst := c.nodes[from.node], c.nodes[to.node]
		out, in := src.Spec.Outputs[from.port], dst.Spec.Inputs[to.port]
		if !intersects(out, in) {
			c.ps.add(path, "%s.%s carries %s but %s.%s accepts %s", src.ID, out.Name, strings.Join(out.KindNames(), ", "), dst.ID, in.Name, strings.Join(in.KindNames(), ", "))
		}
		edge.From, edge.FromPort, edge.To, edge.ToPort = src.ID, from.port, dst.ID, to.port
		edges = append(edges, edge)
	}
	return edges, adj
}

// checkCycles reports one cycle per strongly connected component that has one
// (Tarjan's algorithm), in definition order.
func (c *checker) checkCycles(adj [][]int) {
	n := len(adj)
	index, low := make([]int, n), make([]int, n)
	onStack := make([]bool, n)
	for i := range index {
		index[i] = -1
	}
	var (
		stack []int
		next  int
		comps [][]int
	)
	var visit func(v int)
	visit = func(v int) {
		index[v], low[v] = next, next
		next++
		stack = append(stack, v)
		onStack[v] = true
		for _, w := range adj[v] {
			if index[w] < 0 {
				visit(w)
				low[v] = min(low[v], low[w])
			} else if onStack[w] {
				low[v] = min(low[v], index[w])
			}
		}
		if low[v] != index[v] {
			return
		}
		var comp []int
		for {
			w := stack[len(stack)-1]
			stack = stack[:len(stack)-1]
			onStack[w] = false
			comp = append(comp, w)
			if w == v {
				break
			}
		}
		if len(comp) > 1 || slices.Contains(adj[v], v) {
			comps = append(comps, comp)
		}
	}
	for v := range n {
		if index[v] < 0 {
			visit(v)
		}
	}
	slices.SortFunc(comps, func(a, b []int) int { return slices.Min(a) - slices.Min(b) })
	for _, comp := range comps {
		c.ps.add("connections", "cycle %s", c.cyclePath(adj, comp))
	}
}

// cyclePath returns the shortest cycle through the first node of comp (in
// definition order), staying within comp: "a -> b -> a".
func (c *checker) cyclePath(adj [][]int, comp []int) string {
	start := slices.Min(comp)
	prev := map[int]int{}
	queue := []int{start}
	for len(queue) > 0 {
		v := queue[0]
		queue = queue[1:]
		for _, w := range adj[v] {
			if w == start {
				path := []string{c.d.Nodes[start].ID}
				for u := v; u != start; u = prev[u] {
					path = append(path, c.d.Nodes[u].ID)
				}
				path = append(path, c.d.Nodes[start].ID)
				slices.Reverse(path)
				return strings.Join(path, " -> ")
			}
			if _, ok := prev[w]; !ok && slices.Contains(comp, w) {
				prev[w] = v
				queue = append(queue, w)
			}
		}
	}
	return ""
}
