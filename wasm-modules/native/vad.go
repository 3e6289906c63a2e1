package native

import (
	"fmt"
	"math"
	"math/bits"
)

// VADParams are the vad node's params (core/wasmnode/std.go).
type VADParams struct {
	Mode                                                 int
	MinLevelDB, WindowMS, MinSpeechMS, HangoverMS, PadMS float64
	Gate, FrameEvents                                    bool
}

// DefaultVADParams are the spec's defaults.
var DefaultVADParams = VADParams{Mode: 1, MinLevelDB: -60, WindowMS: 10, MinSpeechMS: 60, HangoverMS: 200, PadMS: 30, Gate: true}

// VADEvent is an event of the vad node (docs/vad.md): speech_start, speech_end, or
// with FrameEvents a frame's.
type VADEvent struct {
	Event         string  `json:"event"`
	TimeMS        float64 `json:"time_ms"`
	DurationMS    float64 `json:"duration_ms,omitempty"`
	HasSpeech     bool    `json:"has_speech"`
	Probability   float64 `json:"probability"`
	IsSpeechStart bool    `json:"is_speech_start"`
	IsSpeechEnd   bool    `json:"is_speech_end"`
}

// The constants of src/vad.c (its comments say what each does); the time
// constants are per 20 ms hop.
const (
	vadBands       = 20
	vadMaxN        = 1024
	minSubwin      = 4
	minNSub        = 12
	trackSmooth    = float32(0.49)
	noiseAlpha     = float32(0.85)
	presenceKeep   = float32(0.64)
	presenceMin    = float32(1e-6)
	eSmooth        = float32(0.5)
	presentDelta   = float32(4)
	ddAlpha        = float32(0.85)
	xiMin          = float32(0.003)
	evidenceScale  = float32(3)
	toSpeech       = float32(0.36)
	toSilence      = float32(0.19)
	noiseLL        = float32(-1)
	noiseLLRRate   = float32(0.02)
	noiseLLRMax    = float32(0.3)
	initHops       = 10
	minLevelFactor = 0.2302585093 // ln(10)/10
)

var (
	bandEdges = [vadBands + 1]float64{150, 250, 350, 450, 570, 700, 840, 1000, 1170, 1370, 1600,
		1850, 2150, 2500, 2900, 3400, 4000, 4800, 5800, 7000, 8000}
	modeMargins = [4]float32{0.12, 0.22, 0.3, 0.4}
)

const (
	silence = iota
	pending
	speech
)

// VAD is the spectral voice activity detector of src/vad.c, in Go: the same
// analysis (a real FFT of the folded window every 20 ms, 20 bands, a
// minima-controlled noise model per band, likelihood ratios, a two-state HMM)
// and the same decisions and events, for
// comparing the module's speed with native code. Its FFT sums in another order, so
// probabilities can differ from the module's in the last bits.
type VAD struct {
	p        VADParams
	margin   float32
	minLevel float64 // MinLevelDB as a mean square, rounded as src/vad.c has it

	rate, channels, hop, wlen, minSpeech, hangover, pad            int
	state                                                          int
	total, winStart, candStart, lastSpeechEnd, quiet, seg, ringEnd int64
	frameIdx, frameTS                                              int64
	ring                                                           []float32 // interleaved, indexed by frame index mod its length in frames
	out                                                            []float32

	// analysis
	nFFT, hopFill, hops, seen          int
	xbuf, win, re, im, twr, twi, power []float32
	stageR, stageI                     []float32 // the FFT's twiddles, stage after stage
	rev                                []int
	bandLo, bandHi                     []int
	smooth, minimum, subMin, noise     [vadBands]float32
	prevClean, presence, prevE         [vadBands]float32
	mins                               [minNSub][vadBands]float32
	subCount, subIdx                   int
	noiseLLR, ll                       float32
	lastProb                           float64

	// the decision frame being filled (samples in, sum of squares, the
	// probabilities of the hops that ended in it), and a complete frame no
	// hop ended in yet (window_ms 10) waiting for the next hop's
	frameFill, frameHops  int
	frameLevel, frameProb float64
	pending               bool
	pendingStart          int64
	pendingLevel          float64

	// OnAudio receives gated audio (or every frame when Gate is false); OnEvent events.
	OnAudio AudioFunc
	OnEvent func(VADEvent)
}

