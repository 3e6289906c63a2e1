//go:build cgo

package webrtc

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hraban/opus"
	"github.com/labstack/echo/v4"
	pion "github.com/pion/webrtc/v4"
	"github.com/pion/webrtc/v4/pkg/media"

	"github.com/remotemedia/hybrid/core/frame"
	"github.com/remotemedia/hybrid/core/node"
	"github.com/remotemedia/hybrid/core/wasmnode"
	"github.com/remotemedia/hybrid/core/wavio"
	"github.com/remotemedia/hybrid/examples"
	"github.com/remotemedia/hybrid/target/server/live"
	"github.com/remotemedia/hybrid/target/wasmhost"
	modules "github.com/remotemedia/hybrid/wasm-modules"
)

var testRegistry *node.Registry

func TestMain(m *testing.M) {
	ctx := context.Background()
	h, err := wasmhost.New(ctx, wasmhost.Config{Trusted: modules.Hashes()})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	reg := node.NewRegistry()
	if err := wasmnode.Register(reg, h, modules.Loader{}, wasmnode.Standard); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	testRegistry = reg
	code := m.Run()
	h.Close(ctx)
	os.Exit(code)
}

// testCtx is bounded by the test's deadline, and by a minute.
func testCtx(t testing.TB) context.Context {
	deadline := time.Now().Add(time.Minute)
	if tt, ok := t.(interface{ Deadline() (time.Time, bool) }); ok {
		if d, ok := tt.Deadline(); ok && d.Before(deadline) {
			deadline = d.Add(-time.Second)
		}
	}
	ctx, cancel := context.WithDeadline(context.Background(), deadline)
	t.Cleanup(cancel)
	return ctx
}

// newTestServer serves the bundled examples over WebRTC on loopback.
func newTestServer(t testing.TB) *httptest.Server {
	hs, _ := newTestServers(t)
	return hs
}

// newTestServers is newTestServer and its live server.
func newTestServers(t testing.TB) (*httptest.Server, *live.Server) {
	t.Helper()
	pipes, err := live.LoadFS(examples.FS, testRegistry)
	if err != nil && !strings.Contains(err.Error(), "transcribe.yaml") { // its Python node is not registered here
		t.Fatal(err)
	}
	ls, err := live.New(live.Config{Registry: testRegistry, Pipelines: pipes})
	if err != nil {
		t.Fatal(err)
	}
	ws, err := New(Config{Live: ls, HostIPs: []net.IP{net.IPv4(127, 0, 0, 1)}})
	if err != nil {
		t.Fatal(err)
	}
	e := echo.New()
	ws.Register(e.Group(""))
	hs := httptest.NewServer(e)
	t.Cleanup(func() {
		hs.Close()
		_ = ws.Close()
		_ = ls.Close()
	})
	return hs, ls
}

// speech48k is two sentences of espeak-ng speech with silence before, between
// and after them, as 48 kHz mono, and the sample where the first speech starts.
func speech48k(t testing.TB) ([]float32, int) {
	t.Helper()
	if _, err := exec.LookPath("espeak-ng"); err != nil {
		t.Skip("espeak-ng is needed (scripts/deps.sh installs it)")
	}
	var out []float32
	silence := func(sec float64) { out = append(out, make([]float32, int(sec*opusRate))...) }
	onset := 0
	for i, text := range []string{"The quick brown fox jumps over the lazy dog.", "One pipeline runs in the browser and on the server."} {
		path := filepath.Join(t.TempDir(), "s.wav")
		if o, err := exec.Command("espeak-ng", "-w", path, text).CombinedOutput(); err != nil {
			t.Fatalf("espeak-ng: %v\n%s", err, o)
		}
		f, err := os.Open(path)
		if err != nil {
			t.Fatal(err)
		}
		r, err := wavio.NewReader(f, path)
		if err != nil {
			t.Fatal(err)
		}
		var pcm []float32
		buf := make([]float32, 4096)
		for {
			n, err := r.Read(buf)
			pcm = append(pcm, buf[:n]...)
			if err == io.EOF {
				break
			}
			if err != nil {
				t.Fatal(err)
			}
		}
		f.Close()
		silence(1)
		if i == 0 {
			onset = len(out)
		}
		out = append(out, resampleLinear(mixDown(pcm, r.Channels), r.SampleRate, opusRate)...)
	}
	silence(1)
	return out, onset
}

