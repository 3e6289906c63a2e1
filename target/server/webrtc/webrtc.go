// Package webrtc serves the pipelines of a live.Server over WebRTC, WHIP-style
// (docs/webrtc.md): a client POSTs an SDP offer to
// /v1/pipelines/{name}/whip and gets the answer (201, non-trickle ICE); its
// microphone arrives as an Opus track, is decoded to 48 kHz mono and runs
// through a live session of the pipeline; the pipeline's events go back as
// JSON on the data channel "events" (negotiated, id 0) and its audio output as
// an Opus track. DELETE on the answer's Location ends the session.
//
// The Opus codec is libopus through cgo: a build without cgo answers the route
// with 501 and ErrNoAudio. Like package live, the package checks no token,
// Host or Origin: the server mounts it behind its guard.
package webrtc

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net"
	"net/http"
	"net/url"
	"slices"
	"sync"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/pion/ice/v4"
	pion "github.com/pion/webrtc/v4"
	"github.com/pion/webrtc/v4/pkg/media"

	"github.com/remotemedia/hybrid/core/client"
	"github.com/remotemedia/hybrid/core/frame"
	"github.com/remotemedia/hybrid/core/sched"
	"github.com/remotemedia/hybrid/target/server/live"
)

// Errors returned by this package.
var (
	// ErrNoAudio is the answer of a build without the Opus codec.
	ErrNoAudio = errors.New("webrtc: WebRTC audio is not in this build (built without cgo)")
	// ErrConfig is returned by New for a configuration it cannot serve.
	ErrConfig = errors.New("webrtc: bad configuration")
	// ErrOffer is the answer to an offer the server cannot take.
	ErrOffer = errors.New("webrtc: bad offer")
)

// AudioBuilt reports whether this build decodes and encodes Opus.
func AudioBuilt() bool { return audioBuilt }

const (
	opusRate = 48000
	// maxFrameSamples is the longest Opus frame (120 ms) at 48 kHz.
	maxFrameSamples = 5760
	// maxOffer bounds an SDP offer's size.
	maxOffer = 64 << 10
	// frameMS is the length of the frames fed to the pipeline and of the Opus
	// packets sent back.
	frameMS = 20
	// maxPending bounds the events kept for a data channel not open yet.
	maxPending = 4096
	// maxGap bounds the silence put in a gap of the audio output (a gated output).
	maxGap = 10 * time.Second
	// iceTimeout bounds the gathering of the server's candidates.
	iceTimeout = 10 * time.Second
	// endGrace is how long the end message gets to leave before the peer closes.
	endGrace = 2 * time.Second
)

// Config configures a Server.
type Config struct {
	// Live runs the sessions (its limits, metrics and drain apply).
	Live *live.Server
	// HostIPs are the addresses the server offers as ICE host candidates;
	// empty means every interface's (loopback included when it is listed).
	// There is no STUN or TURN: the client must reach one of them over UDP.
	HostIPs []net.IP
	// Logger receives what the server does not send to a client (default: discard).
	Logger *slog.Logger
}

// Server answers WHIP-style offers with live sessions of the pipelines.
type Server struct {
	cfg Config
	api *pion.API

	mu    sync.Mutex
	peers map[string]*peer
}

// New checks cfg and returns a server.
func New(cfg Config) (*Server, error) {
	if cfg.Live == nil {
		return nil, fmt.Errorf("%w: no live server", ErrConfig)
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	m := &pion.MediaEngine{}
	if err := m.RegisterCodec(pion.RTPCodecParameters{
		RTPCodecCapability: pion.RTPCodecCapability{MimeType: pion.MimeTypeOpus, ClockRate: opusRate, Channels: 2,
			SDPFmtpLine: "minptime=10;useinbandfec=1"},
		PayloadType: 111,
	}, pion.RTPCodecTypeAudio); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrConfig, err)
	}
	se := pion.SettingEngine{}
	se.SetICEMulticastDNSMode(ice.MulticastDNSModeDisabled)
	if len(cfg.HostIPs) > 0 {
		ips := slices.Clone(cfg.HostIPs)
		se.SetIPFilter(func(ip net.IP) bool { return slices.ContainsFunc(ips, ip.Equal) })
		se.SetIncludeLoopbackCandidate(slices.ContainsFunc(ips, net.IP.IsLoopback))
		types := []pion.NetworkType{}
		if slices.ContainsFunc(ips, func(ip net.IP) bool { return ip.To4() != nil }) {
			types = append(types, pion.NetworkTypeUDP4)
		}
		if slices.ContainsFunc(ips, func(ip net.IP) bool { return ip.To4() == nil }) {
			types = append(types, pion.NetworkTypeUDP6)
		}
		se.SetNetworkTypes(types)
	}
	return &Server{cfg: cfg, api: pion.NewAPI(pion.WithMediaEngine(m), pion.WithSettingEngine(se)),
		peers: map[string]*peer{}}, nil
}

