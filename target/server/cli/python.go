package cli

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strings"
	"time"

	"github.com/remotemedia/hybrid/core/def"
	"github.com/remotemedia/hybrid/core/node"
	"github.com/remotemedia/hybrid/core/pynode"
	"github.com/remotemedia/hybrid/pyproxy"
	"github.com/remotemedia/hybrid/target/server/pyhttp"
)

// pythonFlags configure the in-process Python proxy of run and serve.
type pythonFlags struct {
	mode        string // auto, on, off
	python      string
	workers     int
	modules     listFlag
	nodeParams  listFlag
	memory      string
	sessionIdle time.Duration
	callTimeout time.Duration
}

type listFlag []string

func (l *listFlag) String() string     { return strings.Join(*l, ",") }
func (l *listFlag) Set(s string) error { *l = append(*l, s); return nil }

func (pf *pythonFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&pf.mode, "python", "auto", "Python nodes: auto (start workers when the definition needs them, or for serve when Python and the remotemedia package are there), on (required), off")
	fs.StringVar(&pf.python, "python-bin", "", "Python interpreter for the workers (default: $REMOTEMEDIA_PYTHON, ./.venv/bin/python, .venv/bin/python beside the binary or in its parent directory, python3)")
	fs.IntVar(&pf.workers, "workers", 1, "number of Python worker processes")
	fs.Var(&pf.modules, "module", "a Python file of user nodes to load in every worker (repeatable)")
	fs.Var(&pf.nodeParams, "node-param", "an operator param of a Python node type, Type.param=value (JSON when it parses, else a string; repeatable): how operator-only params (programs, model paths) are set")
	fs.StringVar(&pf.memory, "python-memory", "4G", "memory limit of each Python worker (e.g. 4G, 512M; 0: no limit); a worker over it fails its call and is replaced")
	fs.DurationVar(&pf.sessionIdle, "session-idle", 5*time.Minute, "end a Python node session no request has used for this long")
	fs.DurationVar(&pf.callTimeout, "python-timeout", 30*time.Second, "deadline for one call into a Python node")
}

func (pf *pythonFlags) validate() error {
	switch pf.mode {
	case "auto", "on", "off":
	default:
		return fmt.Errorf("%w: --python must be auto, on or off, not %q", errUsage, pf.mode)
	}
	if _, err := pf.config(pyproxy.Config{}); err != nil {
		return err
	}
	return nil
}

// config returns base completed from the flags.
func (pf *pythonFlags) config(base pyproxy.Config) (pyproxy.Config, error) {
	memory, err := pyproxy.ParseSize(pf.memory)
	if err != nil {
		return base, fmt.Errorf("%w: --python-memory: %v", errUsage, err)
	}
	if memory == 0 {
		memory = -1 // no limit
	}
	params, err := pyproxy.ParseNodeParams(pf.nodeParams)
	if err != nil {
		return base, fmt.Errorf("%w: %v", errUsage, err)
	}
	base.Python, base.Workers, base.Modules = pf.python, pf.workers, pf.modules
	base.CallTimeout, base.SessionIdle, base.MemoryLimit, base.NodeParams = pf.callTimeout, pf.sessionIdle, memory, params
	return base, nil
}

// start launches the proxy and its workers with base (tokens, origins, hosts)
// completed from the flags. In auto mode a failure to start is reported on
// stderr, with why (see pythonUnavailable), and returns a nil proxy.
func (pf *pythonFlags) start(ctx context.Context, base pyproxy.Config, why string, stderr io.Writer) (*pyproxy.Proxy, error) {
	if pf.mode == "off" {
		return nil, nil
	}
	cfg, err := pf.config(base)
	if err != nil {
		return nil, err
	}
	// Warn: node exceptions (with their tracebacks) and the workers' stderr are
	// logged at warn level, with the session id.
	cfg.Logger = slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	p, err := pyproxy.New(ctx, cfg)
	if err != nil {
		if pf.mode == "on" {
			return nil, fmt.Errorf("starting Python workers: %w%s", err, pf.tried())
		}
		fmt.Fprintf(stderr, "remotemedia: %sPython nodes are unavailable: %v%s\n", why, err, pf.tried())
		return nil, nil
	}
	return p, nil
}

// tried names the interpreters looked at, and how to fix it.
func (pf *pythonFlags) tried() string {
	if pf.python != "" {
		return fmt.Sprintf("\n(--python-bin %s: it needs the remotemedia package: pip install ./pyproxy/python)", pf.python)
	}
	py, tried := pyproxy.FindPython()
	return fmt.Sprintf("\n(interpreters looked for: %s; used %s. Set REMOTEMEDIA_PYTHON or --python-bin to a Python that has the remotemedia package, or run `make deps` in the repository to create .venv)",
		strings.Join(tried, ", "), py)
}

