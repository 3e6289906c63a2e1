package cli

import (
	"context"
	"crypto/subtle"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/labstack/echo/v4/middleware"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/remotemedia/hybrid/core/node"
	"github.com/remotemedia/hybrid/examples"
	"github.com/remotemedia/hybrid/pyproxy"
	modules "github.com/remotemedia/hybrid/wasm-modules"
	"github.com/remotemedia/hybrid/web"
)

func cmdServe(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("serve", stderr, "serve [--listen 127.0.0.1:8080] [flags]")
	listen := fs.String("listen", "127.0.0.1:8080", "address to listen on")
	token := fs.String("token", "", "bearer token required by the Python node API (required when listening beyond loopback; visible in ps: prefer --token-file or $REMOTEMEDIA_TOKEN)")
	tokenFile := fs.String("token-file", "", "file holding the bearer token (default: $REMOTEMEDIA_TOKEN)")
	origins := fs.String("allow-origin", "", "comma-separated origins allowed to call the API and load the site's assets cross-origin (CORS)")
	var hosts listFlag
	fs.Var(&hosts, "allow-host", "a Host header to accept besides the listen address (name or name:port; comma list or repeatable; * for any)")
	bodyTimeout := fs.Duration("body-timeout", time.Minute, "time a client has to send a request body")
	var pf pythonFlags
	pf.register(fs)
	var wf wasmFlags // the server's pipelines and the tab run the WASM nodes: --modules is what both use
	wf.register(fs)
	var lf liveFlags
	lf.register(fs)
	var rtc webrtcFlags // the WebRTC route (serve_webrtc.go)
	rtc.register(fs)
	if _, err := parseArgs(fs, args); err != nil {
		return err
	}
	if err := pf.validate(); err != nil {
		return err
	}
	siteModules, err := wf.siteModules()
	if err != nil {
		return err
	}
	tok, err := pyproxy.LoadToken(*token, *tokenFile)
	if err != nil {
		return err
	}
	if err := pyproxy.CheckListen(*listen, tok); err != nil {
		return fmt.Errorf("%w: pass --token-file (or --token, or $REMOTEMEDIA_TOKEN) to listen on %s", err, *listen)
	}
	guard := pyproxy.GuardConfig{AllowHosts: splitList(hosts.String()), AllowOrigins: splitList(*origins)}
	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		return err
	}

	// One registry for the whole server, served at /metrics: the Go runtime's and
	// the process's series, the Python proxy's (at zero with Python off), the live
	// server's.
	metrics := prometheus.NewRegistry()
	metrics.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))

	// The node registry of the WASM modules, compiled in the background from the
	// cache; /readyz's "modules" says when they are.
	wf.log = stderr
	nodes, wasmHost, err := wf.registry(ctx)
	if err != nil {
		ln.Close()
		return err
	}
	if lf.definitions != "" {
		if err := wf.registerDefinitionsModules(nodes, wasmHost, lf.definitions); err != nil {
			ln.Close()
			_ = wasmHost.Close(ctx)
			return err
		}
	}
	compileCtx, stopCompiling := context.WithCancel(ctx)
	compiled := compileModules(compileCtx, nodes, stderr)
	defer func() {
		stopCompiling()
		<-compiled.done
		_ = wasmHost.Close(context.Background())
	}()

	e := echo.New()
	e.HideBanner, e.HidePort = true, true
	e.Use(pyproxy.Guard(guard)) // Host on every request, Origin on every one that is not a plain GET
	var liveReady liveReadiness
	ready := []pyproxy.ReadyCheck{compiled.readyCheck(), liveReady.check()}
	// The server's own pipelines reach the Python nodes through a private
	// listener with a random operator token: their definitions are the
	// operator's, so they may set operator-only params; clients never hold it.
	opToken, err := randomToken()
	if err != nil {
		ln.Close()
		return err
	}
	py, err := pf.start(ctx, pyproxy.Config{Token: tok, OperatorToken: opToken, AllowOrigins: guard.AllowOrigins, AllowHosts: guard.AllowHosts, BodyTimeout: *bodyTimeout,
		Metrics: metrics, Gatherer: metrics, ReadyChecks: ready}, "", stderr)
	if err != nil {
		ln.Close()
		return err
	}
	if py != nil {
		defer py.Close()
		py.Register(e, "") // /v1/..., /healthz (with the workers' state), /readyz, /metrics
		pyCtx, stopPy := context.WithCancel(context.Background())
		defer stopPy()
		if err := servePython(pyCtx, py, opToken, nodes); err != nil {
			ln.Close()
			return err
		}
	} else if err := registerPythonOff(e, metrics, ready, tok); err != nil {
		ln.Close()
		return err
	}

	// The pipelines clients run here (docs/server.md), behind the token.
	pipes, err := lf.pipelines(nodes, stderr)
	if err != nil {
		ln.Close()
		return err
	}
	liveSrv, err := lf.server(pipes, nodes, guard.AllowOrigins, metrics, stderr)
	if err != nil {
		ln.Close()
		return err
	}
	defer liveSrv.Close()
	liveSrv.Register(e.Group("", requireToken(tok)))
	rtcSrv, err := rtc.mount(e.Group("", requireToken(tok)), liveSrv, *listen, stderr)
	if err != nil {
		ln.Close()
		return err
	}
	defer rtcSrv.Close()
	go func() {
		<-compiled.done
		liveReady.prepare(compileCtx, liveSrv, stderr)
	}()
	site := echo.WrapHandler(web.Handler(siteModules, examples.FS))
	if len(guard.AllowOrigins) > 0 { // a page on an allowed origin may load remotemedia.js, core.wasm and the modules
		site = middleware.CORSWithConfig(middleware.CORSConfig{AllowOrigins: guard.AllowOrigins, AllowMethods: []string{http.MethodGet, http.MethodHead}})(site)
	}
	e.GET("/", site) // explicit: the proxy's group would otherwise claim "/" with its not-found route
	e.Any("/*", site)

	srv := &http.Server{Handler: e, ReadHeaderTimeout: 10 * time.Second}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	pyState := "off"
	if py != nil {
		pyState = fmt.Sprintf("%d worker(s), %d node types", len(py.Workers()), len(py.Nodes()))
	}
	names := make([]string, len(pipes))
	for i, p := range pipes {
		names[i] = p.Name
	}
	fmt.Fprintf(stdout, "remotemedia: serving the demo on http://%s/ (Python nodes: %s; pipelines: %s)\n", ln.Addr(), pyState, strings.Join(names, ", "))
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	// SIGTERM: live sessions get their input closed, flush, send their last
	// outputs and end frames and are closed with "going away", within the drain
	// deadline; then the HTTP server stops.
	dctx, cancelDrain := context.WithTimeout(context.Background(), lf.drainTimeout)
	if err := liveSrv.Drain(dctx); err != nil {
		fmt.Fprintf(stderr, "remotemedia: live sessions cut after --drain-timeout %v\n", lf.drainTimeout)
	}
	cancelDrain()
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

