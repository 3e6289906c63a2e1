package main

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
)

// Rate is the evaluation set's sample rate: the one rate all three detectors take.
const Rate = 16000

// hop is the label and scoring grid: 10 ms frames.
const hop = Rate / 100

// utterance is one spoken sentence in the set's layout.
type utterance struct {
	voice string
	wpm   int
	text  string
}

// speaker is one voice at one rate; a clean file holds its utterances with silences between.
type speaker struct {
	voice string
	wpm   int
}

var speakers = []speaker{
	{"en-us", 175}, {"en-gb+f3", 140}, {"en-gb-scotland", 210},
	{"en-us+f4", 160}, {"en-029+m3", 190}, {"en-gb-x-rp+f2", 120},
}

var sentences = []string{
	"The quick brown fox jumps over the lazy dog.",
	"Please call Stella and ask her to bring these things with her from the store.",
	"Six spoons of fresh snow peas, five thick slabs of blue cheese.",
	"We also need a small plastic snake and a big toy frog for the kids.",
	"She can scoop these things into three red bags, and we will go meet her Wednesday.",
	"Is it really worth it? Maybe, but only if the weather holds.",
}

// Clean is one clean speech file of the set, with its frame labels and speech segments.
type Clean struct {
	Name     string
	Samples  []float32 // Rate Hz mono
	Labels   []bool    // one per 10 ms frame: speech
	Segments []Segment // speech segments (seconds), from the labels
}

// Segment is a span of speech, in seconds.
type Segment struct{ Start, End float64 }

// Condition is a noise at an SNR ("clean" has no noise).
type Condition struct {
	Noise string  // "clean", "white" or "pink"
	SNR   float64 // dB of speech (over its labelled frames) to noise
}

func (c Condition) String() string {
	if c.Noise == "clean" {
		return "clean"
	}
	return fmt.Sprintf("%s %g dB", c.Noise, c.SNR)
}

// Conditions are the set's noise conditions.
var Conditions = func() []Condition {
	cs := []Condition{{Noise: "clean"}}
	for _, n := range []string{"white", "pink"} {
		for _, snr := range []float64{20, 10, 5, 0} {
			cs = append(cs, Condition{n, snr})
		}
	}
	return cs
}()

// Label constants: a 10 ms frame of clean speech is speech when its level is within
// labelRangeDB of the loudest frame of its utterance; gaps shorter than bridgeMS
// inside an utterance (between words) count as speech.
const (
	labelRangeDB = 40
	bridgeMS     = 200
)

// errTool is returned when espeak-ng or sox is missing.
var errTool = errors.New("vadeval: a tool the set needs is missing")

// render speaks text with espeak-ng and resamples it to Rate with sox.
func render(ctx context.Context, voice string, wpm int, text string) ([]float32, error) {
	for _, tool := range []string{"espeak-ng", "sox"} {
		if _, err := exec.LookPath(tool); err != nil {
			return nil, fmt.Errorf("%w: %s (scripts/deps.sh installs it)", errTool, tool)
		}
	}
	speak := exec.CommandContext(ctx, "espeak-ng", "-v", voice, "-s", fmt.Sprint(wpm), "--stdout", text)
	wav, err := speak.Output()
	if err != nil {
		return nil, fmt.Errorf("vadeval: espeak-ng -v %s: %w", voice, err)
	}
	sox := exec.CommandContext(ctx, "sox", "-t", "wav", "-", "-t", "raw", "-r", fmt.Sprint(Rate), "-e", "floating-point", "-b", "32", "-c", "1", "-")
	sox.Stdin = bytes.NewReader(wav)
	raw, err := sox.Output()
	if err != nil {
		return nil, fmt.Errorf("vadeval: sox: %w", err)
	}
	s := make([]float32, len(raw)/4)
	for i := range s {
		s[i] = math.Float32frombits(binary.LittleEndian.Uint32(raw[4*i:]))
	}
	return s, nil
}

// frameDB is the level of each 10 ms frame of s in dBFS.
func frameDB(s []float32) []float64 {
	db := make([]float64, len(s)/hop)
	for i := range db {
		var e float64
		for _, v := range s[i*hop : (i+1)*hop] {
			e += float64(v) * float64(v)
		}
		db[i] = 10 * math.Log10(e/hop+1e-12)
	}
	return db
}

// labelUtterance labels an utterance's frames and trims it to its first and last
// speech frame; it returns the trimmed samples and their labels.
func labelUtterance(s []float32) ([]float32, []bool) {
	db := frameDB(s)
	peak := math.Inf(-1)
	for _, d := range db {
		peak = max(peak, d)
	}
	lab := make([]bool, len(db))
	first, last := -1, -1
	for i, d := range db {
		if d > peak-labelRangeDB {
			lab[i] = true
			if first < 0 {
				first = i
			}
			last = i
		}
	}
	if first < 0 {
		return nil, nil
	}
	lab = lab[first : last+1]
	for i := 0; i < len(lab); {
		if lab[i] {
			i++
			continue
		}
		j := i
		for j < len(lab) && !lab[j] {
			j++
		}
		if (j-i)*10 < bridgeMS {
			for k := i; k < j; k++ {
				lab[k] = true
			}
		}
		i = j
	}
	return s[first*hop : (last+1)*hop], lab
}

