package pyproxy

import (
	"encoding/json"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/labstack/gommon/bytes"
	"github.com/prometheus/client_golang/prometheus"
)

// Config configures a Proxy. Zero fields take the documented defaults.
type Config struct {
	// Python is the interpreter that runs `-m remotemedia.worker`. Default: the
	// first of FindPython's candidates that exists.
	Python string
	// Workers is the number of worker processes (default 1).
	Workers int
	// Modules are Python files of user nodes, passed as --module.
	Modules []string
	// ModuleNames are importable modules of user nodes, passed as --module-name.
	ModuleNames []string
	// NodeParams are the operator's params per node type (type -> param -> value),
	// merged into every session of that type. They are how operator-only params
	// (Param.Operator: programs, file paths, model locations) are set; a client may
	// override the others.
	NodeParams map[string]map[string]any
	// CallTimeout bounds one worker call; a worker that makes no progress on a call
	// for this long is killed and restarted (default 30s: model calls are slow).
	CallTimeout time.Duration
	// StartTimeout bounds a worker's start-up until its "ready" (default 60s).
	StartTimeout time.Duration
	// MemoryLimit caps each worker's data memory in bytes (RLIMIT_DATA, set by the
	// worker on itself); a worker over it fails its call with ErrWorkerMemory and
	// is replaced. Default 4 GiB; negative: no limit.
	MemoryLimit int64
	// MaxSessions caps the open sessions across all workers (default 256).
	MaxSessions int
	// MaxSessionsPerClient caps the sessions one client address (the remote IP)
	// opens over the API (default 32). Trusted callers (OperatorToken) are exempt.
	MaxSessionsPerClient int
	// SessionIdle ends a session no request has used for this long and that has
	// no WebSocket open (default 5m).
	SessionIdle time.Duration
	// SocketGrace ends a session this long after its WebSocket closed, unless a
	// new socket or a request takes it up first (default 10s).
	SocketGrace time.Duration
	// WriteTimeout bounds one WebSocket write: a client that stops reading has its
	// socket closed and its session ended after it (default 10s).
	WriteTimeout time.Duration
	// BodyTimeout bounds sending a request's body (default 60s): a client that
	// sends it more slowly has its connection closed.
	BodyTimeout time.Duration
	// Token, if set, is required as `Authorization: Bearer <token>` on every route
	// except /healthz. Serve refuses a non-loopback listener without one.
	Token string
	// OperatorToken, if set, is a second bearer token whose holder is trusted: it
	// may set operator-only params. It is also accepted wherever Token is.
	OperatorToken string
	// AllowOrigins is the CORS allow-list (e.g. "https://app.example.com"); empty:
	// no CORS. Requests whose Origin is neither the server's own nor listed are refused.
	AllowOrigins []string
	// AllowHosts are Host header values accepted besides the listener's own
	// address (see Guard).
	AllowHosts []string
	// BodyLimit caps request bodies and WebSocket messages (default "16M").
	BodyLimit string
	// Logger receives the proxy's and the workers' logs (default slog.Default()).
	Logger *slog.Logger
	// Metrics receives the proxy's Prometheus collectors (docs/pyproxy.md); nil:
	// a private registry. Registering twice on one registry fails New.
	Metrics prometheus.Registerer
	// Gatherer is what /metrics serves: the registry Metrics belongs to, or a
	// server's whole registry (default: the private registry, or Metrics when it
	// is also a Gatherer).
	Gatherer prometheus.Gatherer
	// ReadyChecks are more checks /readyz reports beside "python" (e.g. a
	// server's "modules").
	ReadyChecks []ReadyCheck
}

// DefaultMemoryLimit is Config.MemoryLimit's default.
const DefaultMemoryLimit = 4 << 30

