package native

import (
	"fmt"
	"math"
)

// VADParams are the vad node's params (core/wasmnode/std.go).
type VADParams struct {
	ThresholdDB, MinLevelDB, WindowMS, MinSpeechMS, HangoverMS float64
	Gate                                                       bool
}

// DefaultVADParams are the spec's defaults.
var DefaultVADParams = VADParams{ThresholdDB: 9, MinLevelDB: -50, WindowMS: 10, MinSpeechMS: 60, HangoverMS: 200, Gate: true}

// VADEvent is a speech_start or speech_end event.
type VADEvent struct {
	Event      string  `json:"event"`
	TimeMS     float64 `json:"time_ms"`
	DurationMS float64 `json:"duration_ms,omitempty"`
}

// riseDBPerS is how fast the noise floor rises while the level is above it.
const riseDBPerS = 0.5

const (
	silence = iota
	pending
	speech
)

// VAD is the energy voice activity detector of src/vad.c.
type VAD struct {
	p                                                     VADParams
	rate, channels, wlen, minSpeech, hangover             int
	state                                                 int
	haveFloor                                             bool
	floorDB, acc                                          float64
	accN                                                  int
	total, winStart, candStart, lastSpeechEnd, quiet, seg int64
	frameIdx, frameTS                                     int64
	ring                                                  []float32 // interleaved, indexed by frame index mod its length in frames
	out                                                   []float32
	// OnAudio receives gated audio (or every frame when Gate is false); OnEvent events.
	OnAudio AudioFunc
	OnEvent func(VADEvent)
}

// NewVAD makes a detector.
func NewVAD(p VADParams) (*VAD, error) {
	if p.WindowMS <= 0 || p.MinSpeechMS < 0 || p.HangoverMS < 0 {
		return nil, fmt.Errorf("%w: vad %+v", ErrParams, p)
	}
	return &VAD{p: p}, nil
}

func (v *VAD) reset(rate, channels int) {
	ms := func(x float64) int { return int(x*float64(rate)/1000 + 0.5) }
	*v = VAD{p: v.p, OnAudio: v.OnAudio, OnEvent: v.OnEvent, out: v.out,
		rate: rate, channels: channels, wlen: max(ms(v.p.WindowMS), 1), minSpeech: ms(v.p.MinSpeechMS), hangover: ms(v.p.HangoverMS)}
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
	v.OnEvent(VADEvent{Event: "speech_end", TimeMS: t, DurationMS: t - v.timeMS(v.candStart)})
	v.state = silence
}

func (v *VAD) window(a int64, ms float64) {
	b := a + int64(v.wlen)
	level := 10 * math.Log10(ms+1e-12)
	if !v.haveFloor {
		v.floorDB, v.haveFloor = level, true
	}
	isSpeech := level > max(v.floorDB+v.p.ThresholdDB, v.p.MinLevelDB)
	if level < v.floorDB {
		v.floorDB = level
	} else {
		v.floorDB += riseDBPerS * float64(v.wlen) / float64(v.rate)
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
		v.state, v.lastSpeechEnd, v.quiet, v.seg = speech, b, 0, v.candStart
		v.OnEvent(VADEvent{Event: "speech_start", TimeMS: v.timeMS(v.candStart)})
	}
}

// Process runs interleaved f32 samples at rate Hz starting at timestampUS.
func (v *VAD) Process(samples []float32, rate, channels int, timestampUS int64) {
	if rate != v.rate || channels != v.channels {
		v.Flush()
		v.reset(rate, channels)
	}
	frames := len(samples) / channels
	if !v.p.Gate {
		v.OnAudio(timestampUS, samples)
	} else {
		if need := int64(frames + v.minSpeech + 2*v.wlen + 16); need > v.ringFrames() {
			v.growRing(2 * need)
		}
		x, y := v.ringSpan(v.total, frames)
		copy(y, samples[copy(x, samples):])
	}
	v.frameIdx, v.frameTS = v.total, timestampUS
	for pos := 0; pos < frames; {
		take := min(v.wlen-v.accN, frames-pos)
		for _, x := range samples[pos*channels : (pos+take)*channels] {
			v.acc += float64(x * x)
		}
		v.accN += take
		pos += take
		if v.accN == v.wlen {
			a := v.winStart
			v.winStart += int64(v.wlen)
			v.window(a, v.acc/float64(v.wlen*channels))
			v.acc, v.accN = 0, 0
		}
	}
	v.total = v.frameIdx + int64(frames)
	if v.p.Gate && v.state == speech && v.winStart > v.seg {
		v.emitAudio(v.seg, v.winStart)
		v.seg = v.winStart
	}
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

// Flush ends speech in progress (speech_end at the last speech window's end).
func (v *VAD) Flush() {
	if v.state == speech {
		v.endSpeech(v.total)
	}
	v.state = silence
}
