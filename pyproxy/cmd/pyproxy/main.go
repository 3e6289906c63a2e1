// Command pyproxy serves Python node workers over HTTP and WebSocket (docs/pyproxy.md).
//
//	pyproxy --listen 127.0.0.1:8091 --workers 2 --token "$TOKEN" --module my_nodes.py
package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/remotemedia/hybrid/internal/gogc"
	"github.com/remotemedia/hybrid/pyproxy"
)

// list is a repeatable string flag.
type list []string

func (l *list) String() string     { return strings.Join(*l, ",") }
func (l *list) Set(s string) error { *l = append(*l, s); return nil }

func main() {
	gogc.Apply(gogc.Percent)
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}

func run() error {
	var cfg pyproxy.Config
	var modules, moduleNames, origins, hosts, nodeParams list
	listen := flag.String("listen", "127.0.0.1:8091", "address to listen on (a non-loopback address needs --token)")
	flag.StringVar(&cfg.Python, "python", "", "Python interpreter (default $REMOTEMEDIA_PYTHON, else ./.venv/bin/python, else .venv/bin/python beside the binary or in its parent directory, else python3)")
	flag.IntVar(&cfg.Workers, "workers", 1, "number of Python worker processes")
	flag.Var(&modules, "module", "Python file of user nodes (repeatable)")
	flag.Var(&moduleNames, "module-name", "importable module of user nodes (repeatable)")
	flag.DurationVar(&cfg.CallTimeout, "call-timeout", 30*time.Second, "a worker that makes no progress on a call for this long is restarted")
	flag.IntVar(&cfg.MaxSessions, "max-sessions", 256, "cap on open sessions")
	flag.IntVar(&cfg.MaxSessionsPerClient, "max-sessions-per-client", 32, "cap on the sessions one client address opens")
	flag.DurationVar(&cfg.SessionIdle, "session-idle", 5*time.Minute, "end a session no request has used for this long")
	flag.DurationVar(&cfg.BodyTimeout, "body-timeout", time.Minute, "time a client has to send a request body")
	memory := flag.String("python-memory", "4G", "memory limit of each worker (e.g. 4G, 512M; 0: no limit)")
	token := flag.String("token", "", "bearer token required by the API (visible in ps: prefer --token-file or $REMOTEMEDIA_TOKEN)")
	tokenFile := flag.String("token-file", "", "file holding the bearer token (default $REMOTEMEDIA_TOKEN, else $PYPROXY_TOKEN)")
	operatorTokenFile := flag.String("operator-token-file", "", "file holding a second token whose holder may set operator-only params")
	flag.Var(&nodeParams, "node-param", "operator param of a node type, Type.param=value (JSON when it parses, else a string; repeatable)")
	flag.Var(&origins, "allow-origin", "CORS allowed origin, e.g. https://app.example.com (repeatable)")
	flag.Var(&hosts, "allow-host", "Host header accepted besides the listen address: name, name:port or * (repeatable)")
	flag.StringVar(&cfg.BodyLimit, "body-limit", "16M", "request body and WebSocket message limit")
	flag.Parse()
	cfg.Modules, cfg.ModuleNames, cfg.AllowOrigins, cfg.AllowHosts = modules, moduleNames, origins, hosts
	cfg.Logger = slog.New(slog.NewTextHandler(os.Stderr, nil))
	var err error
	if cfg.Token, err = pyproxy.LoadToken(*token, *tokenFile); err != nil {
		return err
	}
	if cfg.Token == "" {
		cfg.Token = os.Getenv("PYPROXY_TOKEN")
	}
	if *operatorTokenFile != "" {
		if cfg.OperatorToken, err = pyproxy.LoadToken("", *operatorTokenFile); err != nil {
			return err
		}
	}
	if cfg.MemoryLimit, err = pyproxy.ParseSize(*memory); err != nil {
		return err
	}
	if cfg.MemoryLimit == 0 {
		cfg.MemoryLimit = -1 // no limit
	}
	if cfg.NodeParams, err = pyproxy.ParseNodeParams(nodeParams); err != nil {
		return err
	}
	reg := newRegistry()
	cfg.Metrics, cfg.Gatherer = reg, reg

	if err := pyproxy.CheckListen(*listen, cfg.Token); err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	p, err := pyproxy.New(ctx, cfg)
	if err != nil {
		return err
	}
	defer p.Close()
	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		return err
	}
	types := make([]string, 0, len(p.Nodes()))
	for _, n := range p.Nodes() {
		types = append(types, n.Type)
	}
	cfg.Logger.Info("pyproxy: serving", "addr", ln.Addr().String(), "workers", cfg.Workers, "node_types", types)
	return p.Serve(ctx, ln)
}

// newRegistry is the registry /metrics serves: the proxy's series (registered
// by pyproxy.New) beside the Go runtime's and the process's.
func newRegistry() *prometheus.Registry {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return reg
}
