package e2e

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"
)

// The tests drive Debian's Chromium headless against the real `remotemedia
// serve` binary, built by TestMain from the parent module (with web/dist made
// first, so the binary embeds a current core.wasm).

const chromium = "/usr/bin/chromium"

var (
	bin     string // the remotemedia binary
	workDir string // shared fixtures: the test WAV
	speech  string // stereo 48 kHz WAV: speech with silence gaps
)

func TestMain(m *testing.M) {
	os.Exit(run(m))
}

func run(m *testing.M) int {
	var err error
	if workDir, err = os.MkdirTemp("", "rm-e2e-"); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(workDir)
	if err := setup(); err != nil {
		fmt.Fprintln(os.Stderr, "e2e setup:", err)
		return 1
	}
	return m.Run()
}

func setup() error {
	for _, tool := range []string{chromium, "espeak-ng", "sox", "make"} {
		if _, err := exec.LookPath(tool); err != nil {
			return fmt.Errorf("%s is needed (apt-get install chromium espeak-ng sox make): %w", tool, err)
		}
	}
	if out, err := exec.Command("make", "-C", "../web").CombinedOutput(); err != nil {
		return fmt.Errorf("make -C web: %v\n%s", err, out)
	}
	bin = filepath.Join(workDir, "remotemedia")
	build := exec.Command("go", "build", "-o", bin, "./target/server/cmd/remotemedia")
	build.Dir = ".."
	if out, err := build.CombinedOutput(); err != nil {
		return fmt.Errorf("go build remotemedia: %v\n%s", err, out)
	}
	speech = filepath.Join(workDir, "speech.wav")
	return makeSpeechWAV(speech)
}

// makeSpeechWAV writes two spoken sentences with a second of silence before,
// between and after them, as 16-bit stereo 48 kHz.
func makeSpeechWAV(out string) error {
	a, b, sil := filepath.Join(workDir, "a.wav"), filepath.Join(workDir, "b.wav"), filepath.Join(workDir, "sil.wav")
	cmds := [][]string{
		{"espeak-ng", "-w", a, "The quick brown fox jumps over the lazy dog."},
		{"espeak-ng", "-w", b, "One pipeline definition runs in the browser and on the server."},
		{"sox", "-n", "-r", "22050", "-c", "1", "-b", "16", sil, "trim", "0", "1.0"},
		{"sox", "-D", sil, a, sil, b, sil, "-r", "48000", "-c", "2", "-b", "16", out},
	}
	for _, c := range cmds {
		if o, err := exec.Command(c[0], c[1:]...).CombinedOutput(); err != nil {
			return fmt.Errorf("%s: %v\n%s", strings.Join(c, " "), err, o)
		}
	}
	return nil
}

// server is a running `remotemedia serve`.
type server struct {
	url string // http://127.0.0.1:PORT/
}

// startServer starts `remotemedia serve` on a free loopback port, with args
// added to its command line.
func startServer(t testing.TB, args ...string) *server {
	t.Helper()
	port := freePort(t)
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	cmd := exec.Command(bin, append([]string{"serve", "--listen", addr}, args...)...)
	cmd.Dir = ".."
	var log bytes.Buffer
	cmd.Stdout, cmd.Stderr = &log, &log
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_, _ = cmd.Process.Wait()
		if t.Failed() {
			t.Logf("remotemedia serve output:\n%s", log.String())
		}
	})
	s := &server{url: "http://" + addr + "/"}
	deadline := time.Now().Add(20 * time.Second)
	for {
		resp, err := http.Get(s.url + "healthz")
		if err == nil {
			resp.Body.Close()
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("remotemedia serve did not come up on %s: %v\n%s", addr, err, log.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
	resp, err := http.Get(s.url + "remotemedia.js")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("remotemedia serve does not serve the web files (GET /remotemedia.js: %s): mount web.Handler", resp.Status)
	}
	return s
}

func freePort(t testing.TB) int {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// proxy serves extra pages on the server's origin and can make the module
// URLs unreachable (the connection is dropped, as when offline).
type proxy struct {
	url          string
	blockModules atomic.Bool
	pages        map[string]string
}

func startProxy(t testing.TB, s *server, pages map[string]string) *proxy {
	target, _ := url.Parse(s.url)
	p := &proxy{pages: pages}
	// Like a reverse proxy in front of a server, it sends the server's own Host
	// (the server refuses Hosts that are not its addresses: DNS rebinding).
	rp := &httputil.ReverseProxy{Rewrite: func(r *httputil.ProxyRequest) { r.SetURL(target); r.SetXForwarded() }}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if page, ok := p.pages[r.URL.Path]; ok {
			w.Header().Set("Content-Type", "text/html; charset=utf-8")
			_, _ = w.Write([]byte(page))
			return
		}
		if p.blockModules.Load() && strings.HasPrefix(r.URL.Path, "/modules/") {
			panic(http.ErrAbortHandler)
		}
		rp.ServeHTTP(w, r)
	})}
	go func() { _ = srv.Serve(l) }()
	t.Cleanup(func() { _ = srv.Close() })
	p.url = "http://" + l.Addr().String() + "/"
	return p
}

