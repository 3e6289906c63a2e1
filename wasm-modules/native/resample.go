package native

import (
	"fmt"
	"math"
)

const maxPhases = 1024

// Resampler is the polyphase Kaiser-windowed-sinc resampler of src/resample.c:
// output n is at input position n*M/L, input before the start reads as zeros and
// Flush pads zeros through the lookahead so that no input is lost.
type Resampler struct {
	outRate       int
	pass, attenDB float64

	inRate, channels, l, m, phases, taps, half int
	table, interp                              []float32
	hist                                       [][]float32 // per channel, from input index hbase
	hbase, inCount, curI, nOut, t0             int64
	curP                                       int
	out                                        []float32
}

// NewResampler makes a resampler to outRate Hz; quality is "best" (passband to
// 0.94 of the lower Nyquist, 110 dB stopband from it), "high" (0.9, 92 dB) or
// "fast" (0.7, 62 dB), as resample.c designs them.
func NewResampler(outRate int, quality string) (*Resampler, error) {
	r := &Resampler{outRate: outRate}
	switch quality {
	case "best":
		r.pass, r.attenDB = 0.94, 110
	case "high":
		r.pass, r.attenDB = 0.9, 92
	case "fast":
		r.pass, r.attenDB = 0.7, 62
	default:
		return nil, fmt.Errorf("%w: resample quality %q", ErrParams, quality)
	}
	if outRate < 1000 || outRate > 384000 {
		return nil, fmt.Errorf("%w: resample rate %d", ErrParams, outRate)
	}
	return r, nil
}

func besselI0(x float64) float64 {
	sum, term, y := 1.0, 1.0, x*x/4
	for k := 1; k < 200 && term > 1e-17*sum; k++ {
		term *= y / float64(k*k)
		sum += term
	}
	return sum
}

func gcd(a, b int) int {
	for b != 0 {
		a, b = b, a%b
	}
	return a
}

func (r *Resampler) setup(rate, channels int, ts int64) {
	g := gcd(r.outRate, rate)
	r.l, r.m, r.channels, r.inRate = r.outRate/g, rate/g, channels, rate
	nyq := float64(min(rate, r.outRate)) / 2
	fc := nyq * (1 + r.pass) / 2 / float64(rate)
	wreal := (r.attenDB - 7.95) * float64(rate) / (28.72 * nyq * (1 - r.pass))
	beta := 0.1102 * (r.attenDB - 8.7)
	i0b := besselI0(beta)
	r.half = int(wreal) + 1
	r.taps = (2*r.half + 3) &^ 3
	r.phases = min(r.l, maxPhases)
	r.table = make([]float32, (r.phases+1)*r.taps)
	r.interp = make([]float32, r.taps)
	for ph := 0; ph <= r.phases; ph++ {
		row := r.table[ph*r.taps : (ph+1)*r.taps]
		sum := 0.0
		for t := range row {
			u := float64(r.half-1-t) + float64(ph)/float64(r.phases)
			v := 0.0
			if u > -wreal && u < wreal {
				a, w := 2*fc*u*math.Pi, u/wreal
				s := 1.0
				if a != 0 {
					s = math.Sin(a) / a
				}
				v = 2 * fc * s * besselI0(beta*math.Sqrt(1-w*w)) / i0b
			}
			row[t] = float32(v)
			sum += v
		}
		for t := range row {
			row[t] = float32(float64(row[t]) / sum)
		}
	}
	r.hist = make([][]float32, channels)
	for c := range r.hist {
		r.hist[c] = make([]float32, r.half, 4*r.half)
	}
	r.hbase = -int64(r.half)
	r.inCount, r.curI, r.nOut, r.curP, r.t0 = 0, 0, 0, 0, ts
}

func dot(x, h []float32) float32 {
	var s float32
	for i, v := range h {
		s += x[i] * v
	}
	return s
}

func (r *Resampler) produce(limit int64, emit AudioFunc) {
	hlen := len(r.hist[0])
	last, look := r.hbase+int64(hlen)-1, int64(r.taps-r.half)
	maxn := (hlen+1)*r.l/r.m + 2
	if cap(r.out) < maxn*r.channels {
		r.out = make([]float32, maxn*r.channels)
	}
	o := r.out[:0]
	first := r.nOut
	for r.curI+look <= last && r.curI < limit {
		h := r.interp
		if r.l <= maxPhases {
			h = r.table[r.curP*r.taps : (r.curP+1)*r.taps]
		} else {
			x := float64(r.curP) * float64(r.phases) / float64(r.l)
			k := int(x)
			a := float32(x - float64(k))
			h0, h1 := r.table[k*r.taps:], r.table[(k+1)*r.taps:]
			for t := range r.interp {
				r.interp[t] = h0[t] + a*(h1[t]-h0[t])
			}
		}
		off := int(r.curI - int64(r.half) + 1 - r.hbase)
		for c := range r.channels {
			o = append(o, dot(r.hist[c][off:], h))
		}
		r.nOut++
		r.curI += int64(r.m / r.l)
		if r.curP += r.m % r.l; r.curP >= r.l {
			r.curP -= r.l
			r.curI++
		}
	}
	if len(o) > 0 {
		emit(r.t0+first*1000000/int64(r.outRate), o)
	}
	if keep := r.curI - int64(r.half) + 1; keep > r.hbase {
		drop := int(min(keep-r.hbase, int64(hlen)))
		for c := range r.hist {
			r.hist[c] = r.hist[c][:copy(r.hist[c], r.hist[c][drop:])]
		}
		r.hbase += int64(drop)
	}
}

// Process resamples interleaved samples at rate Hz starting at timestampUS. A
// change of rate or channel count ends the previous stream (its tail is emitted).
func (r *Resampler) Process(samples []float32, rate, channels int, timestampUS int64, emit AudioFunc) {
	if rate == r.outRate {
		r.Flush(emit)
		emit(timestampUS, samples)
		return
	}
	if rate != r.inRate || channels != r.channels {
		r.Flush(emit)
		r.setup(rate, channels, timestampUS)
	}
	frames := len(samples) / channels
	for c := range r.hist {
		h := r.hist[c]
		for i := range frames {
			h = append(h, samples[i*channels+c])
		}
		r.hist[c] = h
	}
	r.inCount += int64(frames)
	r.produce(math.MaxInt64, emit)
}

// Flush emits the tail of the current stream (zero-padded through the filter)
// and forgets the stream.
func (r *Resampler) Flush(emit AudioFunc) {
	if r.inRate == 0 {
		return
	}
	for c := range r.hist {
		r.hist[c] = append(r.hist[c], make([]float32, r.taps)...)
	}
	r.produce(r.inCount, emit)
	r.inRate, r.channels = 0, 0
}
