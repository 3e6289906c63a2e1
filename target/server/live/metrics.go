package live

import (
	"fmt"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/remotemedia/hybrid/core/sched"
)

// metrics are the server's Prometheus collectors (docs/server.md lists them).
type metrics struct {
	sessions   *prometheus.GaugeVec   // live sessions and runs now, by pipeline
	sockets    prometheus.Gauge       // open WebSockets
	framesIn   *prometheus.CounterVec // by pipeline
	framesOut  *prometheus.CounterVec
	dropped    *prometheus.CounterVec
	failed     *prometheus.CounterVec // node errors
	sessionsT  *prometheus.CounterVec // sessions ended, by pipeline and result
	refused    *prometheus.CounterVec // by limit
	work       *prometheus.HistogramVec
	blocked    *prometheus.HistogramVec
	bytesIn    prometheus.Counter
	bytesOut   prometheus.Counter
	closeCodes *prometheus.CounterVec
}

// timeBuckets span 1 µs to about 0.5 s, for per-frame times.
var timeBuckets = prometheus.ExponentialBuckets(1e-6, 2.5, 15)

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		sessions: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "remotemedia_live_sessions",
			Help: "Live sessions and one-shot runs in progress, by pipeline."}, []string{"pipeline"}),
		sockets: prometheus.NewGauge(prometheus.GaugeOpts{Name: "remotemedia_ws_connections",
			Help: "Open WebSocket connections of live sessions."}),
		framesIn: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "remotemedia_pipeline_frames_in_total",
			Help: "Data frames pushed into sessions, by pipeline."}, []string{"pipeline"}),
		framesOut: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "remotemedia_pipeline_frames_out_total",
			Help: "Output frames sent to clients, by pipeline."}, []string{"pipeline"}),
		dropped: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "remotemedia_pipeline_frames_dropped_total",
			Help: "Frames the definitions' loss policies dropped, by pipeline."}, []string{"pipeline"}),
		failed: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "remotemedia_pipeline_frames_failed_total",
			Help: "Node errors (a frame a node failed on, or a flush), by pipeline."}, []string{"pipeline"}),
		sessionsT: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "remotemedia_live_sessions_total",
			Help: "Sessions and runs ended, by pipeline and result (ok, failed)."}, []string{"pipeline", "result"}),
		refused: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "remotemedia_live_refused_total",
			Help: "Sessions, sockets and runs refused, by the limit that refused them."}, []string{"limit"}),
		work: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "remotemedia_node_work_seconds",
			Help:    "Per session and node: the node's mean work time per data frame, by pipeline and node type.",
			Buckets: timeBuckets}, []string{"pipeline", "node_type"}),
		blocked: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "remotemedia_node_blocked_seconds",
			Help:    "Per session and node: the mean time per data frame the node's outputs waited for room downstream (queue wait), by pipeline and node type.",
			Buckets: timeBuckets}, []string{"pipeline", "node_type"}),
		bytesIn: prometheus.NewCounter(prometheus.CounterOpts{Name: "remotemedia_ws_received_bytes_total",
			Help: "Bytes of WebSocket messages received from clients."}),
		bytesOut: prometheus.NewCounter(prometheus.CounterOpts{Name: "remotemedia_ws_sent_bytes_total",
			Help: "Bytes of WebSocket messages sent to clients."}),
		closeCodes: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "remotemedia_ws_closed_total",
			Help: "WebSocket connections the server closed, by close code."}, []string{"code"}),
	}
	if reg == nil {
		return m, nil
	}
	for _, c := range []prometheus.Collector{m.sessions, m.sockets, m.framesIn, m.framesOut, m.dropped, m.failed,
		m.sessionsT, m.refused, m.work, m.blocked, m.bytesIn, m.bytesOut, m.closeCodes} {
		if err := reg.Register(c); err != nil {
			return nil, fmt.Errorf("%w: metrics: %w", ErrConfig, err)
		}
	}
	return m, nil
}

// pipeMetrics are one pipeline's series, resolved once per session.
type pipeMetrics struct {
	name                        string
	sessions                    prometheus.Gauge
	framesIn, framesOut, failed prometheus.Counter
}

func (m *metrics) forPipeline(name string) pipeMetrics {
	return pipeMetrics{
		name:      name,
		sessions:  m.sessions.WithLabelValues(name),
		framesIn:  m.framesIn.WithLabelValues(name),
		framesOut: m.framesOut.WithLabelValues(name),
		failed:    m.failed.WithLabelValues(name),
	}
}

// ended records a finished session's node stats.
func (m *metrics) ended(p *Pipeline, stats []sched.NodeStats, failed bool) {
	result := "ok"
	if failed {
		result = "failed"
	}
	m.sessionsT.WithLabelValues(p.metricName, result).Inc()
	var dropped uint64
	for i, st := range stats {
		dropped += st.Dropped
		if st.In == 0 || i >= len(p.graph.Nodes) {
			continue
		}
		typ := p.graph.Nodes[i].Spec.Type
		m.work.WithLabelValues(p.metricName, typ).Observe((st.Work / time.Duration(st.In)).Seconds())
		m.blocked.WithLabelValues(p.metricName, typ).Observe((st.Blocked / time.Duration(st.In)).Seconds())
	}
	if dropped > 0 {
		m.dropped.WithLabelValues(p.metricName).Add(float64(dropped))
	}
}
