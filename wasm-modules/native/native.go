// Package native implements the algorithms of the standard C node modules
// (wasm-modules/src) as ordinary Go: the same filter design and state machines,
// used by the differential tests and as the native baseline in the benchmarks.
package native

import (
	"errors"
	"math"
)

// ErrParams is returned for a parameter out of its range.
var ErrParams = errors.New("native: bad params")

// AudioFunc receives output audio: interleaved samples valid only during the call.
type AudioFunc func(timestampUS int64, samples []float32)

// GainFromDB converts decibels to a linear factor.
func GainFromDB(db float64) float32 { return float32(math.Pow(10, db/20)) }

// Gain writes src*g into dst (len(dst) >= len(src)).
func Gain(dst, src []float32, g float32) {
	dst = dst[:len(src)]
	for i, v := range src {
		dst[i] = v * g
	}
}

// ToMono writes the per-frame average of interleaved src into dst and returns it.
func ToMono(dst, src []float32, channels int) []float32 {
	n := len(src) / channels
	dst = dst[:n]
	inv := 1 / float32(channels)
	if channels == 2 {
		for i := range dst {
			dst[i] = (src[2*i] + src[2*i+1]) * 0.5
		}
		return dst
	}
	for i := range dst {
		var s float32
		for _, v := range src[i*channels : (i+1)*channels] {
			s += v
		}
		dst[i] = s * inv
	}
	return dst
}

// S16ToF32 converts s16 samples to f32 (divides by 32768).
func S16ToF32(dst []float32, src []int16) {
	dst = dst[:len(src)]
	for i, v := range src {
		dst[i] = float32(v) * (1.0 / 32768)
	}
}

// F32ToS16 converts f32 samples to s16: scales by 32768, clips, rounds half away from zero.
func F32ToS16(dst []int16, src []float32) {
	dst = dst[:len(src)]
	for i, v := range src {
		v *= 32768
		switch {
		case v > 32767:
			v = 32767
		case v < -32768:
			v = -32768
		case v != v:
			v = 0
		}
		if v >= 0 {
			dst[i] = int16(v + 0.5)
		} else {
			dst[i] = int16(v - 0.5)
		}
	}
}
