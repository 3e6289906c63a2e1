package pyproxy

// The fault tests that kill workers with signals and look for processes in
// /proc: Linux only (the proxy's process-group handling is proc_linux.go).

import (
	"context"
	"errors"
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/remotemedia/hybrid/core/frame"
)

func slotOf(t *testing.T, p *Proxy, pid int) int {
	t.Helper()
	i := slices.IndexFunc(p.Workers(), func(w WorkerInfo) bool { return w.PID == pid })
	if i < 0 {
		t.Fatalf("no slot runs worker %d", pid)
	}
	return i
}

func TestWorkerKilledMidStream(t *testing.T) {
	p := newProxy(t, Config{Workers: 2})
	srv, c := serve(t, p)
	ctx := context.Background()
	slow := open(t, c, "Sleep", map[string]any{"seconds": 60})
	other := open(t, c, "Counter", nil)
	idle := open(t, c, "Echo", nil)
	victim := workerOf(t, p, slow)
	if workerOf(t, p, other) == victim || workerOf(t, p, idle) != victim {
		t.Fatal("least-loaded placement did not spread the sessions as expected")
	}
	if out, err := send(ctx, c, other, text(1, "a")); err != nil || !slices.Equal(out, []string{"a#1"}) {
		t.Fatalf("other session: %v %v", out, err)
	}
	conn, _, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(srv.URL, "http")+"/v1/sessions/"+idle+"/ws", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.CloseNow()

	errc := make(chan error, 1)
	go func() {
		_, err := send(ctx, c, slow, text(1, "x"))
		errc <- err
	}()
	waitFor(t, "the frame to reach the worker", func() bool {
		victim.mu.Lock()
		defer victim.mu.Unlock()
		return len(victim.pending) > 0
	})
	slot := slotOf(t, p, victim.pid)
	if err := syscall.Kill(victim.pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	died := "pyproxy: the Python worker died: signal: killed"
	expectStatus(t, <-errc, 502, died)

	// The idle WebSocket of a session on the same worker gets an error frame, then a close.
	_, b, err := conn.Read(ctx)
	if f, ferr := frame.Unmarshal(b); err != nil || ferr != nil || f.Meta["error"] != true || !strings.Contains(f.Text(), died) || !strings.Contains(f.Text(), `"node_type":"Echo"`) {
		t.Errorf("websocket: got %q (%v), want an error frame with %q", b, err, died)
	}
	if _, _, err := conn.Read(ctx); websocket.CloseStatus(err) != websocket.StatusInternalError {
		t.Errorf("websocket: got %v, want close status 1011", err)
	}

	// The failed session keeps explaining itself; the other worker's session goes on.
	_, err = send(ctx, c, slow, text(2, "y"))
	expectStatus(t, err, 502, died)
	if out, err := send(ctx, c, other, text(2, "b")); err != nil || !slices.Equal(out, []string{"b#2"}) {
		t.Errorf("other session after the crash: %v %v, want [b#2]", out, err)
	}

	pid := restarted(t, p, slot, victim.pid)
	fresh := open(t, c, "Echo", nil)
	if out, err := send(ctx, c, fresh, text(1, "hi")); err != nil || !slices.Equal(out, []string{fmt.Sprintf("%d:hi", pid)}) {
		t.Errorf("new session on the restarted worker: %v %v, want [%d:hi]", out, err, pid)
	}
	if n := testutil.ToFloat64(p.m.restarts); n != 1 {
		t.Errorf("restarts = %v, want 1", n)
	}
	if err := c.Close(ctx, slow); err != nil {
		t.Errorf("closing the failed session: %v", err)
	}
}

func TestWorkerHangs(t *testing.T) {
	const timeout = 500 * time.Millisecond
	p := newProxy(t, Config{CallTimeout: timeout})
	_, c := serve(t, p)
	ctx := context.Background()
	id := open(t, c, "Sleep", map[string]any{"seconds": 60})
	hung := workerOf(t, p, id).pid

	_, err := send(ctx, c, id, text(1, "x"))
	expectStatus(t, err, 504, fmt.Sprintf("pyproxy: the Python worker did not answer within %s", timeout))

	pid := restarted(t, p, 0, hung)
	if _, err := os.Stat(fmt.Sprintf("/proc/%d", hung)); err == nil {
		t.Errorf("hung worker %d still exists", hung)
	}
	fresh := open(t, c, "Echo", nil)
	if out, err := send(ctx, c, fresh, text(1, "hi")); err != nil || !slices.Equal(out, []string{fmt.Sprintf("%d:hi", pid)}) {
		t.Errorf("new session: %v %v", out, err)
	}
}

// alive reports whether pid exists and is not a zombie.
func alive(pid int) bool {
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	fields := strings.Fields(string(stat[strings.LastIndexByte(string(stat), ')')+1:]))
	return len(fields) > 0 && fields[0] != "Z"
}

func TestCloseLeavesNoProcesses(t *testing.T) {
	if _, err := os.Stat("/proc/self/stat"); err != nil {
		t.Skip("needs /proc")
	}
	p := newProxy(t, Config{Workers: 2})
	_, c := serve(t, p)
	var pids []int
	for _, w := range p.Workers() {
		pids = append(pids, w.PID)
	}
	id := open(t, c, "Spawn", nil)
	out, err := send(context.Background(), c, id, text(1, "go"))
	if err != nil || len(out) != 1 {
		t.Fatalf("spawn: %v %v", out, err)
	}
	grandchild, _ := strconv.Atoi(out[0])
	pids = append(pids, grandchild)
	for _, pid := range pids {
		if !alive(pid) {
			t.Fatalf("process %d is not running before Close", pid)
		}
	}
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
	for _, pid := range pids[:2] {
		if _, err := os.Stat(fmt.Sprintf("/proc/%d", pid)); err == nil {
			t.Errorf("worker %d still exists after Close", pid)
		}
	}
	// SIGKILL reaches the worker's own children asynchronously; it must reach them.
	waitFor(t, fmt.Sprintf("the worker's child %d to die", grandchild), func() bool { return !alive(grandchild) })
	if _, err := p.Open(context.Background(), "Echo", nil, Caller{}); !errors.Is(err, ErrClosed) {
		t.Errorf("Open after Close = %v, want ErrClosed", err)
	}
}
