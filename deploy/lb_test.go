package deploy

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/remotemedia/hybrid/core/client"
	"github.com/remotemedia/hybrid/core/frame"
	"github.com/remotemedia/hybrid/target/server/clientws"
)

// gainPipeline turns each 20 ms frame in into exactly one frame out, so a
// session that lost nothing has as many outputs as it sent frames.
const gainPipeline = `version: "1"
metadata: {name: gain}
nodes:
  - {id: f32, node_type: convert, params: {to: f32}}
  - {id: gain, node_type: gain, params: {gain_db: 6}}
connections:
  - {from: f32, to: gain}
`

// server is one `remotemedia serve` process.
type server struct {
	addr string
	cmd  *exec.Cmd
	done chan error
}

func startServer(ctx context.Context, t *testing.T, defs string) *server {
	t.Helper()
	s := &server{addr: fmt.Sprintf("127.0.0.1:%d", freePort(t)), done: make(chan error, 1)}
	s.cmd = exec.Command(serverBinary, "serve", "--listen", s.addr, "--definitions", defs, "--python", "off",
		"--allow-host", "127.0.0.1", "--drain-timeout", "20s", "--wasm-cache", filepath.Join(t.TempDir(), "cache"))
	s.cmd.Stdout, s.cmd.Stderr = os.Stderr, os.Stderr
	if err := s.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { s.done <- s.cmd.Wait() }()
	t.Cleanup(func() {
		_ = s.cmd.Process.Kill()
		<-s.done
		s.done <- nil
	})
	waitFor(ctx, t, "serve on "+s.addr+" to be ready", func() bool { return status(ctx, "http://"+s.addr+"/readyz") == http.StatusOK })
	return s
}

// liveSessions is the server's remotemedia_live_sessions gauge, summed over
// its pipelines.
func (s *server) liveSessions(ctx context.Context, t *testing.T) int {
	t.Helper()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+s.addr+"/metrics", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("metrics of %s: %v", s.addr, err)
	}
	defer resp.Body.Close()
	n := 0.0
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		l := sc.Text()
		if strings.HasPrefix(l, "remotemedia_live_sessions{") || strings.HasPrefix(l, "remotemedia_live_sessions ") {
			v, err := strconv.ParseFloat(l[strings.LastIndexByte(l, ' ')+1:], 64)
			if err != nil {
				t.Fatalf("metrics of %s: %q: %v", s.addr, l, err)
			}
			n += v
		}
	}
	return int(n)
}

// haproxyStates asks HAProxy's runtime API for each server's state (UP, DOWN, ...).
func haproxyStates(socket string) map[string]string {
	conn, err := net.Dial("unix", socket)
	if err != nil {
		return nil
	}
	defer conn.Close()
	if _, err := io.WriteString(conn, "show stat\n"); err != nil {
		return nil
	}
	b, _ := io.ReadAll(conn)
	states := map[string]string{}
	for _, l := range strings.Split(string(b), "\n") {
		f := strings.Split(l, ",") // pxname,svname,...; status is the 18th column
		if len(f) > 17 && f[0] == "serve" && f[1] != "BACKEND" {
			states[f[1]] = f[17]
		}
	}
	return states
}

// liveSession sends a 20 ms frame of 16 kHz mono s16 every tick and reads its
// output before the next, until stop closes or the server says it drains.
type liveSession struct {
	sent, received int
	drained        bool // the server said it was shutting down
	end            *client.End
	err            error
}

func runSession(ctx context.Context, c *client.Client, first chan<- struct{}, stop <-chan struct{}) *liveSession {
	ls := &liveSession{}
	sess, err := c.Open(ctx, "gain")
	if err != nil {
		ls.err = err
		first <- struct{}{}
		return ls
	}
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	samples := make([]int16, 320)
	for i := range samples {
		samples[i] = int16(1000 * (i%16 - 8))
	}
loop:
	for seq := uint64(0); ; seq++ {
		f := frame.NewAudioS16(frame.Header{Seq: seq, Timestamp: int64(seq) * 20000}, 16000, 1, samples)
		if err := sess.Send(ctx, f); errors.Is(err, client.ErrDraining) {
			ls.drained = true
			break
		} else if err != nil {
			ls.err = fmt.Errorf("send %d: %w", seq, err)
			break
		}
		ls.sent++
		out, err := sess.Recv(ctx)
		if err != nil {
			ls.err = fmt.Errorf("output of frame %d: %w", seq, err)
			break
		}
		if out.Error == nil {
			ls.received++
		}
		if seq == 0 {
			first <- struct{}{}
		}
		select {
		case <-stop:
			break loop
		case <-tick.C:
		}
		if sess.Draining() {
			ls.drained = true
			break
		}
	}
	if ls.err == nil {
		_ = sess.CloseInput(ctx)
		for {
			out, err := sess.Recv(ctx)
			if err == io.EOF {
				ls.end = sess.End()
				break
			}
			if err != nil {
				ls.err = err
				break
			}
			if out.Error == nil {
				ls.received++
			}
		}
	}
	return ls
}