// NewVAD makes a detector.
func NewVAD(p VADParams) (*VAD, error) {
	if p.WindowMS < 10 || p.WindowMS > 30 || p.Mode < 0 || p.Mode > 3 || p.MinSpeechMS < 0 || p.HangoverMS < 0 || p.PadMS < 0 {
		return nil, fmt.Errorf("%w: vad %+v", ErrParams, p)
	}
	return &VAD{p: p, margin: modeMargins[p.Mode], minLevel: float64(float32(math.Exp(p.MinLevelDB * minLevelFactor)))}, nil
}

// fastLn and fastExp are src/vad.c's approximations, so that decisions near the
// threshold come out the same.
func fastLn(x float32) float32 {
	u := math.Float32bits(x)
	e := float32(int32(u>>23) - 127)
	m := math.Float32frombits(u&0x007fffff | 0x3f800000)
	if m > 1.41421356 {
		m *= 0.5
		e++
	}
	s := (m - 1) / (m + 1)
	s2 := s * s
	return 2*s*(1+s2*(0.33333333+s2*(0.2+s2*0.14285714))) + e*0.69314718
}

func fastExp(x float32) float32 {
	t := x * 1.44269504
	k := float32(math.Floor(float64(t)))
	f := t - k
	p := 1 + f*(0.69314718+f*(0.24022651+f*(0.05550411+f*(0.00961813+f*0.00133336))))
	return math.Float32frombits(math.Float32bits(p) + uint32(int32(k)<<23))
}

func sigmoid(x float32) float32 {
	return 1 / (1 + fastExp(min(max(-x, -80), 80)))
}

func (v *VAD) setupAnalysis() {
	v.hop = 2 * (v.rate / 100) // 20 ms: two decision frames of 10 ms at any rate
	v.nFFT = 256
	for v.nFFT*2 <= vadMaxN && v.nFFT*2 <= int(float64(v.rate)*0.0235) {
		v.nFFT *= 2
	}
	n, m := v.nFFT, v.nFFT/4 // the window folded to n/2 real samples: m complex
	// the hop at xbuf's end, the FFT's input the last n
	v.xbuf, v.win = make([]float32, max(n, v.hop)), make([]float32, n)
	v.re, v.im, v.power = make([]float32, m), make([]float32, m), make([]float32, m)
	v.twr, v.twi = make([]float32, m), make([]float32, m) // the real-FFT split twiddles
	v.stageR, v.stageI = v.stageR[:0], v.stageI[:0]
	for half := 1; half < m; half *= 2 {
		for j := range half {
			a := -math.Pi * float64(j) / float64(half)
			v.stageR, v.stageI = append(v.stageR, float32(math.Cos(a))), append(v.stageI, float32(math.Sin(a)))
		}
	}
	v.rev = make([]int, m)
	for i := range n {
		v.win[i] = float32(0.5 - 0.5*math.Cos(2*math.Pi*float64(i)/float64(n)))
	}
	shift := 64 - bits.Len(uint(m-1))
	for i := range m {
		v.rev[i] = int(bits.Reverse64(uint64(i)) >> shift)
	}
	for k := range m {
		a := -4 * math.Pi * float64(k) / float64(n)
		v.twr[k], v.twi[k] = float32(math.Cos(a)), float32(math.Sin(a))
	}
	v.bandLo, v.bandHi = v.bandLo[:0], v.bandHi[:0]
	binHz := 2 * float64(v.rate) / float64(n)
	for b := 0; b < vadBands && bandEdges[b+1] <= float64(v.rate)/2; b++ {
		lo, hi := int(bandEdges[b]/binHz+0.5), min(int(bandEdges[b+1]/binHz+0.5), m)
		if hi > lo {
			v.bandLo, v.bandHi = append(v.bandLo, lo), append(v.bandHi, hi)
		}
	}
	v.noiseLLR = 0.05
}

