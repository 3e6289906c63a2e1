package pyproxy

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/remotemedia/hybrid/core/frame"
)

// request makes a raw request with an explicit Host (when host is set) and returns status and body.
func doReq(t *testing.T, method, url, host string, header map[string]string, body string) (int, http.Header, string) {
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

func openSession(t *testing.T, srv *httptest.Server, header map[string]string, body string) (int, string) {
	t.Helper()
	status, _, resp := doReq(t, "POST", srv.URL+"/v1/sessions", "", header, body)
	if status != http.StatusCreated {
		return status, resp
	}
	var opened struct {
		SessionID string `json:"session_id"`
	}
	if err := json.Unmarshal([]byte(resp), &opened); err != nil {
		t.Fatal(err)
	}
	return status, opened.SessionID
}

// sendText posts one text frame to a session and returns the text outputs.
func sendText(t *testing.T, srv *httptest.Server, header map[string]string, id, s string) []string {
	t.Helper()
	h := map[string]string{"Content-Type": ContentType}
	for k, v := range header {
		h[k] = v
	}
	status, _, body := doReq(t, "POST", srv.URL+"/v1/sessions/"+id+"/frames", "", h, string(encode(t, text(1, s))))
	if status != 200 {
		t.Fatalf("frames: %d %s", status, body)
	}
	var out []string
	dec := frame.NewDecoder(strings.NewReader(body))
	for {
		f, err := dec.Decode()
		if err != nil {
			break
		}
		out = append(out, f.Text())
	}
	return out
}

// Issue 10 point 1: a client cannot set an operator-only param; the operator
// sets it with NodeParams or as a trusted caller (OperatorToken).
func TestOperatorParams(t *testing.T) {
	p := newProxy(t, Config{Token: "client", OperatorToken: "op", NodeParams: map[string]map[string]any{"Program": {"binary": "/opt/espeak"}}})
	srv, _ := serve(t, p)
	client := map[string]string{"Authorization": "Bearer client"}
	operator := map[string]string{"Authorization": "Bearer op"}

	_, _, body := doReq(t, "GET", srv.URL+"/v1/nodes", "", client, "")
	var nodes []NodeType
	if err := json.Unmarshal([]byte(body), &nodes); err != nil {
		t.Fatal(err)
	}
	for _, n := range nodes {
		if n.Type == "Program" && (len(n.Params) != 2 || n.Params[0].Name != "binary" || !n.Params[0].Operator || n.Params[1].Operator) {
			t.Errorf("Program params = %+v, want binary operator-only and greeting not", n.Params)
		}
	}

	tests := []struct {
		name         string
		header       map[string]string
		body         string
		expectStatus int
		expectOut    string // output for "x", or the error text
	}{
		{name: "client sets an operator param", header: client, body: `{"node_type":"Program","params":{"binary":"/any/program"}}`,
			expectStatus: 400, expectOut: `Program: param \"binary\" is operator-only: set it in the server's configuration`},
		{name: "client sets another param", header: client, body: `{"node_type":"Program","params":{"greeting":"yo"}}`,
			expectStatus: 201, expectOut: "/opt/espeak yo x"},
		{name: "operator sets it", header: operator, body: `{"node_type":"Program","params":{"binary":"/trusted"}}`,
			expectStatus: 201, expectOut: "/trusted hi x"},
		{name: "unavailable type", header: operator, body: `{"node_type":"Missing"}`,
			expectStatus: 422, expectOut: "Missing cannot run on this server: its model is not installed"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			status, got := openSession(t, srv, tt.header, tt.body)
			if status != tt.expectStatus {
				t.Fatalf("open: %d %s, want %d", status, got, tt.expectStatus)
			}
			if status != 201 {
				if !strings.Contains(got, tt.expectOut) {
					t.Errorf("open: %s, want %q", got, tt.expectOut)
				}
				return
			}
			if out := sendText(t, srv, tt.header, got, "x"); len(out) != 1 || out[0] != tt.expectOut {
				t.Errorf("outputs %q, want %q", out, tt.expectOut)
			}
		})
	}
	if _, err := p.Open(context.Background(), "Program", map[string]any{"binary": "/x"}, Caller{}); !errors.Is(err, ErrOperatorParam) {
		t.Errorf("Open by an untrusted caller = %v, want ErrOperatorParam", err)
	}
}

