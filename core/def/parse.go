package def

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"strconv"

	"go.yaml.in/yaml/v3"
)

// Parse reads a definition from YAML or JSON (JSON is read by the same YAML
// parser, but input starting with '{' gets JSON's own syntax errors). A syntax
// error wraps ErrSyntax and names its line; unknown fields and fields of the wrong
// shape are reported all at once as a *ValidationError with their paths. Parse
// checks the shape of the document only: Validate checks its meaning. With shape
// problems, Parse returns the definition decoded so far as well as the error:
// Validate and Build of that definition report the shape problems together with
// every other problem, so that a user sees them all at once. A document
// over MaxSize bytes is refused (ErrTooLarge) before it is parsed; more than
// MaxNodes nodes or MaxConnections connections is a problem like the others.
func Parse(data []byte) (*Definition, error) {
	if len(data) > MaxSize {
		return nil, fmt.Errorf("%w: the definition is %d bytes, over the limit of %d (1 MiB)", ErrTooLarge, len(data), MaxSize)
	}
	if trimmed := bytes.TrimSpace(data); len(trimmed) > 0 && trimmed[0] == '{' {
		var v any
		if err := json.Unmarshal(data, &v); err != nil {
			return nil, jsonSyntaxError(data, err)
		}
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrSyntax, yamlSyntaxError(data, err, yaml.Unmarshal))
	}
	if doc.Kind != yaml.DocumentNode || len(doc.Content) == 0 {
		return nil, fmt.Errorf("%w: empty document", ErrSyntax)
	}
	var (
		d  Definition
		ps problems
	)
	fromRemoteMedia(doc.Content[0], &ps) // a RemoteMedia manifest and node type names (remotemedia.go)
	decodeDefinition(doc.Content[0], &d, &ps)
	if err := ps.err(); err != nil {
		d.shape = ps
		return &d, err
	}
	return &d, nil
}

func jsonSyntaxError(data []byte, err error) error {
	var se *json.SyntaxError
	if !errors.As(err, &se) {
		return fmt.Errorf("%w: json: %v", ErrSyntax, err)
	}
	// Offset counts the bytes read, the offending one included.
	before := data[:max(0, min(int(se.Offset), len(data))-1)]
	line := bytes.Count(before, []byte("\n")) + 1
	col := len(before) - bytes.LastIndexByte(before, '\n')
	return fmt.Errorf("%w: json: line %d, column %d: %v", ErrSyntax, line, col, se)
}

var yamlLine = regexp.MustCompile(`^yaml: line \d+: `)

// yamlSyntaxError improves the line of a YAML syntax error. The parser names the
// line where the enclosing block starts, so the offending line is found as the
// shortest prefix of the document (in whole lines) that fails with the same
// message: a binary search over the line ends, so about log2(lines) parses
// (17 for a 1 MiB document), not one per line.
func yamlSyntaxError(data []byte, err error, unmarshal func([]byte, any) error) error {
	msg := err.Error()
	loc := yamlLine.FindStringIndex(msg)
	if loc == nil {
		return err
	}
	want := msg[loc[1]:]
	var ends []int // ends[i] is the end of line i+1, its newline included
	for end := 0; end < len(data); {
		if next := bytes.IndexByte(data[end:], '\n'); next >= 0 {
			end += next + 1
		} else {
			end = len(data)
		}
		ends = append(ends, end)
	}
	sameError := func(lines int) bool {
		var v yaml.Node
		perr := unmarshal(data[:ends[lines-1]], &v)
		if perr == nil {
			return false
		}
		m := perr.Error()
		loc := yamlLine.FindStringIndex(m)
		return loc != nil && m[loc[1]:] == want
	}
	// The shortest prefix failing the same way, taking every prefix from there on
	// to fail the same way too (the whole document does).
	lo, hi := 1, len(ends)
	for lo < hi {
		if mid := lo + (hi-lo)/2; sameError(mid) {
			hi = mid
		} else {
			lo = mid + 1
		}
	}
	if lo >= 1 && lo <= len(ends) && sameError(lo) {
		return fmt.Errorf("yaml: line %d: %s", lo, want)
	}
	return err
}

// at returns " (line N)" for a node, to locate shape problems in the source.
func at(n *yaml.Node) string { return " (line " + strconv.Itoa(n.Line) + ")" }

func resolve(n *yaml.Node) *yaml.Node {
	for i := 0; n.Kind == yaml.AliasNode && n.Alias != nil && i < 16; i++ {
		n = n.Alias
	}
	return n
}

func isNull(n *yaml.Node) bool { return n.Kind == yaml.ScalarNode && n.Tag == "!!null" }

var kindNames = map[yaml.Kind]string{yaml.DocumentNode: "document", yaml.SequenceNode: "sequence", yaml.MappingNode: "mapping", yaml.ScalarNode: "scalar", yaml.AliasNode: "alias"}

