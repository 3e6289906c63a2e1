package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"time"
)

// Options choose the size of an evaluation and where its baselines run.
type Options struct {
	Speakers, Utterances int         // 0: all
	Conditions           []Condition // nil: all
	Python               string      // the interpreter for the baselines ("" : none)
	Script               string      // pyproxy/python/scripts/vad_eval.py
	Params               map[string]any
	FrameMS              int // the frames our node gets (20 by default)
}

// Score is one detector's figures on one condition.
type Score struct {
	F1, Precision, Recall float64
	BoundaryMS            float64 // mean error of a segment boundary, each capped at maxBoundaryErr
}

// SileroSession names Silero's CPU per hour of its model calls alone (onnxruntime,
// one per 32 ms window) in Report.CPUPerHour; "silero" is its loop with Python's
// per-window work included.
const SileroSession = "silero session"

// Report is an evaluation's result: the scores per detector per condition, each
// detector's CPU time per hour of audio, and why a baseline did not run.
type Report struct {
	Detectors  []string
	Conditions []Condition
	Scores     map[string]map[Condition]Score
	CPUPerHour map[string]time.Duration
	Audio      time.Duration // of all conditions together
	Missing    map[string]string
}

type tally struct {
	counts
	bsum float64
	bn   int
}

func (t tally) score() Score {
	s := Score{F1: t.f1()}
	if t.tp+t.fp > 0 {
		s.Precision = float64(t.tp) / float64(t.tp+t.fp)
	}
	if t.tp+t.fn > 0 {
		s.Recall = float64(t.tp) / float64(t.tp+t.fn)
	}
	if t.bn > 0 {
		s.BoundaryMS = 1000 * t.bsum / float64(t.bn)
	}
	return s
}

// oursPasses is how many times Evaluate runs our node over the set for its CPU time.
const oursPasses = 5

