package pyproxy

import (
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strings"

	"github.com/labstack/echo/v4"
)

// GuardConfig configures Guard.
type GuardConfig struct {
	// AllowHosts are Host header values accepted besides the server's own
	// address: "name" accepts that name on any port, "name:port" only that port,
	// "*" any Host (behind a reverse proxy that checks it).
	AllowHosts []string
	// AllowOrigins are the origins (e.g. "https://app.example.com", or "*") whose
	// cross-origin requests are accepted, besides the server's own.
	AllowOrigins []string
}

// Guard returns a middleware that refuses, with 403 and a JSON {"error"}, what
// a browser can be tricked into sending:
//
//   - a request whose Host is not an address of the server (DNS rebinding): the
//     accepted hosts are the local IP:port the connection arrived on; when that
//     IP is a loopback address, also localhost and any loopback IP on that port;
//     and GuardConfig.AllowHosts. A Host without a port means 80 (443 over TLS).
//   - a request with an Origin header that is neither the server's own (the
//     origin's host:port equals Host) nor in AllowOrigins, unless it is a plain
//     GET or HEAD (not a WebSocket upgrade), which changes nothing and whose
//     response CORS keeps from the page. So POST, DELETE, OPTIONS and WebSocket
//     upgrades from other sites are refused whatever their Content-Type.
//
// Proxy.Register applies it to the API's routes; a server that embeds the
// proxy applies it to all of its routes (remotemedia serve does).
func Guard(cfg GuardConfig) echo.MiddlewareFunc {
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			r := c.Request()
			if !hostAllowed(r, cfg.AllowHosts) {
				return c.JSON(http.StatusForbidden, map[string]string{"error": fmt.Sprintf(
					"pyproxy: Host %q is not an address of this server; an operator can allow it with --allow-host", r.Host)})
			}
			if origin := r.Header.Get(echo.HeaderOrigin); origin != "" && !originAllowed(r, origin, cfg.AllowOrigins) {
				return c.JSON(http.StatusForbidden, map[string]string{"error": fmt.Sprintf(
					"pyproxy: cross-origin %s from %q refused; an operator can allow the origin with --allow-origin", r.Method, origin)})
			}
			return next(c)
		}
	}
}

func hostAllowed(r *http.Request, allow []string) bool {
	name, port := splitHost(r.Host, r.TLS != nil)
	if name == "" {
		return false
	}
	for _, a := range allow {
		if a == "*" {
			return true
		}
		an, ap, err := net.SplitHostPort(a)
		if err != nil {
			an, ap = strings.Trim(a, "[]"), ""
		}
		if strings.EqualFold(an, name) && (ap == "" || ap == port) {
			return true
		}
	}
	local, _ := r.Context().Value(http.LocalAddrContextKey).(net.Addr)
	tcp, ok := local.(*net.TCPAddr)
	if !ok || fmt.Sprint(tcp.Port) != port {
		return false
	}
	ip := net.ParseIP(name)
	if ip != nil && ip.Equal(tcp.IP) {
		return true
	}
	return tcp.IP.IsLoopback() && (strings.EqualFold(name, "localhost") || (ip != nil && ip.IsLoopback()))
}

// splitHost splits a Host header into a lower-case name (IPv6 without brackets)
// and a port, defaulting the port by scheme; name is "" when Host is malformed.
func splitHost(host string, tls bool) (name, port string) {
	if host == "" {
		return "", ""
	}
	name, port, err := net.SplitHostPort(host)
	if err != nil {
		name, port = strings.Trim(host, "[]"), "80"
		if tls {
			port = "443"
		}
		if strings.ContainsAny(name, "[]/") {
			return "", ""
		}
	}
	return strings.ToLower(name), port
}

func originAllowed(r *http.Request, origin string, allow []string) bool {
	if r.Header.Get("Upgrade") == "" && (r.Method == http.MethodGet || r.Method == http.MethodHead) {
		return true
	}
	for _, a := range allow {
		if a == "*" || strings.EqualFold(a, origin) {
			return true
		}
	}
	u, err := url.Parse(origin)
	if err != nil || u.Host == "" {
		return false // "null" (sandboxed frames, file: pages) and garbage
	}
	return strings.EqualFold(u.Host, r.Host)
}
