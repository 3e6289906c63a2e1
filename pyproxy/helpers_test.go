package pyproxy

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/remotemedia/hybrid/core/frame"
	"github.com/remotemedia/hybrid/core/pynode"
	"github.com/remotemedia/hybrid/target/server/pyhttp"
)

var (
	pythonOnce sync.Once
	pythonPath string
	pythonErr  string
)

// testPython finds an interpreter that can import remotemedia.worker, or skips.
func testPython(t testing.TB) string {
	t.Helper()
	pythonOnce.Do(func() {
		var tried []string
		for _, py := range []string{os.Getenv("REMOTEMEDIA_PYTHON"), "../.venv/bin/python", "python3"} {
			if py == "" {
				continue
			}
			out, err := exec.Command(py, "-c", "import remotemedia.worker").CombinedOutput()
			if err == nil {
				pythonPath, _ = filepath.Abs(py)
				if !strings.Contains(py, "/") {
					pythonPath = py
				}
				return
			}
			tried = append(tried, py+": "+strings.TrimSpace(lastLine(string(out))))
		}
		pythonErr = strings.Join(tried, "; ")
	})
	if pythonPath == "" {
		if os.Getenv("CI") != "" { // the test command installs it: a skip would hide a failure
			t.Fatalf("the remotemedia Python package cannot be imported: %s", pythonErr)
		}
		t.Skipf("the remotemedia Python package cannot be imported (%s); create the venv: python3 -m venv .venv && .venv/bin/pip install -e pyproxy/python", pythonErr)
	}
	return pythonPath
}

func lastLine(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return lines[len(lines)-1]
}

// newProxy starts a proxy with the test nodes and closes it when the test ends.
func newProxy(t testing.TB, cfg Config) *Proxy {
	t.Helper()
	cfg.Python = testPython(t)
	cfg.Modules = append(cfg.Modules, "testdata/faulty_nodes.py")
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
		if testing.Verbose() {
			cfg.Logger = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	p, err := New(ctx, cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(func() { _ = p.Close() })
	return p
}

// serve runs the proxy's handler on a loopback test server and returns a client for it.
func serve(t testing.TB, p *Proxy) (*httptest.Server, *pynode.Client) {
	t.Helper()
	srv := httptest.NewServer(p.Handler())
	t.Cleanup(srv.Close)
	return srv, pyhttp.NewClient(srv.URL, p.cfg.Token)
}

// wsTransport is the native WebSocket transport, failing the test if a session
// falls back to HTTP.
func wsTransport(t testing.TB, url, token string) *pynode.WSTransport {
	tr := pyhttp.NewTransport(url, token)
	tr.Fallback = func(nodeType, session string, err error) {
		t.Errorf("%s session %s fell back to HTTP: %v", nodeType, session, err)
	}
	return tr
}

func text(seq uint64, s string) *frame.Frame {
	return frame.NewText(frame.Header{StreamID: "t", Seq: seq}, s)
}

func encode(t testing.TB, frames ...*frame.Frame) []byte {
	t.Helper()
	var b []byte
	for _, f := range frames {
		var err error
		if b, err = frame.AppendMarshal(b, f); err != nil {
			t.Fatal(err)
		}
	}
	return b
}

// send posts frames to a session through the client and returns the output texts.
func send(ctx context.Context, c *pynode.Client, session string, frames ...*frame.Frame) ([]string, error) {
	var body []byte
	for _, f := range frames {
		body, _ = frame.AppendMarshal(body, f)
	}
	var out []string
	err := c.Send(ctx, session, body, func(f *frame.Frame) { out = append(out, string(f.Data)) })
	return out, err
}

func open(t testing.TB, c *pynode.Client, nodeType string, params map[string]any) string {
	t.Helper()
	id, err := c.Open(context.Background(), nodeType, params)
	if err != nil {
		t.Fatalf("open %s: %v", nodeType, err)
	}
	return id
}

// do makes a raw request and returns the status and body.
func do(t testing.TB, method, url string, header map[string]string, body []byte) (int, http.Header, string) {
	t.Helper()
	req, err := http.NewRequest(method, url, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
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

// workerOf returns the worker a session is pinned to.
func workerOf(t testing.TB, p *Proxy, id string) *worker {
	t.Helper()
	p.mu.Lock()
	defer p.mu.Unlock()
	s := p.sessions[id]
	if s == nil {
		t.Fatalf("session %s is not open", id)
	}
	return s.w
}

// waitFor polls cond until it holds; it fails the test after a generous deadline
// (a hang guard, not a speed check).
func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("gave up waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// restarted waits until slot runs a live worker other than old.
func restarted(t testing.TB, p *Proxy, slot, old int) int {
	t.Helper()
	var pid int
	waitFor(t, "the worker to restart", func() bool {
		w := p.Workers()[slot]
		pid = w.PID
		return w.Alive && w.PID != old
	})
	return pid
}
