package pyproxy

import (
	"fmt"
	"io"
	"sort"
	"sync"
	"sync/atomic"
)

// metrics are exposed in the Prometheus text format by a small hand-written
// exposition: a dozen series do not justify client_golang's dependency tree
// (protobuf, procfs, client_model, common).
type metrics struct {
	sessions atomic.Int64 // open now
	sockets  atomic.Int64 // session WebSockets open now
	accepted atomic.Int64 // session WebSockets accepted
	opened   atomic.Int64
	restarts atomic.Int64
	dropped  atomic.Int64
	expired  atomic.Int64 // sessions ended by SessionIdle
	requests labeled
	errors   labeled
	latency  histogram
}

func (m *metrics) init() {
	m.requests.m = map[string]*atomic.Int64{}
	m.errors.m = map[string]*atomic.Int64{}
	m.latency.bounds = []float64{0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30}
	m.latency.counts = make([]uint64, len(m.latency.bounds)+1)
}

// labeled is a counter with one label.
type labeled struct {
	mu sync.Mutex
	m  map[string]*atomic.Int64
}

func (l *labeled) inc(label string) {
	l.mu.Lock()
	c := l.m[label]
	if c == nil {
		c = new(atomic.Int64)
		l.m[label] = c
	}
	l.mu.Unlock()
	c.Add(1)
}

func (l *labeled) write(w io.Writer, name, label string) {
	l.mu.Lock()
	keys := make([]string, 0, len(l.m))
	for k := range l.m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		fmt.Fprintf(w, "%s{%s=%q} %d\n", name, label, k, l.m[k].Load())
	}
	l.mu.Unlock()
}

// histogram is a cumulative-on-output histogram of seconds.
type histogram struct {
	mu     sync.Mutex
	bounds []float64
	counts []uint64 // per bucket, the last one is +Inf
	sum    float64
	n      uint64
}

func (h *histogram) observe(v float64) {
	i := sort.SearchFloat64s(h.bounds, v)
	h.mu.Lock()
	h.counts[i]++
	h.sum += v
	h.n++
	h.mu.Unlock()
}

func (h *histogram) write(w io.Writer, name string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	var cum uint64
	for i, b := range h.bounds {
		cum += h.counts[i]
		fmt.Fprintf(w, "%s_bucket{le=\"%g\"} %d\n", name, b, cum)
	}
	fmt.Fprintf(w, "%s_bucket{le=\"+Inf\"} %d\n%s_sum %g\n%s_count %d\n", name, h.n, name, h.sum, name, h.n)
}

func (p *Proxy) writeMetrics(w io.Writer) {
	alive := 0
	for _, wi := range p.Workers() {
		if wi.Alive {
			alive++
		}
	}
	gauge := func(name, help, typ string, v int64) {
		fmt.Fprintf(w, "# HELP %s %s\n# TYPE %s %s\n%s %d\n", name, help, name, typ, name, v)
	}
	gauge("pyproxy_workers_alive", "Python workers running now.", "gauge", int64(alive))
	gauge("pyproxy_sessions", "Sessions open now.", "gauge", p.m.sessions.Load())
	gauge("pyproxy_websockets", "Session WebSockets open now.", "gauge", p.m.sockets.Load())
	gauge("pyproxy_websockets_opened_total", "Session WebSockets accepted.", "counter", p.m.accepted.Load())
	gauge("pyproxy_sessions_opened_total", "Sessions opened.", "counter", p.m.opened.Load())
	gauge("pyproxy_worker_restarts_total", "Workers restarted after dying or hanging.", "counter", p.m.restarts.Load())
	gauge("pyproxy_late_outputs_dropped_total", "Streaming outputs dropped because nobody collected them.", "counter", p.m.dropped.Load())
	gauge("pyproxy_sessions_expired_total", "Sessions ended because they were idle for SessionIdle.", "counter", p.m.expired.Load())
	fmt.Fprint(w, "# HELP pyproxy_requests_total Worker requests by op.\n# TYPE pyproxy_requests_total counter\n")
	p.m.requests.write(w, "pyproxy_requests_total", "op")
	fmt.Fprint(w, "# HELP pyproxy_errors_total Failed worker requests by cause (node, died, timeout, other).\n# TYPE pyproxy_errors_total counter\n")
	p.m.errors.write(w, "pyproxy_errors_total", "cause")
	fmt.Fprint(w, "# HELP pyproxy_roundtrip_seconds Round trip of a frame or flush request through a worker.\n# TYPE pyproxy_roundtrip_seconds histogram\n")
	p.m.latency.write(w, "pyproxy_roundtrip_seconds")
}
