package sched

import (
	"testing"
	"time"
)

// TestHistogramBucketsOnFirstRecord: a histogram holds no buckets until it
// records, reads as zeros before, and counts from its first value on.
func TestHistogramBucketsOnFirstRecord(t *testing.T) {
	var h histogram
	if h.counts.Load() != nil {
		t.Fatal("a new histogram holds buckets")
	}
	if q := h.quantilesOf(4, 0.5, 0.99); q[0] != 0 || q[1] != 0 {
		t.Fatalf("quantiles of four unrecorded zeros = %v, want 0, 0", q)
	}
	h.record(3 * time.Microsecond)
	if h.counts.Load() == nil {
		t.Fatal("no buckets after a record")
	}
	if q := h.quantilesOf(4, 0.5, 0.99); q[0] != 0 || q[1] < 3*time.Microsecond || q[1] > 3*time.Microsecond+3*time.Microsecond/8 {
		t.Fatalf("quantiles of three zeros and 3 µs = %v, want 0 and 3 µs (+12.5%%)", q)
	}
}

// TestSynchronousSessionHoldsOneHistogramPerNode: a synchronous session never
// waits in a queue nor blocks on one, so its nodes hold the work-time
// histogram only (4 KiB each, not 12: a live server holds them per session).
func TestSynchronousSessionHoldsOneHistogramPerNode(t *testing.T) {
	ctx := deadline(t)
	s := start(t, &Graph{
		Nodes: []NodeDef{def("a", pass()), def("b", pass())},
		Edges: []Edge{edge("a", "b")},
	}, Options{Synchronous: true, OnOutput: func(Output) {}})
	for q := uint64(1); q <= 3; q++ {
		if err := s.Push(ctx, text(q)); err != nil {
			t.Fatal(err)
		}
	}
	for _, r := range s.nodes {
		if r.lat.counts.Load() == nil {
			t.Errorf("node %s: no work-time buckets after three frames", r.id)
		}
		if r.waitLat.counts.Load() != nil || r.blockedLat.counts.Load() != nil {
			t.Errorf("node %s: queue-wait or blocked buckets in a synchronous session", r.id)
		}
	}
	if err := s.CloseInput(ctx); err != nil {
		t.Fatal(err)
	}
}