// BuildClean renders the clean files: per speaker, its utterances (n of them; 0
// means all) between silences of 0.5 to 2 s, starting and ending with 1 s of silence.
func BuildClean(ctx context.Context, nSpeakers, nUtterances int) ([]Clean, error) {
	if nSpeakers <= 0 || nSpeakers > len(speakers) {
		nSpeakers = len(speakers)
	}
	if nUtterances <= 0 || nUtterances > len(sentences) {
		nUtterances = len(sentences)
	}
	var set []Clean
	for si, sp := range speakers[:nSpeakers] {
		rng := rand.New(rand.NewPCG(uint64(si), 7))
		c := Clean{Name: fmt.Sprintf("%s-%d", sp.voice, sp.wpm)}
		pad := func(sec float64) {
			n := int(sec*100) * hop
			c.Samples = append(c.Samples, make([]float32, n)...)
			c.Labels = append(c.Labels, make([]bool, n/hop)...)
		}
		pad(1)
		for u := range nUtterances {
			text := sentences[(si+u)%len(sentences)]
			s, err := render(ctx, sp.voice, sp.wpm, text)
			if err != nil {
				return nil, err
			}
			s, lab := labelUtterance(s)
			c.Samples = append(c.Samples, s...)
			c.Labels = append(c.Labels, lab...)
			if u < nUtterances-1 {
				pad(0.5 + 1.5*rng.Float64())
			}
		}
		pad(1)
		c.Segments = segments(c.Labels)
		set = append(set, c)
	}
	return set, nil
}

// segments turns frame labels into segments.
func segments(lab []bool) []Segment {
	var segs []Segment
	for i := 0; i < len(lab); {
		if !lab[i] {
			i++
			continue
		}
		j := i
		for j < len(lab) && lab[j] {
			j++
		}
		segs = append(segs, Segment{float64(i) / 100, float64(j) / 100})
		i = j
	}
	return segs
}

// noise returns n samples of unit-power white or pink noise (Paul Kellet's
// filter on white noise for pink), the same for the same seed.
func noise(kind string, n int, seed uint64) []float64 {
	rng := rand.New(rand.NewPCG(seed, 11))
	out := make([]float64, n)
	var b0, b1, b2, b3, b4, b5, b6 float64
	var p float64
	for i := range out {
		w := rng.NormFloat64()
		if kind == "pink" {
			b0 = 0.99886*b0 + w*0.0555179
			b1 = 0.99332*b1 + w*0.0750759
			b2 = 0.96900*b2 + w*0.1538520
			b3 = 0.86650*b3 + w*0.3104856
			b4 = 0.55000*b4 + w*0.5329522
			b5 = -0.7616*b5 - w*0.0168980
			w, b6 = b0+b1+b2+b3+b4+b5+b6+w*0.5362, w*0.115926
		}
		out[i] = w
		p += w * w
	}
	g := 1 / math.Sqrt(p/float64(n))
	for i := range out {
		out[i] *= g
	}
	return out
}

// Mix adds the condition's noise to c at its SNR (speech power over the labelled
// frames) and scales the sum to peak at 0.9 (the SNR is unchanged); the result is
// quantized to 16 bits, as all detectors get the same samples.
func Mix(c Clean, cond Condition, seed uint64) []int16 {
	x := make([]float64, len(c.Samples))
	for i, v := range c.Samples {
		x[i] = float64(v)
	}
	if cond.Noise != "clean" {
		var ps float64
		var n int
		for f, speech := range c.Labels {
			if speech {
				for _, v := range c.Samples[f*hop : (f+1)*hop] {
					ps += float64(v) * float64(v)
				}
				n += hop
			}
		}
		g := math.Sqrt(ps / float64(n) / math.Pow(10, cond.SNR/10))
		for i, w := range noise(cond.Noise, len(x), seed) {
			x[i] += g * w
		}
	}
	peak := 0.0
	for _, v := range x {
		peak = max(peak, math.Abs(v))
	}
	out := make([]int16, len(x))
	for i, v := range x {
		out[i] = int16(math.Round(v * 0.9 / peak * 32767))
	}
	return out
}

// writeWAV writes 16-bit mono PCM at Rate.
func writeWAV(path string, s []int16) error {
	var b bytes.Buffer
	le := binary.LittleEndian
	b.WriteString("RIFF")
	binary.Write(&b, le, uint32(36+2*len(s)))
	b.WriteString("WAVEfmt ")
	binary.Write(&b, le, struct {
		Size                   uint32
		Format, Channels       uint16
		Rate, ByteRate         uint32
		BlockAlign, SampleBits uint16
	}{16, 1, 1, Rate, 2 * Rate, 2, 16})
	b.WriteString("data")
	binary.Write(&b, le, uint32(2*len(s)))
	binary.Write(&b, le, s)
	return os.WriteFile(path, b.Bytes(), 0o644)
}

// fileName is the WAV name of clean file c under cond.
func fileName(dir string, c Clean, cond Condition) string {
	tag := cond.Noise
	if cond.Noise != "clean" {
		tag = fmt.Sprintf("%s%+g", cond.Noise, cond.SNR)
	}
	return filepath.Join(dir, c.Name+"_"+tag+".wav")
}
