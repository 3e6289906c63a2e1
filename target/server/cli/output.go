package cli

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/remotemedia/hybrid/core/frame"
	"github.com/remotemedia/hybrid/core/runner"
	"github.com/remotemedia/hybrid/core/sched"
	"github.com/remotemedia/hybrid/core/wavio"
)

// outFile is an output of run, complete or absent: a regular file is written
// under a temporary name beside its target and renamed over it by commit, and
// abort removes the temporary file, so a failed or interrupted run leaves no
// file and an existing one untouched. A special file (/dev/null, a FIFO, a
// terminal) is written in place, and "-" is run's standard output.
type outFile struct {
	path string
	w    io.Writer // what to write to
	f    *os.File  // nil for standard output
	tmp  string    // the temporary file renamed to path by commit; "" when written in place
}

// createOut opens the output for path; stdout stands for "-".
func createOut(path string, stdout io.Writer) (*outFile, error) {
	if path == "-" {
		return &outFile{path: "standard output", w: stdout}, nil
	}
	fi, err := os.Stat(path)
	switch {
	case err == nil && fi.IsDir():
		return nil, fmt.Errorf("%s is a directory", path)
	case err == nil && !fi.Mode().IsRegular():
		f, err := os.OpenFile(path, os.O_WRONLY, 0)
		if err != nil {
			return nil, err
		}
		return &outFile{path: path, w: f, f: f}, nil
	}
	perm := os.FileMode(0o644)
	if err == nil {
		perm = fi.Mode().Perm()
	}
	dir, base := filepath.Split(path)
	if dir == "" {
		dir = "."
	}
	f, err := os.CreateTemp(dir, "."+base+".*.partial")
	if err != nil {
		return nil, fmt.Errorf("cannot write %s: %w", path, err)
	}
	if err := f.Chmod(perm); err != nil {
		f.Close()
		os.Remove(f.Name())
		return nil, err
	}
	return &outFile{path: path, w: f, f: f, tmp: f.Name()}, nil
}

// Seek lets a WAV writer set its header's sizes; standard output cannot seek.
func (o *outFile) Seek(offset int64, whence int) (int64, error) {
	if o.f == nil {
		return 0, errors.New("standard output cannot seek")
	}
	return o.f.Seek(offset, whence)
}

func (o *outFile) Write(p []byte) (int, error) { return o.w.Write(p) }

// commit puts the finished file in place.
func (o *outFile) commit() error {
	if o.f == nil {
		return nil
	}
	f := o.f
	o.f = nil
	if o.tmp == "" {
		return f.Close()
	}
	err := f.Sync()
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(o.tmp, o.path)
	}
	if err != nil {
		os.Remove(o.tmp)
		return fmt.Errorf("writing %s: %w", o.path, err)
	}
	return nil
}

// abort drops what commit did not put in place; it does nothing after commit.
func (o *outFile) abort() {
	if o.f == nil {
		return
	}
	o.f.Close()
	o.f = nil
	if o.tmp != "" {
		os.Remove(o.tmp)
	}
}

// pipelineOutput is an output port no connection consumes: what run writes.
type pipelineOutput struct {
	name  string   // node.port
	audio bool     // it may carry audio
	other []string // the other frame kinds it may carry
}

// pipelineOutputs lists the outputs of g in node and port order.
func pipelineOutputs(g *sched.Graph) []pipelineOutput {
	consumed := map[string]bool{}
	for _, e := range g.Edges {
		consumed[fmt.Sprint(e.From, "\x00", e.FromPort)] = true
	}
	var outs []pipelineOutput
	for _, n := range g.Nodes {
		for i, p := range n.Spec.Outputs {
			if consumed[fmt.Sprint(n.ID, "\x00", i)] {
				continue
			}
			o := pipelineOutput{name: n.ID + "." + p.Name}
			for _, k := range p.Kinds {
				if k == frame.KindAudio {
					o.audio = true
				} else if k != frame.KindControl {
					o.other = append(o.other, k.String())
				}
			}
			outs = append(outs, o)
		}
	}
	return outs
}

// outSyntax is how the --out flag is written, for errors.
const outSyntax = "--out NODE.PORT=FILE.wav (repeatable; a bare --out FILE.wav when exactly one output carries audio)"

