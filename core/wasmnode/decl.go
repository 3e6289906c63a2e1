package wasmnode

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/remotemedia/hybrid/core/frame"
	"github.com/remotemedia/hybrid/core/node"
)

// DeclSection is the name of the custom section in which a module declares its
// node type (docs/wasm-abi.md, "Declaring the node type").
const DeclSection = "remotemedia.node"

// MaxDeclSize bounds a declaration, so that a hostile module costs little to reject.
const MaxDeclSize = 64 << 10

// Errors of reading a module's declaration.
var (
	// ErrNoDecl: the module has no remotemedia.node custom section.
	ErrNoDecl = errors.New("wasm: module declares no node type (no remotemedia.node custom section)")
	// ErrDecl: the module's declaration is malformed or breaks a rule.
	ErrDecl = errors.New("wasm: bad node declaration")
)

// Decl is the document a module carries in its remotemedia.node custom section:
// UTF-8 JSON, unknown fields refused. Absent inputs and outputs mean the
// standard audio ports (one input "in", one output "out").
type Decl struct {
	NodeType string         `json:"node_type"`
	Doc      string         `json:"doc"`
	Inputs   []DeclPort     `json:"inputs,omitempty"`
	Outputs  []DeclPort     `json:"outputs,omitempty"`
	Params   []DeclParam    `json:"params,omitempty"`
	Example  map[string]any `json:"example,omitempty"`
}

// DeclPort is one declared port: its name and the frame kinds it carries
// ("audio", "text", "json", "binary").
type DeclPort struct {
	Name  string   `json:"name"`
	Kinds []string `json:"kinds"`
	Doc   string   `json:"doc,omitempty"`
}

// DeclParam is one declared param; the fields mean what node.Param's do.
// Operator marks a param only the operator's definitions may set (a client
// over the network never sets it).
type DeclParam struct {
	Name         string   `json:"name"`
	Type         string   `json:"type"`
	Default      any      `json:"default,omitempty"`
	Required     bool     `json:"required,omitempty"`
	Doc          string   `json:"doc,omitempty"`
	Operator     bool     `json:"operator,omitempty"`
	Min          *float64 `json:"min,omitempty"`
	Max          *float64 `json:"max,omitempty"`
	ExclusiveMin bool     `json:"exclusive_min,omitempty"`
	Enum         []string `json:"enum,omitempty"`
}

// DeclaredModule reads the node type module file declares in its
// remotemedia.node custom section and returns it as a ModuleSpec of that file.
// Errors name the file and the field: they wrap ErrNoDecl when there is no
// declaration, ErrDecl when it is wrong.
func DeclaredModule(file string, wasm []byte) (ModuleSpec, error) {
	raw, err := CustomSection(wasm, DeclSection)
	if err != nil {
		return ModuleSpec{}, fmt.Errorf("wasm: module %s: %w", file, err)
	}
	if raw == nil {
		return ModuleSpec{}, fmt.Errorf("%s: %w", file, ErrNoDecl)
	}
	spec, err := ParseDecl(raw)
	if err != nil {
		return ModuleSpec{}, fmt.Errorf("%s: %w", file, err)
	}
	return ModuleSpec{File: file, Spec: spec}, nil
}

// CustomSection returns the payload of the custom section called name in a
// WebAssembly binary, or nil when there is none. Two sections of that name,
// or bytes that are not a WebAssembly binary, are errors (wrapping ErrDecl).
func CustomSection(wasm []byte, name string) ([]byte, error) {
	var found []byte
	err := customSections(wasm, func(secName string, payload []byte, _, _ int) error {
		if secName != name {
			return nil
		}
		if found != nil {
			return fmt.Errorf("%w: two %s sections", ErrDecl, name)
		}
		found = payload[:len(payload):len(payload)]
		return nil
	})
	return found, err
}

