package pyproxy

import (
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/labstack/echo/v4/middleware"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/remotemedia/hybrid/core/frame"
)

// ContentType is the media type of request and response bodies that carry frames.
const ContentType = "application/x-msgpack"

// Handler returns the proxy's HTTP API (docs/pyproxy.md) as a standalone handler.
func (p *Proxy) Handler() http.Handler {
	e := echo.New()
	e.HideBanner, e.HidePort = true, true
	p.Register(e, "")
	return e
}

// Register mounts the API on e under prefix ("" or e.g. "/py"), with its own
// Host/Origin guard (Guard), CORS, auth, body-limit and error-rendering
// middleware scoped to those routes. /healthz and /readyz (the proxy's check and
// Config.ReadyChecks) need no token; /metrics serves Config.Gatherer. With AllowOrigins, every route also answers
// CORS preflights (OPTIONS), so they win over a catch-all route of e.
func (p *Proxy) Register(e *echo.Echo, prefix string) {
	mws := []echo.MiddlewareFunc{p.renderErrors, Guard(GuardConfig{AllowHosts: p.cfg.AllowHosts, AllowOrigins: p.cfg.AllowOrigins})}
	if len(p.cfg.AllowOrigins) > 0 {
		mws = append(mws, middleware.CORSWithConfig(middleware.CORSConfig{
			AllowOrigins: p.cfg.AllowOrigins,
			AllowMethods: []string{http.MethodGet, http.MethodPost, http.MethodDelete},
			AllowHeaders: []string{echo.HeaderAuthorization, echo.HeaderContentType},
		}))
	}
	mws = append(mws, p.auth(prefix+"/healthz", prefix+"/readyz"), p.bodyDeadline, middleware.BodyLimit(p.cfg.BodyLimit))
	g := e.Group(prefix, mws...)
	g.GET("/healthz", p.healthz)
	g.GET("/readyz", ReadyHandler(append([]ReadyCheck{p.ReadyCheck()}, p.cfg.ReadyChecks...)))
	g.GET("/metrics", echo.WrapHandler(promhttp.HandlerFor(p.cfg.Gatherer, promhttp.HandlerOpts{})))
	g.GET("/v1/nodes", func(c echo.Context) error { return c.JSON(http.StatusOK, p.Nodes()) })
	g.POST("/v1/sessions", p.openSession)
	g.POST("/v1/sessions/:id/frames", p.postFrames)
	g.POST("/v1/sessions/:id/flush", p.postFlush)
	g.DELETE("/v1/sessions/:id", func(c echo.Context) error {
		if err := p.CloseSession(c.Request().Context(), c.Param("id")); err != nil {
			return err
		}
		return c.NoContent(http.StatusNoContent)
	})
	g.GET("/v1/sessions/:id/ws", p.websocket)
	if len(p.cfg.AllowOrigins) > 0 {
		// The CORS middleware answers these; without the routes a catch-all of e would.
		for _, path := range []string{"/healthz", "/readyz", "/metrics", "/v1/nodes", "/v1/sessions", "/v1/sessions/:id", "/v1/sessions/:id/frames", "/v1/sessions/:id/flush", "/v1/sessions/:id/ws"} {
			g.OPTIONS(path, func(c echo.Context) error { return c.NoContent(http.StatusNoContent) })
		}
	}
}

// bodyDeadline gives a request that has a body Config.BodyTimeout to send all
// of it: a client sending slowly gets its connection closed, and the request
// fails. The deadline is lifted once the body is read, so a long answer (a slow
// node) is not cut. (http.Server.ReadTimeout would cancel such a request when it
// expires, so the proxy does not use it.)
func (p *Proxy) bodyDeadline(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		r := c.Request()
		if r.Body == nil || r.Body == http.NoBody || r.Method == http.MethodGet || r.Method == http.MethodHead {
			return next(c)
		}
		rc := http.NewResponseController(c.Response().Writer)
		if rc.SetReadDeadline(time.Now().Add(p.cfg.BodyTimeout)) != nil {
			return next(c) // not a net/http connection (a test recorder)
		}
		r.Body = &deadlineBody{ReadCloser: r.Body, lift: func() { _ = rc.SetReadDeadline(time.Time{}) }}
		return next(c)
	}
}

// deadlineBody lifts the read deadline when the body has been read.
type deadlineBody struct {
	io.ReadCloser
	lift func()
}

func (b *deadlineBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	if err == io.EOF && b.lift != nil {
		b.lift()
		b.lift = nil
	}
	return n, err
}

