package e2e

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/remotemedia/hybrid/core/runner"
	"github.com/remotemedia/hybrid/core/wavio"
	"github.com/remotemedia/hybrid/target/server/clientws"
)

// TestInspectorShowsLiveCounters: with a live session of speech-frontend on a
// server that wants a token, inspector.html (given the token) draws the
// session's graph, and its counters follow the frames the client sends: the
// first half, then all of them. The screenshot is kept in e2e/out/inspector.png.
func TestInspectorShowsLiveCounters(t *testing.T) {
	const token = "inspector-e2e-token"
	s := startServer(t, "--token", token)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()

	// A client's session, fed from the speech WAV.
	sess, err := clientws.New(s.url, token).Open(ctx, "speech-frontend")
	if err != nil {
		t.Fatal(err)
	}
	defer sess.Close()
	go func() { // take its outputs, so that nothing waits on them
		for {
			if _, err := sess.Recv(ctx); err != nil {
				return
			}
		}
	}()
	r, err := wavio.NewReader(bytes.NewReader([]byte(readFile(t, speech))), "speech.wav")
	if err != nil {
		t.Fatal(err)
	}
	src, err := runner.NewReaderSource(r.Read, r.SampleRate, r.Channels, 20, "e2e")
	if err != nil {
		t.Fatal(err)
	}
	sendFrames := func(n int) int {
		sent := 0
		for ; sent < n; sent++ {
			f, err := src.Next()
			if err == io.EOF {
				break
			}
			if err != nil {
				t.Fatal(err)
			}
			if err := sess.Send(ctx, f); err != nil {
				t.Fatal(err)
			}
		}
		return sent
	}
	first := sendFrames(200)

	bctx := browser(t)
	navigate(t, bctx, s.url+"inspector.html?interval_ms=100")
	eval[bool](t, bctx, fmt.Sprintf(`document.getElementById("token").value = %q; document.getElementById("connect").click(); return true;`, token))
	// waitIn polls the page until the vad node's "in" counter, as drawn, is want.
	waitIn := func(want int) {
		t.Helper()
		expr := fmt.Sprintf(`(() => { const g = document.querySelector('#sessions [data-node="vad"]'); return !!g && g.dataset.in === "%d"; })()`, want)
		if _, err := chromedp.Run(bctx, chromedp.Poll[bool](expr, chromedp.WithPollingTimeout(30*time.Second))); err != nil {
			state := eval[string](t, bctx, `return document.getElementById("conn").textContent + " | " + document.getElementById("sessions").innerText;`)
			t.Fatalf("the inspector does not show vad in = %d: %v\npage: %s", want, err, state)
		}
	}
	waitIn(first)
	rest := first + sendFrames(1<<30)
	waitIn(rest)
	text := eval[string](t, bctx, `return document.getElementById("sessions").innerText;`)
	for _, want := range []string{"speech-frontend", "mono", "resample", "gain", "vad", fmt.Sprintf("in %d", rest), "out → in"} {
		if !strings.Contains(text, want) {
			t.Errorf("the inspector's text lacks %q:\n%s", want, text)
		}
	}
	// (target/server/live TestInspector checks that a client's stream id is not shown either.)
	if strings.Contains(text, "127.0.0.1") {
		t.Errorf("the inspector names the client's address:\n%s", text)
	}
	png, err := chromedp.Run(bctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll("out", 0o755); err != nil {
		t.Fatal(err)
	}
	path, _ := filepath.Abs(filepath.Join("out", "inspector.png"))
	if err := os.WriteFile(path, png, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("inspector with %d frames in: screenshot %s", rest, path)

	// The session leaves the page when it ends.
	if err := sess.CloseInput(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := chromedp.Run(bctx, chromedp.Poll[bool](`window.inspector.sessions.length === 0`, chromedp.WithPollingTimeout(30*time.Second))); err != nil {
		t.Fatalf("the ended session stays on the page: %v", err)
	}

	// Without the token the stream is refused, and the page says why.
	navigate(t, bctx, s.url+"inspector.html?interval_ms=100")
	eval[bool](t, bctx, `sessionStorage.clear(); document.getElementById("token").value = ""; document.getElementById("connect").click(); return true;`)
	if _, err := chromedp.Run(bctx, chromedp.Poll[bool](`document.getElementById("conn").textContent.includes("401")`, chromedp.WithPollingTimeout(30*time.Second))); err != nil {
		t.Fatalf("without the token: %v (%s)", err, eval[string](t, bctx, `return document.getElementById("conn").textContent;`))
	}
}