// Issue 10 point 2: Host and Origin checks against DNS rebinding and cross-site requests.
func TestGuardHTTP(t *testing.T) {
	p := newProxy(t, Config{AllowHosts: []string{"media.lan"}, AllowOrigins: []string{"https://good.example"}})
	srv, _ := serve(t, p)
	_, port, _ := net.SplitHostPort(strings.TrimPrefix(srv.URL, "http://"))
	open := `{"node_type":"Echo"}`
	tests := []struct {
		name         string
		method, path string
		host         string
		header       map[string]string
		expectStatus int
		expectErr    string
	}{
		{name: "rebound name", method: "POST", path: "/v1/sessions", host: "evil.example:" + port, expectStatus: 403, expectErr: `Host \"evil.example:` + port + `\" is not an address of this server`},
		{name: "rebound name, GET", method: "GET", path: "/v1/nodes", host: "evil.example:" + port, expectStatus: 403},
		{name: "rebound name, no port", method: "GET", path: "/healthz", host: "evil.example", expectStatus: 403},
		{name: "localhost", method: "POST", path: "/v1/sessions", host: "localhost:" + port, expectStatus: 201},
		{name: "loopback IP", method: "POST", path: "/v1/sessions", expectStatus: 201},
		{name: "v6 loopback name", method: "GET", path: "/v1/nodes", host: "[::1]:" + port, expectStatus: 200},
		{name: "other port", method: "GET", path: "/v1/nodes", host: "localhost:1", expectStatus: 403},
		{name: "allowed host", method: "POST", path: "/v1/sessions", host: "media.lan:" + port, expectStatus: 201},
		{name: "cross-site text/plain POST", method: "POST", path: "/v1/sessions", header: map[string]string{"Origin": "https://evil.example", "Content-Type": "text/plain"},
			expectStatus: 403, expectErr: `cross-origin POST from \"https://evil.example\" refused`},
		{name: "null origin", method: "POST", path: "/v1/sessions", header: map[string]string{"Origin": "null"}, expectStatus: 403},
		{name: "own origin", method: "POST", path: "/v1/sessions", header: map[string]string{"Origin": srv.URL}, expectStatus: 201},
		{name: "allowed origin", method: "POST", path: "/v1/sessions", header: map[string]string{"Origin": "https://good.example"}, expectStatus: 201},
		{name: "cross-site GET (CORS hides the answer)", method: "GET", path: "/v1/nodes", header: map[string]string{"Origin": "https://evil.example"}, expectStatus: 200},
		{name: "cross-site WebSocket", method: "GET", path: "/v1/sessions/x/ws", header: map[string]string{"Origin": "https://evil.example", "Upgrade": "websocket", "Connection": "Upgrade"}, expectStatus: 403},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			body := ""
			if tt.method == "POST" {
				body = open
			}
			status, _, got := doReq(t, tt.method, srv.URL+tt.path, tt.host, tt.header, body)
			if status != tt.expectStatus || !strings.Contains(got, tt.expectErr) {
				t.Errorf("got %d %s, want %d %q", status, got, tt.expectStatus, tt.expectErr)
			}
		})
	}

	// The attack: Host and Origin both evil.example on the session WebSocket.
	_, id := openSession(t, srv, nil, open)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, resp, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(srv.URL, "http")+"/v1/sessions/"+id+"/ws",
		&websocket.DialOptions{Host: "evil.example", HTTPHeader: http.Header{"Origin": {"http://evil.example"}}})
	if err == nil {
		conn.CloseNow()
		t.Fatal("WebSocket with Host and Origin evil.example accepted")
	}
	if resp == nil || resp.StatusCode != 403 {
		t.Errorf("WebSocket with Host evil.example: %v %v, want 403", resp, err)
	}
}