// Register mounts POST /v1/pipelines/:name/whip and DELETE
// /v1/pipelines/:name/whip/:id on g (the API group, behind the guard and token).
func (s *Server) Register(g *echo.Group) {
	g.POST("/v1/pipelines/:name/whip", s.offer)
	g.DELETE("/v1/pipelines/:name/whip/:id", s.hangUp)
}

// Close ends every session and peer connection at once.
func (s *Server) Close() error {
	s.mu.Lock()
	list := make([]*peer, 0, len(s.peers))
	for _, p := range s.peers {
		list = append(list, p)
	}
	s.mu.Unlock()
	for _, p := range list {
		p.sess.Cancel()
		<-p.closed
	}
	return nil
}

func httpError(c echo.Context, status int, err error) error {
	return c.JSON(status, map[string]string{"error": err.Error()})
}

// offer serves POST /v1/pipelines/:name/whip.
func (s *Server) offer(c echo.Context) error {
	name := c.Param("name")
	if !audioBuilt {
		return httpError(c, http.StatusNotImplemented, ErrNoAudio)
	}
	if !s.cfg.Live.HasPipeline(name) {
		return httpError(c, http.StatusNotFound, fmt.Errorf("%w: %q", live.ErrNoPipeline, name))
	}
	r := c.Request()
	if ct := r.Header.Get(echo.HeaderContentType); !isSDP(ct) {
		return httpError(c, http.StatusUnsupportedMediaType, fmt.Errorf("%w: Content-Type %q: send the SDP offer as application/sdp", ErrOffer, ct))
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, maxOffer+1))
	if err != nil {
		return httpError(c, http.StatusBadRequest, fmt.Errorf("%w: reading it: %w", ErrOffer, err))
	}
	if len(body) > maxOffer {
		return httpError(c, http.StatusRequestEntityTooLarge, fmt.Errorf("%w: over %d bytes", ErrOffer, maxOffer))
	}
	p, answer, err := s.start(name, c.QueryParam("output"), clientIP(r), string(body))
	if err != nil {
		var st statusError
		if errors.As(err, &st) {
			return httpError(c, st.status, err)
		}
		return httpError(c, live.HTTPStatus(err), err)
	}
	c.Response().Header().Set(echo.HeaderLocation, fmt.Sprintf("/v1/pipelines/%s/whip/%s", url.PathEscape(name), p.id))
	return c.Blob(http.StatusCreated, "application/sdp", []byte(answer))
}

// isSDP reports whether a Content-Type is application/sdp (parameters aside).
func isSDP(ct string) bool {
	mt, _, err := mime.ParseMediaType(ct)
	return err == nil && mt == "application/sdp"
}

// hangUp serves DELETE /v1/pipelines/:name/whip/:id: the input ends, the last
// outputs and the end message go out, then the connection closes.
func (s *Server) hangUp(c echo.Context) error {
	s.mu.Lock()
	p := s.peers[c.Param("id")]
	s.mu.Unlock()
	if p == nil || p.name != c.Param("name") {
		return httpError(c, http.StatusNotFound, fmt.Errorf("webrtc: no session %q of pipeline %q", c.Param("id"), c.Param("name")))
	}
	p.endInput()
	return c.NoContent(http.StatusOK)
}

// statusError carries the HTTP status of a failure of start.
type statusError struct {
	status int
	err    error
}

