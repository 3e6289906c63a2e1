package live_test

import (
	"context"
	"log"
	"net/http"
	"os/signal"
	"syscall"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/remotemedia/hybrid/core/node"
	"github.com/remotemedia/hybrid/examples"
	"github.com/remotemedia/hybrid/target/server/live"
)

// Example mounts the pipeline server on an echo server, as `remotemedia
// serve` does: load and validate the definitions, ready their modules, serve,
// and drain on SIGTERM.
func Example() {
	reg := node.NewRegistry() // the server's WASM (and Python) node types
	pipes, err := live.LoadFS(examples.FS, reg)
	if err != nil {
		log.Fatal(err) // every problem of every file
	}
	metrics := prometheus.NewRegistry()
	srv, err := live.New(live.Config{Registry: reg, Pipelines: pipes, Metrics: metrics})
	if err != nil {
		log.Fatal(err)
	}
	if err := srv.Prepare(context.Background()); err != nil {
		log.Fatal(err)
	}
	e := echo.New()
	srv.Register(e.Group("")) // behind the token, Host and Origin checks in a real server
	hs := &http.Server{Addr: "127.0.0.1:8080", Handler: e}
	go hs.ListenAndServe()

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM)
	defer stop()
	<-ctx.Done()
	drain, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_ = srv.Drain(drain) // every session flushes and gets its end frame, then 1001
	_ = hs.Shutdown(drain)
}