// tab is a pion peer as a tab would be: a sendrecv Opus track, the
// negotiated events channel, and what comes back.
type tab struct {
	pc    *pion.PeerConnection
	track *pion.TrackLocalStaticSample

	mu        sync.Mutex
	events    []map[string]any
	end       map[string]any
	endCh     chan struct{}
	firstEvt  time.Time // the first speech_start
	firstLoud time.Time // the first returned packet with speech in it
	energy    float64   // of the returned audio
	received  int       // samples returned
	tracks    int       // remote tracks
}

func newTab(t *testing.T, dir pion.RTPTransceiverDirection) *tab {
	t.Helper()
	m := &pion.MediaEngine{}
	if err := m.RegisterDefaultCodecs(); err != nil {
		t.Fatal(err)
	}
	se := pion.SettingEngine{}
	se.SetIncludeLoopbackCandidate(true)
	se.SetIPFilter(func(ip net.IP) bool { return ip.IsLoopback() })
	se.SetNetworkTypes([]pion.NetworkType{pion.NetworkTypeUDP4})
	api := pion.NewAPI(pion.WithMediaEngine(m), pion.WithSettingEngine(se))
	pc, err := api.NewPeerConnection(pion.Configuration{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = pc.Close() })
	c := &tab{pc: pc, endCh: make(chan struct{})}
	c.track, err = pion.NewTrackLocalStaticSample(pion.RTPCodecCapability{MimeType: pion.MimeTypeOpus, ClockRate: 48000, Channels: 2}, "mic", "tab")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := pc.AddTransceiverFromTrack(c.track, pion.RTPTransceiverInit{Direction: dir}); err != nil {
		t.Fatal(err)
	}
	negotiated, zero := true, uint16(0)
	dc, err := pc.CreateDataChannel("events", &pion.DataChannelInit{Negotiated: &negotiated, ID: &zero})
	if err != nil {
		t.Fatal(err)
	}
	dc.OnMessage(func(msg pion.DataChannelMessage) {
		var v map[string]any
		if err := json.Unmarshal(msg.Data, &v); err != nil {
			t.Errorf("an events message is not JSON: %q", msg.Data)
			return
		}
		c.mu.Lock()
		defer c.mu.Unlock()
		if end, ok := v["end"].(map[string]any); ok {
			c.end = v
			_ = end
			close(c.endCh)
			return
		}
		if d, _ := v["data"].(map[string]any); d != nil && d["event"] == "speech_start" && c.firstEvt.IsZero() {
			c.firstEvt = time.Now()
		}
		c.events = append(c.events, v)
	})
	pc.OnTrack(func(tr *pion.TrackRemote, _ *pion.RTPReceiver) {
		c.mu.Lock()
		c.tracks++
		c.mu.Unlock()
		dec, err := opus.NewDecoder(48000, 1)
		if err != nil {
			t.Error(err)
			return
		}
		pcm := make([]float32, maxFrameSamples)
		for {
			pkt, _, err := tr.ReadRTP()
			if err != nil {
				return
			}
			n, err := dec.DecodeFloat32(pkt.Payload, pcm)
			if err != nil {
				t.Errorf("decoding the returned audio: %v", err)
				return
			}
			var e float64
			for _, s := range pcm[:n] {
				e += float64(s) * float64(s)
			}
			c.mu.Lock()
			c.energy += e
			c.received += n
			if c.firstLoud.IsZero() && math.Sqrt(e/float64(n)) > 0.01 {
				c.firstLoud = time.Now()
			}
			c.mu.Unlock()
		}
	})
	return c
}

