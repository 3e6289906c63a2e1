package pynode

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"

	"github.com/remotemedia/hybrid/core/frame"
	"github.com/remotemedia/hybrid/core/node"
)

// inProcess is a Doer serving h without a network (it works under GOOS=js too).
type inProcess struct{ h http.Handler }

func (d inProcess) Do(_ context.Context, method, url, contentType, token string, body []byte) (int, []byte, error) {
	req := httptest.NewRequest(method, url, bytes.NewReader(body))
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	rec := httptest.NewRecorder()
	d.h.ServeHTTP(rec, req)
	return rec.Code, rec.Body.Bytes(), nil
}

// fakeProxy mimics the pyproxy API for one "Upper" node type with a session "s1".
func fakeProxy(t *testing.T) (*Client, *[]string) {
	var log []string
	mux := http.NewServeMux()
	mux.HandleFunc("GET /v1/nodes", func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, `[{"node_type":"Upper","doc":"upper-cases text","is_streaming":false,
			"params":[{"name":"gain","type":"number","default":1.5,"doc":"g"},{"name":"cfg","type":"weird","default":null,"doc":""}]}]`)
	})
	mux.HandleFunc("POST /v1/sessions", func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		log = append(log, "open "+string(b))
		w.WriteHeader(http.StatusCreated)
		io.WriteString(w, `{"session_id":"s1"}`)
	})
	mux.HandleFunc("POST /v1/sessions/{id}/frames", func(w http.ResponseWriter, r *http.Request) {
		if r.PathValue("id") != "s1" {
			w.WriteHeader(http.StatusNotFound)
			io.WriteString(w, `{"error":"pyproxy: unknown session \"`+r.PathValue("id")+`\""}`)
			return
		}
		b, _ := io.ReadAll(r.Body)
		dec := frame.NewDecoder(strings.NewReader(string(b)))
		for {
			f, err := dec.Decode()
			if err != nil {
				break
			}
			if f.Text() == "fail" {
				js, _ := json.Marshal(map[string]string{"error": "pyproxy: node \"Upper\": ValueError: no", "node_type": "Upper", "session": "s1"})
				frame.Write(w, frame.NewJSON(frame.Header{Meta: map[string]any{"error": true}}, js))
				return
			}
			frame.Write(w, frame.NewText(f.Header, strings.ToUpper(f.Text())))
		}
	})
	mux.HandleFunc("POST /v1/sessions/{id}/flush", func(w http.ResponseWriter, r *http.Request) {
		log = append(log, "flush")
		frame.Write(w, frame.NewText(frame.Header{}, "flushed"))
	})
	mux.HandleFunc("DELETE /v1/sessions/{id}", func(w http.ResponseWriter, r *http.Request) {
		log = append(log, "close "+r.PathValue("id"))
		w.WriteHeader(http.StatusNoContent)
	})
	auth := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer tok" {
			w.WriteHeader(http.StatusUnauthorized)
			io.WriteString(w, `{"error":"pyproxy: missing or wrong bearer token"}`)
			return
		}
		mux.ServeHTTP(w, r)
	})
	c := NewClient("http://proxy/", "tok", inProcess{auth})
	return c, &log
}

func TestSpecFromRemote(t *testing.T) {
	c, _ := fakeProxy(t)
	reg := node.NewRegistry()
	types, err := RegisterRemote(context.Background(), reg, c, nil)
	if err != nil || len(types) != 1 {
		t.Fatalf("RegisterRemote: %v %v", types, err)
	}
	s, err := reg.Lookup("Upper", "python")
	if err != nil {
		t.Fatal(err)
	}
	if s.Runtime != node.RuntimePython || s.Doc != "upper-cases text" || len(s.Inputs) != 1 || s.Inputs[0].Name != "in" || s.Outputs[0].Name != "out" {
		t.Errorf("spec = %+v", s)
	}
	for _, k := range []frame.Kind{frame.KindAudio, frame.KindText, frame.KindTensor} {
		if !s.Inputs[0].Accepts(k) || !s.Outputs[0].Accepts(k) {
			t.Errorf("ports do not accept %s", k)
		}
	}
	want := []node.Param{{Name: "gain", Type: node.ParamNumber, Default: 1.5, Doc: "g"}, {Name: "cfg", Type: node.ParamObject}}
	if len(s.Params) != 2 || s.Params[0].Name != want[0].Name || s.Params[0].Type != want[0].Type || s.Params[0].Default != want[0].Default || s.Params[1].Type != want[1].Type {
		t.Errorf("params = %+v, want %+v", s.Params, want)
	}
}

func TestRemoteNode(t *testing.T) {
	c, log := fakeProxy(t)
	ctx := context.Background()
	s := Spec(c, RemoteType{Type: "Upper"})
	n, err := s.New(ctx, node.Config{ID: "up", Params: map[string]any{"gain": 2.0}})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	emit := func(port int, f *frame.Frame) {
		if port != 0 {
			t.Errorf("emit on port %d", port)
		}
		got = append(got, f.Text())
	}
	tests := []struct {
		name      string
		given     *frame.Frame
		expect    []string
		expectErr string
	}{
		{name: "text", given: frame.NewText(frame.Header{Seq: 1}, "hi"), expect: []string{"HI"}},
		{name: "eos flushes", given: frame.NewControl(frame.Header{}, frame.EndOfStream), expect: []string{"flushed"}},
		{name: "error frame", given: frame.NewText(frame.Header{}, "fail"), expectErr: `pynode: node "up" (Upper): pynode: remote node failed: pyproxy: node "Upper": ValueError: no`},
		{name: "invalid frame", given: &frame.Frame{Kind: frame.KindAudio}, expectErr: "unknown sample format"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got = nil
			err := n.Process(ctx, 0, tt.given, emit)
			if tt.expectErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.expectErr) {
					t.Errorf("err = %v, want %q", err, tt.expectErr)
				}
				return
			}
			if err != nil || !slices.Equal(got, tt.expect) {
				t.Errorf("got %q %v, want %q", got, err, tt.expect)
			}
		})
	}
	if err := n.Close(); err != nil {
		t.Fatal(err)
	}
	if want := []string{`open {"node_type":"Upper","params":{"gain":2}}`, "flush", "close s1"}; !slices.Equal(*log, want) {
		t.Errorf("requests %q, want %q", *log, want)
	}
}

func TestClientErrors(t *testing.T) {
	c, _ := fakeProxy(t)
	ctx := context.Background()
	err := c.Send(ctx, "gone", nil, func(*frame.Frame) {})
	var se *StatusError
	if !errors.As(err, &se) || se.Code != 404 || se.Message != `pyproxy: unknown session "gone"` || !errors.Is(err, ErrRemote) {
		t.Errorf("unknown session: %v", err)
	}
	c.Token = "wrong"
	if _, err := c.Nodes(ctx); !errors.As(err, &se) || se.Code != 401 {
		t.Errorf("wrong token: %v", err)
	}
}
