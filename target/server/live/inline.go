package live

import (
	"errors"
	"fmt"
	"net/http"

	"github.com/labstack/echo/v4"

	"github.com/remotemedia/hybrid/core/def"
	"github.com/remotemedia/hybrid/core/node"
)

// inlineOff is the answer to an inline route the operator has not allowed.
var inlineOff = fmt.Errorf("%w: the operator has not allowed inline definitions (serve --allow-inline); run one of GET /v1/pipelines", ErrInline)

// inlinePipeline parses, validates and builds a client's definition. Besides
// what def.Build checks (registered node types only, valid params), it refuses
// every operator-only param (node.Param.Operator) the definition sets, naming
// it as nodes[i].params.x. Every problem is reported at once.
func inlinePipeline(data []byte, reg *node.Registry) (*Pipeline, error) {
	if len(data) > def.MaxSize {
		return nil, fmt.Errorf("%w: %w: %d bytes (at most %d)", ErrInline, def.ErrTooLarge, len(data), def.MaxSize)
	}
	d, err := def.Parse(data)
	if d == nil {
		return nil, fmt.Errorf("%w: %w", ErrInline, err)
	}
	operator := operatorProblems(d, reg)
	if namesHost(d) { // not built: Build would send requests to the hosts a client names
		return nil, fmt.Errorf("%w: %w", ErrInline, &def.ValidationError{Problems: operator})
	}
	p, err := buildPipeline(data, reg, "")
	if err != nil || len(operator) > 0 {
		var ps []def.Problem
		var ve *def.ValidationError
		if errors.As(err, &ve) {
			ps = append(ps, ve.Problems...)
		} else if err != nil {
			return nil, fmt.Errorf("%w: %w", ErrInline, err)
		}
		ps = append(ps, operator...)
		return nil, fmt.Errorf("%w: %w", ErrInline, &def.ValidationError{Problems: ps})
	}
	if p.Name == "" {
		p.Name = "inline"
	}
	return p, nil
}

// operatorProblems lists the operator-only params and the module files d sets.
func operatorProblems(d *def.Definition, reg *node.Registry) []def.Problem {
	var ps []def.Problem
	for i, n := range d.Nodes {
		if n.Module != "" { // a file path on the server: the operator's definitions only
			ps = append(ps, def.Problem{Path: fmt.Sprintf("nodes[%d].module", i),
				Msg: "a client may not name a module file (the server's own definitions and --modules do)"})
		}
		ps = append(ps, voiceOperatorProblems(i, n, reg)...)
		if len(n.Params) == 0 {
			continue
		}
		spec, err := reg.Lookup(n.NodeType, n.RuntimeHint)
		if err != nil {
			continue // Build reports it
		}
		for _, p := range spec.Params {
			if _, set := n.Params[p.Name]; set && p.Operator {
				ps = append(ps, def.Problem{
					Path: fmt.Sprintf("nodes[%d].params.%s", i, p.Name),
					Msg:  fmt.Sprintf("operator-only param of %s: a client may not set it (the server's own definitions and configuration do)", n.NodeType),
				})
			}
		}
	}
	return ps
}

// inlineAllowed answers 403 when the operator has not allowed inline definitions.
func (s *Server) inlineAllowed(c echo.Context) bool {
	if s.cfg.AllowInline {
		return true
	}
	_ = httpError(c, http.StatusForbidden, inlineOff)
	return false
}
