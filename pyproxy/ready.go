package pyproxy

import (
	"fmt"
	"net/http"

	"github.com/labstack/echo/v4"
)

// ReadyCheck is one check of /readyz.
type ReadyCheck struct {
	// Name is the check's key in Readiness.Checks, e.g. "python".
	Name string
	// Check returns the check's state, "ok" (or "off" for a part that is not
	// configured) when it allows readiness, else why not; and whether it allows it.
	Check func() (state string, ok bool)
}

// Readiness is the body of /readyz: ready when every check is.
type Readiness struct {
	Ready  bool              `json:"ready"`
	Checks map[string]string `json:"checks"`
}

// CheckReady runs checks.
func CheckReady(checks []ReadyCheck) Readiness {
	r := Readiness{Ready: true, Checks: make(map[string]string, len(checks))}
	for _, c := range checks {
		state, ok := c.Check()
		r.Checks[c.Name] = state
		r.Ready = r.Ready && ok
	}
	return r
}

// ReadyHandler answers /readyz: the Readiness of checks as JSON, with status 200
// when ready and 503 when not. It names no process ids or paths, so it needs no
// token (a load balancer or Kubernetes probes it).
func ReadyHandler(checks []ReadyCheck) echo.HandlerFunc {
	return func(c echo.Context) error {
		r := CheckReady(checks)
		status := http.StatusOK
		if !r.Ready {
			status = http.StatusServiceUnavailable
		}
		return c.JSON(status, r)
	}
}

// ReadyCheck is the proxy's check, "python": "ok" while at least one worker is
// alive, else why not.
func (p *Proxy) ReadyCheck() ReadyCheck {
	return ReadyCheck{Name: "python", Check: func() (string, bool) {
		p.mu.Lock()
		closed := p.closed
		p.mu.Unlock()
		if closed {
			return "the proxy is closed", false
		}
		for _, w := range p.Workers() {
			if w.Alive {
				return "ok", true
			}
		}
		return fmt.Sprintf("no Python worker is alive (%d configured; restarting)", p.cfg.Workers), false
	}}
}
