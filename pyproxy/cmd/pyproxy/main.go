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

	"github.com/remotemedia/hybrid/internal/gogc"
	"github.com/remotemedia/hybrid/pyproxy"
)

// list is a repeatable string flag.
type list []string

func (l *list) String() string     { return strings.Join(*l, ",") }
func (l *list) Set(s string) error { *l = append(*l, s); return nil }

func main() {
	gogc.Apply()
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}

func run() error {
	var cfg pyproxy.Config
	var modules, moduleNames, origins list
	listen := flag.String("listen", "127.0.0.1:8091", "address to listen on (a non-loopback address needs --token)")
	flag.StringVar(&cfg.Python, "python", "", "Python interpreter (default $REMOTEMEDIA_PYTHON, else .venv/bin/python, else python3)")
	flag.IntVar(&cfg.Workers, "workers", 1, "number of Python worker processes")
	flag.Var(&modules, "module", "Python file of user nodes (repeatable)")
	flag.Var(&moduleNames, "module-name", "importable module of user nodes (repeatable)")
	flag.DurationVar(&cfg.CallTimeout, "call-timeout", 30*time.Second, "a worker that makes no progress on a call for this long is restarted")
	flag.IntVar(&cfg.MaxSessions, "max-sessions", 256, "cap on open sessions")
	flag.StringVar(&cfg.Token, "token", os.Getenv("PYPROXY_TOKEN"), "bearer token required by the API (default $PYPROXY_TOKEN)")
	flag.Var(&origins, "allow-origin", "CORS allowed origin, e.g. https://app.example.com (repeatable)")
	flag.StringVar(&cfg.BodyLimit, "body-limit", "16M", "request body and WebSocket message limit")
	flag.Parse()
	cfg.Modules, cfg.ModuleNames, cfg.AllowOrigins = modules, moduleNames, origins
	cfg.Logger = slog.New(slog.NewTextHandler(os.Stderr, nil))

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