// browser starts headless Chromium with a fresh profile and logs the page's
// console and exceptions to the test log.
func browser(t testing.TB, extra ...chromedp.ExecAllocatorOption) context.Context {
	t.Helper()
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(chromium),
		chromedp.NoSandbox,
		chromedp.Headless,
		chromedp.NoFirstRun,
		chromedp.Flag("disable-gpu", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-quic", true),
		chromedp.WindowSize(1100, 1300),
		chromedp.UserDataDir(t.TempDir()),
	}
	actx, cancelA := chromedp.NewExecAllocator(context.Background(), append(opts, extra...)...)
	ctx, cancelC := chromedp.NewContext(actx)
	ctx, cancelT := context.WithTimeout(ctx, 3*time.Minute)
	t.Cleanup(func() { cancelT(); cancelC(); cancelA() })
	if err := chromedp.Listen(ctx, func(ev any) {
		switch ev := ev.(type) {
		case *runtime.EventConsoleAPICalled:
			var parts []string
			for _, a := range ev.Args {
				parts = append(parts, strings.Trim(string(a.Value), `"`)+a.Description)
			}
			t.Logf("console.%s: %s", ev.Type, strings.Join(parts, " "))
		case *runtime.EventExceptionThrown:
			d := ev.ExceptionDetails
			msg := d.Text
			if d.Exception != nil {
				msg += " " + d.Exception.Description
			}
			t.Logf("page exception: %s", msg)
		}
	}); err != nil {
		t.Fatal(err)
	}
	return ctx
}

// eval runs an async JavaScript function body in the page and decodes its result.
func eval[T any](t testing.TB, ctx context.Context, body string) T {
	t.Helper()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[T]("(async () => {"+body+"})()", chromedp.EvalAwaitPromise))
	if err != nil {
		t.Fatalf("in the page: %v\n--- script ---\n%s", err, body)
	}
	return v
}

func navigate(t testing.TB, ctx context.Context, u string) {
	t.Helper()
	if err := chromedp.Do(ctx, chromedp.Navigate(u)); err != nil {
		t.Fatal(err)
	}
	// Navigate can return while a new tab still shows about:blank.
	if _, err := chromedp.Run(ctx, chromedp.Poll[bool](fmt.Sprintf(`location.href === %q && document.readyState === "complete"`, u),
		chromedp.WithPollingTimeout(30*time.Second))); err != nil {
		t.Fatalf("navigating to %s: %v", u, err)
	}
}

// jsBytes is a JavaScript expression for the bytes of a file (an ArrayBuffer).
func jsBytes(t testing.TB, path string) string {
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return fmt.Sprintf(`Uint8Array.from(atob(%q), (c) => c.charCodeAt(0)).buffer`, base64.StdEncoding.EncodeToString(b))
}

// wavData returns the bytes of a WAV file's data chunk.
func wavData(t testing.TB, path string) []byte {
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if len(b) < 12 || string(b[:4]) != "RIFF" || string(b[8:12]) != "WAVE" {
		t.Fatalf("%s: not a WAV file", path)
	}
	for off := 12; off+8 <= len(b); {
		id, n := string(b[off:off+4]), int(binary.LittleEndian.Uint32(b[off+4:]))
		if id == "data" {
			return b[off+8 : min(len(b), off+8+n)]
		}
		off += 8 + n + n%2
	}
	t.Fatal(errors.New(path + ": no data chunk"))
	return nil
}

func readFile(t testing.TB, path string) string {
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
