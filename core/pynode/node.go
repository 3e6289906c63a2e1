package pynode

import (
	"context"
	"fmt"
	"time"

	"github.com/remotemedia/hybrid/core/frame"
	"github.com/remotemedia/hybrid/core/node"
)

// allKinds is what the "in" and "out" ports of a Python node carry: a Python node
// declares no frame kinds, so the proxy and the node itself check what they get.
var allKinds = []frame.Kind{frame.KindAudio, frame.KindText, frame.KindJSON, frame.KindBinary, frame.KindTensor, frame.KindControl}

// closeTimeout bounds the DELETE of a session in Close, which has no context.
const closeTimeout = 10 * time.Second

// Spec returns the node.Spec (Runtime python, one input "in", one output "out")
// of a remote type whose sessions run over t.
func Spec(t Transport, rt RemoteType) node.Spec {
	params := make([]node.Param, len(rt.Params))
	for i, p := range rt.Params {
		params[i] = node.Param{Name: p.Name, Type: paramType(p.Type), Default: p.Default, Doc: p.Doc, Required: p.Required, Operator: p.Operator}
	}
	typ := rt.Type
	return node.Spec{
		Type:        typ,
		Runtime:     node.RuntimePython,
		Doc:         rt.Doc,
		Params:      params,
		Inputs:      []node.Port{{Name: "in", Kinds: allKinds}},
		Outputs:     []node.Port{{Name: "out", Kinds: allKinds}},
		Unavailable: rt.Unavailable,
		New: func(ctx context.Context, cfg node.Config) (node.Node, error) {
			id, err := t.Open(ctx, typ, cfg.Params)
			if err != nil {
				return nil, fmt.Errorf("pynode: node %q (%s): open: %w", cfg.ID, typ, err)
			}
			return &remoteNode{t: t, name: fmt.Sprintf("%q (%s)", cfg.ID, typ), session: id}, nil
		},
	}
}

func paramType(s string) node.ParamType {
	switch t := node.ParamType(s); t {
	case node.ParamNumber, node.ParamInteger, node.ParamString, node.ParamBool:
		return t
	}
	return node.ParamObject
}

// Register adds a Spec for each remote type to reg.
func Register(reg *node.Registry, t Transport, types []RemoteType) error {
	for _, rt := range types {
		if err := reg.Register(Spec(t, rt)); err != nil {
			return err
		}
	}
	return nil
}

// RegisterRemote fetches the proxy's node types through c (GET /v1/nodes),
// registers them in reg with their sessions over t (over c itself when t is nil)
// and returns them.
func RegisterRemote(ctx context.Context, reg *node.Registry, c *Client, t Transport) ([]RemoteType, error) {
	types, err := c.Nodes(ctx)
	if err != nil {
		return nil, err
	}
	if t == nil {
		t = c
	}
	return types, Register(reg, t, types)
}

// remoteNode is one session of a Python node.
type remoteNode struct {
	t       Transport
	name    string // `"id" (NodeType)`, for errors
	session string
	buf     []byte
}

// Process sends one frame (one request per frame) and emits the outputs on port 0.
// An end-of-stream or flush control frame flushes the node instead.
func (n *remoteNode) Process(ctx context.Context, _ int, in *frame.Frame, emit node.Emit) error {
	if in.IsControl(frame.EndOfStream) || in.IsControl(frame.Flush) {
		return n.Flush(ctx, emit)
	}
	b, err := frame.AppendMarshal(n.buf[:0], in)
	if err != nil {
		return fmt.Errorf("pynode: node %s: %w", n.name, err)
	}
	n.buf = b
	if err := n.t.Send(ctx, n.session, b, func(f *frame.Frame) { emit(0, f) }); err != nil {
		return fmt.Errorf("pynode: node %s: %w", n.name, err)
	}
	return nil
}

// Flush implements node.Node.
func (n *remoteNode) Flush(ctx context.Context, emit node.Emit) error {
	if err := n.t.Flush(ctx, n.session, func(f *frame.Frame) { emit(0, f) }); err != nil {
		return fmt.Errorf("pynode: node %s: flush: %w", n.name, err)
	}
	return nil
}

// Close ends the remote session.
func (n *remoteNode) Close() error {
	ctx, cancel := context.WithTimeout(context.Background(), closeTimeout)
	defer cancel()
	if err := n.t.Close(ctx, n.session); err != nil {
		return fmt.Errorf("pynode: node %s: close: %w", n.name, err)
	}
	return nil
}
