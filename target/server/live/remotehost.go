package live

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/remotemedia/hybrid/core/def"
	"github.com/remotemedia/hybrid/core/frame"
	"github.com/remotemedia/hybrid/core/node"
	"github.com/remotemedia/hybrid/core/pynode"
	"github.com/remotemedia/hybrid/target/server/pyhttp"
)

// Nodes on another host (def.Host, docs/voice.md): a node whose definition names
// hosts runs as a session of its node type on another `remotemedia serve`,
// through that server's node-session API (POST /v1/sessions, then a request per
// frame whose answer holds the frame's outputs), with its client-settable
// params only: the other server treats it as any network client, and no code
// crosses the wire. Each call is bounded by the host's timeout; when a host
// fails (unreachable, timed out, restarted so that the session is gone), the
// node opens a new session on the next host, says so in the log, and sends the
// frame again there; when every host has failed, the node fails with
// node.ErrFatal, which fails the session. The node's state on the failed host
// (audio a Whisper node had buffered, say) is lost: the log line says that too.

// HostTokenEnv names the environment variable whose value a node on another host
// sends as its bearer token (the other server's REMOTEMEDIA_TOKEN).
const HostTokenEnv = "REMOTEMEDIA_HOST_TOKEN"

// RemoteNodes is a node.RemoteFunc (Registry.SetRemote): the spec of nodeType
// as the first host that answers lists it (GET /v1/nodes), with sessions over
// a hostTransport that says on log when it leaves a failed host.
func RemoteNodes(log *slog.Logger) node.RemoteFunc {
	return func(nodeType string, urls []string, timeout time.Duration) (*node.Spec, error) {
		return remoteNodeSpec(nodeType, newHostTransport(urls, timeout, log))
	}
}

func remoteNodeSpec(nodeType string, t *hostTransport) (*node.Spec, error) {
	var errs []string
	for i, c := range t.clients {
		ctx, cancel := context.WithTimeout(context.Background(), t.timeout)
		types, err := c.Nodes(ctx)
		cancel()
		if err != nil {
			errs = append(errs, fmt.Sprintf("%s: %v", t.urls[i], err))
			continue
		}
		var names []string
		for _, rt := range types {
			if rt.Type == nodeType {
				spec := pynode.Spec(t, rt)
				spec.Doc = fmt.Sprintf("%s (on %s)", rt.Doc, strings.Join(t.urls, ", "))
				spec.New = clientParamsOnly(spec.New, spec.Params)
				return &spec, nil
			}
			names = append(names, rt.Type)
		}
		return nil, fmt.Errorf("%s serves no node type %q (it serves: %s)", t.urls[i], nodeType, strings.Join(names, ", "))
	}
	return nil, fmt.Errorf("no host answered for node type %q: %s", nodeType, strings.Join(errs, "; "))
}

// hostTransport is a pynode.Transport over several hosts, tried in order.
type hostTransport struct {
	urls    []string
	clients []*pynode.Client
	timeout time.Duration
	log     *slog.Logger

	mu       sync.Mutex
	sessions map[string]*hostSession
	next     atomic.Uint64
}

// hostSession is one node's session: on which host it runs now, and what it
// needs to open it again on the next.
type hostSession struct {
	host     int
	remote   string
	nodeType string
	params   map[string]any
	failed   []string // "url: why" of each host the session has left, for the final error
}

func newHostTransport(urls []string, timeout time.Duration, log *slog.Logger) *hostTransport {
	t := &hostTransport{urls: urls, timeout: timeout, log: log, sessions: map[string]*hostSession{}}
	if t.timeout <= 0 {
		t.timeout = def.DefaultHostTimeout
	}
	token := os.Getenv(HostTokenEnv)
	for _, u := range urls {
		t.clients = append(t.clients, pynode.NewClient(u, token, pyhttp.Doer{}))
	}
	return t
}

// Open implements pynode.Transport: a session on the first host that opens one.
func (t *hostTransport) Open(ctx context.Context, nodeType string, params map[string]any) (string, error) {
	s := &hostSession{nodeType: nodeType, params: params}
	var errs []string
	for i := range t.clients {
		if err := t.openOn(ctx, s, i); err != nil {
			errs = append(errs, fmt.Sprintf("%s: %v", t.urls[i], err))
			if !failover(err) {
				break // the node itself refused (bad params, say): another host would too
			}
			continue
		}
		id := strconv.FormatUint(t.next.Add(1), 10)
		t.mu.Lock()
		t.sessions[id] = s
		t.mu.Unlock()
		return id, nil
	}
	return "", fmt.Errorf("node type %s on another host: %s", nodeType, strings.Join(errs, "; "))
}

