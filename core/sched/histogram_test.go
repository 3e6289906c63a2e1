package sched

import (
	"testing"
	"time"
)

func TestHistogramBuckets(t *testing.T) {
	for _, v := range []uint64{0, 1, 7, 8, 9, 15, 16, 17, 100, 1000, 12345, 1 << 20, 1<<40 + 3, 1<<63 + 5} {
		b := bucketOf(v)
		if up := bucketUpper(b); up < v {
			t.Fatalf("value %d: bucket %d ends at %d", v, b, up)
		}
		if b > 0 && bucketUpper(b-1) >= v {
			t.Fatalf("value %d: previous bucket %d ends at %d", v, b-1, bucketUpper(b-1))
		}
		if b >= histBuckets {
			t.Fatalf("value %d: bucket %d out of range", v, b)
		}
	}
}

func TestHistogramQuantiles(t *testing.T) {
	tests := []struct {
		name   string
		given  []time.Duration
		expect [2]time.Duration // p50, p99 lower bounds; uppers are 12.5% above
	}{
		{"empty", nil, [2]time.Duration{0, 0}},
		{"one value", []time.Duration{3 * time.Microsecond}, [2]time.Duration{3 * time.Microsecond, 3 * time.Microsecond}},
		{"1..100 µs", func() (d []time.Duration) {
			for i := 1; i <= 100; i++ {
				d = append(d, time.Duration(i)*time.Microsecond)
			}
			return d
		}(), [2]time.Duration{50 * time.Microsecond, 99 * time.Microsecond}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var h histogram
			for _, d := range tt.given {
				h.record(d)
			}
			q := h.quantiles(0.5, 0.99)
			for i, want := range tt.expect {
				if q[i] < want || q[i] > want+want/8 {
					t.Fatalf("quantile %d = %v, want %v (+12.5%%)", i, q[i], want)
				}
			}
		})
	}
}
