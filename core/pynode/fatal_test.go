package pynode

import (
	"context"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/remotemedia/hybrid/core/def"
	"github.com/remotemedia/hybrid/core/frame"
	"github.com/remotemedia/hybrid/core/node"
)

// TestSessionGoneIsFatal: when the proxy no longer has a node's session (its
// worker died or hung, the proxy closed, the session is unknown), the node's
// error wraps node.ErrFatal with the reason, so the session stops at once; a
// node's own exception or a bad frame does not.
func TestSessionGoneIsFatal(t *testing.T) {
	tests := []struct {
		name      string
		status    int
		body      string
		expectErr string // "" for an error that is not fatal
	}{
		{"worker died", 502, `{"error":"pyproxy: worker 42 died: signal: killed"}`, "Python worker died: pynode: proxy answered 502: pyproxy: worker 42 died: signal: killed; the node's session is gone"},
		{"worker hung", 504, `{"error":"pyproxy: worker 42 did not answer within 30s"}`, "did not answer in time and was replaced"},
		{"unknown session", 404, `{"error":"pyproxy: unknown session \"s1\""}`, "the Python proxy no longer has the session"},
		{"session expired", 410, `{"error":"pyproxy: session \"s1\" expired after 5m0s idle"}`, "the session expired (idle too long)"},
		{"proxy closed", 503, `{"error":"pyproxy: closed"}`, "the Python proxy is closed or has no worker"},
		{"node exception", 422, `{"error":"pyproxy: node \"Upper\": ValueError: no"}`, ""},
		{"bad frame", 400, `{"error":"pyproxy: bad frame"}`, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			mux := http.NewServeMux()
			mux.HandleFunc("POST /v1/sessions", func(w http.ResponseWriter, r *http.Request) {
				w.WriteHeader(http.StatusCreated)
				io.WriteString(w, `{"session_id":"s1"}`)
			})
			answer := func(w http.ResponseWriter, r *http.Request) {
				w.WriteHeader(tt.status)
				io.WriteString(w, tt.body)
			}
			mux.HandleFunc("POST /v1/sessions/s1/frames", answer)
			mux.HandleFunc("POST /v1/sessions/s1/flush", answer)
			c := NewClient("http://proxy", "", inProcess{mux})
			ctx := context.Background()
			n, err := Spec(c, RemoteType{Type: "Upper"}).New(ctx, node.Config{ID: "up"})
			if err != nil {
				t.Fatal(err)
			}
			emit := func(int, *frame.Frame) { t.Error("emitted a frame") }
			for _, call := range []func() error{
				func() error { return n.Process(ctx, 0, frame.NewText(frame.Header{}, "hi"), emit) },
				func() error { return n.Flush(ctx, emit) },
			} {
				err := call()
				if err == nil || !errors.Is(err, ErrRemote) {
					t.Fatalf("err = %v, want the proxy's answer", err)
				}
				if fatal := errors.Is(err, node.ErrFatal); fatal != (tt.expectErr != "") {
					t.Fatalf("err = %v: wraps node.ErrFatal %v, want %v", err, fatal, !fatal)
				}
				if !strings.Contains(err.Error(), tt.expectErr) || !strings.HasPrefix(err.Error(), `pynode: node "up" (Upper): `) {
					t.Errorf("err = %q, want the node's name and %q", err, tt.expectErr)
				}
			}
		})
	}
}

// TestWSSessionGoneIsFatal: the proxy closes a session's WebSocket after an
// error frame only when the session has ended; that error wraps node.ErrFatal,
// an error frame on a connection that stays open does not.
func TestWSSessionGoneIsFatal(t *testing.T) {
	c, _ := fakeProxy(t)
	ctx := context.Background()
	tr := NewWSTransport(c, func(context.Context, string, string) (MessageConn, error) { return &fakeWS{}, nil })
	n, err := Spec(tr, RemoteType{Type: "Upper"}).New(ctx, node.Config{ID: "up"})
	if err != nil {
		t.Fatal(err)
	}
	emit := func(int, *frame.Frame) {}
	err = n.Process(ctx, 0, frame.NewText(frame.Header{}, "fail"), emit)
	if err == nil || errors.Is(err, node.ErrFatal) {
		t.Fatalf("node exception: err = %v, want an error that is not fatal", err)
	}
	err = n.Process(ctx, 0, frame.NewText(frame.Header{}, "die"), emit)
	if !errors.Is(err, node.ErrFatal) || !errors.Is(err, ErrRemote) || !strings.Contains(err.Error(), `pyproxy: node "Upper": die; the node's session is gone`) {
		t.Fatalf("closed after an error frame: err = %v, want node.ErrFatal with the proxy's reason", err)
	}
}

// TestSpecCarriesRequiredOperatorUnavailable: a remote type's required and
// operator-only params and its unavailability reach the node.Spec, and
// validation reports a missing required param and an unavailable type.
func TestSpecCarriesRequiredOperatorUnavailable(t *testing.T) {
	rt := RemoteType{Type: "UltravoxNode", Params: []RemoteParam{
		{Name: "model_path", Type: "string", Required: true, Operator: true},
		{Name: "max_new_tokens", Type: "integer", Default: 64.0},
	}}
	s := Spec(nil, rt)
	if !s.Params[0].Required || !s.Params[0].Operator || s.Params[1].Required || s.Params[1].Operator {
		t.Fatalf("params = %+v, want model_path required and operator-only", s.Params)
	}
	gone := RemoteType{Type: "KokoroTTS", Unavailable: "the kokoro package is not installed"}
	reg := node.NewRegistry()
	if err := Register(reg, nil, []RemoteType{rt, gone}); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name      string
		given     string
		expectErr []string
	}{
		{"required param missing", `{"version":"1","nodes":[{"id":"llm","node_type":"UltravoxNode"}]}`, []string{"nodes[0].params.model_path", "required"}},
		{"required param given", `{"version":"1","nodes":[{"id":"llm","node_type":"UltravoxNode","params":{"model_path":"/models/ultravox"}}]}`, nil},
		{"unavailable type", `{"version":"1","nodes":[{"id":"tts","node_type":"KokoroTTS"}]}`, []string{"nodes[0].node_type", "KokoroTTS cannot run here: the kokoro package is not installed"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d, err := def.Parse([]byte(tt.given))
			if err != nil {
				t.Fatal(err)
			}
			err = def.Validate(d, reg)
			if tt.expectErr == nil {
				if err != nil {
					t.Fatalf("Validate: %v", err)
				}
				return
			}
			if err == nil {
				t.Fatalf("Validate passed, want %q", tt.expectErr)
			}
			for _, want := range tt.expectErr {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("Validate: %v\nwant %q", err, want)
				}
			}
		})
	}
}