// Serve serves the API on ln until ctx ends. It refuses a non-loopback listener
// when no token is configured (ErrNoToken). It does not Close the proxy.
func (p *Proxy) Serve(ctx context.Context, ln net.Listener) error {
	if err := CheckListen(ln.Addr().String(), p.cfg.Token); err != nil {
		_ = ln.Close()
		return err
	}
	srv := &http.Server{Handler: p.Handler(), ReadHeaderTimeout: 10 * time.Second, IdleTimeout: 2 * time.Minute}
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ln) }()
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return srv.Shutdown(sctx)
}

// Keys of what auth found out about the caller, in the echo.Context.
const (
	ctxAuthed  = "pyproxy.authed"  // bool: the caller gave Token or OperatorToken
	ctxTrusted = "pyproxy.trusted" // bool: the caller gave OperatorToken
)

// auth requires the bearer token (Token or OperatorToken; also accepted as
// ?token= on WebSocket routes, which browsers cannot give headers) on every route
// but the open ones, and notes in the context whether the caller gave one and which.
// The scheme "Bearer" is matched case-insensitively.
func (p *Proxy) auth(open ...string) echo.MiddlewareFunc {
	match := func(got, want string) bool {
		return want != "" && subtle.ConstantTimeCompare([]byte(got), []byte(want)) == 1
	}
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			got := bearer(c.Request().Header.Get(echo.HeaderAuthorization))
			if got == "" && strings.HasSuffix(c.Path(), "/ws") {
				got = c.QueryParam("token")
			}
			trusted := match(got, p.cfg.OperatorToken)
			authed := trusted || match(got, p.cfg.Token)
			c.Set(ctxAuthed, authed)
			c.Set(ctxTrusted, trusted)
			if authed || p.cfg.Token == "" || slices.Contains(open, c.Request().URL.Path) {
				return next(c)
			}
			c.Response().Header().Set(echo.HeaderWWWAuthenticate, `Bearer realm="pyproxy"`)
			return echo.NewHTTPError(http.StatusUnauthorized, "pyproxy: missing or wrong bearer token")
		}
	}
}

// bearer returns the token of an Authorization header of scheme Bearer (any case), or "".
func bearer(h string) string {
	scheme, tok, ok := strings.Cut(strings.TrimSpace(h), " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return ""
	}
	return strings.TrimSpace(tok)
}

// renderErrors writes every error of the API's routes as JSON {"error": "..."}
// with its status, whatever error handler the embedding Echo has.
func (p *Proxy) renderErrors(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		err := next(c)
		if err == nil || c.Response().Committed {
			return err
		}
		status, body := errorBody(err)
		return c.JSON(status, body)
	}
}

func errorBody(err error) (int, map[string]any) {
	body := map[string]any{"error": err.Error()}
	var he *echo.HTTPError
	switch {
	case errors.As(err, &he):
		body["error"] = fmt.Sprint(he.Message)
		return he.Code, body
	case errors.Is(err, ErrBadFrame), errors.Is(err, ErrConfig), errors.Is(err, ErrOperatorParam):
		return http.StatusBadRequest, body
	case errors.Is(err, ErrUnknownSession), errors.Is(err, ErrUnknownNodeType):
		return http.StatusNotFound, body
	case errors.Is(err, ErrSessionExpired):
		return http.StatusGone, body
	case errors.Is(err, ErrUnavailable):
		return http.StatusUnprocessableEntity, body
	case errors.Is(err, ErrSessionCap):
		return http.StatusTooManyRequests, body
	case errors.Is(err, ErrNode):
		return http.StatusUnprocessableEntity, body
	case errors.Is(err, ErrWorkerDied):
		return http.StatusBadGateway, body
	case errors.Is(err, ErrTimeout):
		return http.StatusGatewayTimeout, body
	case errors.Is(err, ErrNoWorker), errors.Is(err, ErrClosed):
		return http.StatusServiceUnavailable, body
	}
	return http.StatusInternalServerError, body
}

func (p *Proxy) healthz(c echo.Context) error {
	workers := p.Workers()
	status := http.StatusServiceUnavailable
	for _, w := range workers {
		if w.Alive {
			status = http.StatusOK
		}
	}
	if authed, _ := c.Get(ctxAuthed).(bool); !authed {
		for i := range workers {
			workers[i].PID = 0 // process ids are for the operator's eyes
		}
	}
	return c.JSON(status, map[string]any{"ok": status == http.StatusOK, "python": true, "workers": workers})
}

