package live_test

import (
	"bytes"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/remotemedia/hybrid/examples"
	"github.com/remotemedia/hybrid/target/server/cli"
	"github.com/remotemedia/hybrid/target/server/live"
)

// TestRunMatchesCLI: the one-shot route answers with the very bytes
// `remotemedia run --out --events` writes for the same WAV file.
func TestRunMatchesCLI(t *testing.T) {
	dir := t.TempDir()
	in := filepath.Join(dir, "in.wav")
	wav := live.WAVBytes(t, live.SpeechLike(3), 48000, 2)
	if err := os.WriteFile(in, wav, 0o644); err != nil {
		t.Fatal(err)
	}
	out, events := filepath.Join(dir, "out.wav"), filepath.Join(dir, "events.jsonl")
	var stderr bytes.Buffer
	if code := cli.Main([]string{"run", "../../../examples/speech-frontend.yaml", "--in", in, "--out", out,
		"--events", events, "--quiet", "--wasm-cache", filepath.Join(dir, "cache")}, io.Discard, &stderr); code != 0 {
		t.Fatalf("remotemedia run: exit %d: %s", code, stderr.String())
	}
	wantWAV, _ := os.ReadFile(out)
	wantEvents, _ := os.ReadFile(events)

	reg := live.TestRegistryOf()
	pipes, _ := live.LoadFS(examples.FS, reg) // transcribe.yaml needs Python: left out
	srv, err := live.New(live.Config{Registry: reg, Pipelines: pipes})
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(srv.Handler())
	defer hs.Close()
	req, _ := http.NewRequest("POST", hs.URL+"/v1/pipelines/speech-frontend/run", bytes.NewReader(wav))
	req.Header.Set("Accept", "multipart/mixed")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	_, params, _ := mime.ParseMediaType(resp.Header.Get("Content-Type"))
	mr := multipart.NewReader(resp.Body, params["boundary"])
	var parts [][]byte
	for {
		p, err := mr.NextPart()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(p)
		parts = append(parts, b)
	}
	if len(parts) != 2 {
		t.Fatalf("%d parts", len(parts))
	}
	if !bytes.Equal(parts[0], wantWAV) {
		t.Errorf("WAV: %d bytes, want the %d bytes of remotemedia run --out", len(parts[0]), len(wantWAV))
	}
	got := string(parts[1])
	got = got[:strings.LastIndex(strings.TrimSuffix(got, "\n"), "\n")+1] // without the end line
	if got != string(wantEvents) || len(wantEvents) == 0 {
		t.Errorf("events:\n%s\nwant (remotemedia run --events):\n%s", got, wantEvents)
	}
}
