package pyproxy

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/remotemedia/hybrid/core/frame"
	"github.com/remotemedia/hybrid/core/pynode"
	"github.com/remotemedia/hybrid/target/server/pyhttp"
)

func TestPassThroughHTTP(t *testing.T) {
	p := newProxy(t, Config{})
	srv, _ := serve(t, p)

	status, _, body := do(t, "GET", srv.URL+"/v1/nodes", nil, nil)
	var nodes []NodeType
	if err := json.Unmarshal([]byte(body), &nodes); status != 200 || err != nil {
		t.Fatalf("GET /v1/nodes: %d %s (%v)", status, body, err)
	}
	byType := map[string]NodeType{}
	for _, n := range nodes {
		byType[n.Type] = n
	}
	if _, ok := byType["PassThrough"]; !ok {
		t.Fatalf("PassThrough missing from %s", body)
	}
	if ps := byType["Sleep"].Params; len(ps) != 1 || ps[0].Name != "seconds" || ps[0].Default != 1.0 || ps[0].Type != "number" {
		t.Errorf("Sleep params = %+v, want seconds: number = 1", ps)
	}

	status, _, body = do(t, "POST", srv.URL+"/v1/sessions", nil, []byte(`{"node_type":"PassThrough","params":{}}`))
	var opened struct {
		SessionID string `json:"session_id"`
	}
	if err := json.Unmarshal([]byte(body), &opened); status != http.StatusCreated || err != nil || opened.SessionID == "" {
		t.Fatalf("open: %d %s", status, body)
	}
	audio := frame.NewAudioF32(frame.Header{StreamID: "s", Seq: 1, Timestamp: 20000, Meta: map[string]any{"k": "v"}}, 48000, 2, []float32{0.5, -0.25, 1, 0})
	in := encode(t, audio, text(2, "héllo"), frame.NewJSON(frame.Header{Seq: 3}, []byte(`{"a":1}`)))
	status, hdr, body := do(t, "POST", srv.URL+"/v1/sessions/"+opened.SessionID+"/frames", map[string]string{"Content-Type": ContentType}, in)
	if status != 200 || hdr.Get("Content-Type") != ContentType {
		t.Fatalf("frames: %d %s %q", status, hdr.Get("Content-Type"), body)
	}
	if !bytes.Equal([]byte(body), in) {
		t.Errorf("pass-through returned %d bytes, want the %d input bytes unchanged", len(body), len(in))
	}
	if status, _, body = do(t, "DELETE", srv.URL+"/v1/sessions/"+opened.SessionID, nil, nil); status != http.StatusNoContent {
		t.Errorf("delete: %d %s", status, body)
	}
	if status, _, body = do(t, "POST", srv.URL+"/v1/sessions/"+opened.SessionID+"/frames", nil, in); status != 404 || !strings.Contains(body, "unknown session") {
		t.Errorf("frames after delete: %d %s, want 404 unknown session", status, body)
	}
}