func splitList(s string) []string {
	var out []string
	for _, o := range strings.Split(s, ",") {
		if o = strings.TrimSpace(o); o != "" {
			out = append(out, o)
		}
	}
	return out
}

// siteModules returns the modules serve hands to the tab: those of --modules
// (the first directory that has a name wins), then the ones built into the
// binary. The WASM limits are checked as run
// checks them, though they bind only nodes this process runs (none in serve:
// the tab has its own, set by RemoteMedia.load's memoryPages and callTimeoutMs).
func (w *wasmFlags) siteModules() (fs.FS, error) {
	if w.memoryPages == 0 || w.memoryPages > 65536 {
		return nil, fmt.Errorf("--wasm-memory-pages %d: want 1 to 65536 (64 KiB pages)", w.memoryPages)
	}
	if w.callTimeout <= 0 {
		return nil, fmt.Errorf("--wasm-call-timeout %v: want a positive duration", w.callTimeout)
	}
	if len(w.modulesDirs) == 0 {
		return modules.FS(), nil
	}
	var dirs dirsFS
	for _, dir := range w.modulesDirs {
		wasm, err := filepath.Glob(filepath.Join(dir, "*.wasm"))
		if st, statErr := os.Stat(dir); statErr != nil || !st.IsDir() || err != nil || len(wasm) == 0 {
			return nil, fmt.Errorf("--modules %s: not a directory of .wasm modules", dir)
		}
		dirs = append(dirs, os.DirFS(dir))
	}
	return append(dirs, modules.FS()), nil
}