// fields walks a mapping, calling set for each known key and reporting unknown
// keys (with close matches) and non-mapping values.
func fields(n *yaml.Node, path string, ps *problems, known []string, set func(key string, v *yaml.Node)) {
	n = resolve(n)
	if isNull(n) {
		return
	}
	if n.Kind != yaml.MappingNode {
		what := "must be"
		if path == "" {
			what = "the definition must be"
		}
		ps.add(path, "%s a mapping, got %s%s", what, kindNames[n.Kind], at(n))
		return
	}
	seen := map[string]bool{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], resolve(n.Content[i+1])
		switch {
		case !contains(known, k.Value):
			ps.add(join(path, k.Value), "unknown field%s%s", didYouMean(k.Value, known), at(k))
		case seen[k.Value]:
			ps.add(join(path, k.Value), "given twice%s", at(k))
		default:
			seen[k.Value] = true
			set(k.Value, v)
		}
	}
}

func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

func str(n *yaml.Node, path string, ps *problems) string {
	if isNull(n) {
		return ""
	}
	if n.Kind != yaml.ScalarNode {
		ps.add(path, "must be a string, got %s%s", kindNames[n.Kind], at(n))
		return ""
	}
	return n.Value
}

func sequence(n *yaml.Node, path string, ps *problems) []*yaml.Node {
	if isNull(n) {
		return nil
	}
	if n.Kind != yaml.SequenceNode {
		ps.add(path, "must be a sequence, got %s%s", kindNames[n.Kind], at(n))
		return nil
	}
	return n.Content
}

func decodeDefinition(n *yaml.Node, d *Definition, ps *problems) {
	fields(n, "", ps, []string{"version", "metadata", "nodes", "connections"}, func(key string, v *yaml.Node) {
		switch key {
		case "version":
			d.Version = str(v, key, ps)
		case "metadata":
			fields(v, key, ps, []string{"name", "description"}, func(k string, v *yaml.Node) {
				if k == "name" {
					d.Metadata.Name = str(v, "metadata.name", ps)
				} else {
					d.Metadata.Description = str(v, "metadata.description", ps)
				}
			})
		case "nodes":
			items := sequence(v, key, ps)
			if len(items) > MaxNodes {
				ps.add(key, "%d nodes, over the limit of %d%s", len(items), MaxNodes, at(v))
				items = items[:MaxNodes]
			}
			d.Nodes = make([]NodeRef, len(items))
			for i, item := range items {
				decodeNode(item, fmt.Sprintf("nodes[%d]", i), &d.Nodes[i], ps)
			}
		case "connections":
			items := sequence(v, key, ps)
			if len(items) > MaxConnections {
				ps.add(key, "%d connections, over the limit of %d%s", len(items), MaxConnections, at(v))
				items = items[:MaxConnections]
			}
			d.Connections = make([]Connection, len(items))
			for i, item := range items {
				decodeConnection(item, fmt.Sprintf("connections[%d]", i), &d.Connections[i], ps)
			}
		}
	})
}

func decodeNode(n *yaml.Node, path string, nr *NodeRef, ps *problems) {
	fields(n, path, ps, []string{"id", "node_type", "params", "runtime_hint", "queue_size", "on_error", "module", "fallback", "host"}, func(key string, v *yaml.Node) {
		p := join(path, key)
		switch key {
		case "id":
			nr.ID = str(v, p, ps)
		case "node_type":
			nr.NodeType = str(v, p, ps)
		case "runtime_hint":
			nr.RuntimeHint = str(v, p, ps)
		case "on_error":
			nr.OnError = str(v, p, ps)
		case "module":
			nr.Module = str(v, p, ps)
		case "fallback":
			nr.Fallback = decodeFallback(v, p, ps)
		case "host":
			nr.Host = decodeHost(v, p, ps)
		case "queue_size":
			if isNull(v) {
				return
			}
			size, err := strconv.Atoi(v.Value)
			if v.Kind != yaml.ScalarNode || v.Tag != "!!int" || err != nil {
				ps.add(p, "must be an integer%s", at(v))
				return
			}
			nr.QueueSize = size
		case "params":
			if isNull(v) {
				return
			}
			if v.Kind != yaml.MappingNode {
				ps.add(p, "must be a mapping, got %s%s", kindNames[v.Kind], at(v))
				return
			}
			if err := v.Decode(&nr.Params); err != nil {
				ps.add(p, "%v", err)
			}
		}
	})
}

func decodeConnection(n *yaml.Node, path string, c *Connection, ps *problems) {
	fields(n, path, ps, []string{"from", "to", "when", "policy"}, func(key string, v *yaml.Node) {
		p := join(path, key)
		switch key {
		case "from":
			c.From = str(v, p, ps)
		case "to":
			c.To = str(v, p, ps)
		case "when":
			c.When = str(v, p, ps)
		case "policy":
			c.Policy = str(v, p, ps)
		}
	})
}
