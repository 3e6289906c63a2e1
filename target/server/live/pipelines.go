package live

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/remotemedia/hybrid/core/def"
	"github.com/remotemedia/hybrid/core/frame"
	"github.com/remotemedia/hybrid/core/node"
	"github.com/remotemedia/hybrid/core/sched"
)

// Pipeline is a definition the server offers, validated and built.
type Pipeline struct {
	// Name is the definition's metadata.name, else its file name without extension.
	Name        string `json:"name"`
	Description string `json:"description,omitempty"`
	// Inputs are the source nodes (no incoming connection), fed on port 0.
	Inputs []Port `json:"inputs"`
	// Outputs are the output ports no connection consumes.
	Outputs []Port `json:"outputs"`
	// Source is the file the definition came from.
	Source string `json:"-"`

	def   *def.Definition
	graph *sched.Graph // what live sessions run: with barge-in on (bargein.go)
	ports []outPort    // meta of every output, for tagging output frames
	// runGraph is what one-shot runs run: the definition as it is.
	runGraph *sched.Graph
	// metricName labels the pipeline's series: its name, "inline" for inline ones.
	metricName string
	// How its live sessions run, from graph (describe): synchronously
	// (runsSynchronously), and done with a frame once Push returns
	// (framesDoneInPush).
	synchronous, framesDone bool
}

// Port is one input or output of a pipeline.
type Port struct {
	Node  string   `json:"node"`
	Port  string   `json:"port"`
	Kinds []string `json:"kinds"`
}

// outPort is an unconsumed output port and the meta its frames are sent with.
type outPort struct {
	node, port string
	audio      bool
	meta       map[string]any // {"port": "node.port"}: shared, never written
}

// definitionExts are the file extensions LoadDir and LoadFS read.
var definitionExts = []string{".yaml", ".yml", ".json"}

// LoadDir loads every definition (*.yaml, *.yml, *.json) of dir against reg.
// It reports every problem of every file at once; the pipelines that did load
// are returned beside the error, for a caller that would rather skip the rest.
func LoadDir(dir string, reg *node.Registry) ([]*Pipeline, error) {
	st, err := os.Stat(dir)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrDefinitions, err)
	}
	if !st.IsDir() {
		return nil, fmt.Errorf("%w: %s is not a directory", ErrDefinitions, dir)
	}
	return load(os.DirFS(dir), dir, reg)
}

// LoadFS is LoadDir over the root of fsys (examples.FS, say).
func LoadFS(fsys fs.FS, reg *node.Registry) ([]*Pipeline, error) {
	return load(fsys, "", reg)
}

func load(fsys fs.FS, dir string, reg *node.Registry) ([]*Pipeline, error) {
	entries, err := fs.ReadDir(fsys, ".")
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrDefinitions, err)
	}
	var pipes []*Pipeline
	var errs []error
	byName := map[string]string{}
	for _, e := range entries {
		if e.IsDir() || !slices.Contains(definitionExts, strings.ToLower(path.Ext(e.Name()))) {
			continue
		}
		file := e.Name()
		if dir != "" {
			file = filepath.Join(dir, file)
		}
		data, err := fs.ReadFile(fsys, e.Name())
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", file, err))
			continue
		}
		p, err := buildPipeline(data, reg, file)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s:\n%w", file, err))
			continue
		}
		if other, dup := byName[p.Name]; dup {
			errs = append(errs, fmt.Errorf("%s: pipeline name %q is already taken by %s", file, p.Name, other))
			continue
		}
		byName[p.Name] = file
		pipes = append(pipes, p)
	}
	if len(errs) > 0 {
		return pipes, fmt.Errorf("%w:\n%w", ErrDefinitions, errors.Join(errs...))
	}
	if len(pipes) == 0 {
		where := dir
		if where == "" {
			where = "the bundled definitions"
		}
		return nil, fmt.Errorf("%w: %s holds no definition (*.yaml, *.yml, *.json)", ErrDefinitions, where)
	}
	return pipes, nil
}