// The Host rule by listener: what the connection arrived on decides.
func TestHostAllowed(t *testing.T) {
	tests := []struct {
		name   string
		local  string
		host   string
		allow  []string
		expect bool
	}{
		{name: "loopback: localhost", local: "127.0.0.1:8080", host: "localhost:8080", expect: true},
		{name: "loopback: 127.0.0.1", local: "127.0.0.1:8080", host: "127.0.0.1:8080", expect: true},
		{name: "loopback: ::1", local: "127.0.0.1:8080", host: "[::1]:8080", expect: true},
		{name: "loopback: LOCALHOST", local: "127.0.0.1:8080", host: "LOCALHOST:8080", expect: true},
		{name: "loopback: wrong port", local: "127.0.0.1:8080", host: "localhost:8081", expect: false},
		{name: "loopback: name", local: "127.0.0.1:8080", host: "evil.example:8080", expect: false},
		{name: "loopback: port 80 implied", local: "127.0.0.1:80", host: "localhost", expect: true},
		{name: "LAN address", local: "192.168.1.5:8080", host: "192.168.1.5:8080", expect: true},
		{name: "LAN: localhost is not it", local: "192.168.1.5:8080", host: "localhost:8080", expect: false},
		{name: "LAN: a name needs --allow-host", local: "192.168.1.5:8080", host: "media.lan:8080", expect: false},
		{name: "allowed name, any port", local: "192.168.1.5:8080", host: "media.lan:8080", allow: []string{"media.lan"}, expect: true},
		{name: "allowed name:port", local: "192.168.1.5:8080", host: "media.lan:9", allow: []string{"media.lan:8080"}, expect: false},
		{name: "allow any", local: "192.168.1.5:8080", host: "whatever", allow: []string{"*"}, expect: true},
		{name: "empty Host", local: "127.0.0.1:8080", host: "", expect: false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := httptest.NewRequest("GET", "/", nil)
			r.Host = tt.host
			addr, _ := net.ResolveTCPAddr("tcp", tt.local)
			r = r.WithContext(context.WithValue(r.Context(), http.LocalAddrContextKey, net.Addr(addr)))
			if got := hostAllowed(r, tt.allow); got != tt.expect {
				t.Errorf("hostAllowed(Host %q on %s, allow %q) = %v, want %v", tt.host, tt.local, tt.allow, got, tt.expect)
			}
		})
	}
}

// Issue 10 point 4: unauthenticated /healthz does not list worker PIDs.
func TestHealthzPIDs(t *testing.T) {
	p := newProxy(t, Config{Token: "s3cret"})
	srv, _ := serve(t, p)
	status, _, body := doReq(t, "GET", srv.URL+"/healthz", "", nil, "")
	if status != 200 || strings.Contains(body, "pid") || !strings.Contains(body, `"alive":true`) {
		t.Errorf("healthz without the token: %d %s, want 200, alive, no pid", status, body)
	}
	_, _, body = doReq(t, "GET", srv.URL+"/healthz", "", map[string]string{"Authorization": "Bearer s3cret"}, "")
	if want := fmt.Sprintf(`"pid":%d`, p.Workers()[0].PID); !strings.Contains(body, want) {
		t.Errorf("healthz with the token: %s, want %s", body, want)
	}
}