// mapOutputs resolves the --out flags against the pipeline's outputs: it
// returns the file of each audio output that is written, by node.port. A bare
// file needs exactly one audio output; NODE.PORT=FILE names one (a bare NODE
// means its first output port).
func mapOutputs(flags []string, outs []pipelineOutput, g *sched.Graph) (map[string]string, error) {
	var audio []string
	for _, o := range outs {
		if o.audio {
			audio = append(audio, o.name)
		}
	}
	have := "it has none"
	if len(audio) > 0 {
		have = "audio outputs: " + strings.Join(audio, ", ")
	}
	files := map[string]string{}
	used := map[string]string{} // file -> output
	for _, fl := range flags {
		name, file, mapped := strings.Cut(fl, "=")
		if !mapped || strings.ContainsAny(name, `/\`) || name == "" {
			name, file, mapped = "", fl, false
		}
		if file == "" {
			return nil, fmt.Errorf("%w: --out %q names no file; write %s", errUsage, fl, outSyntax)
		}
		if !mapped {
			switch {
			case len(flags) > 1:
				return nil, fmt.Errorf("%w: --out %s: with several --out flags each names its output; write %s (%s)", errUsage, file, outSyntax, have)
			case len(audio) == 0:
				return nil, fmt.Errorf("%w: --out %s: no output of the pipeline carries audio (outputs: %s); write the others with --events", errUsage, file, outputList(outs))
			case len(audio) > 1:
				return nil, fmt.Errorf("%w: --out %s: %d outputs carry audio (%s); pick them with %s, e.g. --out %s=%s", errUsage, file, len(audio), strings.Join(audio, ", "), outSyntax, audio[0], file)
			}
			name = audio[0]
		}
		if !strings.Contains(name, ".") {
			for _, n := range g.Nodes {
				if n.ID == name && len(n.Spec.Outputs) > 0 {
					name += "." + n.Spec.Outputs[0].Name
				}
			}
		}
		if !slices.Contains(audio, name) {
			return nil, fmt.Errorf("%w: --out %s: %s is not an output of the pipeline that carries audio (%s); write %s", errUsage, fl, name, have, outSyntax)
		}
		if files[name] != "" {
			return nil, fmt.Errorf("%w: --out: %s is given twice", errUsage, name)
		}
		if other := used[file]; other != "" && file != os.DevNull {
			return nil, fmt.Errorf("%w: --out: %s and %s both go to %s", errUsage, other, name, file)
		}
		files[name], used[file] = file, name
	}
	return files, nil
}

func outputList(outs []pipelineOutput) string {
	var s []string
	for _, o := range outs {
		kinds := o.other
		if o.audio {
			kinds = append([]string{"audio"}, kinds...)
		}
		s = append(s, o.name+" ("+strings.Join(kinds, "|")+")")
	}
	return strings.Join(s, ", ")
}

// unwritten names the outputs no part of which the command line writes: an
// audio output without --out, any other without --events.
func unwritten(outs []pipelineOutput, files map[string]string, events bool) []string {
	var s []string
	for _, o := range outs {
		if files[o.name] != "" || (events && len(o.other) > 0) {
			continue
		}
		var how []string
		if o.audio {
			how = append(how, "--out "+o.name+"=FILE.wav")
		}
		if len(o.other) > 0 {
			how = append(how, "--events FILE.jsonl")
		}
		s = append(s, o.name+" (add "+strings.Join(how, " or ")+")")
	}
	return s
}

// audioOut is one audio output's WAV file.
type audioOut struct {
	file    *outFile
	wav     *wavio.Writer // nil until the first frame says the format
	samples int64         // sample frames written
}

// fileSink writes a run's audio outputs to WAV files and everything else to an
// events file.
type fileSink struct {
	audio    map[string]*audioOut // by node.port
	events   *outFile
	ev       *bufio.Writer
	nEvents  int
	dropped  map[string]int // audio frames of outputs with no --out, by node.port
	nErrors  int
	firstErr string
}

// newFileSink creates the output files (as temporary files until commit).
func newFileSink(files map[string]string, events string, stdout io.Writer) (*fileSink, error) {
	s := &fileSink{audio: map[string]*audioOut{}, dropped: map[string]int{}}
	for name, path := range files {
		f, err := createOut(path, stdout)
		if err != nil {
			s.abort()
			return nil, err
		}
		s.audio[name] = &audioOut{file: f}
	}
	if events != "" {
		f, err := createOut(events, stdout)
		if err != nil {
			s.abort()
			return nil, err
		}
		s.events, s.ev = f, bufio.NewWriter(f)
	}
	return s, nil
}

func (s *fileSink) write(o sched.Output) error {
	if o.Err != nil {
		s.nErrors++
		if s.firstErr == "" {
			s.firstErr = o.Err.Error()
		}
	}
	if o.Frame != nil && o.Frame.Kind == frame.KindAudio {
		return s.writeAudio(o)
	}
	ev, ok := runner.EventOf(o)
	if !ok || s.ev == nil {
		return nil
	}
	b, err := json.Marshal(ev)
	if err != nil {
		return err
	}
	s.nEvents++
	b = append(b, '\n')
	_, err = s.ev.Write(b)
	return err
}

func (s *fileSink) writeAudio(o sched.Output) error {
	f := o.Frame
	src := o.Node + "." + o.Port
	a := s.audio[src]
	if a == nil {
		s.dropped[src]++
		return nil
	}
	if a.wav == nil {
		a.wav = wavio.NewWriter(a.file, int(f.SampleRate), int(f.Channels))
	}
	if int(f.SampleRate) != a.wav.SampleRate || int(f.Channels) != a.wav.Channels {
		return fmt.Errorf("--out: %s changed format mid-stream (%d Hz %s, then %d Hz %s); a WAV file holds one",
			src, a.wav.SampleRate, plural(a.wav.Channels, "channel"), f.SampleRate, plural(int(f.Channels), "channel"))
	}
	samples := f.Float32s()
	a.samples += int64(len(samples) / int(f.Channels))
	if err := a.wav.Write(samples); err != nil {
		return fmt.Errorf("--out %s: %w", a.file.path, err)
	}
	return nil
}

// commit finishes every file and puts it in place; on an error, it drops the
// files not yet in place.
func (s *fileSink) commit() error {
	for _, a := range s.audio {
		if a.wav == nil { // nothing came out: still leave a valid, empty WAV
			a.wav = wavio.NewWriter(a.file, 16000, 1)
		}
		if err := a.wav.Close(); err != nil {
			s.abort()
			return fmt.Errorf("--out %s: %w", a.file.path, err)
		}
	}
	if s.ev != nil {
		if err := s.ev.Flush(); err != nil {
			s.abort()
			return fmt.Errorf("--events %s: %w", s.events.path, err)
		}
	}
	for _, a := range s.audio {
		if err := a.file.commit(); err != nil {
			s.abort()
			return err
		}
	}
	if s.events != nil {
		if err := s.events.commit(); err != nil {
			s.abort()
			return err
		}
	}
	return nil
}

// abort removes every file commit did not put in place.
func (s *fileSink) abort() {
	for _, a := range s.audio {
		a.file.abort()
	}
	if s.events != nil {
		s.events.abort()
	}
}

// report prints what was written and what was dropped.
func (s *fileSink) report(w io.Writer) {
	names := make([]string, 0, len(s.audio))
	for name := range s.audio {
		names = append(names, name)
	}
	slices.Sort(names)
	for _, name := range names {
		a := s.audio[name]
		if a.samples == 0 {
			fmt.Fprintf(w, "wrote %s: no audio came out of %s (an empty file)\n", a.file.path, name)
			continue
		}
		fmt.Fprintf(w, "wrote %s: %s, %.2f s, %d Hz, %s\n", a.file.path, name,
			float64(a.samples)/float64(a.wav.SampleRate), a.wav.SampleRate, plural(a.wav.Channels, "channel"))
	}
	if s.events != nil {
		fmt.Fprintf(w, "wrote %s: %s\n", s.events.path, plural(s.nEvents, "event"))
	}
	names = names[:0]
	for name := range s.dropped {
		names = append(names, name)
	}
	slices.Sort(names)
	for _, name := range names {
		fmt.Fprintf(w, "dropped %s of audio from %s (no --out %s=FILE.wav)\n", plural(s.dropped[name], "frame"), name, name)
	}
}

// plural returns "1 channel", "2 channels".
func plural(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return fmt.Sprintf("%d %ss", n, noun)
}