func (t *hostTransport) openOn(ctx context.Context, s *hostSession, host int) error {
	ctx, cancel := context.WithTimeout(ctx, t.timeout)
	defer cancel()
	remote, err := t.clients[host].Open(ctx, s.nodeType, s.params)
	if err != nil {
		return err
	}
	s.host, s.remote = host, remote
	return nil
}

// Send implements pynode.Transport.
func (t *hostTransport) Send(ctx context.Context, session string, frames []byte, emit func(*frame.Frame)) error {
	return t.call(ctx, session, func(ctx context.Context, c *pynode.Client, remote string) error {
		return c.Send(ctx, remote, frames, emit)
	})
}

// Flush implements pynode.Transport.
func (t *hostTransport) Flush(ctx context.Context, session string, emit func(*frame.Frame)) error {
	return t.call(ctx, session, func(ctx context.Context, c *pynode.Client, remote string) error {
		return c.Flush(ctx, remote, emit)
	})
}

// Close implements pynode.Transport.
func (t *hostTransport) Close(ctx context.Context, session string) error {
	t.mu.Lock()
	s := t.sessions[session]
	delete(t.sessions, session)
	t.mu.Unlock()
	if s == nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, t.timeout)
	defer cancel()
	return t.clients[s.host].Close(ctx, s.remote)
}

// call runs do on the session's host; when the host fails, it moves the session
// to the next host that opens it and runs do there.
func (t *hostTransport) call(ctx context.Context, session string, do func(context.Context, *pynode.Client, string) error) error {
	t.mu.Lock()
	s := t.sessions[session]
	t.mu.Unlock()
	if s == nil {
		return fmt.Errorf("%w: no session %q on another host", node.ErrFatal, session)
	}
	cctx, cancel := context.WithTimeout(ctx, t.timeout)
	err := do(cctx, t.clients[s.host], s.remote)
	cancel()
	if err == nil || !failover(err) || ctx.Err() != nil {
		return err
	}
	s.failed = append(s.failed, fmt.Sprintf("%s: %v", t.urls[s.host], err))
	for next := s.host + 1; next < len(t.clients); next++ {
		failed := t.urls[s.host]
		if oerr := t.openOn(ctx, s, next); oerr != nil {
			s.failed = append(s.failed, fmt.Sprintf("%s: %v", t.urls[next], oerr))
			continue
		}
		t.log.Warn("live: a node's host failed: it goes on on the next host, in a new session (its state on the failed host is lost)",
			"node_type", s.nodeType, "failed", failed, "err", err, "now", t.urls[next])
		cctx, cancel := context.WithTimeout(ctx, t.timeout)
		err = do(cctx, t.clients[next], s.remote)
		cancel()
		if err == nil || !failover(err) {
			return err
		}
		s.failed = append(s.failed, fmt.Sprintf("%s: %v", t.urls[next], err))
	}
	return fmt.Errorf("%w: node type %s failed on every host: %s", node.ErrFatal, s.nodeType, strings.Join(s.failed, "; "))
}

// failover reports whether err is the host's failure rather than the node's:
// the host unreachable or too slow, the session gone (the host restarted, its
// worker died), the host closing. A node's own error (a 422 with the node's
// message, a refused param) is not: another host would answer the same.
func failover(err error) bool {
	if errors.Is(err, node.ErrFatal) || errors.Is(err, context.DeadlineExceeded) {
		return true
	}
	var se *pynode.StatusError
	if errors.As(err, &se) {
		return se.Code >= 500 || se.Code == 404 || se.Code == 410 || se.Code == 429
	}
	return !errors.Is(err, pynode.ErrRemote) && !errors.Is(err, pynode.ErrResponse)
}

// clientParamsOnly wraps a node factory so that the node's operator-only params
// (filled in with their defaults by def.Build) are not sent: the host's operator
// sets them, and the host refuses them from another server as from any client.
func clientParamsOnly(newNode func(context.Context, node.Config) (node.Node, error), params []node.Param) func(context.Context, node.Config) (node.Node, error) {
	return func(ctx context.Context, cfg node.Config) (node.Node, error) {
		out := make(map[string]any, len(cfg.Params))
		for k, v := range cfg.Params {
			out[k] = v
		}
		for _, p := range params {
			if p.Operator {
				delete(out, p.Name)
			}
		}
		cfg.Params = out
		return newNode(ctx, cfg)
	}
}
