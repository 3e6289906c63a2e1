// Package live runs pipeline definitions for clients over the network: the
// catalogue (GET /v1/pipelines), live sessions over a WebSocket
// (GET /v1/pipelines/{name}/ws), one-shot runs (POST /v1/pipelines/{name}/run)
// and, when the operator allows it, inline definitions (/v1/inline/...). The
// protocol is docs/server.md.
//
// The package checks no token, Host or Origin header of its own (but for the
// WebSocket's Origin check): the server mounts it on a group that does
// (pyproxy.Guard and the bearer token, as the rest of the API).
package live

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/coder/websocket"
	"github.com/labstack/echo/v4"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/remotemedia/hybrid/core/node"
	"github.com/remotemedia/hybrid/core/runner"
)

// Errors returned by this package.
var (
	// ErrConfig is returned by New for a configuration it cannot serve.
	ErrConfig = errors.New("live: bad configuration")
	// ErrDefinitions is returned by LoadDir and LoadFS when definitions do not
	// load; it wraps every problem of every file.
	ErrDefinitions = errors.New("live: definitions do not load")
	// ErrLimit is the reason of a session or request refused by a limit.
	ErrLimit = errors.New("live: limit reached")
	// ErrDraining is returned once Drain has begun: no new socket, session or run.
	ErrDraining = errors.New("live: the server is shutting down")
	// ErrSessionLength ends a session that ran longer than Config.MaxSessionLength.
	ErrSessionLength = errors.New("live: session length limit reached")
	// ErrInline is returned for an inline definition the server refuses.
	ErrInline = errors.New("live: inline definition refused")
	// ErrNotReady is returned by Ready until Prepare has readied every pipeline.
	ErrNotReady = errors.New("live: not ready")
)

// Defaults of Config's limits.
const (
	DefaultMaxSessions        = 1024
	DefaultMaxSessionsPerAddr = 64
	DefaultMaxSessionsPerConn = 64
	DefaultMaxMessage         = 1 << 20
	DefaultMaxBody            = 64 << 20
	DefaultIdleTimeout        = 60 * time.Second
	DefaultMaxSessionLength   = 4 * time.Hour
	DefaultWriteTimeout       = 10 * time.Second
	DefaultQueueSize          = 16
	DefaultDrainGrace         = 2 * time.Second
)

// Config configures a Server. Zero limits take their defaults.
type Config struct {
	// Registry resolves node types: the server's WASM modules and, when the
	// server runs Python nodes, the proxy's types.
	Registry *node.Registry
	// Pipelines are the definitions the server offers (LoadDir, LoadFS).
	Pipelines []*Pipeline
	// AllowInline lets clients run definitions they send (/v1/inline/...).
	AllowInline bool
	// AllowOrigins are the origins (besides the server's own) whose pages may
	// open a WebSocket, as pyproxy.GuardConfig.AllowOrigins.
	AllowOrigins []string

	// MaxSessions bounds live sessions and one-shot runs in total (default 1024),
	// MaxSessionsPerAddr per client IP address (default 64) and
	// MaxSessionsPerConn on one socket (default 64).
	MaxSessions, MaxSessionsPerAddr, MaxSessionsPerConn int
	// MaxMessage bounds one WebSocket message, and so one frame (default 1 MiB).
	MaxMessage int64
	// MaxBody bounds a one-shot run's request body (default 64 MiB).
	MaxBody int64
	// IdleTimeout closes a socket that sent no message for that long (default 60 s).
	IdleTimeout time.Duration
	// MaxSessionLength ends a session (or a one-shot run) that lasts longer (default 4 h).
	MaxSessionLength time.Duration
	// WriteTimeout closes a socket whose client does not take a message within
	// it (default 10 s).
	WriteTimeout time.Duration
	// QueueSize is each node's input queue bound (default 16, as `remotemedia run`).
	QueueSize int
	// DrainGrace is how long Drain waits for a live session's eos after
	// telling its client that the server is shutting down, before it ends the
	// session's input itself (default 2 s).
	DrainGrace time.Duration

	// Metrics, when set, receives the server's collectors.
	Metrics prometheus.Registerer
	// Logger receives what the server does not send to a client (default: discard).
	Logger *slog.Logger
}

