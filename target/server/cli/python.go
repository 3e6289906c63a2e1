package cli

import (
	"context"
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
	"github.com/remotemedia/hybrid/core/pynode/pyhttp"
	"github.com/remotemedia/hybrid/pyproxy"
)

// pythonFlags configure the in-process Python proxy of run and serve.
type pythonFlags struct {
	mode        string // auto, on, off
	python      string
	workers     int
	modules     listFlag
	callTimeout time.Duration
}

type listFlag []string

func (l *listFlag) String() string     { return strings.Join(*l, ",") }
func (l *listFlag) Set(s string) error { *l = append(*l, s); return nil }

func (pf *pythonFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&pf.mode, "python", "auto", "Python nodes: auto (start workers when the definition needs them, or for serve when Python and the remotemedia package are there), on (required), off")
	fs.StringVar(&pf.python, "python-bin", "", "Python interpreter for the workers (default: $REMOTEMEDIA_PYTHON, .venv/bin/python, python3)")
	fs.IntVar(&pf.workers, "workers", 1, "number of Python worker processes")
	fs.Var(&pf.modules, "module", "a Python file of user nodes to load in every worker (repeatable)")
	fs.DurationVar(&pf.callTimeout, "python-timeout", 30*time.Second, "deadline for one call into a Python node")
}

func (pf *pythonFlags) validate() error {
	switch pf.mode {
	case "auto", "on", "off":
		return nil
	}
	return fmt.Errorf("%w: --python must be auto, on or off, not %q", errUsage, pf.mode)
}

// start launches the proxy and its workers. In auto mode a failure to start is
// reported on stderr and returns a nil proxy.
func (pf *pythonFlags) start(ctx context.Context, token string, origins []string, stderr io.Writer) (*pyproxy.Proxy, error) {
	if pf.mode == "off" {
		return nil, nil
	}
	p, err := pyproxy.New(ctx, pyproxy.Config{
		Python:       pf.python,
		Workers:      pf.workers,
		Modules:      pf.modules,
		CallTimeout:  pf.callTimeout,
		Token:        token,
		AllowOrigins: origins,
		Logger:       slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelWarn})),
	})
	if err != nil {
		if pf.mode == "on" {
			return nil, fmt.Errorf("starting Python workers: %w", err)
		}
		fmt.Fprintf(stderr, "remotemedia: Python nodes unavailable (%v); run `make deps` to install the Python package\n", err)
		return nil, nil
	}
	return p, nil
}

// needsPython reports whether a definition names node types that reg lacks or
// asks for the python runtime.
func needsPython(d *def.Definition, reg *node.Registry) bool {
	for _, n := range d.Nodes {
		if n.RuntimeHint == string(node.RuntimePython) {
			return true
		}
		if _, err := reg.Lookup(n.NodeType, ""); errors.Is(err, node.ErrUnknownType) {
			return true
		}
	}
	return false
}

// servePython serves p on a loopback port and registers its node types in reg,
// so a local run reaches Python nodes the same way a browser does: each session
// streams over a WebSocket.
func servePython(ctx context.Context, p *pyproxy.Proxy, reg *node.Registry) error {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	go func() { _ = p.Serve(ctx, ln) }()
	t := pyhttp.NewTransport("http://"+ln.Addr().String(), "")
	_, err = pynode.RegisterRemote(ctx, reg, t.HTTP, t)
	return err
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
	if pf.mode == "off" || (pf.mode == "auto" && (d == nil || !needsPython(d, reg))) {
		return reg, cleanup, nil
	}
	p, err := pf.start(ctx, "", nil, stderr)
	if err != nil || p == nil {
		return reg, cleanup, err
	}
	pctx, cancel := context.WithCancel(ctx)
	cleanup = func() {
		cancel()
		p.Close()
		h.Close(ctx)
	}
	if err := servePython(pctx, p, reg); err != nil {
		cleanup()
		return nil, nil, err
	}
	return reg, cleanup, nil
}