// syncBuffer is a log destination safe for concurrent writes.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// Issue 10 point 4: a client gets the exception type and message; the proxy logs
// the traceback with the session id, and the worker's stderr, at warn level.
func TestNodeErrorsLoggedNotSent(t *testing.T) {
	var logs syncBuffer
	p := newProxy(t, Config{Logger: slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelWarn}))})
	srv, c := serve(t, p)
	id := open(t, c, "Raise", nil)
	status, _, body := doReq(t, "POST", srv.URL+"/v1/sessions/"+id+"/frames", "", nil, string(encode(t, text(1, "raise"))))
	if status != 422 || !strings.Contains(body, "ValueError: boom from Raise node") || strings.Contains(body, "Traceback") || strings.Contains(body, ".py") {
		t.Errorf("client sees %d %s, want 422 with the exception and no traceback or path", status, body)
	}
	waitFor(t, "the traceback in the log", func() bool {
		l := logs.String()
		return strings.Contains(l, "level=WARN") && strings.Contains(l, "session="+id) && strings.Contains(l, "faulty_nodes.py")
	})
	w := workerOf(t, p, id)
	_, _ = w.stderr.Write([]byte("a line on stderr\n"))
	if !strings.Contains(logs.String(), `level=WARN msg="worker stderr" worker=`) {
		t.Errorf("worker stderr not logged at warn:\n%s", logs.String())
	}
}

// Issue 10 point 4: the token from a file or $REMOTEMEDIA_TOKEN.
func TestLoadToken(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "token")
	empty := filepath.Join(dir, "empty")
	if err := os.WriteFile(file, []byte("  fromfile\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(empty, []byte("\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("REMOTEMEDIA_TOKEN", "fromenv")
	tests := []struct {
		name        string
		value, file string
		expect      string
		expectErr   string
	}{
		{name: "flag", value: "v", expect: "v"},
		{name: "file", file: file, expect: "fromfile"},
		{name: "env", expect: "fromenv"},
		{name: "both", value: "v", file: file, expectErr: "not both"},
		{name: "empty file", file: empty, expectErr: "is empty"},
		{name: "missing file", file: filepath.Join(dir, "nope"), expectErr: "no such file"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := LoadToken(tt.value, tt.file)
			if got != tt.expect || (err == nil) != (tt.expectErr == "") || (err != nil && !strings.Contains(err.Error(), tt.expectErr)) {
				t.Errorf("LoadToken(%q, %q) = %q, %v; want %q, %q", tt.value, tt.file, got, err, tt.expect, tt.expectErr)
			}
		})
	}
}

// Issue 10 point 5: a node that allocates without bound fails its call with the
// memory error; the worker is replaced and new sessions work.
func TestWorkerMemoryLimit(t *testing.T) {
	p := newProxy(t, Config{MemoryLimit: 200 << 20})
	srv, c := serve(t, p)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	old := p.Workers()[0].PID
	id := open(t, c, "Hog", nil)
	status, _, body := doReq(t, "POST", srv.URL+"/v1/sessions/"+id+"/frames", "", nil, string(encode(t, text(1, "x"))))
	want := "pyproxy: the Python worker exceeded its memory limit of 200 MiB; it was replaced"
	if status != http.StatusBadGateway || !strings.Contains(body, want) {
		t.Fatalf("hog: %d %s, want 502 %q", status, body, want)
	}
	if err := p.Feed(ctx, id, encode(t, text(2, "x")), discard); !errors.Is(err, ErrWorkerMemory) || !errors.Is(err, ErrWorkerDied) {
		t.Errorf("the session after: %v, want ErrWorkerMemory", err)
	}
	restarted(t, p, 0, old)
	_, _, health := doReq(t, "GET", srv.URL+"/healthz", "", nil, "")
	if !strings.Contains(health, `"ok":true`) {
		t.Errorf("healthz after the restart: %s", health)
	}
	fresh := open(t, c, "Echo", nil)
	if out, err := send(ctx, c, fresh, text(1, "again")); err != nil || len(out) != 1 || !strings.HasSuffix(out[0], ":again") {
		t.Errorf("new session: %q %v", out, err)
	}
}

func sessionOpen(p *Proxy, id string) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.sessions[id] != nil
}