func (e statusError) Error() string { return e.err.Error() }
func (e statusError) Unwrap() error { return e.err }

func badOffer(err error) error {
	return statusError{http.StatusBadRequest, fmt.Errorf("%w: %w", ErrOffer, err)}
}

// start opens the session and the peer connection and returns the answer.
func (s *Server) start(name, output, addr, offer string) (*peer, string, error) {
	id := make([]byte, 16)
	_, _ = rand.Read(id)
	p := &peer{srv: s, id: hex.EncodeToString(id), name: name, closed: make(chan struct{})}
	p.ctx, p.cancel = context.WithCancel(context.Background())
	dec, err := newDecoder()
	if err != nil {
		return nil, "", err
	}
	p.dec = dec
	sess, err := s.cfg.Live.Open(name, live.SessionOptions{Addr: addr, Output: output, OnOutput: p.output})
	if err != nil {
		return nil, "", err
	}
	p.sess = sess
	fail := func(err error) (*peer, string, error) {
		p.cancel()
		sess.Cancel()
		<-sess.Done()
		if p.pc != nil {
			_ = p.pc.Close()
		}
		return nil, "", err
	}
	pc, err := s.api.NewPeerConnection(pion.Configuration{})
	if err != nil {
		return fail(fmt.Errorf("webrtc: %w", err))
	}
	p.pc = pc
	negotiated, zero := true, uint16(0)
	if p.dc, err = pc.CreateDataChannel("events", &pion.DataChannelInit{Negotiated: &negotiated, ID: &zero}); err != nil {
		return fail(fmt.Errorf("webrtc: the events channel: %w", err))
	}
	p.dc.OnOpen(p.channelOpen)
	pc.OnTrack(p.inbound)
	pc.OnConnectionStateChange(func(st pion.PeerConnectionState) {
		if st == pion.PeerConnectionStateFailed || st == pion.PeerConnectionStateClosed {
			p.endInput()
		}
	})
	if err := pc.SetRemoteDescription(pion.SessionDescription{Type: pion.SDPTypeOffer, SDP: offer}); err != nil {
		return fail(badOffer(err))
	}
	if sess.AudioOutput() != "" {
		p.track, err = pion.NewTrackLocalStaticSample(pion.RTPCodecCapability{MimeType: pion.MimeTypeOpus, ClockRate: opusRate, Channels: 2},
			"audio", "remotemedia-"+name)
		if err != nil {
			return fail(fmt.Errorf("webrtc: the audio track: %w", err))
		}
		p.write = p.track.WriteSample
		sender, err := pc.AddTrack(p.track)
		if err != nil {
			return fail(badOffer(fmt.Errorf("the server cannot send the pipeline's audio (offer a sendrecv audio transceiver): %w", err)))
		}
		go func() { // read RTCP, as the interceptors need
			for {
				if _, _, err := sender.ReadRTCP(); err != nil {
					return
				}
			}
		}()
	}
	answer, err := pc.CreateAnswer(nil)
	if err != nil {
		return fail(badOffer(err))
	}
	gathered := pion.GatheringCompletePromise(pc)
	if err := pc.SetLocalDescription(answer); err != nil {
		return fail(badOffer(err))
	}
	select {
	case <-gathered:
	case <-time.After(iceTimeout):
		return fail(fmt.Errorf("webrtc: gathering the server's ICE candidates took over %v", iceTimeout))
	}
	s.mu.Lock()
	s.peers[p.id] = p
	s.mu.Unlock()
	go p.finish()
	return p, pc.LocalDescription().SDP, nil
}