// TestLoadBalancer runs two servers behind HAProxy (deploy/haproxy/haproxy.cfg)
// on loopback: new sessions spread over both; SIGTERM to one lets its sessions
// finish with every frame they sent answered, while the other keeps its
// sessions and takes all the new ones.
func TestLoadBalancer(t *testing.T) {
	haproxy, err := exec.LookPath("haproxy")
	if err != nil { // Debian puts it in /usr/sbin, which a user's PATH may lack
		haproxy, err = exec.LookPath("/usr/sbin/haproxy")
	}
	if err != nil {
		if os.Getenv("CI") == "" {
			t.Skip("haproxy is not installed (apt-get install haproxy, or scripts/deps.sh); with CI set this fails")
		}
		t.Fatal("haproxy is not installed: scripts/deps.sh installs it")
	}
	ctx := testContext(t, 2*time.Minute)
	defs := t.TempDir()
	if err := os.WriteFile(filepath.Join(defs, "gain.yaml"), []byte(gainPipeline), 0o644); err != nil {
		t.Fatal(err)
	}
	s1, s2 := startServer(ctx, t, defs), startServer(ctx, t, defs)

	lb := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	socket := filepath.Join(t.TempDir(), "haproxy.sock")
	hp := exec.Command(haproxy, "-db", "-f", "haproxy/haproxy.cfg")
	hp.Env = append(os.Environ(), "RM_LB_BIND="+lb, "RM_HOST=127.0.0.1", "RM_SERVER1="+s1.addr, "RM_SERVER2="+s2.addr, "RM_STATS_SOCKET="+socket)
	hp.Stdout, hp.Stderr = os.Stderr, os.Stderr
	if err := hp.Start(); err != nil {
		t.Fatal(err)
	}
	hpDone := make(chan error, 1)
	go func() { hpDone <- hp.Wait() }()
	t.Cleanup(func() { _ = hp.Process.Kill(); <-hpDone })
	bothUp := func() bool {
		select {
		case err := <-hpDone:
			hpDone <- err
			t.Fatalf("haproxy exited: %v", err)
		default:
		}
		s := haproxyStates(socket)
		return s["serve1"] == "UP" && s["serve2"] == "UP"
	}
	waitFor(ctx, t, "HAProxy to see both servers UP", bothUp)

	c := clientws.New("http://"+lb, "")
	stop := make(chan struct{})
	var wg sync.WaitGroup
	open := func(n int) []*liveSession {
		results := make([]*liveSession, n)
		first := make(chan struct{}, n)
		for i := range n { // one by one, each answered before the next opens, as least-connections sees them
			wg.Add(1)
			go func() {
				defer wg.Done()
				results[i] = runSession(ctx, c, first, stop)
			}()
			select {
			case <-first:
			case <-ctx.Done():
				t.Fatalf("session %d: no first output", i)
			}
		}
		return results
	}

	// 1. New sessions spread over both servers.
	before := open(8)
	if n1, n2 := s1.liveSessions(ctx, t), s2.liveSessions(ctx, t); n1 != 4 || n2 != 4 {
		t.Errorf("live sessions %d on serve1 and %d on serve2, want 4 and 4", n1, n2)
	}

	// 2. SIGTERM to serve1: it leaves the rotation and drains its sessions.
	if err := s1.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	waitFor(ctx, t, "HAProxy to take serve1 out", func() bool { return haproxyStates(socket)["serve1"] != "UP" })
	after := open(4)
	if n2 := s2.liveSessions(ctx, t); n2 != 8 {
		t.Errorf("serve2 holds %d live sessions after 4 more opened while serve1 drains, want 8", n2)
	}
	select {
	case err := <-s1.done:
		s1.done <- err
		if err != nil {
			t.Errorf("serve1 after SIGTERM: %v, want a clean exit once drained", err)
		}
	case <-ctx.Done():
		t.Fatal("serve1 did not exit after draining")
	}

	close(stop)
	wg.Wait()
	drained := 0
	for i, ls := range append(before, after...) {
		switch {
		case ls.err != nil:
			t.Errorf("session %d: %v", i, ls.err)
		case ls.end == nil || ls.end.Error != "":
			t.Errorf("session %d ended with %+v, want a clean end", i, ls.end)
		case ls.end.FramesIn != uint64(ls.sent) || ls.received != ls.sent:
			t.Errorf("session %d: sent %d frames, the server took %d and %d outputs came back: want all of them", i, ls.sent, ls.end.FramesIn, ls.received)
		}
		if ls.drained {
			drained++
		}
	}
	if drained != 4 {
		t.Errorf("%d sessions ended by serve1's drain, want its 4", drained)
	}
}