// Issue 10 point 9: idle sessions expire; one with a WebSocket open does not.
func TestSessionIdle(t *testing.T) {
	p := newProxy(t, Config{SessionIdle: 100 * time.Millisecond})
	srv, c := serve(t, p)
	a := open(t, c, "Echo", nil)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	// b, with a WebSocket open on it (tried again should b expire before the socket is up).
	var b string
	var conn *websocket.Conn
	for try := 0; conn == nil; try++ {
		b = open(t, c, "Echo", nil)
		ws, _, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(srv.URL, "http")+"/v1/sessions/"+b+"/ws", nil)
		switch {
		case err == nil && sessionOpen(p, b):
			conn = ws
		case try == 5:
			t.Fatalf("no WebSocket on a live session in 5 tries: %v", err)
		case err == nil:
			ws.CloseNow()
		}
	}
	defer conn.CloseNow()
	waitFor(t, "the idle session to expire", func() bool { return !sessionOpen(p, a) })
	status, _, body := doReq(t, "POST", srv.URL+"/v1/sessions/"+a+"/frames", "", nil, string(encode(t, text(1, "x"))))
	if status != http.StatusGone || !strings.Contains(body, "session expired") || !strings.Contains(body, "was not used for 100ms") {
		t.Errorf("expired session: %d %s, want 410 session expired", status, body)
	}
	// A session opened after a's expiry expires too: b, older, has lived through a whole idle period.
	c2 := open(t, c, "Echo", nil)
	waitFor(t, "a second idle session to expire", func() bool { return !sessionOpen(p, c2) })
	if !sessionOpen(p, b) {
		t.Fatal("the session with a WebSocket open expired")
	}
	if err := conn.Write(ctx, websocket.MessageBinary, encode(t, text(1, "ws"))); err != nil {
		t.Fatal(err)
	}
	if _, msg, err := conn.Read(ctx); err != nil || !strings.Contains(string(msg), ":ws") {
		t.Errorf("WebSocket session after the others expired: %q %v", msg, err)
	}
}

// Issue 10 point 9: closing a session's WebSocket frees the session (after SocketGrace).
func TestWebSocketCloseFreesSession(t *testing.T) {
	p := newProxy(t, Config{SocketGrace: 50 * time.Millisecond})
	srv, c := serve(t, p)
	id := open(t, c, "Echo", nil)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, _, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(srv.URL, "http")+"/v1/sessions/"+id+"/ws", nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := conn.Write(ctx, websocket.MessageBinary, encode(t, text(1, "x"))); err != nil {
		t.Fatal(err)
	}
	if _, _, err := conn.Read(ctx); err != nil {
		t.Fatal(err)
	}
	conn.Close(websocket.StatusNormalClosure, "")
	waitFor(t, "the session of the closed WebSocket to end", func() bool { return !sessionOpen(p, id) })
	if n := testutil.ToFloat64(p.m.sessions); n != 0 {
		t.Errorf("pyproxy_sessions = %v, want 0", n)
	}
	if status, _, body := doReq(t, "DELETE", srv.URL+"/v1/sessions/"+id, "", nil, ""); status != http.StatusNoContent {
		t.Errorf("DELETE after: %d %s, want 204", status, body)
	}
}

// Issue 10 point 9: a cap per client address (429); the operator is exempt.
func TestSessionsPerClient(t *testing.T) {
	p := newProxy(t, Config{MaxSessionsPerClient: 2, OperatorToken: "op"})
	srv, _ := serve(t, p)
	var ids []string
	for range 2 {
		status, id := openSession(t, srv, nil, `{"node_type":"Echo"}`)
		if status != 201 {
			t.Fatalf("open: %d %s", status, id)
		}
		ids = append(ids, id)
	}
	status, body := openSession(t, srv, nil, `{"node_type":"Echo"}`)
	if status != http.StatusTooManyRequests || !strings.Contains(body, "127.0.0.1 has 2 sessions open, the most one client may have") {
		t.Errorf("third session: %d %s, want 429", status, body)
	}
	if status, body := openSession(t, srv, map[string]string{"Authorization": "Bearer op"}, `{"node_type":"Echo"}`); status != 201 {
		t.Errorf("operator's session: %d %s, want 201", status, body)
	}
	if status, _, body := doReq(t, "DELETE", srv.URL+"/v1/sessions/"+ids[0], "", nil, ""); status != 204 {
		t.Fatalf("delete: %d %s", status, body)
	}
	if status, body := openSession(t, srv, nil, `{"node_type":"Echo"}`); status != 201 {
		t.Errorf("after closing one: %d %s, want 201", status, body)
	}
}