// clientIP is the request's remote IP address (never a header's).
func clientIP(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

// peer is one client's peer connection and session.
type peer struct {
	srv    *Server
	id     string
	name   string
	pc     *pion.PeerConnection
	dc     *pion.DataChannel
	track  *pion.TrackLocalStaticSample
	write  func(media.Sample) error // the track's WriteSample
	sess   *live.Session
	dec    *opusDecoder
	ctx    context.Context // ends with the peer: a Push waiting for room gives up
	cancel context.CancelFunc
	closed chan struct{} // the peer is gone

	inputOnce sync.Once
	inbound1  sync.Once // only the first audio track feeds the session

	// The events channel: messages wait here until it opens.
	dcMu    sync.Mutex
	dcOpen  bool
	pending []string

	// The audio output side (the session's output goroutine only).
	enc     *opusEncoder
	encRate int
	encBuf  []float32
	nextUS  int64 // where the output's last frame ended, -1 before the first

	modes [3]uint64 // Opus packets received by mode: SILK, hybrid, CELT (inbound goroutine)
}

// endInput ends the session's input once. An input a drain has already
// ended (sched.ErrClosed) is left to finish its flush: cancelling it then
// would lose the flush's outputs, such as the speech_end closing a segment.
func (p *peer) endInput() {
	p.inputOnce.Do(func() {
		go func() {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			if err := p.sess.CloseInput(ctx); err != nil && !errors.Is(err, sched.ErrClosed) {
				p.sess.Cancel()
			}
		}()
	})
}

// finish waits for the session's end, sends the end message and closes the peer.
func (p *peer) finish() {
	<-p.sess.Done()
	end := p.sess.End()
	msg, _ := json.Marshal(endMessage{End: end, OpusIn: p.opusModes()})
	sent := make(chan struct{}, 1)
	p.dc.SetBufferedAmountLowThreshold(0)
	p.dc.OnBufferedAmountLow(func() {
		select {
		case sent <- struct{}{}:
		default:
		}
	})
	p.send(string(msg))
	if p.dc.BufferedAmount() > 0 && p.dc.ReadyState() == pion.DataChannelStateOpen {
		select { // the last messages leave before the connection closes
		case <-sent:
		case <-time.After(endGrace):
		}
	}
	p.cancel()
	_ = p.pc.Close()
	p.srv.mu.Lock()
	delete(p.srv.peers, p.id)
	p.srv.mu.Unlock()
	close(p.closed)
}

// endMessage is the last message on the events channel.
type endMessage struct {
	End    client.End     `json:"end"`
	OpusIn map[string]int `json:"opus_in"` // the packets received, by Opus mode
}

func (p *peer) opusModes() map[string]int {
	p.dcMu.Lock()
	defer p.dcMu.Unlock()
	return map[string]int{"silk": int(p.modes[0]), "hybrid": int(p.modes[1]), "celt": int(p.modes[2])}
}

// channelOpen sends what waited for the channel.
func (p *peer) channelOpen() {
	p.dcMu.Lock()
	defer p.dcMu.Unlock()
	p.dcOpen = true
	for _, m := range p.pending {
		_ = p.dc.SendText(m)
	}
	p.pending = nil
}

// send sends one message on the events channel, or keeps it until it opens.
func (p *peer) send(msg string) {
	p.dcMu.Lock()
	defer p.dcMu.Unlock()
	if !p.dcOpen {
		if len(p.pending) < maxPending {
			p.pending = append(p.pending, msg)
		}
		return
	}
	if err := p.dc.SendText(msg); err != nil {
		p.srv.cfg.Logger.Debug("webrtc: sending an event", "err", err)
	}
}

// inbound feeds the first remote audio track to the session, 20 ms frames of
// 48 kHz mono; the input ends with the track.
func (p *peer) inbound(t *pion.TrackRemote, _ *pion.RTPReceiver) {
	if t.Kind() != pion.RTPCodecTypeAudio {
		return
	}
	first := false
	p.inbound1.Do(func() { first = true })
	if !first {
		return
	}
	defer p.endInput()
	const block = opusRate * frameMS / 1000
	var seq uint64
	buf := make([]float32, 0, maxFrameSamples+block) // decoded samples not yet in a frame
	for {
		pkt, _, err := t.ReadRTP()
		if err != nil {
			return
		}
		if len(pkt.Payload) == 0 {
			continue
		}
		p.countMode(pkt.Payload[0])
		pcm, err := p.dec.decode(pkt.Payload)
		if err != nil {
			p.srv.cfg.Logger.Debug("webrtc: skipping a packet", "err", err)
			continue
		}
		buf = append(buf, pcm...)
		off := 0
		for ; len(buf)-off >= block; off += block {
			f := frame.NewAudioF32(frame.Header{StreamID: "webrtc", Seq: seq, Timestamp: int64(seq) * frameMS * 1000},
				opusRate, 1, buf[off:off+block]) // copies
			seq++
			if err := p.sess.Push(p.ctx, f); err != nil {
				return
			}
		}
		buf = append(buf[:0], buf[off:]...)
	}
}

// countMode counts a packet by the mode its TOC byte names (RFC 6716 3.1).
func (p *peer) countMode(toc byte) {
	config := toc >> 3
	m := 2 // CELT: 16..31
	switch {
	case config < 12:
		m = 0
	case config < 16:
		m = 1
	}
	p.dcMu.Lock()
	p.modes[m]++
	p.dcMu.Unlock()
}

// output is the session's OnOutput: events to the channel, audio to the track.
func (p *peer) output(o live.Output) {
	if o.Event != nil {
		b, err := json.Marshal(o.Event)
		if err == nil {
			p.send(string(b))
		}
		return
	}
	if p.write != nil {
		if err := p.audio(o.Audio); err != nil {
			p.srv.cfg.Logger.Warn("webrtc: sending the pipeline's audio", "pipeline", p.name, "err", err)
		}
	}
}

// opusRates are the rates the Opus encoder takes as they are.
var opusRates = []int{8000, 12000, 16000, 24000, 48000}

// audio encodes one output frame (mixed to mono, resampled to 48 kHz unless
// Opus takes its rate) into 20 ms packets; a gap in the output's timestamps
// (a gated output) is sent as silence, so the far end hears it in time.
func (p *peer) audio(f *frame.Frame) error {
	rate, ch := int(f.SampleRate), max(int(f.Channels), 1)
	pcm := mixDown(f.Float32s(), ch)
	if !slices.Contains(opusRates, rate) {
		pcm, rate = resampleLinear(pcm, rate, opusRate), opusRate
	}
	if p.enc == nil || p.encRate != rate {
		enc, err := newEncoder(rate)
		if err != nil {
			return err
		}
		p.enc, p.encRate, p.encBuf, p.nextUS = enc, rate, p.encBuf[:0], -1
	}
	if p.nextUS >= 0 && f.Timestamp > p.nextUS {
		gap := min(time.Duration(f.Timestamp-p.nextUS)*time.Microsecond, maxGap)
		p.encBuf = append(p.encBuf, make([]float32, int(gap.Seconds()*float64(rate)))...)
	}
	p.nextUS = f.Timestamp + int64(len(pcm))*1_000_000/int64(rate)
	p.encBuf = append(p.encBuf, pcm...)
	block := rate * frameMS / 1000
	n := 0
	for ; len(p.encBuf)-n >= block; n += block {
		pkt, err := p.enc.encode(p.encBuf[n : n+block])
		if err != nil {
			return err
		}
		if err := p.write(media.Sample{Data: pkt, Duration: frameMS * time.Millisecond}); err != nil {
			return err
		}
	}
	p.encBuf = append(p.encBuf[:0], p.encBuf[n:]...)
	return nil
}

// mixDown averages interleaved channels into one.
func mixDown(s []float32, ch int) []float32 {
	if ch == 1 {
		return s
	}
	out := make([]float32, len(s)/ch)
	for i := range out {
		var sum float32
		for c := range ch {
			sum += s[i*ch+c]
		}
		out[i] = sum / float32(ch)
	}
	return out
}

// resampleLinear converts mono samples from one rate to another by linear
// interpolation: enough for listening to a pipeline's output at a rate Opus
// does not take (each frame on its own: a frame's edge may click faintly).
func resampleLinear(s []float32, from, to int) []float32 {
	n := len(s) * to / from
	out := make([]float32, n)
	for i := range out {
		pos := float64(i) * float64(from) / float64(to)
		j := int(pos)
		frac := float32(pos - float64(j))
		a := s[min(j, len(s)-1)]
		b := s[min(j+1, len(s)-1)]
		out[i] = a + (b-a)*frac
	}
	return out
}