func TestHTTPErrors(t *testing.T) {
	p := newProxy(t, Config{MaxSessions: 2, BodyLimit: "1K"})
	srv, c := serve(t, p)
	id := open(t, c, "Echo", nil)
	tests := []struct {
		name         string
		path, body   string
		expectStatus int
		expectErr    string
	}{
		{name: "unknown node type", path: "/v1/sessions", body: `{"node_type":"Nope"}`, expectStatus: 404, expectErr: `unknown node type \"Nope\" (known: `},
		{name: "no node type", path: "/v1/sessions", body: `{}`, expectStatus: 400, expectErr: "node_type is required"},
		{name: "bad json", path: "/v1/sessions", body: `{`, expectStatus: 400, expectErr: "want JSON"},
		{name: "bad frame", path: "/v1/sessions/" + id + "/frames", body: "\x81\xa1v\x01", expectStatus: 400, expectErr: `bad frame: frame 0 at byte 0`},
		{name: "empty body", path: "/v1/sessions/" + id + "/frames", body: "", expectStatus: 400, expectErr: "empty body"},
		{name: "body limit", path: "/v1/sessions/" + id + "/frames", body: strings.Repeat("x", 2048), expectStatus: 413, expectErr: "Request Entity Too Large"},
		{name: "unknown session", path: "/v1/sessions/nope/flush", expectStatus: 404, expectErr: `unknown session \"nope\"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			status, hdr, body := do(t, "POST", srv.URL+tt.path, nil, []byte(tt.body))
			if status != tt.expectStatus || !strings.Contains(body, tt.expectErr) || !strings.HasPrefix(hdr.Get("Content-Type"), "application/json") {
				t.Errorf("got %d %s, want %d with %q", status, body, tt.expectStatus, tt.expectErr)
			}
		})
	}
	t.Run("session cap", func(t *testing.T) {
		open(t, c, "Echo", nil)
		_, err := c.Open(context.Background(), "Echo", nil)
		var se *pynode.StatusError
		if !errors.As(err, &se) || se.Code != 429 || !strings.Contains(se.Message, "session limit reached") {
			t.Errorf("third session: %v, want 429 session limit", err)
		}
	})
}

func TestAuth(t *testing.T) {
	p := newProxy(t, Config{Token: "s3cret", AllowOrigins: []string{"https://good.example"}})
	srv, c := serve(t, p)
	tests := []struct {
		name         string
		path         string
		header       map[string]string
		expectStatus int
	}{
		{name: "no token", path: "/v1/nodes", expectStatus: 401},
		{name: "wrong token", path: "/v1/nodes", header: map[string]string{"Authorization": "Bearer nope"}, expectStatus: 401},
		{name: "token", path: "/v1/nodes", header: map[string]string{"Authorization": "Bearer s3cret"}, expectStatus: 200},
		{name: "scheme in lower case", path: "/v1/nodes", header: map[string]string{"Authorization": "bearer s3cret"}, expectStatus: 200},
		{name: "scheme in upper case", path: "/v1/nodes", header: map[string]string{"Authorization": "BEARER s3cret"}, expectStatus: 200},
		{name: "other scheme", path: "/v1/nodes", header: map[string]string{"Authorization": "Basic s3cret"}, expectStatus: 401},
		{name: "metrics need the token", path: "/metrics", expectStatus: 401},
		{name: "healthz is open", path: "/healthz", expectStatus: 200},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if status, _, body := do(t, "GET", srv.URL+tt.path, tt.header, nil); status != tt.expectStatus {
				t.Errorf("got %d %s, want %d", status, body, tt.expectStatus)
			}
		})
	}
	if _, err := c.Nodes(context.Background()); err != nil {
		t.Errorf("client with token: %v", err)
	}
	t.Run("cors", func(t *testing.T) {
		for origin, want := range map[string]string{"https://good.example": "https://good.example", "https://evil.example": ""} {
			_, hdr, _ := do(t, "OPTIONS", srv.URL+"/v1/sessions", map[string]string{"Origin": origin, "Access-Control-Request-Method": "POST"}, nil)
			if got := hdr.Get("Access-Control-Allow-Origin"); got != want {
				t.Errorf("preflight from %s: Access-Control-Allow-Origin %q, want %q", origin, got, want)
			}
			_, hdr, _ = do(t, "GET", srv.URL+"/v1/nodes", map[string]string{"Origin": origin, "Authorization": "Bearer s3cret"}, nil)
			if got := hdr.Get("Access-Control-Allow-Origin"); got != want {
				t.Errorf("GET from %s: Access-Control-Allow-Origin %q, want %q", origin, got, want)
			}
		}
	})
}

// fakeListener has an address but never accepts, to test Serve's address check.
type fakeListener struct{ addr net.Addr }

func (l fakeListener) Accept() (net.Conn, error) { return nil, net.ErrClosed }
func (l fakeListener) Close() error              { return nil }
func (l fakeListener) Addr() net.Addr            { return l.addr }

func TestCheckListen(t *testing.T) {
	tests := []struct {
		name      string
		addr      string
		token     string
		expectErr error
	}{
		{name: "loopback v4", addr: "127.0.0.1:8091"},
		{name: "loopback v6", addr: "[::1]:8091"},
		{name: "localhost", addr: "localhost:8091"},
		{name: "all interfaces", addr: ":8091", expectErr: ErrNoToken},
		{name: "public", addr: "0.0.0.0:8091", expectErr: ErrNoToken},
		{name: "public with token", addr: "0.0.0.0:8091", token: "t"},
		{name: "no port", addr: "nonsense", expectErr: ErrConfig},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := CheckListen(tt.addr, tt.token); !errors.Is(err, tt.expectErr) || (tt.expectErr == nil) != (err == nil) {
				t.Errorf("CheckListen(%q, %q) = %v, want %v", tt.addr, tt.token, err, tt.expectErr)
			}
		})
	}
	p := &Proxy{}
	ln := fakeListener{&net.TCPAddr{IP: net.IPv4zero, Port: 8091}}
	if err := p.Serve(context.Background(), ln); !errors.Is(err, ErrNoToken) {
		t.Errorf("Serve on 0.0.0.0 without token = %v, want ErrNoToken", err)
	}
}

func TestStreamingNode(t *testing.T) {
	p := newProxy(t, Config{})
	_, c := serve(t, p)
	ctx := context.Background()
	id := open(t, c, "Pairs", nil)
	var got []string
	for i, s := range []string{"a", "b", "c", "d", "e"} {
		out, err := send(ctx, c, id, text(uint64(i), s))
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, out...)
	}
	err := c.Flush(ctx, id, func(f *frame.Frame) { got = append(got, f.Text()) })
	if want := []string{"a+b", "c+d", "e"}; err != nil || !slices.Equal(got, want) {
		t.Errorf("got %q %v, want %q", got, err, want)
	}
}

// TestResponseFraming checks how outputs go out: all at once with a Content-Length
// when they are all there at the end of the request, streamed (chunked, each
// output as soon as it is produced) while the node still works; and that
// core/pynode's client keeps one connection alive across requests.
func TestResponseFraming(t *testing.T) {
	p := newProxy(t, Config{Modules: []string{"testdata/gate_nodes.py"}})
	srv := httptest.NewUnstartedServer(p.Handler())
	var conns atomic.Int64
	srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			conns.Add(1)
		}
	}
	srv.Start()
	t.Cleanup(srv.Close)
	c := pyhttp.NewClient(srv.URL, "")
	ctx := context.Background()

	id := open(t, c, "PassThrough", nil)
	one := encode(t, text(1, "x"))
	resp, err := http.Post(srv.URL+"/v1/sessions/"+id+"/frames", ContentType, bytes.NewReader(one))
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.ContentLength != int64(len(one)) || !bytes.Equal(body, one) {
		t.Errorf("pass-through: Content-Length %d, %d bytes; want %d and the input", resp.ContentLength, len(body), len(one))
	}

	conns.Store(0)
	for i := range 20 {
		if out, err := send(ctx, c, id, text(uint64(i), "z")); err != nil || len(out) != 1 {
			t.Fatalf("send %d: %q %v", i, out, err)
		}
	}
	if n := conns.Load(); n > 1 {
		t.Errorf("20 sequential requests opened %d connections, want at most 1 (keep-alive)", n)
	}

	// Streaming: the node holds its second frame until the test has read the first
	// output, so that output can only have come while the node still worked. A
	// proxy that held outputs back to the end would never send it: the gate then
	// opens after 30 s, and the test fails.
	gate := filepath.Join(t.TempDir(), "go")
	release := func() error { return os.WriteFile(gate, nil, 0o600) }
	held := time.AfterFunc(30*time.Second, func() { _ = release() })
	defer held.Stop()
	gated := open(t, c, "Gate", nil)
	in := encode(t, text(1, "x"), text(2, "wait:"+gate))
	resp, err = http.Post(srv.URL+"/v1/sessions/"+gated+"/frames", ContentType, bytes.NewReader(in))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	dec := frame.NewDecoder(resp.Body)
	first, err := dec.Decode()
	if err != nil || first.Text() != "x" {
		t.Fatalf("first output: %v %v", first, err)
	}
	if !held.Stop() {
		t.Fatal("the first output came only after the node's second call returned: outputs are not streamed")
	}
	if err := release(); err != nil {
		t.Fatal(err)
	}
	second, err := dec.Decode()
	if err != nil || second.Text() != "wait:"+gate {
		t.Fatalf("second output: %v %v", second, err)
	}
	if resp.ContentLength != -1 {
		t.Errorf("streamed response: Content-Length %d, want none (chunked)", resp.ContentLength)
	}
}