// buildPipeline parses, validates and builds one definition. source names the
// file, or is "" for an inline definition.
func buildPipeline(data []byte, reg *node.Registry, source string) (*Pipeline, error) {
	d, err := def.Parse(data)
	if d == nil {
		return nil, err
	}
	g, err := def.Build(d, reg)
	if err != nil {
		return nil, err
	}
	name := d.Metadata.Name
	if name == "" && source != "" {
		base := filepath.Base(source)
		name = strings.TrimSuffix(base, filepath.Ext(base))
	}
	p := &Pipeline{Name: name, Description: d.Metadata.Description, Source: source, def: d, graph: def.WithLiveBargeIn(d, g), runGraph: g, metricName: name}
	if source == "" {
		p.metricName = "inline"
	}
	p.describe()
	return p, nil
}

// describe fills the inputs and outputs, and how its sessions run, from the graph.
func (p *Pipeline) describe() {
	p.synchronous, p.framesDone = runsSynchronously(p.graph), framesDoneInPush(p.graph)
	incoming := map[string]bool{}
	consumed := map[string]bool{}
	for _, e := range p.graph.Edges {
		incoming[e.To] = true
		consumed[fmt.Sprint(e.From, "\x00", e.FromPort)] = true
	}
	for _, n := range p.graph.Nodes {
		if !incoming[n.ID] {
			in := Port{Node: n.ID, Kinds: []string{}}
			if len(n.Spec.Inputs) > 0 {
				in.Port = n.Spec.Inputs[0].Name
				in.Kinds = kindNames(n.Spec.Inputs[0])
			}
			p.Inputs = append(p.Inputs, in)
		}
		for i, port := range n.Spec.Outputs {
			if consumed[fmt.Sprint(n.ID, "\x00", i)] {
				continue
			}
			p.Outputs = append(p.Outputs, Port{Node: n.ID, Port: port.Name, Kinds: kindNames(port)})
			p.ports = append(p.ports, outPort{node: n.ID, port: port.Name, audio: port.Accepts(frame.KindAudio),
				meta: map[string]any{"port": n.ID + "." + port.Name}})
		}
	}
}

// kindNames lists the data kinds of a port (control frames go everywhere).
func kindNames(p node.Port) []string {
	out := []string{}
	for _, k := range p.Kinds {
		if k != frame.KindControl {
			out = append(out, k.String())
		}
	}
	return out
}

// portMeta returns the shared meta of an output port.
func (p *Pipeline) portMeta(nodeID, port string) map[string]any {
	for i := range p.ports {
		if p.ports[i].node == nodeID && p.ports[i].port == port {
			return p.ports[i].meta
		}
	}
	return map[string]any{"port": nodeID + "." + port}
}

// audioOutputs names the outputs that may carry audio, as node.port.
func (p *Pipeline) audioOutputs() []string {
	var out []string
	for _, o := range p.ports {
		if o.audio {
			out = append(out, o.node+"."+o.port)
		}
	}
	return out
}

// pipeline resolves a route's :name, or answers 404 with the known names.
func (s *Server) pipeline(c echo.Context) (*Pipeline, error) {
	name := c.Param("name")
	if p := s.byName[name]; p != nil {
		return p, nil
	}
	names := make([]string, 0, len(s.cfg.Pipelines))
	for _, p := range s.cfg.Pipelines {
		names = append(names, p.Name)
	}
	known := "none"
	if len(names) > 0 {
		known = strings.Join(names, ", ")
	}
	return nil, httpError(c, 404, fmt.Errorf("live: no pipeline named %q (known: %s)", name, known))
}

// catalogue answers GET /v1/pipelines.
func (s *Server) catalogue(c echo.Context) error {
	list := s.cfg.Pipelines
	if list == nil {
		list = []*Pipeline{}
	}
	return c.JSON(200, map[string]any{"pipelines": list})
}