// StripDecl returns wasm without its remotemedia.node custom sections.
func StripDecl(wasm []byte) ([]byte, error) {
	out := wasm[:0:0]
	last := 0
	err := customSections(wasm, func(secName string, _ []byte, start, end int) error {
		if secName == DeclSection {
			out = append(out, wasm[last:start]...)
			last = end
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return append(out, wasm[last:]...), nil
}

// customSections calls fn for each custom section of wasm with its name, its
// payload and the byte range of the whole section.
func customSections(wasm []byte, fn func(name string, payload []byte, start, end int) error) error {
	if len(wasm) < 8 || !bytes.Equal(wasm[:4], []byte("\x00asm")) {
		return fmt.Errorf("%w: not a WebAssembly binary", ErrDecl)
	}
	for p := 8; p < len(wasm); {
		start, id := p, wasm[p]
		size, n := uleb32(wasm[p+1:])
		if n == 0 || uint64(p+1+n)+uint64(size) > uint64(len(wasm)) {
			return fmt.Errorf("%w: section at byte %d runs past the end of the module", ErrDecl, p)
		}
		body := wasm[p+1+n : p+1+n+int(size)]
		p += 1 + n + int(size)
		if id != 0 {
			continue
		}
		nameLen, m := uleb32(body)
		if m == 0 || uint64(m)+uint64(nameLen) > uint64(len(body)) {
			return fmt.Errorf("%w: custom section at byte %d has a malformed name", ErrDecl, start)
		}
		if err := fn(string(body[m:m+int(nameLen)]), body[m+int(nameLen):], start, p); err != nil {
			return err
		}
	}
	return nil
}

// uleb32 decodes an unsigned LEB128 u32; n is 0 when b does not start with one.
func uleb32(b []byte) (v uint32, n int) {
	var shift uint
	for i := 0; i < len(b) && i < 5; i++ {
		v |= uint32(b[i]&0x7f) << shift
		if b[i]&0x80 == 0 {
			return v, i + 1
		}
		shift += 7
	}
	return 0, 0
}

// AppendDecl returns wasm with a remotemedia.node custom section holding decl
// appended: for toolchains that cannot place one themselves (Go's; see
// wasm-modules/sdk/go/declare).
func AppendDecl(wasm, decl []byte) []byte {
	payload := append(uleb(nil, uint32(len(DeclSection))), DeclSection...)
	payload = append(payload, decl...)
	out := append(slices.Clip(wasm), 0)
	out = uleb(out, uint32(len(payload)))
	return append(out, payload...)
}

func uleb(b []byte, v uint32) []byte {
	for {
		c := byte(v & 0x7f)
		v >>= 7
		if v == 0 {
			return append(b, c)
		}
		b = append(b, c|0x80)
	}
}

// ParseDecl parses and checks a declaration document and returns its node.Spec
// (Runtime and New are left for Register). Every error wraps ErrDecl and names
// the field: "params[1].default: must be <= 10".
func ParseDecl(raw []byte) (node.Spec, error) {
	if len(raw) > MaxDeclSize {
		return node.Spec{}, fmt.Errorf("%w: %d bytes, over the limit of %d", ErrDecl, len(raw), MaxDeclSize)
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	dec.UseNumber()
	var d Decl
	if err := dec.Decode(&d); err != nil {
		return node.Spec{}, fmt.Errorf("%w: %v", ErrDecl, err)
	}
	if dec.More() {
		return node.Spec{}, fmt.Errorf("%w: more than one JSON document", ErrDecl)
	}
	return d.Spec()
}

// Spec checks d and returns it as a node.Spec. Errors wrap ErrDecl and name the field.
func (d Decl) Spec() (node.Spec, error) {
	fail := func(field, format string, args ...any) (node.Spec, error) {
		return node.Spec{}, fmt.Errorf("%w: %s: %s", ErrDecl, field, fmt.Sprintf(format, args...))
	}
	if !validName(d.NodeType) {
		return fail("node_type", "%q must be a lower-case name: a-z, then a-z, 0-9 or '_', at most 64", d.NodeType)
	}
	spec := node.Spec{Type: d.NodeType, Doc: strings.TrimSpace(d.Doc), Inputs: audioIn, Outputs: audioOut}
	var err error
	if d.Inputs != nil {
		if spec.Inputs, err = declPorts("inputs", d.Inputs); err != nil {
			return node.Spec{}, err
		}
	}
	if d.Outputs != nil {
		if spec.Outputs, err = declPorts("outputs", d.Outputs); err != nil {
			return node.Spec{}, err
		}
	}
	if len(spec.Outputs) == 0 {
		return fail("outputs", "a node needs at least one output port")
	}
	seen := map[string]bool{}
	for i, p := range d.Params {
		field := fmt.Sprintf("params[%d]", i)
		if !validName(p.Name) {
			return fail(field+".name", "%q must be a lower-case name: a-z, then a-z, 0-9 or '_', at most 64", p.Name)
		}
		if seen[p.Name] {
			return fail(field+".name", "duplicate param %q", p.Name)
		}
		seen[p.Name] = true
		param, err := declParam(field, p)
		if err != nil {
			return node.Spec{}, err
		}
		spec.Params = append(spec.Params, param)
	}
	if d.Example != nil {
		for k, v := range d.Example {
			i := slices.IndexFunc(spec.Params, func(p node.Param) bool { return p.Name == k })
			if i < 0 {
				return fail("example."+k, "not a declared param")
			}
			if _, msg := checkValue(spec.Params[i], v); msg != "" {
				return fail("example."+k, "%s", msg)
			}
		}
		spec.Example = map[string]any{}
		for k, v := range d.Example {
			spec.Example[k] = plain(v)
		}
	}
	return spec, nil
}

func declPorts(field string, ports []DeclPort) ([]node.Port, error) {
	out := make([]node.Port, 0, len(ports))
	seen := map[string]bool{}
	for i, p := range ports {
		f := fmt.Sprintf("%s[%d]", field, i)
		if !validName(p.Name) {
			return nil, fmt.Errorf("%w: %s.name: %q must be a lower-case name: a-z, then a-z, 0-9 or '_', at most 64", ErrDecl, f, p.Name)
		}
		if seen[p.Name] {
			return nil, fmt.Errorf("%w: %s.name: duplicate port %q", ErrDecl, f, p.Name)
		}
		seen[p.Name] = true
		if len(p.Kinds) == 0 {
			return nil, fmt.Errorf("%w: %s.kinds: missing (one or more of audio, text, json, binary)", ErrDecl, f)
		}
		port := node.Port{Name: p.Name, Doc: p.Doc}
		for j, k := range p.Kinds {
			kind, err := frame.ParseKind(k)
			if err != nil || kind > frame.KindBinary {
				return nil, fmt.Errorf("%w: %s.kinds[%d]: %q is not a kind that crosses the ABI (audio, text, json, binary)", ErrDecl, f, j, k)
			}
			port.Kinds = append(port.Kinds, kind)
		}
		out = append(out, port)
	}
	return out, nil
}

func declParam(field string, p DeclParam) (node.Param, error) {
	fail := func(sub, format string, args ...any) (node.Param, error) {
		return node.Param{}, fmt.Errorf("%w: %s%s: %s", ErrDecl, field, sub, fmt.Sprintf(format, args...))
	}
	param := node.Param{Name: p.Name, Type: node.ParamType(p.Type), Required: p.Required, Doc: p.Doc, Operator: p.Operator,
		Min: p.Min, Max: p.Max, ExclusiveMin: p.ExclusiveMin, Enum: p.Enum}
	switch param.Type {
	case node.ParamNumber, node.ParamInteger:
		if len(p.Enum) > 0 {
			return fail(".enum", "only a string param has an enum")
		}
		if p.Min != nil && p.Max != nil && *p.Min > *p.Max {
			return fail(".min", "%v is above max %v", *p.Min, *p.Max)
		}
	case node.ParamString, node.ParamBool, node.ParamObject:
		if p.Min != nil || p.Max != nil || p.ExclusiveMin {
			return fail(".min", "only a number or integer param has bounds")
		}
		if len(p.Enum) > 0 && param.Type != node.ParamString {
			return fail(".enum", "only a string param has an enum")
		}
	default:
		return fail(".type", "%q is not one of number, integer, string, boolean, object", p.Type)
	}
	if p.Default != nil {
		if p.Required {
			return fail(".default", "a required param has no default")
		}
		v, msg := checkValue(param, p.Default)
		if msg != "" {
			return fail(".default", "%s", msg)
		}
		param.Default = v
	}
	return param, nil
}

// checkValue checks v (as encoding/json decodes it with UseNumber) against p
// as a definition's value is checked (node.CheckValue) and returns it as the Go
// value the standard specs use: float64 for a number, int for an integer.
func checkValue(p node.Param, v any) (any, string) {
	out, msg := node.CheckValue(p, v)
	switch x := out.(type) {
	case int64:
		return int(x), msg
	case map[string]any:
		return plain(x), msg
	}
	return out, msg
}

// plain turns the json.Numbers in v into float64s.
func plain(v any) any {
	switch x := v.(type) {
	case json.Number:
		f, _ := x.Float64()
		return f
	case map[string]any:
		out := make(map[string]any, len(x))
		for k, e := range x {
			out[k] = plain(e)
		}
		return out
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = plain(e)
		}
		return out
	}
	return v
}

// validName reports whether s is a node type, port or param name a module may declare.
func validName(s string) bool {
	if s == "" || len(s) > 64 || s[0] < 'a' || s[0] > 'z' {
		return false
	}
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '_') {
			return false
		}
	}
	return true
}
