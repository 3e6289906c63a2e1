// Command vadeval scores the vad node against webrtcvad and Silero VAD on a set it
// generates: espeak-ng speech in several voices and rates, with silences between
// utterances, alone and in white and pink noise at 20, 10, 5 and 0 dB SNR. It
// prints frame F1 (10 ms frames; labels from the clean speech's energy), the mean
// error of segment boundaries, and each detector's CPU time per hour of audio.
// `make bench` runs it as BenchmarkVADEval (vadeval_test.go).
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"
)

func main() {
	quick := flag.Bool("quick", false, "one speaker, two utterances, clean and white 5 dB")
	python := flag.String("python", ".venv/bin/python", "the interpreter for the baselines (\"\": ours only)")
	frameMS := flag.Int("frame-ms", 20, "the audio frames our node gets")
	params := flag.String("params", "", "params for our node over its defaults, as name=number,...")
	flag.Parse()
	o := Options{Params: map[string]any{}, Python: *python, Script: filepath.Join("pyproxy", "python", "scripts", "vad_eval.py"), FrameMS: *frameMS}
	for _, kv := range strings.Split(*params, ",") {
		if k, v, ok := strings.Cut(kv, "="); ok {
			f, err := strconv.ParseFloat(v, 64)
			if err != nil {
				fmt.Fprintf(os.Stderr, "vadeval: -params %s: %v\n", kv, err)
				os.Exit(2)
			}
			o.Params[k] = f
		}
	}
	if *quick {
		o.Speakers, o.Utterances, o.Conditions = 1, 2, []Condition{{Noise: "clean"}, {"white", 5}}
	}
	r, err := Evaluate(context.Background(), o)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	r.Print(os.Stdout)
}

// Print writes the report as a table.
func (r *Report) Print(w *os.File) {
	dets := []string{"ours"}
	if b := r.BestWebRTC(); b != "" {
		dets = append(dets, b)
	}
	if _, ok := r.Scores["silero"]; ok {
		dets = append(dets, "silero")
	}
	tw := tabwriter.NewWriter(w, 2, 4, 2, ' ', 0)
	fmt.Fprint(tw, "CONDITION")
	for _, d := range dets {
		fmt.Fprintf(tw, "\t%s F1 (P/R)\tboundary ms", d)
	}
	fmt.Fprintln(tw)
	for _, c := range r.Conditions {
		fmt.Fprint(tw, c)
		for _, d := range dets {
			s := r.Scores[d][c]
			fmt.Fprintf(tw, "\t%.3f (%.2f/%.2f)\t%.0f", s.F1, s.Precision, s.Recall, s.BoundaryMS)
		}
		fmt.Fprintln(tw)
	}
	fmt.Fprint(tw, "CPU per hour of audio")
	for _, d := range dets {
		fmt.Fprintf(tw, "\t%v\t", r.CPUPerHour[d].Round(time.Millisecond))
	}
	fmt.Fprintln(tw)
	tw.Flush()
	if s, ok := r.CPUPerHour[SileroSession]; ok && r.CPUPerHour["ours"] > 0 {
		fmt.Fprintf(w, "Silero's model calls alone: %v per hour of audio, %.1f× ours\n", s.Round(time.Millisecond),
			s.Seconds()/r.CPUPerHour["ours"].Seconds())
	}
	fmt.Fprintf(w, "%v of audio per detector", r.Audio.Round(time.Second))
	for k, v := range r.Missing {
		fmt.Fprintf(w, "; %s: %s", k, v)
	}
	fmt.Fprintln(w)
}
