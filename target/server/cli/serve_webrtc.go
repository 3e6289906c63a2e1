package cli

import (
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"

	"github.com/labstack/echo/v4"

	"github.com/remotemedia/hybrid/target/server/live"
	"github.com/remotemedia/hybrid/target/server/webrtc"
)

// webrtcFlags configure the WHIP-style WebRTC route (docs/webrtc.md).
type webrtcFlags struct {
	ips listFlag
}

func (wf *webrtcFlags) register(fs *flag.FlagSet) {
	fs.Var(&wf.ips, "webrtc-ip", "an address offered to WebRTC clients as an ICE host candidate (comma list or repeatable; "+
		"default: 127.0.0.1 when --listen is a loopback address, else every interface's)")
}

// hostIPs resolves --webrtc-ip against the listen address.
func (wf *webrtcFlags) hostIPs(listen string) ([]net.IP, error) {
	var ips []net.IP
	for _, s := range splitList(wf.ips.String()) {
		ip := net.ParseIP(s)
		if ip == nil {
			return nil, fmt.Errorf("%w: --webrtc-ip %q: want an IP address", errUsage, s)
		}
		ips = append(ips, ip)
	}
	if len(ips) > 0 {
		return ips, nil
	}
	if host, _, err := net.SplitHostPort(listen); err == nil {
		if ip := net.ParseIP(host); ip != nil && ip.IsLoopback() {
			return []net.IP{ip}, nil
		}
		if host == "localhost" {
			return []net.IP{net.IPv4(127, 0, 0, 1)}, nil
		}
	}
	return nil, nil
}

// mount serves the WebRTC route of liveSrv's pipelines on g; the server it
// returns is closed after the live server has drained.
func (wf *webrtcFlags) mount(g *echo.Group, liveSrv *live.Server, listen string, log io.Writer) (*webrtc.Server, error) {
	ips, err := wf.hostIPs(listen)
	if err != nil {
		return nil, err
	}
	ws, err := webrtc.New(webrtc.Config{Live: liveSrv, HostIPs: ips,
		Logger: slog.New(slog.NewTextHandler(log, &slog.HandlerOptions{Level: slog.LevelWarn}))})
	if err != nil {
		return nil, err
	}
	ws.Register(g)
	if !webrtc.AudioBuilt() {
		fmt.Fprintf(log, "remotemedia: %v: the WebRTC route answers 501\n", webrtc.ErrNoAudio)
	}
	return ws, nil
}