// Issue 10 point 9: a WebSocket client that stops reading has its socket closed
// after WriteTimeout and its session freed.
func TestWebSocketStuckReader(t *testing.T) {
	p := newProxy(t, Config{WriteTimeout: 200 * time.Millisecond, SocketGrace: 50 * time.Millisecond, CallTimeout: 30 * time.Second})
	srv, c := serve(t, p)
	id := open(t, c, "Big", map[string]any{"kib": 1024})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, _, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(srv.URL, "http")+"/v1/sessions/"+id+"/ws", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.CloseNow()
	frames := make([]*frame.Frame, 64) // 64 MiB of answer: more than the sockets hold
	for i := range frames {
		frames[i] = text(uint64(i), "x")
	}
	if err := conn.Write(ctx, websocket.MessageBinary, encode(t, frames...)); err != nil {
		t.Fatal(err)
	}
	// Never read.
	waitFor(t, "the stuck socket's session to end", func() bool { return !sessionOpen(p, id) && testutil.ToFloat64(p.m.sockets) == 0 })
}

// Issue 10 point 9: a client that sends its body slowly is cut off after BodyTimeout.
func TestSlowBody(t *testing.T) {
	p := newProxy(t, Config{BodyTimeout: 200 * time.Millisecond})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- p.Serve(ctx, ln) }()
	defer func() { cancel(); <-done }()

	conn, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(20 * time.Second)) // a hang guard
	fmt.Fprintf(conn, "POST /v1/sessions HTTP/1.1\r\nHost: %s\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{\"node", ln.Addr())
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatalf("no answer to a stalled body: %v", err)
	}
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 400 || !strings.Contains(string(body), "timeout") {
		t.Errorf("stalled body: %d %s, want 400 naming the timeout", resp.StatusCode, body)
	}
}

// Issue 10 point 10: late outputs beyond maxLate drop the oldest, are counted
// for the session, and its client is told before the kept ones.
func TestLateOutputsDropOldest(t *testing.T) {
	p := &Proxy{sessions: map[string]*session{}, clients: map[string]int{}}
	p.m, _ = newMetrics(nil)
	s := &session{id: "s1", notify: make(chan struct{}, 1)}
	p.sessions[s.id] = s
	for i := range maxLate + 5 {
		p.deliverLate(s.id, []byte(fmt.Sprint(i)))
	}
	var got [][]byte
	if err := p.drainLate(s, func(b []byte) error { got = append(got, b); return nil }); err != nil {
		t.Fatal(err)
	}
	if len(got) != maxLate+1 {
		t.Fatalf("%d frames handed on, want the notice and %d outputs", len(got), maxLate)
	}
	notice, err := frame.Unmarshal(got[0])
	if err != nil || notice.Kind != frame.KindJSON || string(notice.Data) != `{"dropped_late_outputs":5,"session":"s1"}` || fmt.Sprint(notice.Meta["dropped_late_outputs"]) != "5" {
		t.Errorf("notice = %+v %v, want json {\"dropped_late_outputs\":5}", notice, err)
	}
	if first, last := string(got[1]), string(got[len(got)-1]); first != "5" || last != fmt.Sprint(maxLate+4) {
		t.Errorf("kept outputs %s..%s, want 5..%d (the oldest dropped)", first, last, maxLate+4)
	}
	if n := testutil.ToFloat64(p.m.dropped); n != 5 {
		t.Errorf("pyproxy_late_outputs_dropped_total = %v, want 5", n)
	}
	got = nil
	p.deliverLate(s.id, []byte("next"))
	_ = p.drainLate(s, func(b []byte) error { got = append(got, b); return nil })
	if len(got) != 1 || string(got[0]) != "next" {
		t.Errorf("after the notice: %q, want only the new output (the count starts again)", got)
	}
}