func (v *VAD) reset(rate, channels int) {
	ms := func(x float64) int { return int(x*float64(rate)/1000 + 0.5) }
	*v = VAD{p: v.p, margin: v.margin, minLevel: v.minLevel, stageR: v.stageR, stageI: v.stageI, OnAudio: v.OnAudio, OnEvent: v.OnEvent, out: v.out, bandLo: v.bandLo, bandHi: v.bandHi,
		rate: rate, channels: channels, minSpeech: ms(v.p.MinSpeechMS), hangover: ms(v.p.HangoverMS), pad: ms(v.p.PadMS)}
	v.setupAnalysis()
	v.wlen = rate / 100 * int(v.p.WindowMS/10+0.5)
}

// fft transforms re/im (m complex values) in place: radix-2, decimation in time.
func (v *VAD) fft() {
	re, im, m := v.re, v.im, len(v.re)
	for i, r := range v.rev {
		if i < r {
			re[i], re[r] = re[r], re[i]
			im[i], im[r] = im[r], im[i]
		}
	}
	for half, off := 1, 0; half < m; off, half = off+half, half*2 {
		for j := range half {
			wr, wi := v.stageR[off+j], v.stageI[off+j]
			for i := j; i < m; i += 2 * half {
				xr, xi := re[i+half], im[i+half]
				tr, ti := xr*wr-xi*wi, xr*wi+xi*wr
				re[i+half], im[i+half] = re[i]-tr, im[i]-ti
				re[i], im[i] = re[i]+tr, im[i]+ti
			}
		}
	}
}

// analyse returns the speech probability of the hop that just filled xbuf's end.
func (v *VAD) analyse() float32 {
	m := len(v.re)
	// the windowed samples folded, y[j] = x[j] w[j] + x[j+h] w[j+h], with the Hann window's
	// w[j+h] = 1 - w[j] (as the module computes it): y[j] = x[j+h] + w[j] (x[j] - x[j+h])
	in, h := v.xbuf[len(v.xbuf)-v.nFFT:], v.nFFT/2
	for i := range m {
		v.re[i] = in[h+2*i] + v.win[2*i]*(in[2*i]-in[h+2*i])
		v.im[i] = in[h+2*i+1] + v.win[2*i+1]*(in[2*i+1]-in[h+2*i+1])
	}
	v.fft()
	nb := len(v.bandLo)
	for k := v.bandLo[0]; k < v.bandHi[nb-1]; k++ { // the real FFT's power spectrum from the half-size complex one
		kc := (m - k) & (m - 1)
		zr, zi, cr, ci := v.re[k], v.im[k], v.re[kc], v.im[kc]
		er, ei, or, oi := zr+cr, zi-ci, zi+ci, cr-zr
		xr, xi := er+v.twr[k]*or-v.twi[k]*oi, ei+v.twr[k]*oi+v.twi[k]*or
		v.power[k] = xr*xr + xi*xi
	}
	var llr float32
	for b := range nb {
		var sum float32
		for _, p := range v.power[v.bandLo[b]:v.bandHi[b]] {
			sum += p
		}
		e := sum/float32(v.bandHi[b]-v.bandLo[b]) + 1e-10
		pe := e // the power over two hops (one folded window is a noisy estimate)
		if v.hops > 0 {
			pe = v.prevE[b]
		}
		v.prevE[b] = e
		e = (1-eSmooth)*e + eSmooth*pe
		if v.hops < initHops {
			if v.hops == 0 {
				v.prevClean[b], v.presence[b], v.noise[b] = 0, 0, 0
			}
			v.noise[b] += (e - v.noise[b]) / float32(v.hops+1)
			v.smooth[b], v.minimum[b], v.subMin[b] = v.noise[b], v.noise[b], v.noise[b]
			for s := range v.mins {
				v.mins[s][b] = v.noise[b]
			}
		} else {
			v.smooth[b] = trackSmooth*v.smooth[b] + (1-trackSmooth)*e
			v.subMin[b] = min(v.subMin[b], v.smooth[b])
			v.minimum[b] = min(v.minimum[b], v.smooth[b])
			var present float32
			if v.smooth[b] > presentDelta*v.minimum[b] {
				present = 1
			}
			v.presence[b] = presenceKeep*v.presence[b] + (1-presenceKeep)*present
			if v.presence[b] <= presenceMin { // as the module, which keeps it from going subnormal
				v.presence[b] = 0
			}
			a := noiseAlpha + (1-noiseAlpha)*max(present, v.presence[b])
			v.noise[b] = a*v.noise[b] + (1-a)*e
		}
		gamma := min(e/v.noise[b], 1000)
		xi := max(ddAlpha*v.prevClean[b]/v.noise[b]+(1-ddAlpha)*max(gamma-1, 0), xiMin)
		g := xi / (1 + xi)
		v.prevClean[b] = g * g * e
		llr += gamma*g - fastLn(1+xi)
	}
	if v.subCount++; v.subCount == minSubwin { // the minimum is over the last minNSub sub-windows
		v.subCount = 0
		for b := range nb {
			v.mins[v.subIdx][b], v.subMin[b] = v.subMin[b], v.smooth[b]
		}
		v.subIdx = (v.subIdx + 1) % minNSub
		for b := range nb {
			m := v.smooth[b]
			for s := range v.mins {
				m = min(m, v.mins[s][b])
			}
			v.minimum[b] = m
		}
	}
	v.hops++
	llr /= vadBands // bands above Nyquist count as no evidence
	if v.ll < noiseLL && v.hops > initHops {
		v.noiseLLR = min(v.noiseLLR+noiseLLRRate*(llr-v.noiseLLR), noiseLLRMax)
	}
	x := evidenceScale * (llr - v.noiseLLR - v.margin)
	q := fastExp(min(max(v.ll, -30), 30))
	prior := (toSpeech + (1-toSilence)*q) / ((1 - toSpeech) + toSilence*q)
	v.ll = x + fastLn(prior)
	return sigmoid(v.ll)
}