// connect posts the offer to url and applies the answer; it returns the
// session's Location.
func (c *tab) connect(t *testing.T, url string) string {
	t.Helper()
	offer, err := c.pc.CreateOffer(nil)
	if err != nil {
		t.Fatal(err)
	}
	gathered := pion.GatheringCompletePromise(c.pc)
	if err := c.pc.SetLocalDescription(offer); err != nil {
		t.Fatal(err)
	}
	<-gathered
	resp, err := http.Post(url, "application/sdp", strings.NewReader(c.pc.LocalDescription().SDP))
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("POST %s: %s: %s", url, resp.Status, body)
	}
	if ct := resp.Header.Get("Content-Type"); ct != "application/sdp" {
		t.Fatalf("answer Content-Type %q, want application/sdp", ct)
	}
	if err := c.pc.SetRemoteDescription(pion.SessionDescription{Type: pion.SDPTypeAnswer, SDP: string(body)}); err != nil {
		t.Fatal(err)
	}
	return resp.Header.Get("Location")
}

// sendOpus encodes pcm (48 kHz mono) into 20 ms packets with app at bitrate
// and sends them, four times faster than real time (pacing only: the RTP
// receive buffer would drop a burst); it reports when the sample onset went out.
func (c *tab) sendOpus(t *testing.T, ctx context.Context, pcm []float32, app opus.Application, bitrate, onset int) (time.Time, map[string]int) {
	t.Helper()
	enc, err := opus.NewEncoder(48000, 1, app)
	if err != nil {
		t.Fatal(err)
	}
	if err := enc.SetBitrate(bitrate); err != nil {
		t.Fatal(err)
	}
	const block = 960
	buf := make([]byte, 4000)
	modes := map[string]int{}
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	var onsetAt time.Time
	for i := 0; i+block <= len(pcm); i += block {
		n, err := enc.EncodeFloat32(pcm[i:i+block], buf)
		if err != nil {
			t.Fatal(err)
		}
		modes[modeName(buf[0])]++
		select {
		case <-ctx.Done():
			t.Fatal("sending the audio: ", ctx.Err())
		case <-tick.C:
		}
		if err := c.track.WriteSample(media.Sample{Data: bytes.Clone(buf[:n]), Duration: 20 * time.Millisecond}); err != nil {
			t.Fatal(err)
		}
		if onsetAt.IsZero() && i+block > onset {
			onsetAt = time.Now()
		}
	}
	return onsetAt, modes
}

func modeName(toc byte) string {
	switch c := toc >> 3; {
	case c < 12:
		return "silk"
	case c < 16:
		return "hybrid"
	}
	return "celt"
}

func countEvents(evs []map[string]any, name string) int {
	n := 0
	for _, e := range evs {
		if d, _ := e["data"].(map[string]any); d != nil && d["event"] == name {
			n++
		}
	}
	return n
}

