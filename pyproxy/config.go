package pyproxy

import (
	"fmt"
	"log/slog"
	"net"
	"os"
	"time"

	"github.com/labstack/gommon/bytes"
)

// Config configures a Proxy. Zero fields take the documented defaults.
type Config struct {
	// Python is the interpreter that runs `-m remotemedia.worker`. Default:
	// $REMOTEMEDIA_PYTHON, else .venv/bin/python if it exists, else python3.
	Python string
	// Workers is the number of worker processes (default 1).
	Workers int
	// Modules are Python files of user nodes, passed as --module.
	Modules []string
	// ModuleNames are importable modules of user nodes, passed as --module-name.
	ModuleNames []string
	// CallTimeout bounds one worker call; a worker that makes no progress on a call
	// for this long is killed and restarted (default 30s: model calls are slow).
	CallTimeout time.Duration
	// StartTimeout bounds a worker's start-up until its "ready" (default 60s).
	StartTimeout time.Duration
	// MaxSessions caps the open sessions across all workers (default 256).
	MaxSessions int
	// Token, if set, is required as `Authorization: Bearer <token>` on every route
	// except /healthz. Serve refuses a non-loopback listener without one.
	Token string
	// AllowOrigins is the CORS allow-list (e.g. "https://app.example.com"); empty: no CORS.
	AllowOrigins []string
	// BodyLimit caps request bodies and WebSocket messages (default "16M").
	BodyLimit string
	// Logger receives the proxy's and the workers' logs (default slog.Default()).
	Logger *slog.Logger
}

func (c Config) withDefaults() (Config, int64, error) {
	if c.Python == "" {
		c.Python = os.Getenv("REMOTEMEDIA_PYTHON")
	}
	if c.Python == "" {
		c.Python = "python3"
		if _, err := os.Stat(".venv/bin/python"); err == nil {
			c.Python = ".venv/bin/python"
		}
	}
	if c.Workers == 0 {
		c.Workers = 1
	}
	if c.CallTimeout == 0 {
		c.CallTimeout = 30 * time.Second
	}
	if c.StartTimeout == 0 {
		c.StartTimeout = 60 * time.Second
	}
	if c.MaxSessions == 0 {
		c.MaxSessions = 256
	}
	if c.BodyLimit == "" {
		c.BodyLimit = "16M"
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	if c.Workers < 0 || c.CallTimeout < 0 || c.StartTimeout < 0 || c.MaxSessions < 0 {
		return c, 0, fmt.Errorf("%w: Workers, CallTimeout, StartTimeout and MaxSessions must not be negative", ErrConfig)
	}
	limit, err := bytes.Parse(c.BodyLimit)
	if err != nil || limit <= 0 {
		return c, 0, fmt.Errorf("%w: BodyLimit %q: want a size like 16M", ErrConfig, c.BodyLimit)
	}
	return c, limit, nil
}

// CheckListen returns ErrNoToken when addr (host:port) is not a loopback address
// and token is empty. An empty host means every interface, which is not loopback.
func CheckListen(addr, token string) error {
	if token != "" {
		return nil
	}
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("%w: listen address %q: %v", ErrConfig, addr, err)
	}
	if host == "localhost" {
		return nil
	}
	if ip := net.ParseIP(host); ip != nil && ip.IsLoopback() {
		return nil
	}
	return fmt.Errorf("%w (%s)", ErrNoToken, addr)
}