func (v *VAD) timeMS(idx int64) float64 {
	return (float64(v.frameTS) + float64(idx-v.frameIdx)*1e6/float64(v.rate)) / 1000
}

func (v *VAD) ringFrames() int64 { return int64(len(v.ring) / max(v.channels, 1)) }

// ringSpan returns the ring's samples for n frames from frame index idx, as two slices.
func (v *VAD) ringSpan(idx int64, n int) ([]float32, []float32) {
	ch, rf := v.channels, v.ringFrames()
	start := int(idx % rf)
	first := min(n, int(rf)-start)
	return v.ring[start*ch : (start+first)*ch], v.ring[:(n-first)*ch]
}

func (v *VAD) emitAudio(a, b int64) {
	if b <= a {
		return
	}
	x, y := v.ringSpan(a, int(b-a))
	v.out = append(append(v.out[:0], x...), y...)
	v.OnAudio(int64(v.timeMS(a)*1000+0.5), v.out)
}

func (v *VAD) endSpeech(audioEnd int64) {
	if v.p.Gate {
		v.emitAudio(v.seg, audioEnd)
	}
	t := v.timeMS(v.lastSpeechEnd)
	v.OnEvent(VADEvent{Event: "speech_end", TimeMS: t, DurationMS: t - v.timeMS(v.candStart), Probability: v.lastProb, IsSpeechEnd: true})
	v.state = silence
}

// decide steps the state machine with the decision frame [a, a+wlen).
func (v *VAD) decide(a int64, prob float64, isSpeech bool) {
	b := a + int64(v.wlen)
	v.lastProb = prob
	if v.p.FrameEvents {
		v.OnEvent(VADEvent{Event: "frame", TimeMS: v.timeMS(a), HasSpeech: v.state == speech || (isSpeech && v.state == pending), Probability: prob})
	}
	if v.state == speech {
		if isSpeech {
			v.lastSpeechEnd, v.quiet = b, 0
			return
		}
		if v.quiet += int64(v.wlen); v.quiet >= int64(v.hangover) {
			v.endSpeech(b)
		}
		return
	}
	if !isSpeech {
		v.state = silence
		return
	}
	if v.state == silence {
		v.candStart, v.state = a, pending
	}
	if b-v.candStart >= int64(v.minSpeech) {
		v.state, v.lastSpeechEnd, v.quiet = speech, b, 0
		v.seg = max(v.candStart-int64(v.pad), v.ringEnd-v.ringFrames(), 0)
		v.OnEvent(VADEvent{Event: "speech_start", TimeMS: v.timeMS(v.candStart), HasSpeech: true, Probability: prob, IsSpeechStart: true})
	}
}

