package live

import (
	"fmt"
	"net/http"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/remotemedia/hybrid/core/sched"
)

// splitNodes reads the ?nodes= query of a live route: the node ids of the
// pipeline to run here, the server's part of a split placement
// (docs/placement.md). nil means the whole pipeline.
func splitNodes(c echo.Context) []string {
	v := c.QueryParam("nodes")
	if v == "" {
		return nil
	}
	return strings.Split(v, ",")
}

// part returns the pipeline that runs only the nodes named of p: a source
// node routes the frames arriving tagged with the output port that produced
// them in the client (meta "port": "node.port"; none for the pipeline's own
// input) to that port's consumers here, and the output ports of these nodes
// that feed nodes in the client come back tagged "node.port", as the
// pipeline's own outputs do.
func (p *Pipeline) part(nodes []string) (*Pipeline, error) {
	s, err := sched.SplitGraph(p.graph, nodes)
	if err != nil {
		return nil, fmt.Errorf("live: pipeline %q, nodes=%s: %w", p.Name, strings.Join(nodes, ","), err)
	}
	q := &Pipeline{Name: p.Name, Description: p.Description, Source: p.Source, def: p.def, graph: s.BackGraph(), metricName: p.metricName}
	q.describe()
	for i := range q.ports {
		if addr, ok := sched.ExitAddr(q.ports[i].node); ok {
			q.ports[i].meta = map[string]any{"port": addr}
		}
	}
	return q, nil
}

// splitFor answers 400 for a ?nodes= that does not split p, before the upgrade.
func splitFor(c echo.Context, p *Pipeline) (*Pipeline, bool) {
	nodes := splitNodes(c)
	if nodes == nil {
		return p, true
	}
	q, err := p.part(nodes)
	if err != nil {
		_ = httpError(c, http.StatusBadRequest, err)
		return nil, false
	}
	return q, true
}