func (c *Config) withDefaults() {
	def := func(v *int, d int) {
		if *v <= 0 {
			*v = d
		}
	}
	def(&c.MaxSessions, DefaultMaxSessions)
	def(&c.MaxSessionsPerAddr, DefaultMaxSessionsPerAddr)
	def(&c.MaxSessionsPerConn, DefaultMaxSessionsPerConn)
	def(&c.QueueSize, DefaultQueueSize)
	if c.MaxMessage <= 0 {
		c.MaxMessage = DefaultMaxMessage
	}
	if c.MaxBody <= 0 {
		c.MaxBody = DefaultMaxBody
	}
	if c.IdleTimeout <= 0 {
		c.IdleTimeout = DefaultIdleTimeout
	}
	if c.MaxSessionLength <= 0 {
		c.MaxSessionLength = DefaultMaxSessionLength
	}
	if c.WriteTimeout <= 0 {
		c.WriteTimeout = DefaultWriteTimeout
	}
	if c.DrainGrace <= 0 {
		c.DrainGrace = DefaultDrainGrace
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
}

// Server serves the pipelines of a Config.
type Server struct {
	cfg    Config
	byName map[string]*Pipeline
	m      *metrics

	ctx    context.Context // cancelled when Drain gives up: ends whatever is left
	cancel context.CancelFunc

	mu       sync.Mutex
	draining bool
	prepared error          // nil once Prepare has succeeded
	total    int            // live sessions and runs
	perAddr  map[string]int // by client IP
	sockets  map[*socket]struct{}
	active   sync.WaitGroup // sockets and runs in progress
	drainCh  chan struct{}  // closed when Drain begins

	watchStop chan struct{} // ends the watchdog goroutine
	stopOnce  sync.Once
}

// New checks cfg and returns a server of its pipelines.
func New(cfg Config) (*Server, error) {
	if cfg.Registry == nil {
		return nil, fmt.Errorf("%w: no node registry", ErrConfig)
	}
	cfg.withDefaults()
	s := &Server{cfg: cfg, byName: map[string]*Pipeline{}, perAddr: map[string]int{},
		sockets: map[*socket]struct{}{}, drainCh: make(chan struct{}),
		prepared: fmt.Errorf("%w: the pipelines' node types are not readied yet", ErrNotReady)}
	for _, p := range cfg.Pipelines {
		if p == nil || p.graph == nil {
			return nil, fmt.Errorf("%w: a pipeline not made by LoadDir or LoadFS", ErrConfig)
		}
		if other := s.byName[p.Name]; other != nil {
			return nil, fmt.Errorf("%w: two pipelines are named %q (%s and %s)", ErrConfig, p.Name, other.Source, p.Source)
		}
		s.byName[p.Name] = p
		for _, note := range p.def.Fallbacks() {
			cfg.Logger.Warn("live: pipeline "+p.Name+": "+note, "source", p.Source)
		}
	}
	m, err := newMetrics(cfg.Metrics)
	if err != nil {
		return nil, err
	}
	s.m = m
	s.ctx, s.cancel = context.WithCancel(context.Background())
	s.watchStop = make(chan struct{})
	go s.watch()
	return s, nil
}

// Register mounts the routes on g (the API group, behind the server's guard
// and token checks): GET /v1/pipelines, GET /v1/pipelines/:name/ws,
// POST /v1/pipelines/:name/run, GET /v1/inline/ws, POST /v1/inline/run, and
// the inspector's GET /v1/inspect and GET /v1/inspect/stream.
func (s *Server) Register(g *echo.Group) {
	g.GET("/v1/pipelines", s.catalogue)
	g.GET("/v1/pipelines/:name/ws", s.liveNamed)
	g.POST("/v1/pipelines/:name/run", s.runNamed)
	g.GET("/v1/inline/ws", s.liveInline)
	g.POST("/v1/inline/run", s.runInline)
	g.GET("/v1/inspect", s.listSessions)          // the inspector (inspect.go)
	g.GET("/v1/inspect/stream", s.streamSessions) // the same as server-sent events
}

// Handler returns the routes as an http.Handler of their own (tests, or a
// server that is not echo-based).
func (s *Server) Handler() http.Handler {
	e := echo.New()
	e.HideBanner, e.HidePort = true, true
	s.Register(e.Group(""))
	return e
}

// Prepare readies every node type of every pipeline ahead of the first
// session (runner.Prepare: the WASM modules are compiled), reporting every
// failure at once, each under its pipeline's name. Sessions run without it;
// Ready reports ErrNotReady until it has succeeded.
func (s *Server) Prepare(ctx context.Context) error {
	var errs []error
	for _, p := range s.cfg.Pipelines {
		if err := runner.Prepare(ctx, &runner.Pipeline{Def: p.def, Graph: p.graph}); err != nil {
			errs = append(errs, fmt.Errorf("pipeline %q: %w", p.Name, err))
		}
	}
	err := errors.Join(errs...)
	s.mu.Lock()
	defer s.mu.Unlock()
	if err != nil {
		s.prepared = fmt.Errorf("%w: %w", ErrNotReady, err)
	} else {
		s.prepared = nil
	}
	return err
}

// Ready reports whether the server can run sessions: nil, or why not (Prepare
// has not succeeded; Drain has begun).
func (s *Server) Ready() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.draining {
		return ErrDraining
	}
	return s.prepared
}

