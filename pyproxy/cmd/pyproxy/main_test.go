package main

import (
	"testing"

	"github.com/remotemedia/hybrid/pyproxy"
)

// The standalone proxy's registry holds the Go and process collectors beside
// the proxy's series.
func TestRegistry(t *testing.T) {
	reg := newRegistry()
	if err := pyproxy.RegisterMetrics(reg); err != nil {
		t.Fatal(err)
	}
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]bool{}
	for _, mf := range families {
		got[mf.GetName()] = true
	}
	for _, name := range []string{"go_goroutines", "go_memstats_heap_alloc_bytes", "process_cpu_seconds_total", "process_resident_memory_bytes",
		"pyproxy_sessions", "pyproxy_requests_total"} {
		if !got[name] {
			t.Errorf("the registry lacks %s", name)
		}
	}
}
