package pyproxy

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// scrape gets url's /metrics and parses it with Prometheus' own text parser.
func scrape(t testing.TB, url string, header map[string]string) map[string]*dto.MetricFamily {
	t.Helper()
	status, hdr, body := do(t, "GET", url+"/metrics", header, nil)
	if status != http.StatusOK || !strings.HasPrefix(hdr.Get("Content-Type"), "text/plain") {
		t.Fatalf("GET /metrics: %d %q %.300s", status, hdr.Get("Content-Type"), body)
	}
	parser := expfmt.NewTextParser(model.UTF8Validation)
	families, err := parser.TextToMetricFamilies(strings.NewReader(body))
	if err != nil {
		t.Fatalf("parsing /metrics: %v\n%s", err, body)
	}
	return families
}

// metricValue returns the value of the series of name whose labels include
// labels (name, value pairs): a counter's or gauge's value, a histogram's count.
func metricValue(t testing.TB, families map[string]*dto.MetricFamily, name string, labels ...string) float64 {
	t.Helper()
	mf := families[name]
	if mf == nil {
		t.Fatalf("/metrics has no %s", name)
	}
next:
	for _, m := range mf.GetMetric() {
		for i := 0; i+1 < len(labels); i += 2 {
			found := false
			for _, l := range m.GetLabel() {
				found = found || (l.GetName() == labels[i] && l.GetValue() == labels[i+1])
			}
			if !found {
				continue next
			}
		}
		switch {
		case m.Counter != nil:
			return m.GetCounter().GetValue()
		case m.Gauge != nil:
			return m.GetGauge().GetValue()
		case m.Histogram != nil:
			return float64(m.GetHistogram().GetSampleCount())
		}
	}
	t.Fatalf("/metrics has no %s%v", name, labels)
	return 0
}