// needsPython reports whether a definition asks for the python runtime or names
// node types that reg lacks, and says which, for the message when Python cannot
// start. A type close to one of reg's (a typo of a WASM type, "resampel") does
// not count: validation reports it as unknown with a suggestion.
func needsPython(d *def.Definition, reg *node.Registry) (bool, string) {
	var unknown []string
	for _, n := range d.Nodes {
		if n.RuntimeHint == string(node.RuntimePython) {
			return true, fmt.Sprintf("node %q asks for the python runtime, but ", n.ID)
		}
		spec, err := reg.Lookup(n.NodeType, "")
		if errors.Is(err, node.ErrUnknownType) && !closeToAny(n.NodeType, reg.Types()) {
			unknown = append(unknown, fmt.Sprintf("%q", n.NodeType))
		}
		if err == nil && spec.Runtime == node.RuntimeWASM && spec.Unavailable != "" && n.RuntimeHint != string(node.RuntimeWASM) {
			// runtime_hint auto falls back to a Python implementation, if the worker has one
			return true, fmt.Sprintf("node %q (%s) cannot run as WASM here (%s), and ", n.ID, n.NodeType, spec.Unavailable)
		}
	}
	if len(unknown) == 0 {
		return false, ""
	}
	return true, fmt.Sprintf("node type %s is not a WASM node type, and ", strings.Join(unknown, ", "))
}

// closeToAny reports whether s is a likely typo of one of names (case-insensitive
// edit distance up to 1 + len/5, as validation's suggestions). A name that
// differs only in case is not: Python node types are CamelCase, and one may
// share its letters with a WASM type (PassThrough and passthrough).
func closeToAny(s string, names []string) bool {
	s = strings.ToLower(s)
	for _, n := range names {
		if d := editDistance(s, strings.ToLower(n)); d > 0 && d <= 1+len(s)/5 {
			return true
		}
	}
	return false
}

// editDistance is the Levenshtein distance between a and b, in bytes.
func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

// servePython serves p on a loopback port and registers its node types in reg,
// so a local run reaches Python nodes the same way a browser does: each session
// streams over a WebSocket. token is the proxy's Token and OperatorToken: the
// definition is the operator's, so its params may set operator-only ones.
func servePython(ctx context.Context, p *pyproxy.Proxy, token string, reg *node.Registry) error {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	go func() { _ = p.Serve(ctx, ln) }()
	t := pyhttp.NewTransport("http://"+ln.Addr().String(), token)
	_, err = pynode.RegisterRemote(ctx, reg, t.HTTP, t)
	return err
}

// randomToken returns 32 random bytes in hex, for run's private proxy.
func randomToken() (string, error) {
	var b [32]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", fmt.Errorf("random token: %w", err)
	}
	return hex.EncodeToString(b[:]), nil
}

// registryFor returns the registry a definition runs against: the standard WASM
// modules, plus the Python node types when the definition needs them (or
// withPython is set). cleanup stops what was started.
func registryFor(ctx context.Context, d *def.Definition, wf *wasmFlags, pf *pythonFlags, stderr io.Writer) (*node.Registry, func(), error) {
	if err := pf.validate(); err != nil {
		return nil, nil, err
	}
	reg, h, err := wf.registry(ctx)
	if err != nil {
		return nil, nil, err
	}
	cleanup := func() { h.Close(ctx) }
	need, why := false, ""
	if d != nil {
		need, why = needsPython(d, reg)
	}
	if pf.mode == "off" || (pf.mode == "auto" && !need) {
		return reg, cleanup, nil
	}
	// A private proxy on loopback: a random token keeps other local users and
	// web pages out; the definition is trusted (it is the operator's own).
	token, err := randomToken()
	if err != nil {
		cleanup()
		return nil, nil, err
	}
	p, err := pf.start(ctx, pyproxy.Config{Token: token, OperatorToken: token}, why, stderr)
	if err != nil || p == nil {
		return reg, cleanup, err
	}
	pctx, cancel := context.WithCancel(ctx)
	cleanup = func() {
		cancel()
		p.Close()
		h.Close(ctx)
	}
	if err := servePython(pctx, p, token, reg); err != nil {
		cleanup()
		return nil, nil, err
	}
	return reg, cleanup, nil
}
