package main

import "math"

// grid turns a detector's decisions on frames of frameMS into decisions on the
// 10 ms label grid of n frames: each grid frame takes the decision of the frame
// holding its centre (none past the end).
func grid(dec []bool, frameMS float64, n int) []bool {
	out := make([]bool, n)
	for i := range out {
		k := int((float64(i)*10 + 5) / frameMS)
		out[i] = k < len(dec) && dec[k]
	}
	return out
}

// segmentGrid marks the 10 ms grid frames whose centre lies in a segment.
func segmentGrid(segs []Segment, n int) []bool {
	out := make([]bool, n)
	for _, s := range segs {
		for i := max(0, int(s.Start*100-0.5)); i < n; i++ {
			c := (float64(i) + 0.5) / 100
			if c >= s.End {
				break
			}
			out[i] = c >= s.Start
		}
	}
	return out
}

// counts are frame counts of one detector against the labels.
type counts struct{ tp, fp, fn int }

func (c *counts) add(truth, got []bool) {
	for i, t := range truth {
		switch g := got[i]; {
		case t && g:
			c.tp++
		case g:
			c.fp++
		case t:
			c.fn++
		}
	}
}

// f1 is the harmonic mean of precision and recall (0 when nothing was found).
func (c counts) f1() float64 {
	if c.tp == 0 {
		return 0
	}
	return 2 * float64(c.tp) / float64(2*c.tp+c.fp+c.fn)
}

// maxBoundaryErr caps one boundary's error: a boundary with no detected one
// this near counts as this far off.
const maxBoundaryErr = 0.5 // seconds

// boundaryErrors returns the sum of the errors (seconds) of each truth segment's
// start and end against the nearest detected start and end, and how many
// boundaries that sums.
func boundaryErrors(truth, got []Segment) (float64, int) {
	var sum float64
	for _, t := range truth {
		bs, be := maxBoundaryErr, maxBoundaryErr
		for _, g := range got {
			bs = min(bs, math.Abs(g.Start-t.Start))
			be = min(be, math.Abs(g.End-t.End))
		}
		sum += bs + be
	}
	return sum, 2 * len(truth)
}