// TestWHIPSpeech sends two spoken sentences as Opus in each of its modes
// (CELT, hybrid and SILK frames; e2e/webrtc_test.go sends Chromium's default) and checks the
// VAD's two speech segments on the events channel, the speech audio coming
// back on the track, and the end message.
func TestWHIPSpeech(t *testing.T) {
	pcm, onset := speech48k(t)
	hs := newTestServer(t)
	for _, tc := range []struct {
		name    string
		app     opus.Application
		bitrate int
		mode    string
	}{
		{"celt", opus.AppAudio, 64000, "celt"},
		{"hybrid", opus.AppVoIP, 16000, "hybrid"},
		{"silk", opus.AppVoIP, 8000, "silk"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := testCtx(t)
			c := newTab(t, pion.RTPTransceiverDirectionSendrecv)
			loc := c.connect(t, hs.URL+"/v1/pipelines/speech-frontend/whip")
			if !strings.HasPrefix(loc, "/v1/pipelines/speech-frontend/whip/") {
				t.Fatalf("Location %q", loc)
			}
			onsetAt, sent := c.sendOpus(t, ctx, pcm, tc.app, tc.bitrate, onset)
			if sent[tc.mode] == 0 {
				t.Fatalf("the encoder made no %s packets: %v", tc.mode, sent)
			}
			req, _ := http.NewRequestWithContext(ctx, http.MethodDelete, hs.URL+loc, nil)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("DELETE %s: %s", loc, resp.Status)
			}
			select {
			case <-c.endCh:
			case <-ctx.Done():
				t.Fatal("no end message on the events channel")
			}
			c.mu.Lock()
			defer c.mu.Unlock()
			starts, ends := countEvents(c.events, "speech_start"), countEvents(c.events, "speech_end")
			if starts != 2 || ends != 2 {
				t.Fatalf("%d speech_start and %d speech_end, want 2 of each: %v", starts, ends, c.events)
			}
			end := c.end["end"].(map[string]any)
			if e, _ := end["error"].(string); e != "" {
				t.Fatalf("the session failed: %s", e)
			}
			frames := end["frames_in"].(float64)
			if want := float64(len(pcm) / 960); frames < want-5 || frames > want {
				t.Errorf("frames_in %v, want about %v (the frames sent)", frames, want)
			}
			in := c.end["opus_in"].(map[string]any)
			if in[tc.mode].(float64) == 0 {
				t.Errorf("the server counted no %s packets: %v (sent %v)", tc.mode, in, sent)
			}
			if c.received == 0 || math.Sqrt(c.energy/float64(c.received)) < 0.01 {
				t.Fatalf("the returned track carried %d samples of RMS %.4f, want speech", c.received, math.Sqrt(c.energy/float64(max(c.received, 1))))
			}
			t.Logf("%s: sent %v; speech onset to speech_start %v, to returned speech %v (4x real time)", tc.name, sent,
				c.firstEvt.Sub(onsetAt).Round(time.Millisecond), c.firstLoud.Sub(onsetAt).Round(time.Millisecond))
		})
	}
}

