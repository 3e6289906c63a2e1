package pyproxy

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/remotemedia/hybrid/core/def"
	"github.com/remotemedia/hybrid/core/frame"
	"github.com/remotemedia/hybrid/core/node"
	"github.com/remotemedia/hybrid/core/pynode"
	"github.com/remotemedia/hybrid/core/sched"
)

// TestPynodeAdapter drives core/pynode's node.Node directly (Process, Flush,
// Close) over each transport: one request per frame, and the session's WebSocket.
func TestPynodeAdapter(t *testing.T) {
	p := newProxy(t, Config{Token: "tok"})
	srv, c := serve(t, p)
	for _, tr := range []struct {
		name      string
		transport pynode.Transport
	}{
		{name: "http", transport: c},
		{name: "websocket", transport: wsTransport(t, srv.URL, "tok")},
	} {
		t.Run(tr.name, func(t *testing.T) { testAdapter(t, p, c, tr.transport) })
	}
}

func testAdapter(t *testing.T, p *Proxy, c *pynode.Client, tr pynode.Transport) {
	ctx := context.Background()
	reg := node.NewRegistry()
	types, err := pynode.RegisterRemote(ctx, reg, c, tr)
	if err != nil {
		t.Fatal(err)
	}
	if len(types) != len(p.Nodes()) {
		t.Errorf("registered %d types, proxy has %d", len(types), len(p.Nodes()))
	}
	spec, err := reg.Lookup("Counter", "python")
	if err != nil {
		t.Fatal(err)
	}
	n, err := spec.New(ctx, node.Config{ID: "count"})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	emit := func(port int, f *frame.Frame) { got = append(got, f.Text()) }
	for i, s := range []string{"a", "b"} {
		if err := n.Process(ctx, 0, text(uint64(i), s), emit); err != nil {
			t.Fatal(err)
		}
	}
	if err := n.Flush(ctx, emit); err != nil {
		t.Fatal(err)
	}
	if want := []string{"a#1", "b#2", `{"total":2}`}; !slices.Equal(got, want) {
		t.Errorf("got %q, want %q", got, want)
	}
	if err := n.Close(); err != nil {
		t.Fatal(err)
	}
	if testutil.ToFloat64(p.m.sessions) != 0 {
		t.Errorf("%v sessions open after Close", testutil.ToFloat64(p.m.sessions))
	}

	raiser, _ := reg.Lookup("Raise", "python")
	r, err := raiser.New(ctx, node.Config{ID: "r"})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	err = r.Process(ctx, 0, text(1, "raise"), emit)
	if !errors.Is(err, pynode.ErrRemote) || !strings.Contains(err.Error(), `pynode: node "r" (Raise)`) || !strings.Contains(err.Error(), "ValueError: boom from Raise node") {
		t.Errorf("raise: %v", err)
	}
	if _, err := reg.Lookup("Nope", "python"); !errors.Is(err, node.ErrUnknownType) {
		t.Errorf("unknown type: %v", err)
	}
}

// TestDefinitionChain runs a definition of two Python nodes through the scheduler,
// over WebSockets as `remotemedia run` does.
func TestDefinitionChain(t *testing.T) {
	p := newProxy(t, Config{Workers: 2})
	srv, c := serve(t, p)
	ctx := context.Background()
	reg := node.NewRegistry()
	if _, err := pynode.RegisterRemote(ctx, reg, c, wsTransport(t, srv.URL, "")); err != nil {
		t.Fatal(err)
	}
	d, err := def.Parse([]byte(`
version: "1"
metadata: {name: python-chain}
nodes:
  - {id: pass, node_type: PassThrough, runtime_hint: python}
  - {id: count, node_type: Counter, runtime_hint: python}
connections:
  - {from: pass, to: count}
`))
	if err != nil {
		t.Fatal(err)
	}
	g, err := def.Build(d, reg)
	if err != nil {
		t.Fatal(err)
	}
	s, err := sched.Start(ctx, g, sched.Options{StreamID: "chain"})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	go func() {
		for i, w := range []string{"x", "y", "z"} {
			_ = s.Push(ctx, frame.NewText(frame.Header{StreamID: "chain", Seq: uint64(i)}, w))
		}
		_ = s.CloseInput(ctx)
	}()
	var got []string
	for o := range s.Outputs() {
		switch {
		case o.Err != nil:
			t.Errorf("node %s: %v", o.Node, o.Err)
		case o.Frame.Kind != frame.KindControl:
			got = append(got, o.Frame.Text())
		}
	}
	if err := s.Wait(); err != nil {
		t.Fatal(err)
	}
	if want := []string{"x#1", "y#2", "z#3", `{"total":3}`}; !slices.Equal(got, want) {
		t.Errorf("got %q, want %q", got, want)
	}
}