// Pipelines returns the pipelines the server offers, in Config's order.
func (s *Server) Pipelines() []*Pipeline { return s.cfg.Pipelines }

// Drain stops accepting sockets and runs (503), tells the client of every
// live session that the server is shutting down and takes the frames it sent
// before its eos (ending the input itself after Config.DrainGrace), lets the
// sessions flush and send their outputs and end frames, and closes each socket
// with 1001 (going away). It
// returns once every socket and run is done, or, when ctx ends first, cancels
// what is left and returns ctx's error.
func (s *Server) Drain(ctx context.Context) error {
	s.mu.Lock()
	if !s.draining {
		s.draining = true
		close(s.drainCh)
	}
	socks := make([]*socket, 0, len(s.sockets))
	for k := range s.sockets {
		if k.ready.Load() { // one not ready yet drains itself when it is
			socks = append(socks, k)
		}
	}
	s.mu.Unlock()
	for _, k := range socks {
		k.drain()
	}
	done := make(chan struct{})
	go func() {
		s.active.Wait()
		close(done)
	}()
	select {
	case <-done:
		s.stop()
		return nil
	case <-ctx.Done():
		s.abort()
		<-done
		s.stop()
		return ctx.Err()
	}
}

// abort cancels every session and run and closes every socket with 1001
// (drops it, when its client is not taking a write).
func (s *Server) abort() {
	s.cancel()
	s.mu.Lock()
	for k := range s.sockets {
		switch {
		case !k.ready.Load(): // closes itself when it is
		case k.writing.Load(): // a client not reading would hold a close handshake for seconds
			k.kill()
			go k.conn.CloseNow()
		default:
			go k.closeWith(websocket.StatusGoingAway, reasonGoingAway)
		}
	}
	s.mu.Unlock()
}

// stop ends the watchdog once no socket is left.
func (s *Server) stop() { s.stopOnce.Do(func() { close(s.watchStop) }) }

// Close cancels every session and run at once and waits for them to end.
func (s *Server) Close() error {
	s.mu.Lock()
	if !s.draining {
		s.draining = true
		close(s.drainCh)
	}
	s.mu.Unlock()
	s.abort()
	s.active.Wait()
	s.stop()
	return nil
}

// admit takes a session slot for the client address, or says which limit
// refuses it.
func (s *Server) admit(addr string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.refusal(addr); err != nil {
		return err
	}
	s.total++
	s.perAddr[addr]++
	return nil
}

func (s *Server) release(addr string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.total--
	if s.perAddr[addr]--; s.perAddr[addr] <= 0 {
		delete(s.perAddr, addr)
	}
}

// full reports, for a socket about to open, whether the session limits would
// refuse its first session.
func (s *Server) full(addr string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.refusal(addr)
}

// refusal is the limit that refuses a new session of addr now, counted, or nil.
// s.mu is held.
func (s *Server) refusal(addr string) error {
	switch {
	case s.draining:
		return ErrDraining
	case s.total >= s.cfg.MaxSessions:
		s.m.refused.WithLabelValues("sessions").Inc()
		return fmt.Errorf("%w: the server holds its maximum of %d sessions; retry later", ErrLimit, s.cfg.MaxSessions)
	case s.perAddr[addr] >= s.cfg.MaxSessionsPerAddr:
		s.m.refused.WithLabelValues("sessions_per_address").Inc()
		return fmt.Errorf("%w: client address %s holds its maximum of %d sessions", ErrLimit, addr, s.cfg.MaxSessionsPerAddr)
	}
	return nil
}

// begin counts a socket or run as active unless the server is draining.
func (s *Server) begin() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.draining {
		return ErrDraining
	}
	s.active.Add(1)
	return nil
}

// clientAddr is the IP address the request came from (RemoteAddr: a header
// such as X-Forwarded-For is the client's to set and is not trusted).
func clientAddr(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

// httpError is the JSON error answer of the HTTP routes.
func httpError(c echo.Context, status int, err error) error {
	return c.JSON(status, map[string]string{"error": err.Error()})
}

// statusOf maps a refusal to its HTTP status.
func statusOf(err error) int {
	switch {
	case errors.Is(err, ErrDraining):
		return http.StatusServiceUnavailable
	case errors.Is(err, ErrLimit):
		return http.StatusTooManyRequests
	}
	return http.StatusInternalServerError
}