// registerPythonOff answers /healthz, /readyz and /metrics with Python off in
// the shape the proxy gives them (docs/pyproxy.md): no workers, "python": "off",
// and the proxy's series at 0 beside the rest of metrics. As with the proxy,
// /metrics needs the token when there is one.
func registerPythonOff(e *echo.Echo, metrics *prometheus.Registry, ready []pyproxy.ReadyCheck, tok string) error {
	if err := pyproxy.RegisterMetrics(metrics); err != nil {
		return err
	}
	e.GET("/healthz", func(c echo.Context) error {
		return c.JSON(http.StatusOK, map[string]any{"ok": true, "python": false, "workers": []any{}})
	})
	off := pyproxy.ReadyCheck{Name: "python", Check: func() (string, bool) { return "off", true }}
	e.GET("/readyz", pyproxy.ReadyHandler(append([]pyproxy.ReadyCheck{off}, ready...)))
	e.GET("/metrics", echo.WrapHandler(promhttp.HandlerFor(metrics, promhttp.HandlerOpts{})), requireToken(tok))
	return nil
}

// requireToken refuses, with 401, a request without `Authorization: Bearer
// <tok>` (the scheme in any case) when tok is set.
func requireToken(tok string) echo.MiddlewareFunc {
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			scheme, got, _ := strings.Cut(strings.TrimSpace(c.Request().Header.Get(echo.HeaderAuthorization)), " ")
			if tok == "" || (strings.EqualFold(scheme, "Bearer") && subtle.ConstantTimeCompare([]byte(strings.TrimSpace(got)), []byte(tok)) == 1) {
				return next(c)
			}
			c.Response().Header().Set(echo.HeaderWWWAuthenticate, `Bearer realm="remotemedia"`)
			return c.JSON(http.StatusUnauthorized, map[string]string{"error": "remotemedia: missing or wrong bearer token"})
		}
	}
}

// moduleCompilation compiles the WASM modules of a node registry in the
// background (from the compile cache, about 50 ms for the standard modules).
type moduleCompilation struct {
	done   chan struct{} // closed when every module has been tried
	failed int           // modules that did not compile, set before done is closed
	total  int
}

// compileModules prepares every node type of nodes that has a Prepare (a WASM
// module is loaded and compiled once per file), logging each failure to log.
func compileModules(ctx context.Context, nodes *node.Registry, log io.Writer) *moduleCompilation {
	m := &moduleCompilation{done: make(chan struct{})}
	go func() {
		defer close(m.done)
		seen := map[string]bool{} // error texts: the node types of one module file share its error
		for _, s := range nodes.Specs() {
			if s.Prepare == nil {
				continue
			}
			m.total++
			if err := s.Prepare(ctx); err != nil {
				m.failed++
				if !seen[err.Error()] {
					seen[err.Error()] = true
					fmt.Fprintf(log, "remotemedia: node type %s: %v\n", s.Type, err)
				}
			}
		}
	}()
	return m
}

// readyCheck is /readyz's "modules": "compiling", then "ok" or how many failed.
// The errors, which name files, go to the log, not to this unauthenticated answer.
func (m *moduleCompilation) readyCheck() pyproxy.ReadyCheck {
	return pyproxy.ReadyCheck{Name: "modules", Check: func() (string, bool) {
		select {
		case <-m.done:
		default:
			return "compiling", false
		}
		if m.failed > 0 {
			return fmt.Sprintf("%d of %d WASM node types have no module that compiles (see the server's log)", m.failed, m.total), false
		}
		return "ok", true
	}}
}
