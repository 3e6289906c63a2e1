package def

import (
	"encoding/json"
	"fmt"
	"strings"
	"sync"

	"github.com/expr-lang/expr"
	"github.com/expr-lang/expr/ast"
	"github.com/expr-lang/expr/vm"
	"github.com/remotemedia/hybrid/core/frame"
)

// whenEnv is what a `when:` expression sees of a frame. Names not listed here
// are compile errors; a missing key of meta or json is nil (use `?.` to reach
// into a key that may be missing: `json.result?.text`).
type whenEnv struct {
	Kind       string         `expr:"kind"`        // "audio", "text", "json", "binary", "tensor"
	Text       string         `expr:"text"`        // a text frame's string, else ""
	JSON       any            `expr:"json"`        // a json frame's parsed document, else an empty map
	Meta       map[string]any `expr:"meta"`        // the frame's metadata, never nil
	SampleRate int            `expr:"sample_rate"` // audio only, else 0
	Channels   int            `expr:"channels"`
	Samples    int            `expr:"samples"` // per channel
	DurationMS float64        `expr:"duration_ms"`
	Seq        int            `expr:"seq"`
	TSMS       float64        `expr:"ts_ms"` // the frame's timestamp in milliseconds
}

var emptyMap = map[string]any{}

// machines pools expr VMs: a VM is reusable but not safe for concurrent use, and
// making one per frame costs more than running a short expression.
var machines = sync.Pool{New: func() any { return &vm.VM{} }}

// compileWhen compiles a `when:` expression into an edge predicate.
func compileWhen(src string) (func(*frame.Frame) (bool, error), error) {
	program, err := expr.Compile(src, expr.Env(whenEnv{}), expr.AsBool())
	if err != nil {
		return nil, fmt.Errorf("%s", firstLine(err.Error()))
	}
	usesJSON := ast.Find(program.Node(), func(n ast.Node) bool {
		id, ok := n.(*ast.IdentifierNode)
		return ok && id.Value == "json"
	}) != nil
	return func(f *frame.Frame) (bool, error) {
		env := &whenEnv{
			Kind: f.Kind.String(),
			JSON: emptyMap,
			Meta: f.Meta,
			Seq:  int(f.Seq),
			TSMS: float64(f.Timestamp) / 1000,
		}
		if env.Meta == nil {
			env.Meta = emptyMap
		}
		switch f.Kind {
		case frame.KindText:
			env.Text = string(f.Data)
		case frame.KindJSON:
			if usesJSON {
				var doc any
				if err := json.Unmarshal(f.Data, &doc); err != nil {
					return false, fmt.Errorf("when %q: json frame: %w", src, err)
				}
				env.JSON = doc
			}
		case frame.KindAudio:
			env.SampleRate = int(f.SampleRate)
			env.Channels = int(f.Channels)
			env.Samples = f.Samples()
			env.DurationMS = float64(f.DurationUS()) / 1000
		}
		machine := machines.Get().(*vm.VM)
		out, err := machine.Run(program, env)
		machines.Put(machine)
		if err != nil {
			return false, fmt.Errorf("when %q: %s", src, firstLine(err.Error()))
		}
		ok, _ := out.(bool) // expr.AsBool guarantees a bool
		return ok, nil
	}, nil
}

// firstLine drops the source excerpt expr appends to its messages.
func firstLine(s string) string {
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		return s[:i]
	}
	return s
}