func (c Config) withDefaults() (Config, int64, error) {
	if c.Python == "" {
		c.Python, _ = FindPython()
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
	if c.MemoryLimit == 0 {
		c.MemoryLimit = DefaultMemoryLimit
	}
	if c.MaxSessions == 0 {
		c.MaxSessions = 256
	}
	if c.MaxSessionsPerClient == 0 {
		c.MaxSessionsPerClient = 32
	}
	if c.SessionIdle == 0 {
		c.SessionIdle = 5 * time.Minute
	}
	if c.SocketGrace == 0 {
		c.SocketGrace = 10 * time.Second
	}
	if c.WriteTimeout == 0 {
		c.WriteTimeout = 10 * time.Second
	}
	if c.BodyTimeout == 0 {
		c.BodyTimeout = 60 * time.Second
	}
	if c.BodyLimit == "" {
		c.BodyLimit = "16M"
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	if c.Metrics == nil {
		reg := prometheus.NewRegistry()
		c.Metrics = reg
		if c.Gatherer == nil {
			c.Gatherer = reg
		}
	}
	if g, ok := c.Metrics.(prometheus.Gatherer); ok && c.Gatherer == nil {
		c.Gatherer = g
	}
	if c.Gatherer == nil {
		return c, 0, fmt.Errorf("%w: Metrics is not a Gatherer: set Gatherer to what /metrics serves", ErrConfig)
	}
	if c.Workers < 0 || c.CallTimeout < 0 || c.StartTimeout < 0 || c.MaxSessions < 0 || c.MaxSessionsPerClient < 0 ||
		c.SessionIdle < 0 || c.SocketGrace < 0 || c.WriteTimeout < 0 || c.BodyTimeout < 0 {
		return c, 0, fmt.Errorf("%w: Workers, CallTimeout, StartTimeout, MaxSessions, MaxSessionsPerClient, SessionIdle, SocketGrace, WriteTimeout and BodyTimeout must not be negative", ErrConfig)
	}
	limit, err := bytes.Parse(c.BodyLimit)
	if err != nil || limit <= 0 {
		return c, 0, fmt.Errorf("%w: BodyLimit %q: want a size like 16M", ErrConfig, c.BodyLimit)
	}
	return c, limit, nil
}

// FindPython returns the interpreter a Config with no Python uses, and the
// candidates it looked at, in order: $REMOTEMEDIA_PYTHON; .venv/bin/python in
// the current directory; .venv/bin/python beside the running binary and in its
// parent directory (bin/remotemedia in a checkout finds <repo>/.venv); python3.
// The first that exists wins (python3 is taken as it is, from $PATH).
func FindPython() (python string, tried []string) {
	exe, _ := os.Executable()
	return findPython(os.Getenv("REMOTEMEDIA_PYTHON"), exe)
}

func findPython(env, exe string) (string, []string) {
	if env != "" {
		return env, []string{"$REMOTEMEDIA_PYTHON=" + env}
	}
	tried := []string{"$REMOTEMEDIA_PYTHON (unset)"}
	venv := filepath.Join(".venv", "bin", "python")
	candidates := []string{venv}
	if exe != "" {
		if resolved, err := filepath.EvalSymlinks(exe); err == nil {
			exe = resolved
		}
		dir := filepath.Dir(exe)
		candidates = append(candidates, filepath.Join(dir, venv), filepath.Join(filepath.Dir(dir), venv))
	}
	for _, c := range candidates {
		if st, err := os.Stat(c); err == nil && !st.IsDir() {
			return c, append(tried, c)
		}
		tried = append(tried, c)
	}
	return "python3", append(tried, "python3")
}

// ParseSize parses a memory size: bytes, or a number with K, M, G or T (each
// 1024 times the previous; "KB", "KiB" and lower case too), e.g. 4G, 512M, 1.5G.
func ParseSize(s string) (int64, error) {
	t := strings.ToUpper(strings.TrimSpace(s))
	t = strings.TrimSuffix(strings.TrimSuffix(t, "B"), "I")
	mult := int64(1)
	if t != "" {
		if i := strings.IndexByte("KMGT", t[len(t)-1]); i >= 0 {
			mult = 1 << (10 * (i + 1))
			t = t[:len(t)-1]
		}
	}
	n, err := strconv.ParseFloat(t, 64)
	if err != nil || n < 0 || n*float64(mult) > 1<<62 {
		return 0, fmt.Errorf("%w: size %q: want bytes or a size like 4G or 512M", ErrConfig, s)
	}
	return int64(n * float64(mult)), nil
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

// LoadToken returns the bearer token from, in order: the --token value, the file
// named by --token-file (surrounding white space trimmed), $REMOTEMEDIA_TOKEN.
// Giving both a value and a file is an error, as is an empty file.
func LoadToken(value, file string) (string, error) {
	switch {
	case value != "" && file != "":
		return "", fmt.Errorf("%w: give --token or --token-file, not both", ErrConfig)
	case value != "":
		return value, nil
	case file != "":
		b, err := os.ReadFile(file)
		if err != nil {
			return "", fmt.Errorf("%w: --token-file: %v", ErrConfig, err)
		}
		tok := strings.TrimSpace(string(b))
		if tok == "" {
			return "", fmt.Errorf("%w: --token-file %s is empty", ErrConfig, file)
		}
		return tok, nil
	}
	return os.Getenv("REMOTEMEDIA_TOKEN"), nil
}

// ParseNodeParams parses Config.NodeParams from flag values Type.param=value
// (--node-param); a value is JSON when it parses as JSON, else a string.
func ParseNodeParams(list []string) (map[string]map[string]any, error) {
	out := map[string]map[string]any{}
	for _, s := range list {
		key, raw, ok := strings.Cut(s, "=")
		typ, param, ok2 := strings.Cut(key, ".")
		if !ok || !ok2 || typ == "" || param == "" {
			return nil, fmt.Errorf("%w: --node-param %q: want Type.param=value, e.g. EspeakTTS.binary=/usr/bin/espeak-ng", ErrConfig, s)
		}
		var v any
		if json.Unmarshal([]byte(raw), &v) != nil {
			v = raw
		}
		if out[typ] == nil {
			out[typ] = map[string]any{}
		}
		out[typ][param] = v
	}
	return out, nil
}
