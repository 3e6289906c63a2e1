package cli

import (
	"context"
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
	var wf wasmFlags // the tab runs the WASM nodes: --modules is what it is served
	wf.register(fs)
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

	e := echo.New()
	e.HideBanner, e.HidePort = true, true
	e.Use(pyproxy.Guard(guard)) // Host on every request, Origin on every one that is not a plain GET
	py, err := pf.start(ctx, pyproxy.Config{Token: tok, AllowOrigins: guard.AllowOrigins, AllowHosts: guard.AllowHosts, BodyTimeout: *bodyTimeout}, "", stderr)
	if err != nil {
		ln.Close()
		return err
	}
	if py != nil {
		defer py.Close()
		py.Register(e, "") // /v1/..., /healthz (with the workers' state), /metrics
	} else {
		registerPythonOff(e)
	}
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
	fmt.Fprintf(stdout, "remotemedia: serving the demo on http://%s/ (Python nodes: %s)\n", ln.Addr(), pyState)
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
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

// siteModules returns the modules serve hands to the tab: those of --modules,
// else the ones built into the binary. The WASM limits are checked as run
// checks them, though they bind only nodes this process runs (none in serve:
// the tab has its own, set by RemoteMedia.load's memoryPages and callTimeoutMs).
func (w *wasmFlags) siteModules() (fs.FS, error) {
	if w.memoryPages == 0 || w.memoryPages > 65536 {
		return nil, fmt.Errorf("--wasm-memory-pages %d: want 1 to 65536 (64 KiB pages)", w.memoryPages)
	}
	if w.callTimeout <= 0 {
		return nil, fmt.Errorf("--wasm-call-timeout %v: want a positive duration", w.callTimeout)
	}
	if w.modulesDir == "" {
		return modules.FS(), nil
	}
	wasm, err := filepath.Glob(filepath.Join(w.modulesDir, "*.wasm"))
	if st, statErr := os.Stat(w.modulesDir); statErr != nil || !st.IsDir() || err != nil || len(wasm) == 0 {
		return nil, fmt.Errorf("--modules %s: not a directory of .wasm modules", w.modulesDir)
	}
	return os.DirFS(w.modulesDir), nil
}

// registerPythonOff answers /healthz and /metrics with Python off in the shape
// the proxy gives them (docs/pyproxy.md): no workers, and every series at 0.
func registerPythonOff(e *echo.Echo) {
	e.GET("/healthz", func(c echo.Context) error {
		return c.JSON(http.StatusOK, map[string]any{"ok": true, "python": false, "workers": []any{}})
	})
	e.GET("/metrics", func(c echo.Context) error {
		c.Response().Header().Set(echo.HeaderContentType, "text/plain; version=0.0.4")
		_, err := io.WriteString(c.Response(), pythonOffMetrics)
		return err
	})
}

// pythonOffMetrics is pyproxy's exposition (pyproxy/metrics.go) of a proxy
// with no workers and no requests yet.
const pythonOffMetrics = `# HELP pyproxy_workers_alive Python workers running now.
# TYPE pyproxy_workers_alive gauge
pyproxy_workers_alive 0
# HELP pyproxy_sessions Sessions open now.
# TYPE pyproxy_sessions gauge
pyproxy_sessions 0
# HELP pyproxy_websockets Session WebSockets open now.
# TYPE pyproxy_websockets gauge
pyproxy_websockets 0
# HELP pyproxy_websockets_opened_total Session WebSockets accepted.
# TYPE pyproxy_websockets_opened_total counter
pyproxy_websockets_opened_total 0
# HELP pyproxy_sessions_opened_total Sessions opened.
# TYPE pyproxy_sessions_opened_total counter
pyproxy_sessions_opened_total 0
# HELP pyproxy_worker_restarts_total Workers restarted after dying or hanging.
# TYPE pyproxy_worker_restarts_total counter
pyproxy_worker_restarts_total 0
# HELP pyproxy_late_outputs_dropped_total Streaming outputs dropped because nobody collected them.
# TYPE pyproxy_late_outputs_dropped_total counter
pyproxy_late_outputs_dropped_total 0
# HELP pyproxy_sessions_expired_total Sessions ended because they were idle for SessionIdle.
# TYPE pyproxy_sessions_expired_total counter
pyproxy_sessions_expired_total 0
# HELP pyproxy_requests_total Worker requests by op.
# TYPE pyproxy_requests_total counter
# HELP pyproxy_errors_total Failed worker requests by cause (node, died, timeout, other).
# TYPE pyproxy_errors_total counter
# HELP pyproxy_roundtrip_seconds Round trip of a frame or flush request through a worker.
# TYPE pyproxy_roundtrip_seconds histogram
pyproxy_roundtrip_seconds_bucket{le="0.0001"} 0
pyproxy_roundtrip_seconds_bucket{le="0.00025"} 0
pyproxy_roundtrip_seconds_bucket{le="0.0005"} 0
pyproxy_roundtrip_seconds_bucket{le="0.001"} 0
pyproxy_roundtrip_seconds_bucket{le="0.0025"} 0
pyproxy_roundtrip_seconds_bucket{le="0.005"} 0
pyproxy_roundtrip_seconds_bucket{le="0.01"} 0
pyproxy_roundtrip_seconds_bucket{le="0.025"} 0
pyproxy_roundtrip_seconds_bucket{le="0.05"} 0
pyproxy_roundtrip_seconds_bucket{le="0.1"} 0
pyproxy_roundtrip_seconds_bucket{le="0.25"} 0
pyproxy_roundtrip_seconds_bucket{le="0.5"} 0
pyproxy_roundtrip_seconds_bucket{le="1"} 0
pyproxy_roundtrip_seconds_bucket{le="2.5"} 0
pyproxy_roundtrip_seconds_bucket{le="5"} 0
pyproxy_roundtrip_seconds_bucket{le="10"} 0
pyproxy_roundtrip_seconds_bucket{le="30"} 0
pyproxy_roundtrip_seconds_bucket{le="+Inf"} 0
pyproxy_roundtrip_seconds_sum 0
pyproxy_roundtrip_seconds_count 0
`
