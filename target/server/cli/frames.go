package cli

import (
	"encoding/json"
	"fmt"
	"io"
	"os"

	"github.com/remotemedia/hybrid/core/frame"
)

// cmdFrames prints a stream of wire-format frames (a capture of an HTTP body, a
// golden vector) as one JSON object per frame; "-" reads standard input.
func cmdFrames(args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("frames", stderr, "frames FILE.msgpack | -")
	pos, err := parseArgs(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return fmt.Errorf("%w: want one file of msgpack frames (- for standard input)", errUsage)
	}
	var in io.Reader = stdin
	if pos[0] == "-" {
		pos[0] = "standard input"
	} else {
		f, err := os.Open(pos[0])
		if err != nil {
			return err
		}
		defer f.Close()
		in = f
	}
	dec := frame.NewDecoder(in)
	enc := json.NewEncoder(stdout)
	for i := 0; ; i++ {
		fr, err := dec.Decode()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return fmt.Errorf("%s: frame %d: %w", pos[0], i, err)
		}
		out := map[string]any{"kind": fr.Kind.String(), "sid": fr.StreamID, "seq": fr.Seq, "ts": fr.Timestamp, "bytes": len(fr.Data)}
		if len(fr.Meta) > 0 {
			out["meta"] = fr.Meta
		}
		switch fr.Kind {
		case frame.KindAudio:
			out["format"], out["rate"], out["channels"], out["samples"] = fr.Format.String(), fr.SampleRate, fr.Channels, fr.Samples()
		case frame.KindText, frame.KindJSON:
			out["data"] = string(fr.Data)
		case frame.KindTensor:
			out["dtype"], out["shape"] = fr.DType, fr.Shape
		case frame.KindControl:
			out["op"] = fr.Op.String()
		}
		if err := enc.Encode(out); err != nil {
			return err
		}
	}
}