// Issue 11 point 6: the proxy's series through client_golang, with their names
// and values, on the registry of its Config, parsed by Prometheus' parser.
func TestMetrics(t *testing.T) {
	reg := prometheus.NewRegistry()
	mine := prometheus.NewCounter(prometheus.CounterOpts{Name: "embedding_server_total", Help: "A series of the embedding server."})
	reg.MustRegister(mine)
	mine.Add(7)
	p := newProxy(t, Config{Metrics: reg, Token: "tok"})
	srv, c := serve(t, p)
	auth := map[string]string{"Authorization": "Bearer tok"}
	ctx := context.Background()

	first, second := open(t, c, "Echo", nil), open(t, c, "Raise", nil)
	for i := range 3 {
		if _, err := send(ctx, c, first, text(uint64(i), "x")); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := send(ctx, c, second, text(1, "raise")); err == nil {
		t.Fatal("Raise did not fail on \"raise\"")
	}
	if err := c.Close(ctx, first); err != nil {
		t.Fatal(err)
	}

	families := scrape(t, srv.URL, auth)
	tests := []struct {
		name   string
		labels []string
		expect float64
	}{
		{name: "embedding_server_total", expect: 7}, // Config.Gatherer defaults to Config.Metrics
		{name: "pyproxy_workers_alive", expect: 1},
		{name: "pyproxy_sessions_opened_total", expect: 2},
		{name: "pyproxy_sessions", expect: 1},
		{name: "pyproxy_websockets", expect: 0},
		{name: "pyproxy_worker_restarts_total", expect: 0},
		{name: "pyproxy_requests_total", labels: []string{"op", "open"}, expect: 2},
		{name: "pyproxy_requests_total", labels: []string{"op", "frame"}, expect: 4},
		{name: "pyproxy_requests_total", labels: []string{"op", "close"}, expect: 1},
		{name: "pyproxy_requests_total", labels: []string{"op", "flush"}, expect: 0},
		{name: "pyproxy_errors_total", labels: []string{"cause", "node"}, expect: 1},
		{name: "pyproxy_errors_total", labels: []string{"cause", "died"}, expect: 0},
		{name: "pyproxy_roundtrip_seconds", expect: 4},
	}
	for _, tt := range tests {
		if got := metricValue(t, families, tt.name, tt.labels...); got != tt.expect {
			t.Errorf("%s%v = %v, want %v", tt.name, tt.labels, got, tt.expect)
		}
	}
	if typ := families["pyproxy_roundtrip_seconds"].GetType(); typ != dto.MetricType_HISTOGRAM {
		t.Errorf("pyproxy_roundtrip_seconds is a %v, want a histogram", typ)
	}
	if status, _, _ := do(t, "GET", srv.URL+"/metrics", nil, nil); status != http.StatusUnauthorized {
		t.Errorf("/metrics without the token: %d, want 401", status)
	}

	// A second proxy cannot register the same series on the registry.
	_, err := New(ctx, Config{Metrics: reg, Python: testPython(t)})
	if !errors.Is(err, ErrConfig) || !strings.Contains(err.Error(), "metrics") {
		t.Errorf("a second proxy on one registry: %v, want ErrConfig naming the metrics", err)
	}
}

// RegisterMetrics gives a server without a proxy the proxy's series at zero,
// the label values included.
func TestRegisterMetrics(t *testing.T) {
	reg := prometheus.NewRegistry()
	// A proxy that fails to start leaves the registry as it was: `serve --python
	// auto` then registers the series without it.
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := New(ctx, Config{Metrics: reg, Python: filepath.Join(t.TempDir(), "no-python")}); err == nil {
		t.Fatal("New with a missing interpreter succeeded")
	}
	if err := RegisterMetrics(reg); err != nil {
		t.Fatalf("RegisterMetrics after a failed New: %v", err)
	}
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	byName := map[string]*dto.MetricFamily{}
	for _, mf := range families {
		byName[mf.GetName()] = mf
	}
	for _, name := range []string{"pyproxy_workers_alive", "pyproxy_sessions", "pyproxy_websockets", "pyproxy_websockets_opened_total",
		"pyproxy_sessions_opened_total", "pyproxy_worker_restarts_total", "pyproxy_late_outputs_dropped_total",
		"pyproxy_sessions_expired_total", "pyproxy_roundtrip_seconds"} {
		if v := metricValue(t, byName, name); v != 0 {
			t.Errorf("%s = %v, want 0", name, v)
		}
	}
	if n := len(byName["pyproxy_requests_total"].GetMetric()); n != len(requestOps) {
		t.Errorf("pyproxy_requests_total has %d series, want one per op (%v)", n, requestOps)
	}
	if err := RegisterMetrics(reg); !errors.Is(err, ErrConfig) {
		t.Errorf("registering twice: %v, want ErrConfig", err)
	}
}

// /readyz: 200 {"ready": true, "checks": {"python": "ok"}} without the token
// while a worker is alive; 503 with the reason when a check fails.
func TestReadyz(t *testing.T) {
	var compiled atomic.Bool
	modules := func() (string, bool) {
		if compiled.Load() {
			return "ok", true
		}
		return "compiling", false
	}
	p := newProxy(t, Config{Token: "tok", ReadyChecks: []ReadyCheck{{Name: "modules", Check: modules}}})
	srv, _ := serve(t, p)
	get := func() (int, Readiness) {
		t.Helper()
		status, _, body := do(t, "GET", srv.URL+"/readyz", nil, nil)
		var r Readiness
		if err := json.Unmarshal([]byte(body), &r); err != nil {
			t.Fatalf("/readyz: %d %s: %v", status, body, err)
		}
		return status, r
	}
	status, r := get()
	if status != http.StatusServiceUnavailable || r.Ready || r.Checks["python"] != "ok" || r.Checks["modules"] != "compiling" {
		t.Errorf("/readyz with a check failing = %d %+v, want 503, python ok, modules compiling", status, r)
	}
	compiled.Store(true)
	if status, r = get(); status != http.StatusOK || !r.Ready || len(r.Checks) != 2 || r.Checks["python"] != "ok" {
		t.Errorf("/readyz = %d %+v, want 200 and every check ok", status, r)
	}
}

func TestProxyReadyCheck(t *testing.T) {
	tests := []struct {
		name        string
		given       *Proxy
		expectOK    bool
		expectState string
	}{
		{name: "a worker alive", given: &Proxy{slots: []*worker{nil, aliveWorker()}}, expectOK: true, expectState: "ok"},
		{name: "no worker alive", given: &Proxy{cfg: Config{Workers: 2}, slots: []*worker{nil, nil}},
			expectState: "no Python worker is alive (2 configured; restarting)"},
		{name: "closed", given: &Proxy{closed: true, slots: []*worker{aliveWorker()}}, expectState: "the proxy is closed"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			state, ok := tt.given.ReadyCheck().Check()
			if ok != tt.expectOK || state != tt.expectState {
				t.Errorf("ReadyCheck = %q %v, want %q %v", state, ok, tt.expectState, tt.expectOK)
			}
		})
	}

	e := echo.New()
	rec := httptest.NewRecorder()
	e.GET("/readyz", ReadyHandler([]ReadyCheck{{Name: "python", Check: func() (string, bool) { return "off", true }}}))
	e.ServeHTTP(rec, httptest.NewRequest("GET", "/readyz", nil))
	if rec.Code != http.StatusOK || strings.TrimSpace(rec.Body.String()) != `{"ready":true,"checks":{"python":"off"}}` {
		t.Errorf("ReadyHandler = %d %s", rec.Code, rec.Body)
	}
}

// aliveWorker is a worker whose process has not exited.
func aliveWorker() *worker { return &worker{dead: make(chan struct{})} }
