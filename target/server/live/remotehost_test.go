package live

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/remotemedia/hybrid/core/frame"
	"github.com/remotemedia/hybrid/core/node"
	"github.com/remotemedia/hybrid/core/runner"
	"github.com/remotemedia/hybrid/core/sched"
)

// fakeHost is the node-session API of a `remotemedia serve` (docs/pyproxy.md)
// serving one node type, Echo, whose sessions send each frame back. After
// failAfter frames (0: never) it answers as a restarted server does: the
// session is unknown (404).
type fakeHost struct {
	*httptest.Server
	failAfter int
	token     string

	mu     sync.Mutex
	frames int
	listed int              // GET /v1/nodes
	opened []map[string]any // the params of each open
}

func newFakeHost(t *testing.T, failAfter int) *fakeHost {
	h := &fakeHost{failAfter: failAfter, token: "s3cret"}
	h.Server = httptest.NewServer(http.HandlerFunc(h.serve))
	t.Cleanup(h.Close)
	return h
}

func (h *fakeHost) serve(w http.ResponseWriter, r *http.Request) {
	if r.Header.Get("Authorization") != "Bearer "+h.token {
		http.Error(w, `{"error":"unauthorized"}`, http.StatusUnauthorized)
		return
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	switch {
	case r.Method == "GET" && r.URL.Path == "/v1/nodes":
		h.listed++
		_, _ = io.WriteString(w, `[{"node_type":"Echo","doc":"sends each frame back","params":[
			{"name":"gain","type":"number","default":1,"doc":"a client-settable param"},
			{"name":"binary","type":"string","default":"echo","doc":"a program","operator":true}]}]`)
	case r.Method == "POST" && r.URL.Path == "/v1/sessions":
		var body struct{ Params map[string]any }
		_ = json.NewDecoder(r.Body).Decode(&body)
		h.opened = append(h.opened, body.Params)
		w.WriteHeader(http.StatusCreated)
		fmt.Fprintf(w, `{"session_id":"s%d"}`, len(h.opened))
	case r.Method == "POST" && strings.HasSuffix(r.URL.Path, "/frames"):
		if h.failAfter > 0 && h.frames >= h.failAfter {
			http.Error(w, `{"error":"unknown session"}`, http.StatusNotFound)
			return
		}
		h.frames++
		b, _ := io.ReadAll(r.Body)
		_, _ = w.Write(b)
	case r.Method == "POST" && strings.HasSuffix(r.URL.Path, "/flush"):
	case r.Method == "DELETE":
		w.WriteHeader(http.StatusNoContent)
	default:
		http.NotFound(w, r)
	}
}

func (h *fakeHost) counts() (frames int, opened []map[string]any) {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.frames, append([]map[string]any(nil), h.opened...)
}

// runOnHosts runs 10 text frames through a one-node definition whose node runs
// on hosts, and returns the texts that came out, the log, and the run's error.
func runOnHosts(t *testing.T, hosts string) ([]string, string, error) {
	t.Helper()
	var log bytes.Buffer
	reg := node.NewRegistry() // the node's spec comes from its hosts
	reg.SetRemote(RemoteNodes(slog.New(slog.NewTextHandler(&log, nil))))
	src := "version: \"1\"\nnodes:\n  - {id: e, node_type: Echo, params: {gain: 2}, host: {urls: [" + hosts + "], timeout: 10s}}\n"
	p, err := runner.Load([]byte(src), reg)
	if err != nil {
		t.Fatal(err)
	}
	var frames []*frame.Frame
	for i := range 10 {
		frames = append(frames, frame.NewText(frame.Header{StreamID: "run", Seq: uint64(i), Timestamp: int64(i) * 20000}, fmt.Sprint("frame ", i)))
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var got []string
	_, err = runner.Run(ctx, p, &sliceSource{frames: frames}, func(o sched.Output) error {
		if o.Frame != nil && o.Frame.Kind == frame.KindText {
			got = append(got, string(o.Frame.Data))
		}
		return nil
	}, sched.Options{StreamID: "run"})
	return got, log.String(), err
}

// Issue 12 point 6: a node runs on another host, with the token and its
// client-settable params only; when that host restarts mid-stream the node
// goes on on the second host and says so; when every host has failed, the run
// fails naming each.
func TestNodeOnAnotherHost(t *testing.T) {
	t.Setenv(HostTokenEnv, "s3cret")
	want := make([]string, 10)
	for i := range want {
		want[i] = fmt.Sprint("frame ", i)
	}

	a := newFakeHost(t, 0)
	got, log, err := runOnHosts(t, a.URL)
	if err != nil || strings.Join(got, ",") != strings.Join(want, ",") {
		t.Fatalf("one host: outputs %q, %v", got, err)
	}
	if _, opened := a.counts(); len(opened) != 1 || opened[0]["gain"] != 2.0 || opened[0]["binary"] != nil {
		t.Errorf("the host was opened with %v: want gain 2 and no operator-only binary", opened)
	}
	if log != "" {
		t.Errorf("log %q, want nothing", log)
	}

	restarting, second := newFakeHost(t, 4), newFakeHost(t, 0)
	got, log, err = runOnHosts(t, restarting.URL+", "+second.URL)
	if err != nil || strings.Join(got, ",") != strings.Join(want, ",") {
		t.Fatalf("failover: outputs %q, %v; want every frame once", got, err)
	}
	if n, _ := restarting.counts(); n != 4 {
		t.Errorf("the first host took %d frames, want 4", n)
	}
	if n, opened := second.counts(); n != 6 || len(opened) != 1 {
		t.Errorf("the second host took %d frames in %d sessions, want 6 in 1", n, len(opened))
	}
	if !strings.Contains(log, "a node's host failed") || !strings.Contains(log, "failed="+restarting.URL) || !strings.Contains(log, "now="+second.URL) {
		t.Errorf("the failover is not in the log: %q", log)
	}

	gone := newFakeHost(t, 0)
	gone.Close() // the second host is down
	_, _, err = runOnHosts(t, newFakeHost(t, 3).URL+", "+gone.URL)
	if !errors.Is(err, node.ErrFatal) || !strings.Contains(err.Error(), "failed on every host") || !strings.Contains(err.Error(), gone.URL) {
		t.Errorf("every host failed: %v; want node.ErrFatal naming each host", err)
	}
}

// The spec comes from the host, whose type the local registry need not have; a
// host that does not serve the type, or none that answers, fails the build.
func TestNodeOnAnotherHostBuild(t *testing.T) {
	t.Setenv(HostTokenEnv, "s3cret")
	a := newFakeHost(t, 0)
	for _, tc := range []struct {
		name, node, expectErr string
	}{
		{"served", "{id: e, node_type: Echo, host: " + a.URL + "}", ""},
		{"not served", "{id: e, node_type: Whisper, host: " + a.URL + "}", `serves no node type "Whisper" (it serves: Echo)`},
		{"operator param", "{id: e, node_type: Echo, params: {binary: /bin/sh}, host: " + a.URL + "}", "nodes[0].params.binary: operator-only param of Echo"},
		{"not a URL", "{id: e, node_type: Echo, host: [gpu1:8080]}", `nodes[0].host.urls[0]: "gpu1:8080" is not an http or https URL`},
		{"bad timeout", "{id: e, node_type: Echo, host: {urls: [" + a.URL + "], timeout: soon}}", `nodes[0].host.timeout: "soon" is not a duration`},
		{"nobody answers", "{id: e, node_type: Echo, host: http://127.0.0.1:1}", `no host answered for node type "Echo"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := runner.Load([]byte("version: \"1\"\nnodes:\n  - "+tc.node+"\n"), testRegistry)
			if tc.expectErr == "" && err != nil || tc.expectErr != "" && (err == nil || !strings.Contains(err.Error(), tc.expectErr)) {
				t.Fatalf("got %v, want %q", err, tc.expectErr)
			}
		})
	}
}

// A client's inline definition may not place a node on another host, and the
// server sends nothing to the hosts it names.
func TestInlineMayNotNameHosts(t *testing.T) {
	t.Setenv(HostTokenEnv, "s3cret")
	a := newFakeHost(t, 0)
	_, err := inlinePipeline([]byte(`{"version":"1","nodes":[{"id":"e","node_type":"Echo","host":"`+a.URL+`"}]}`), testRegistry)
	if err == nil || !strings.Contains(err.Error(), "nodes[0].host: a client may not place a node on another host") {
		t.Fatalf("got %v", err)
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.listed != 0 || a.frames != 0 || len(a.opened) != 0 {
		t.Errorf("the host named by a client got %d requests for its node types, %d frames, %d opens", a.listed, a.frames, len(a.opened))
	}
}