// TestWHIPSendOnly: a client that offers to send only gets the events and no
// audio track.
func TestWHIPSendOnly(t *testing.T) {
	pcm, onset := speech48k(t)
	hs := newTestServer(t)
	ctx := testCtx(t)
	c := newTab(t, pion.RTPTransceiverDirectionSendonly)
	loc := c.connect(t, hs.URL+"/v1/pipelines/speech-frontend/whip")
	if !strings.Contains(c.pc.RemoteDescription().SDP, "a=recvonly") {
		t.Fatalf("the answer to a sendonly offer is not recvonly:\n%s", c.pc.RemoteDescription().SDP)
	}
	c.sendOpus(t, ctx, pcm[:onset+opusRate], opus.AppAudio, 64000, onset) // the first second of speech
	req, _ := http.NewRequestWithContext(ctx, http.MethodDelete, hs.URL+loc, nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	select {
	case <-c.endCh:
	case <-ctx.Done():
		t.Fatal("no end message on the events channel")
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if n := countEvents(c.events, "speech_start"); n != 1 {
		t.Fatalf("%d speech_start, want 1: %v", n, c.events)
	}
	if c.tracks != 0 || c.received != 0 {
		t.Fatalf("%d tracks and %d samples came back to a sendonly client", c.tracks, c.received)
	}
}

// TestWHIPDrain: the server's drain ends a WebRTC session's input; its last
// events and the end message still reach the client, and new offers get 503.
func TestWHIPDrain(t *testing.T) {
	pcm, onset := speech48k(t)
	hs, ls := newTestServers(t)
	ctx := testCtx(t)
	c := newTab(t, pion.RTPTransceiverDirectionSendrecv)
	c.connect(t, hs.URL+"/v1/pipelines/speech-frontend/whip")
	c.sendOpus(t, ctx, pcm[:onset+opusRate], opus.AppAudio, 64000, onset)
	if err := ls.Drain(ctx); err != nil {
		t.Fatal(err)
	}
	select {
	case <-c.endCh:
	case <-ctx.Done():
		t.Fatal("no end message on the events channel")
	}
	c.mu.Lock()
	starts, ends := countEvents(c.events, "speech_start"), countEvents(c.events, "speech_end")
	c.mu.Unlock()
	if starts != 1 || ends != 1 { // the flush at the end of the input closes the segment
		t.Fatalf("%d speech_start and %d speech_end, want 1 of each: %v", starts, ends, c.events)
	}
	resp, err := http.Post(hs.URL+"/v1/pipelines/speech-frontend/whip", "application/sdp", strings.NewReader(c.pc.LocalDescription().SDP))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusServiceUnavailable {
		t.Fatalf("an offer while draining: %s, want 503", resp.Status)
	}
}

// TestWHIPRefusals checks the answers to requests the route does not take.
func TestWHIPRefusals(t *testing.T) {
	hs := newTestServer(t)
	for _, tc := range []struct {
		name, path, ctype, body string
		status                  int
		expect                  string
	}{
		{"unknown pipeline", "/v1/pipelines/nope/whip", "application/sdp", "v=0", 404, "no such pipeline"},
		{"not sdp", "/v1/pipelines/speech-frontend/whip", "application/json", "{}", 415, "application/sdp"},
		{"bad sdp", "/v1/pipelines/speech-frontend/whip", "application/sdp", "hello", 400, "bad offer"},
		{"sdp with a charset", "/v1/pipelines/speech-frontend/whip", "application/sdp; charset=utf-8", "hello", 400, "bad offer"},
		{"offer too big", "/v1/pipelines/speech-frontend/whip", "application/sdp", strings.Repeat("a", 64<<10+1), 413, "over 65536 bytes"},
		{"bad output", "/v1/pipelines/speech-frontend/whip?output=vad.nope", "application/sdp", "v=0", 400, "not an audio output"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp, err := http.Post(hs.URL+tc.path, tc.ctype, strings.NewReader(tc.body))
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != tc.status || !strings.Contains(string(body), tc.expect) {
				t.Fatalf("%s, %s; want %d and %q", resp.Status, body, tc.status, tc.expect)
			}
		})
	}
	req, _ := http.NewRequest(http.MethodDelete, hs.URL+"/v1/pipelines/speech-frontend/whip/0123", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNotFound {
		t.Fatalf("DELETE of an unknown session: %s, want 404", resp.Status)
	}
}

// TestEndInputAfterTheDrain: when a drain has ended a session's input, the
// inbound reader's next Push fails and it ends the input again as the track
// goes (endInput). That second end must not cancel the session: its flush still
// closes the speech segment and the end reports no error. (CI once saw TestWHIPDrain
// get a speech_start and no speech_end this way.)
func TestEndInputAfterTheDrain(t *testing.T) {
	pcm, onset := speech48k(t)
	_, ls := newTestServers(t)
	ctx := testCtx(t)
	var mu sync.Mutex
	var events []string
	sess, err := ls.Open("speech-frontend", live.SessionOptions{Addr: "127.0.0.1", OnOutput: func(o live.Output) {
		if o.Event != nil {
			b, _ := json.Marshal(o.Event)
			mu.Lock()
			events = append(events, string(b))
			mu.Unlock()
		}
	}})
	if err != nil {
		t.Fatal(err)
	}
	const block = opusRate * frameMS / 1000
	for i := 0; i+block <= onset+opusRate; i += block {
		seq := uint64(i / block)
		f := frame.NewAudioF32(frame.Header{StreamID: "webrtc", Seq: seq, Timestamp: int64(seq) * frameMS * 1000}, opusRate, 1, pcm[i:i+block])
		if err := sess.Push(ctx, f); err != nil {
			t.Fatal(err)
		}
	}
	if err := sess.CloseInput(ctx); err != nil { // as the drain does
		t.Fatal(err)
	}
	(&peer{sess: sess}).endInput() // as the inbound reader does once its Push fails
	select {
	case <-sess.Done():
	case <-ctx.Done():
		t.Fatal("the session did not end")
	}
	if end := sess.End(); end.Error != "" {
		t.Errorf("end: %q, want no error", end.Error)
	}
	mu.Lock()
	defer mu.Unlock()
	var starts, ends int
	for _, e := range events {
		starts += strings.Count(e, `"speech_start"`)
		ends += strings.Count(e, `"speech_end"`)
	}
	if starts != 1 || ends != 1 {
		t.Errorf("%d speech_start and %d speech_end, want 1 of each: %v", starts, ends, events)
	}
}