// Evaluate builds the set in a temporary folder and scores our node and the baselines.
func Evaluate(ctx context.Context, o Options) (*Report, error) {
	conds := o.Conditions
	if conds == nil {
		conds = Conditions
	}
	if o.FrameMS == 0 {
		o.FrameMS = 20
	}
	clean, err := BuildClean(ctx, o.Speakers, o.Utterances)
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "vadeval")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)

	type item struct {
		clean Clean
		cond  Condition
		path  string
		pcm   []int16
	}
	var items []item
	var samples int
	for ci, cond := range conds {
		for fi, c := range clean {
			pcm := Mix(c, cond, uint64(100*ci+fi))
			p := fileName(dir, c, cond)
			if err := writeWAV(p, pcm); err != nil {
				return nil, err
			}
			items = append(items, item{c, cond, p, pcm})
			samples += len(pcm)
		}
	}
	r := &Report{Conditions: conds, Scores: map[string]map[Condition]Score{}, CPUPerHour: map[string]time.Duration{},
		Audio: time.Duration(samples) * time.Second / Rate, Missing: map[string]string{}}
	perHour := func(d time.Duration) time.Duration {
		return time.Duration(float64(d) * float64(time.Hour) / float64(r.Audio))
	}
	score := func(name string, decide func(it item) ([]bool, []Segment)) {
		tallies := map[Condition]*tally{}
		for _, it := range items {
			t := tallies[it.cond]
			if t == nil {
				t = &tally{}
				tallies[it.cond] = t
			}
			got, segs := decide(it)
			t.add(it.clean.Labels, got)
			s, n := boundaryErrors(it.clean.Segments, segs)
			t.bsum += s
			t.bn += n
		}
		r.Detectors = append(r.Detectors, name)
		r.Scores[name] = map[Condition]Score{}
		for c, t := range tallies {
			r.Scores[name][c] = t.score()
		}
	}

	// ours
	vad, err := newOurs(ctx)
	if err != nil {
		return nil, err
	}
	defer vad.Close(ctx)
	// The whole set takes our node a fraction of a second of CPU, so one busy
	// moment on a shared machine moves its total by a third: its CPU time is
	// the median of oursPasses passes (the segments are the same in each).
	passes := make([]time.Duration, oursPasses)
	oursSegs := map[string][]Segment{}
	for p := range passes {
		for _, it := range items {
			segs, used, err := vad.run(ctx, it.pcm, o.Params, o.FrameMS)
			if err != nil {
				return nil, fmt.Errorf("vadeval: our vad on %s: %w", filepath.Base(it.path), err)
			}
			passes[p] += used
			oursSegs[it.path] = segs
		}
	}
	slices.Sort(passes)
	cpu := passes[len(passes)/2]
	const oursName = "ours"
	score(oursName, func(it item) ([]bool, []Segment) {
		return segmentGrid(oursSegs[it.path], len(it.clean.Labels)), oursSegs[it.path]
	})
	r.CPUPerHour[oursName] = perHour(cpu)

	if o.Python == "" {
		r.Missing["baselines"] = "no Python interpreter given"
		return r, nil
	}
	paths := make([]string, len(items))
	for i, it := range items {
		paths[i] = it.path
	}
	cmd := exec.CommandContext(ctx, o.Python, append([]string{o.Script}, paths...)...)
	cmd.Stderr = os.Stderr
	out, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("vadeval: %s %s: %w", o.Python, o.Script, err)
	}
	var base struct {
		WebRTC struct {
			Error   string  `json:"error"`
			FrameMS float64 `json:"frame_ms"`
			Modes   map[string]struct {
				CPU   float64          `json:"cpu_s"`
				Files map[string][]int `json:"files"`
			} `json:"modes"`
		} `json:"webrtcvad"`
		Silero struct {
			Error   string               `json:"error"`
			FrameMS float64              `json:"frame_ms"`
			CPU     float64              `json:"cpu_s"`
			Session float64              `json:"session_cpu_s"`
			Files   map[string][]float64 `json:"files"`
		} `json:"silero"`
	}
	if err := json.Unmarshal(out, &base); err != nil {
		return nil, fmt.Errorf("vadeval: %s's output: %w", o.Script, err)
	}
	fromFrames := func(dec []bool, frameMS float64, it item) ([]bool, []Segment) {
		g := grid(dec, frameMS, len(it.clean.Labels))
		return g, segments(g)
	}
	if base.WebRTC.Error != "" {
		r.Missing["webrtcvad"] = base.WebRTC.Error
	} else {
		modes := make([]string, 0, len(base.WebRTC.Modes))
		for m := range base.WebRTC.Modes {
			modes = append(modes, m)
		}
		sort.Strings(modes)
		for _, m := range modes {
			md := base.WebRTC.Modes[m]
			name := "webrtcvad mode " + m
			score(name, func(it item) ([]bool, []Segment) {
				d := md.Files[it.path]
				dec := make([]bool, len(d))
				for i, v := range d {
					dec[i] = v != 0
				}
				return fromFrames(dec, base.WebRTC.FrameMS, it)
			})
			r.CPUPerHour[name] = perHour(time.Duration(md.CPU * float64(time.Second)))
		}
	}
	if base.Silero.Error != "" {
		r.Missing["silero"] = base.Silero.Error
	} else {
		score("silero", func(it item) ([]bool, []Segment) {
			p := base.Silero.Files[it.path]
			dec := make([]bool, len(p))
			for i, v := range p {
				dec[i] = v >= 0.5
			}
			return fromFrames(dec, base.Silero.FrameMS, it)
		})
		r.CPUPerHour["silero"] = perHour(time.Duration(base.Silero.CPU * float64(time.Second)))
		r.CPUPerHour[SileroSession] = perHour(time.Duration(base.Silero.Session * float64(time.Second)))
	}
	return r, nil
}

// BestWebRTC is the webrtcvad mode with the highest mean F1 over the conditions ("" when none ran).
func (r *Report) BestWebRTC() string {
	best, bestF1 := "", -1.0
	for _, d := range r.Detectors {
		if len(d) < 9 || d[:9] != "webrtcvad" {
			continue
		}
		var sum float64
		for _, c := range r.Conditions {
			sum += r.Scores[d][c].F1
		}
		if sum > bestF1 {
			best, bestF1 = d, sum
		}
	}
	return best
}