// Process runs interleaved f32 samples at rate Hz (8 to 48 kHz) starting at timestampUS.
func (v *VAD) Process(samples []float32, rate, channels int, timestampUS int64) error {
	if rate < 8000 || rate > 48000 || channels < 1 {
		return fmt.Errorf("%w: vad input at %d Hz, %d channels (8000 to 48000 Hz)", ErrParams, rate, channels)
	}
	if rate != v.rate || channels != v.channels {
		v.Flush()
		v.reset(rate, channels)
	}
	frames := len(samples) / channels
	if !v.p.Gate {
		v.OnAudio(timestampUS, samples)
	} else {
		if need := int64(frames + v.minSpeech + v.pad + 2*v.wlen + 16); need > v.ringFrames() {
			v.growRing(2 * need)
		}
		x, y := v.ringSpan(v.total, frames)
		copy(y, samples[copy(x, samples):])
	}
	v.ringEnd = v.total + int64(frames)
	v.frameIdx, v.frameTS = v.total, timestampUS
	xl := len(v.xbuf)
	for pos := 0; pos < frames; {
		take := min(v.hop-v.hopFill, v.wlen-v.frameFill, frames-pos)
		dst := v.xbuf[xl-v.hop+v.hopFill:][:take]
		for i := range take {
			var s float32
			for _, x := range samples[(pos+i)*channels : (pos+i+1)*channels] {
				s += x
			}
			dst[i] = s / float32(channels)
			v.frameLevel += float64(dst[i]) * float64(dst[i])
		}
		v.hopFill += take
		v.frameFill += take
		pos += take
		if v.hopFill == v.hop { // a hop ends: its probability goes to the frames it ends in (or after)
			var p float64
			if v.seen += v.hop; v.seen >= v.nFFT {
				p = float64(v.analyse())
			}
			copy(v.xbuf, v.xbuf[v.hop:])
			v.hopFill = 0
			if v.pending {
				v.pending = false
				v.decide(v.pendingStart, p, p >= 0.5 && v.pendingLevel > v.minLevel)
			}
			v.frameProb += p
			v.frameHops++
		}
		if v.frameFill == v.wlen {
			a, level := v.winStart, v.frameLevel/float64(v.wlen)
			v.winStart += int64(v.wlen)
			v.frameFill, v.frameLevel = 0, 0
			if v.frameHops == 0 {
				v.pending, v.pendingStart, v.pendingLevel = true, a, level
				continue
			}
			prob := v.frameProb / float64(v.frameHops)
			v.frameProb, v.frameHops = 0, 0
			v.decide(a, prob, prob >= 0.5 && level > v.minLevel)
		}
	}
	v.total = v.frameIdx + int64(frames)
	if v.p.Gate && v.state == speech && v.total > v.seg {
		v.emitAudio(v.seg, v.total)
		v.seg = v.total
	}
	return nil
}

func (v *VAD) growRing(frames int64) {
	nr := make([]float32, frames*int64(v.channels))
	if rf := v.ringFrames(); rf > 0 {
		ch := int64(v.channels)
		for i := max(v.total-rf, 0); i < v.total; i++ {
			copy(nr[(i%frames)*ch:(i%frames+1)*ch], v.ring[(i%rf)*ch:(i%rf+1)*ch])
		}
	}
	v.ring = nr
}

// Flush ends speech in progress (speech_end at the last speech frame's end).
func (v *VAD) Flush() {
	if v.state == speech {
		v.endSpeech(v.total)
	}
	v.state = silence
}