// Issue 10 point 14: the interpreter is found beside the binary as well as in the
// current directory.
func TestFindPython(t *testing.T) {
	repo := t.TempDir()
	venv := filepath.Join(repo, ".venv", "bin", "python")
	if err := os.MkdirAll(filepath.Dir(venv), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(venv, []byte("#!/bin/sh\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	elsewhere := t.TempDir()
	t.Chdir(elsewhere)
	tests := []struct {
		name   string
		env    string
		exe    string
		expect string
	}{
		{name: "env wins", env: "/opt/py", exe: filepath.Join(repo, "bin", "remotemedia"), expect: "/opt/py"},
		{name: "binary in <repo>/bin", exe: filepath.Join(repo, "bin", "remotemedia"), expect: venv},
		{name: "binary in <repo>", exe: filepath.Join(repo, "remotemedia"), expect: venv},
		{name: "nothing", exe: filepath.Join(elsewhere, "remotemedia"), expect: "python3"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, tried := findPython(tt.env, tt.exe)
			if got != tt.expect {
				t.Errorf("findPython = %q (tried %q), want %q", got, tried, tt.expect)
			}
			if tt.env == "" && !strings.Contains(strings.Join(tried, ", "), "$REMOTEMEDIA_PYTHON (unset), .venv/bin/python") {
				t.Errorf("tried = %q, want it to start with $REMOTEMEDIA_PYTHON and ./.venv", tried)
			}
		})
	}
}

func TestParseFlags(t *testing.T) {
	params, err := ParseNodeParams([]string{"EspeakTTS.binary=/usr/bin/espeak-ng", "WhisperASR.beam=5", `X.list=["a"]`})
	if err != nil || params["EspeakTTS"]["binary"] != "/usr/bin/espeak-ng" || params["WhisperASR"]["beam"] != 5.0 || fmt.Sprint(params["X"]["list"]) != "[a]" {
		t.Errorf("ParseNodeParams = %v, %v", params, err)
	}
	if _, err := ParseNodeParams([]string{"binary=/x"}); !errors.Is(err, ErrConfig) {
		t.Errorf("ParseNodeParams without a type = %v, want ErrConfig", err)
	}
	for in, want := range map[string]int64{"4G": 4 << 30, "512M": 512 << 20, "0": 0, "1048576": 1 << 20} {
		if got, err := ParseSize(in); got != want || err != nil {
			t.Errorf("ParseSize(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	if _, err := ParseSize("lots"); !errors.Is(err, ErrConfig) {
		t.Errorf("ParseSize(lots) = %v, want ErrConfig", err)
	}
}

// A worker that exits with status 3 (a MemoryError outside a call) fails its
// sessions with ErrWorkerMemory; another status is a plain death.
func TestWorkerExitStatus(t *testing.T) {
	p := newProxy(t, Config{MemoryLimit: 300 << 20})
	_, c := serve(t, p)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	for _, tt := range []struct {
		status     string
		expectMem  bool
		expectText string
	}{
		{status: "3", expectMem: true, expectText: "exceeded its memory limit of 300 MiB"},
		{status: "1", expectText: "died: exit status 1"},
	} {
		old := p.Workers()[0].PID
		id := open(t, c, "Exit", nil)
		err := p.Feed(ctx, id, encode(t, text(1, tt.status)), discard)
		if !errors.Is(err, ErrWorkerDied) || errors.Is(err, ErrWorkerMemory) != tt.expectMem || !strings.Contains(fmt.Sprint(err), tt.expectText) {
			t.Errorf("exit %s: %v, want %q (memory: %v)", tt.status, err, tt.expectText, tt.expectMem)
		}
		restarted(t, p, 0, old)
	}
}
