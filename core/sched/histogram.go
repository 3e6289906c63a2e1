package sched

import (
	"math/bits"
	"sync/atomic"
	"time"
)

// histogram is a fixed-size log-linear histogram of durations in nanoseconds:
// values below 8 ns have a bucket each; above, every power of two is split into
// 8 linear sub-buckets (at most 12.5% error). Recording is one atomic add, no
// allocation but the first record's; it is written by one goroutine and read
// by any. Its buckets (4 KiB) are allocated by the first record: a synchronous
// session never records a queue wait or a blocked time, and a live server
// holds three histograms per node per session.
type histogram struct {
	counts atomic.Pointer[[histBuckets]atomic.Uint64] // nil until the first record
}

const (
	histSub     = 3 // log2 of sub-buckets per power of two
	histBuckets = (64 - histSub + 1) << histSub
)

func bucketOf(ns uint64) int {
	if ns < 1<<histSub {
		return int(ns)
	}
	e := bits.Len64(ns) - 1 // >= histSub
	sub := (ns >> (e - histSub)) & (1<<histSub - 1)
	return (e-histSub+1)<<histSub | int(sub)
}

// bucketUpper returns the largest value that falls in bucket b.
func bucketUpper(b int) uint64 {
	if b < 1<<histSub {
		return uint64(b)
	}
	e := b>>histSub + histSub - 1
	sub := uint64(b & (1<<histSub - 1))
	lo := (1<<histSub | sub) << (e - histSub)
	return lo + 1<<(e-histSub) - 1
}

func (h *histogram) record(d time.Duration) {
	if d < 0 {
		d = 0
	}
	c := h.counts.Load()
	if c == nil {
		h.first(d)
		return
	}
	c[bucketOf(uint64(d))].Add(1) // c is not nil here: no nil check touching another cache line
}

// first allocates the buckets and records d.
func (h *histogram) first(d time.Duration) {
	c := new([histBuckets]atomic.Uint64)
	c[bucketOf(uint64(d))].Add(1)
	h.counts.Store(c)
}

// quantiles returns the upper bounds of the buckets holding the given quantiles
// (each in [0,1], ascending) of the recorded values; zero when nothing was recorded.
func (h *histogram) quantiles(qs ...float64) []time.Duration { return h.quantilesOf(0, qs...) }

// quantilesOf is quantiles over n values of which those not recorded were zero
// (n below the number recorded counts as that number).
func (h *histogram) quantilesOf(n uint64, qs ...float64) []time.Duration {
	var snap [histBuckets]uint64
	var total uint64
	if c := h.counts.Load(); c != nil {
		for i := range snap {
			snap[i] = c[i].Load()
			total += snap[i]
		}
	}
	if n > total {
		snap[0] += n - total
		total = n
	}
	out := make([]time.Duration, len(qs))
	if total == 0 {
		return out
	}
	var seen uint64
	qi := 0
	for b := 0; b < histBuckets && qi < len(qs); b++ {
		seen += snap[b]
		for qi < len(qs) && float64(seen) >= qs[qi]*float64(total) && seen > 0 {
			out[qi] = time.Duration(bucketUpper(b))
			qi++
		}
	}
	return out
}
