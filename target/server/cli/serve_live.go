package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"sync/atomic"
	"time"

	"github.com/labstack/gommon/bytes"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/remotemedia/hybrid/core/node"
	"github.com/remotemedia/hybrid/examples"
	"github.com/remotemedia/hybrid/pyproxy"
	"github.com/remotemedia/hybrid/target/server/live"
)

// liveFlags configure the pipelines serve runs for clients (target/server/live).
type liveFlags struct {
	definitions      string
	allowInline      bool
	maxSessions      int
	maxPerClient     int
	maxPerSocket     int
	maxFrame         string
	maxBody          string
	idleTimeout      time.Duration
	maxSessionLength time.Duration
	writeTimeout     time.Duration
	drainTimeout     time.Duration
}

func (lf *liveFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&lf.definitions, "definitions", "", "a folder of pipeline definitions (*.yaml, *.yml, *.json) to offer clients (default: the bundled examples)")
	fs.BoolVar(&lf.allowInline, "allow-inline", false, "let clients run definitions they send (registered node types and client-settable params only)")
	fs.IntVar(&lf.maxSessions, "max-sessions", live.DefaultMaxSessions, "live sessions and one-shot runs at once, in total")
	fs.IntVar(&lf.maxPerClient, "max-sessions-per-client", live.DefaultMaxSessionsPerAddr, "live sessions and runs at once from one client address")
	fs.IntVar(&lf.maxPerSocket, "max-sessions-per-socket", live.DefaultMaxSessionsPerConn, "sessions one WebSocket may carry")
	fs.StringVar(&lf.maxFrame, "max-frame", "1M", "largest WebSocket message (and so frame) a client may send")
	fs.StringVar(&lf.maxBody, "max-body", "64M", "largest WAV body of a one-shot run")
	fs.DurationVar(&lf.idleTimeout, "idle-timeout", live.DefaultIdleTimeout, "close a live socket that sent nothing for this long")
	fs.DurationVar(&lf.maxSessionLength, "max-session-length", live.DefaultMaxSessionLength, "end a live session or run that lasts longer")
	fs.DurationVar(&lf.writeTimeout, "write-timeout", live.DefaultWriteTimeout, "drop a live socket whose client takes no message for this long")
	fs.DurationVar(&lf.drainTimeout, "drain-timeout", 30*time.Second, "on SIGTERM, how long live sessions get to flush before they are cut")
}

// size parses a flag like "1M"; name is the flag, for the error.
func size(name, v string) (int64, error) {
	n, err := bytes.Parse(v)
	if err != nil || n <= 0 {
		return 0, fmt.Errorf("%w: --%s %q: want a size like 1M", errUsage, name, v)
	}
	return n, nil
}

// pipelines loads the definitions serve offers. An operator's folder must load
// whole (every problem of every file is reported); of the bundled examples,
// those this server cannot run (a Python node with Python off) are left out
// with a line on log.
func (lf *liveFlags) pipelines(nodes *node.Registry, log io.Writer) ([]*live.Pipeline, error) {
	if lf.definitions != "" {
		pipes, err := live.LoadDir(lf.definitions, nodes)
		if err != nil {
			return nil, fmt.Errorf("--definitions %s: %w", lf.definitions, err)
		}
		return pipes, nil
	}
	pipes, err := live.LoadFS(examples.FS, nodes)
	if err != nil {
		if len(pipes) == 0 {
			return nil, err
		}
		fmt.Fprintf(log, "remotemedia: some bundled definitions cannot run here and are not offered:\n%v\n", err)
	}
	return pipes, nil
}

// server builds the live server over nodes, sharing metrics with the rest of serve.
func (lf *liveFlags) server(pipes []*live.Pipeline, nodes *node.Registry, origins []string, metrics prometheus.Registerer, log io.Writer) (*live.Server, error) {
	maxFrame, err := size("max-frame", lf.maxFrame)
	if err != nil {
		return nil, err
	}
	maxBody, err := size("max-body", lf.maxBody)
	if err != nil {
		return nil, err
	}
	return live.New(live.Config{
		Registry: nodes, Pipelines: pipes, AllowInline: lf.allowInline, AllowOrigins: origins,
		MaxSessions: lf.maxSessions, MaxSessionsPerAddr: lf.maxPerClient, MaxSessionsPerConn: lf.maxPerSocket,
		MaxMessage: maxFrame, MaxBody: maxBody,
		IdleTimeout: lf.idleTimeout, MaxSessionLength: lf.maxSessionLength, WriteTimeout: lf.writeTimeout,
		Metrics: metrics,
		Logger:  slog.New(slog.NewTextHandler(log, &slog.HandlerOptions{Level: slog.LevelWarn})),
	})
}

// liveReadiness is /readyz's "pipelines": "starting" until the live server is
// built and its modules compiled, then "ok", or "draining" on shutdown.
type liveReadiness struct {
	srv      atomic.Pointer[live.Server]
	prepared atomic.Bool
	failed   atomic.Int32 // pipelines whose modules did not compile
}

// prepare compiles every pipeline's modules (from the cache: fast once the
// standard modules are compiled), logging what failed.
func (r *liveReadiness) prepare(ctx context.Context, srv *live.Server, log io.Writer) {
	r.srv.Store(srv)
	if err := srv.Prepare(ctx); err != nil {
		r.failed.Store(int32(strings.Count(err.Error(), "pipeline \"")))
		fmt.Fprintf(log, "remotemedia: %v\n", err)
	}
	r.prepared.Store(true)
}

func (r *liveReadiness) check() pyproxy.ReadyCheck {
	return pyproxy.ReadyCheck{Name: "pipelines", Check: func() (string, bool) {
		srv := r.srv.Load()
		if srv == nil || !r.prepared.Load() {
			return "starting", false
		}
		err := srv.Ready()
		switch {
		case errors.Is(err, live.ErrDraining):
			return "draining", false
		case err != nil: // its text names files: the log has it, this answer is unauthenticated
			return fmt.Sprintf("%d of %d pipelines cannot run (see the server's log)", r.failed.Load(), len(srv.Pipelines())), false
		}
		return "ok", true
	}}
}
