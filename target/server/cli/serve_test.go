package cli

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/remotemedia/hybrid/pyproxy"
)

// lockedBuffer collects a command's output while it runs.
type lockedBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

var servingRE = regexp.MustCompile(`serving the demo on http://([^/]+)/`)

// startServe runs `serve` with args on a free loopback port until the test
// ends, and returns its address (host:port).
func startServe(t *testing.T, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	var stdout, stderr lockedBuffer
	var serveErr error
	done := make(chan struct{}) // closed when serve has returned serveErr
	go func() {
		serveErr = cmdServe(ctx, append([]string{"--listen", "127.0.0.1:0"}, args...), &stdout, &stderr)
		close(done)
	}()
	t.Cleanup(func() {
		cancel()
		select {
		case <-done:
		case <-time.After(30 * time.Second):
			t.Error("serve did not stop within 30s")
		}
	})
	deadline := time.Now().Add(60 * time.Second)
	for {
		if m := servingRE.FindStringSubmatch(stdout.String()); m != nil {
			return m[1]
		}
		select {
		case <-done:
			t.Fatalf("serve ended: %v\n%s", serveErr, stderr.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("serve did not start within 60s:\n%s", stderr.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func needVenv(t *testing.T) {
	t.Helper()
	if os.Getenv("REMOTEMEDIA_PYTHON") == "" {
		if os.Getenv("CI") != "" {
			t.Fatal("no .venv: scripts/deps.sh installs the Python package")
		}
		t.Skip("no .venv with the Python package (make deps)")
	}
}

func call(t *testing.T, method, url, host string, header map[string]string, body string) (int, http.Header, string) {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if host != "" {
		req.Host = host
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, string(b)
}

// Issue 10 points 1-4 and 9 through `remotemedia serve`: CORS preflights of the
// API and CORS on the site's assets, Host and Origin checks on the whole
// server, the token from a file, operator-only params, PIDs, slow bodies.
func TestServeSecurity(t *testing.T) {
	needVenv(t)
	tokenFile := filepath.Join(t.TempDir(), "token")
	if err := os.WriteFile(tokenFile, []byte("s3cret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	addr := startServe(t, "--python", "on", "--allow-origin", "https://good.example", "--token-file", tokenFile, "--body-timeout", "300ms")
	base := "http://" + addr
	_, port, _ := net.SplitHostPort(addr)
	good := "https://good.example"
	auth := map[string]string{"Authorization": "bearer s3cret"}
	preflight := func(origin string) map[string]string {
		return map[string]string{"Origin": origin, "Access-Control-Request-Method": "POST", "Access-Control-Request-Headers": "authorization, content-type"}
	}
	tests := []struct {
		name         string
		method, path string
		host         string
		header       map[string]string
		body         string
		expectStatus int
		expectACAO   string
		expectBody   string // for a preflight: in Access-Control-Allow-Methods
		rejectBody   string
	}{
		{name: "preflight /v1/sessions", method: "OPTIONS", path: "/v1/sessions", header: preflight(good), expectStatus: 204, expectACAO: good, expectBody: "POST"},
		{name: "preflight frames", method: "OPTIONS", path: "/v1/sessions/abc/frames", header: preflight(good), expectStatus: 204, expectACAO: good, expectBody: "POST"},
		{name: "preflight /healthz", method: "OPTIONS", path: "/healthz", header: preflight(good), expectStatus: 204, expectACAO: good, expectBody: "POST"},
		{name: "preflight /metrics", method: "OPTIONS", path: "/metrics", header: preflight(good), expectStatus: 204, expectACAO: good, expectBody: "POST"},
		{name: "preflight from elsewhere", method: "OPTIONS", path: "/v1/sessions", header: preflight("https://evil.example"), expectStatus: 403},
		{name: "remotemedia.js to an allowed origin", method: "GET", path: "/remotemedia.js", header: map[string]string{"Origin": good}, expectStatus: 200, expectACAO: good},
		{name: "core.wasm to an allowed origin", method: "GET", path: "/core.wasm", header: map[string]string{"Origin": good}, expectStatus: 200, expectACAO: good},
		{name: "module index to an allowed origin", method: "GET", path: "/modules/index.json", header: map[string]string{"Origin": good}, expectStatus: 200, expectACAO: good},
		{name: "remotemedia.js elsewhere", method: "GET", path: "/remotemedia.js", header: map[string]string{"Origin": "https://evil.example"}, expectStatus: 200},
		{name: "rebound Host on the API", method: "POST", path: "/v1/sessions", host: "evil.example:" + port, header: auth, body: `{"node_type":"PassThrough"}`, expectStatus: 403},
		{name: "rebound Host on the site", method: "GET", path: "/", host: "evil.example:" + port, expectStatus: 403},
		{name: "localhost", method: "GET", path: "/", host: "localhost:" + port, expectStatus: 200},
		{name: "cross-site text/plain POST", method: "POST", path: "/v1/sessions", header: map[string]string{"Origin": "https://evil.example", "Content-Type": "text/plain", "Authorization": "Bearer s3cret"},
			body: `{"node_type":"PassThrough"}`, expectStatus: 403},
		{name: "cross-site POST to the site", method: "POST", path: "/anything", header: map[string]string{"Origin": "https://evil.example"}, expectStatus: 403},
		{name: "no token", method: "GET", path: "/v1/nodes", expectStatus: 401},
		{name: "token from the file", method: "GET", path: "/v1/nodes", header: auth, expectStatus: 200},
		{name: "operator-only param", method: "POST", path: "/v1/sessions", header: auth, body: `{"node_type":"EspeakTTS","params":{"binary":"/any/program","voice":"x; id"}}`,
			expectStatus: 400, expectBody: `EspeakTTS: param \"binary\" is operator-only`},
		{name: "healthz without the token", method: "GET", path: "/healthz", expectStatus: 200, expectBody: `"alive":true`, rejectBody: "pid"},
		{name: "healthz with the token", method: "GET", path: "/healthz", header: auth, expectStatus: 200, expectBody: `"pid":`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			status, hdr, body := call(t, tt.method, base+tt.path, tt.host, tt.header, tt.body)
			if tt.method == "OPTIONS" {
				body = hdr.Get("Access-Control-Allow-Methods")
			}
			if status != tt.expectStatus || hdr.Get("Access-Control-Allow-Origin") != tt.expectACAO ||
				!strings.Contains(body, tt.expectBody) || (tt.rejectBody != "" && strings.Contains(body, tt.rejectBody)) {
				t.Errorf("%s %s: %d, Access-Control-Allow-Origin %q, %.200s; want %d, %q, %q",
					tt.method, tt.path, status, hdr.Get("Access-Control-Allow-Origin"), body, tt.expectStatus, tt.expectACAO, tt.expectBody)
			}
		})
	}

	t.Run("slow body", func(t *testing.T) {
		conn, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		_ = conn.SetDeadline(time.Now().Add(20 * time.Second)) // a hang guard
		fmt.Fprintf(conn, "POST /v1/sessions HTTP/1.1\r\nHost: %s\r\nAuthorization: Bearer s3cret\r\nContent-Length: 100\r\n\r\n{\"no", addr)
		resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
		if err != nil {
			t.Fatalf("no answer to a stalled body: %v", err)
		}
		body, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != 400 || !strings.Contains(string(body), "timeout") {
			t.Errorf("stalled body: %d %s, want 400 naming the timeout", resp.StatusCode, body)
		}
	})
}

// scrapeMetrics gets base's /metrics and parses it with Prometheus' own text parser.
func scrapeMetrics(t *testing.T, base string, header map[string]string) map[string]*dto.MetricFamily {
	t.Helper()
	status, hdr, body := call(t, "GET", base+"/metrics", "", header, "")
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
func metricValue(t *testing.T, families map[string]*dto.MetricFamily, name string, labels ...string) float64 {
	t.Helper()
next:
	for _, m := range families[name].GetMetric() {
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

// waitCompiled polls /readyz until its "modules" check is no longer
// "compiling" and its "pipelines" no longer "starting", and returns that answer.
func waitCompiled(t *testing.T, base string) (int, pyproxy.Readiness) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		status, _, body := call(t, "GET", base+"/readyz", "", nil, "")
		var r pyproxy.Readiness
		if err := json.Unmarshal([]byte(body), &r); err != nil {
			t.Fatalf("/readyz: %d %s: %v", status, body, err)
		}
		if r.Checks["modules"] != "compiling" && r.Checks["pipelines"] != "starting" {
			return status, r
		}
		if time.Now().After(deadline) {
			t.Fatalf("the modules did not compile within 60s: %s", body)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Issue 11 point 6 with Python on: one registry for the server (the proxy's
// series with their values, the Go collector), /readyz ready once the modules
// have compiled and a worker is up, without the token.
func TestServeMetricsPythonOn(t *testing.T) {
	needVenv(t)
	t.Setenv("REMOTEMEDIA_TOKEN", "s3cret")
	base := "http://" + startServe(t, "--python", "on")
	auth := map[string]string{"Authorization": "Bearer s3cret"}
	for range 2 {
		if status, _, body := call(t, "POST", base+"/v1/sessions", "", auth, `{"node_type":"PassThrough"}`); status != http.StatusCreated {
			t.Fatalf("open: %d %s", status, body)
		}
	}
	families := scrapeMetrics(t, base, auth)
	for _, tt := range []struct {
		name   string
		labels []string
		expect float64
	}{
		{name: "pyproxy_sessions_opened_total", expect: 2},
		{name: "pyproxy_sessions", expect: 2},
		{name: "pyproxy_workers_alive", expect: 1},
		{name: "pyproxy_requests_total", labels: []string{"op", "open"}, expect: 2},
		{name: "pyproxy_requests_total", labels: []string{"op", "frame"}, expect: 0},
	} {
		if got := metricValue(t, families, tt.name, tt.labels...); got != tt.expect {
			t.Errorf("%s%v = %v, want %v", tt.name, tt.labels, got, tt.expect)
		}
	}
	if v := metricValue(t, families, "go_goroutines"); v < 1 {
		t.Errorf("go_goroutines = %v, want the server's goroutines", v)
	}
	status, ready := waitCompiled(t, base)
	if status != http.StatusOK || !ready.Ready || ready.Checks["modules"] != "ok" || ready.Checks["pipelines"] != "ok" || ready.Checks["python"] != "ok" {
		t.Errorf("/readyz = %d %+v, want 200 {ready: true, checks: {modules: ok, pipelines: ok, python: ok}}", status, ready)
	}
}