func (p *Proxy) openSession(c echo.Context) error {
	var req struct {
		NodeType string         `json:"node_type"`
		Params   map[string]any `json:"params"`
	}
	if err := json.NewDecoder(c.Request().Body).Decode(&req); err != nil {
		return bodyError(err, "pyproxy: want JSON {\"node_type\": ..., \"params\": {...}}")
	}
	if req.NodeType == "" {
		return echo.NewHTTPError(http.StatusBadRequest, "pyproxy: node_type is required")
	}
	trusted, _ := c.Get(ctxTrusted).(bool)
	client, _, _ := net.SplitHostPort(c.Request().RemoteAddr) // not X-Forwarded-For: a client can write that
	id, err := p.Open(c.Request().Context(), req.NodeType, req.Params, Caller{Trusted: trusted, Client: client})
	if err != nil {
		return err
	}
	return c.JSON(http.StatusCreated, map[string]string{"session_id": id})
}

// bodyError keeps the body limit's 413 and turns anything else into a 400.
func bodyError(err error, what string) error {
	var he *echo.HTTPError
	if errors.As(err, &he) {
		return he
	}
	return echo.NewHTTPError(http.StatusBadRequest, fmt.Sprintf("%s: %v", what, err))
}

func (p *Proxy) postFrames(c echo.Context) error {
	body, err := readBody(c.Request(), p.bodyLimit)
	if err != nil {
		return bodyError(err, "pyproxy: reading body")
	}
	out := &outStream{c: c}
	id := c.Param("id")
	return out.finish(p, id, p.feed(c.Request().Context(), id, body, sink{emit: out.write, idle: out.flush}))
}

func (p *Proxy) postFlush(c echo.Context) error {
	out := &outStream{c: c}
	id := c.Param("id")
	return out.finish(p, id, p.flushSession(c.Request().Context(), id, sink{emit: out.write, idle: out.flush}))
}

// readBody reads a request body; one of a declared length (the usual case) into a
// buffer of that size rather than a growing one. The body limit middleware has
// refused a declared length over limit, and cuts a longer body short.
func readBody(r *http.Request, limit int64) ([]byte, error) {
	if n := r.ContentLength; n > 0 && n <= limit {
		b := make([]byte, n)
		if _, err := io.ReadFull(r.Body, b); err != nil {
			return nil, err
		}
		return b, nil
	}
	return io.ReadAll(r.Body)
}

// maxHeld bounds the output bytes an outStream holds back before sending them.
const maxHeld = 64 << 10

// outStream sends the output frames of a request as the response body. It holds
// them back while the worker is still producing (the proxy calls flush before it
// waits for the worker, so nothing already produced waits on a slow node): a
// request whose outputs are all there when it ends, the usual one-frame round
// trip, gets one response with a Content-Length, written at once, instead of a
// chunked stream with a flush and an end marker per request. The status goes
// with the first output, so an error before any output is a plain HTTP error and
// one after it becomes an error frame at the end of the stream.
type outStream struct {
	c       echo.Context
	started bool     // an output was produced
	sent    bool     // the status has been sent: the body is a chunked stream
	held    [][]byte // outputs not sent yet (each frame is owned: the worker allocates it)
	size    int
}

func (o *outStream) write(b []byte) error {
	o.started = true
	o.held = append(o.held, b)
	o.size += len(b)
	if o.size >= maxHeld {
		return o.flush()
	}
	return nil
}

// flush sends the outputs held so far and flushes them to the client.
func (o *outStream) flush() error {
	if o.size == 0 {
		return nil
	}
	r := o.c.Response()
	if !o.sent {
		o.sent = true
		r.Header().Set(echo.HeaderContentType, ContentType)
		r.WriteHeader(http.StatusOK)
	}
	if err := o.send(); err != nil {
		return err
	}
	r.Flush()
	return nil
}

func (o *outStream) send() error {
	r := o.c.Response()
	for i, b := range o.held {
		o.held[i] = nil
		if _, err := r.Write(b); err != nil {
			return err
		}
	}
	o.held, o.size = o.held[:0], 0
	return nil
}

func (o *outStream) finish(p *Proxy, session string, err error) error {
	switch {
	case err != nil && !o.started:
		return err
	case err != nil:
		e := errorFrame(err, p.nodeTypeOf(session), session)
		o.held = append(o.held, e)
		o.size += len(e)
	}
	if !o.sent {
		o.sent = true
		h := o.c.Response().Header()
		h.Set(echo.HeaderContentType, ContentType)
		h.Set(echo.HeaderContentLength, strconv.Itoa(o.size))
		o.c.Response().WriteHeader(http.StatusOK)
	}
	return o.send()
}

// errorFrame encodes err as a json frame {"error", "node_type", "session"} with meta {"error": true}.
func errorFrame(err error, nodeType, session string) []byte {
	js, _ := json.Marshal(map[string]string{"error": err.Error(), "node_type": nodeType, "session": session})
	b, _ := frame.Marshal(frame.NewJSON(frame.Header{StreamID: session, Meta: map[string]any{"error": true}}, js))
	return b
}
