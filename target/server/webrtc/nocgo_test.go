//go:build !cgo

package webrtc

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/labstack/echo/v4"

	"github.com/remotemedia/hybrid/core/node"
	"github.com/remotemedia/hybrid/target/server/live"
)

// TestNoAudioWithoutCgo checks that a build without cgo says so on the route.
func TestNoAudioWithoutCgo(t *testing.T) {
	ls, err := live.New(live.Config{Registry: node.NewRegistry()})
	if err != nil {
		t.Fatal(err)
	}
	defer ls.Close()
	ws, err := New(Config{Live: ls})
	if err != nil {
		t.Fatal(err)
	}
	e := echo.New()
	ws.Register(e.Group(""))
	hs := httptest.NewServer(e)
	defer hs.Close()
	resp, err := http.Post(hs.URL+"/v1/pipelines/speech-frontend/whip", "application/sdp", strings.NewReader("v=0"))
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusNotImplemented || !strings.Contains(string(body), "WebRTC audio is not in this build (built without cgo)") {
		t.Fatalf("%s %s, want 501 saying the build has no WebRTC audio", resp.Status, body)
	}
	if AudioBuilt() {
		t.Fatal("AudioBuilt() is true in a build without cgo")
	}
}
