package pyproxy

import (
	"fmt"

	"github.com/prometheus/client_golang/prometheus"
)

// metrics are the proxy's Prometheus series (docs/pyproxy.md lists them). They
// exist without a proxy (RegisterMetrics), so a server with Python off exposes
// the same series at zero.
type metrics struct {
	workers  prometheus.Gauge // alive now
	sessions prometheus.Gauge // open now
	sockets  prometheus.Gauge // session WebSockets open now
	accepted prometheus.Counter
	opened   prometheus.Counter
	restarts prometheus.Counter
	dropped  prometheus.Counter
	expired  prometheus.Counter // sessions ended by SessionIdle
	requests *prometheus.CounterVec
	errors   *prometheus.CounterVec
	latency  prometheus.Histogram
}

// Label values of pyproxy_requests_total and pyproxy_errors_total, exposed at 0
// from the start so that a rate() sees the first one.
var (
	requestOps  = []string{"open", "frame", "flush", "close"}
	errorCauses = []string{"node", "timeout", "died", "other"}
)

// roundtripBuckets are pyproxy_roundtrip_seconds' upper bounds, from 100 µs to 30 s.
var roundtripBuckets = []float64{0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30}

// newMetrics creates the proxy's series and registers them on reg (nil: not registered).
func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		workers: prometheus.NewGauge(prometheus.GaugeOpts{Name: "pyproxy_workers_alive",
			Help: "Python workers running now."}),
		sessions: prometheus.NewGauge(prometheus.GaugeOpts{Name: "pyproxy_sessions",
			Help: "Sessions open now."}),
		sockets: prometheus.NewGauge(prometheus.GaugeOpts{Name: "pyproxy_websockets",
			Help: "Session WebSockets open now."}),
		accepted: prometheus.NewCounter(prometheus.CounterOpts{Name: "pyproxy_websockets_opened_total",
			Help: "Session WebSockets accepted."}),
		opened: prometheus.NewCounter(prometheus.CounterOpts{Name: "pyproxy_sessions_opened_total",
			Help: "Sessions opened."}),
		restarts: prometheus.NewCounter(prometheus.CounterOpts{Name: "pyproxy_worker_restarts_total",
			Help: "Workers restarted after dying or hanging."}),
		dropped: prometheus.NewCounter(prometheus.CounterOpts{Name: "pyproxy_late_outputs_dropped_total",
			Help: "Streaming outputs dropped because nobody collected them."}),
		expired: prometheus.NewCounter(prometheus.CounterOpts{Name: "pyproxy_sessions_expired_total",
			Help: "Sessions ended because they were idle for SessionIdle."}),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "pyproxy_requests_total",
			Help: "Worker requests by op (open, frame, flush, close)."}, []string{"op"}),
		errors: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "pyproxy_errors_total",
			Help: "Failed worker requests by cause (node, died, timeout, other)."}, []string{"cause"}),
		latency: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "pyproxy_roundtrip_seconds",
			Help: "Round trip of a frame or flush request through a worker.", Buckets: roundtripBuckets}),
	}
	for _, op := range requestOps {
		m.requests.WithLabelValues(op)
	}
	for _, cause := range errorCauses {
		m.errors.WithLabelValues(cause)
	}
	if reg == nil {
		return m, nil
	}
	for i, c := range m.collectors() {
		if err := reg.Register(c); err != nil {
			for _, done := range m.collectors()[:i] {
				reg.Unregister(done)
			}
			return nil, fmt.Errorf("%w: metrics: %w", ErrConfig, err)
		}
	}
	return m, nil
}

func (m *metrics) collectors() []prometheus.Collector {
	return []prometheus.Collector{m.workers, m.sessions, m.sockets, m.accepted, m.opened, m.restarts,
		m.dropped, m.expired, m.requests, m.errors, m.latency}
}

// unregister takes m's collectors off reg.
func (m *metrics) unregister(reg prometheus.Registerer) {
	for _, c := range m.collectors() {
		reg.Unregister(c)
	}
}

// RegisterMetrics registers the proxy's series on reg, at zero, for a server
// that runs no proxy but keeps the shape of its /metrics (`remotemedia serve
// --python off`). A proxy registers its own on Config.Metrics: do not call both
// with one registry.
func RegisterMetrics(reg prometheus.Registerer) error {
	_, err := newMetrics(reg)
	return err
}