// TestWebSocketTransportFaults runs the native WebSocket transport into failures:
// a raising node fails its call and the connection serves the next; a cancelled
// call closes the connection and the next call opens another; a killed worker
// fails the call in flight and every later call of its session with the reason,
// while a new session works.
func TestWebSocketTransportFaults(t *testing.T) {
	p := newProxy(t, Config{})
	srv, _ := serve(t, p)
	tr := wsTransport(t, srv.URL, "")
	ctx := context.Background()
	call := func(ctx context.Context, session string, seq uint64, s string) ([]string, error) {
		var out []string
		err := tr.Send(ctx, session, encode(t, text(seq, s)), func(f *frame.Frame) { out = append(out, f.Text()) })
		return out, err
	}
	openSession := func(nodeType string, params map[string]any) string {
		id, err := tr.Open(ctx, nodeType, params)
		if err != nil {
			t.Fatalf("open %s: %v", nodeType, err)
		}
		return id
	}

	raise := openSession("Raise", nil)
	if _, err := call(ctx, raise, 1, "raise"); !errors.Is(err, pynode.ErrRemote) || !strings.Contains(err.Error(), "ValueError: boom from Raise node") {
		t.Errorf("raising node: %v", err)
	}
	if out, err := call(ctx, raise, 2, "ok"); err != nil || !slices.Equal(out, []string{"ok"}) {
		t.Errorf("after the raise: %q %v, want [ok]", out, err)
	}

	sleep := openSession("Sleep", map[string]any{"seconds": 0.3})
	cctx, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
	_, err := call(cctx, sleep, 1, "late")
	cancel()
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("cancelled call: %v, want the context's error", err)
	}
	if out, err := call(ctx, sleep, 2, "next"); err != nil || len(out) == 0 || out[len(out)-1] != "next" {
		t.Errorf("call after a cancelled one: %q %v, want it to end with next", out, err)
	}

	slow := openSession("Sleep", map[string]any{"seconds": 60})
	victim := workerOf(t, p, slow)
	errc := make(chan error, 1)
	go func() {
		_, err := call(ctx, slow, 1, "x")
		errc <- err
	}()
	waitFor(t, "the frame to reach the worker", func() bool {
		victim.mu.Lock()
		defer victim.mu.Unlock()
		return len(victim.pending) > 0
	})
	if err := killPID(victim.pid); err != nil {
		t.Fatal(err)
	}
	died := "pyproxy: the Python worker died: signal: killed"
	if err := <-errc; !errors.Is(err, pynode.ErrRemote) || !strings.Contains(err.Error(), died) {
		t.Errorf("call on the killed worker: %v, want %q", err, died)
	}
	if _, err := call(ctx, slow, 2, "y"); !errors.Is(err, pynode.ErrRemote) || !strings.Contains(err.Error(), died) {
		t.Errorf("next call of the failed session: %v, want %q", err, died)
	}
	pid := restarted(t, p, 0, victim.pid)
	fresh := openSession("Echo", nil)
	if out, err := call(ctx, fresh, 1, "hi"); err != nil || !slices.Equal(out, []string{fmt.Sprintf("%d:hi", pid)}) {
		t.Errorf("new session on the restarted worker: %q %v", out, err)
	}
	for _, id := range []string{raise, sleep, slow, fresh} {
		if err := tr.Close(ctx, id); err != nil {
			t.Errorf("close %s: %v", id, err)
		}
	}
}
