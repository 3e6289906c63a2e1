package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/remotemedia/hybrid/examples"
	"github.com/remotemedia/hybrid/pyproxy"
	modules "github.com/remotemedia/hybrid/wasm-modules"
	"github.com/remotemedia/hybrid/web"
)

func cmdServe(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("serve", stderr, "serve [--listen 127.0.0.1:8080] [flags]")
	listen := fs.String("listen", "127.0.0.1:8080", "address to listen on")
	token := fs.String("token", "", "bearer token required by the Python node API (required when listening beyond loopback)")
	origins := fs.String("allow-origin", "", "comma-separated CORS allow-list for the Python node API")
	var pf pythonFlags
	pf.register(fs)
	if _, err := parseArgs(fs, args); err != nil {
		return err
	}
	if err := pf.validate(); err != nil {
		return err
	}
	if err := pyproxy.CheckListen(*listen, *token); err != nil {
		return fmt.Errorf("%w: pass --token to listen on %s", err, *listen)
	}
	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		return err
	}

	e := echo.New()
	e.HideBanner, e.HidePort = true, true
	py, err := pf.start(ctx, *token, splitList(*origins), stderr)
	if err != nil {
		ln.Close()
		return err
	}
	if py != nil {
		defer py.Close()
		py.Register(e, "") // /v1/..., /healthz (with the workers' state), /metrics
	} else {
		e.GET("/healthz", func(c echo.Context) error {
			return c.JSON(http.StatusOK, map[string]any{"status": "ok", "python": false})
		})
	}
	site := echo.WrapHandler(web.Handler(modules.FS(), examples.FS))
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
