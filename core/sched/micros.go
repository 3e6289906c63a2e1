package sched

import (
	"strconv"
	"time"
)

// FormatMicros writes d in microseconds with three significant digits (0.456,
// 1.23, 12.3, 123, 1230), as latency tables print it.
func FormatMicros(d time.Duration) string {
	us := float64(d) / float64(time.Microsecond)
	switch {
	case us == 0:
		return "0"
	case us >= 1000:
		return strconv.FormatFloat(float64(roundSig(us)), 'f', 0, 64)
	case us >= 100:
		return strconv.FormatFloat(us, 'f', 0, 64)
	case us >= 10:
		return strconv.FormatFloat(us, 'f', 1, 64)
	case us >= 1:
		return strconv.FormatFloat(us, 'f', 2, 64)
	}
	return strconv.FormatFloat(us, 'f', 3, 64)
}

// roundSig rounds x (>= 1000) to three significant digits.
func roundSig(x float64) int64 {
	p := int64(1)
	for x/float64(p) >= 1000 {
		p *= 10
	}
	return int64(x/float64(p)+0.5) * p
}
