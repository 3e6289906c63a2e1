package frame_test

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/remotemedia/hybrid/core/frame"
)

var update = flag.Bool("update", false, "rewrite testdata/wire/*.msgpack from the .json descriptions")

const wireDir = "../../testdata/wire"

// golden is the JSON description of a golden vector (testdata/wire/NAME.json).
type golden struct {
	Kind       string         `json:"kind"`
	StreamID   string         `json:"sid"`
	Seq        uint64         `json:"seq"`
	Timestamp  int64          `json:"ts"`
	Meta       map[string]any `json:"meta,omitempty"`
	Format     string         `json:"format,omitempty"`
	Rate       uint32         `json:"rate,omitempty"`
	Channels   uint16         `json:"channels,omitempty"`
	MIME       string         `json:"mime,omitempty"`
	DType      string         `json:"dtype,omitempty"`
	Shape      []int64        `json:"shape,omitempty"`
	Op         string         `json:"op,omitempty"`
	DataHex    string         `json:"data_hex,omitempty"`
	DataText   string         `json:"data_text,omitempty"`
	Invalid    string         `json:"invalid,omitempty"` // for *.bad vectors: a substring of the expected error
	MsgpackHex string         `json:"msgpack_hex,omitempty"`
}

func (g golden) frame(t *testing.T) *frame.Frame {
	t.Helper()
	k, err := frame.ParseKind(g.Kind)
	if err != nil {
		t.Fatal(err)
	}
	f := &frame.Frame{Header: frame.Header{StreamID: g.StreamID, Seq: g.Seq, Timestamp: g.Timestamp, Meta: g.Meta},
		Kind: k, SampleRate: g.Rate, Channels: g.Channels, MIME: g.MIME, DType: frame.DType(g.DType), Shape: g.Shape}
	switch g.Format {
	case "f32":
		f.Format = frame.F32
	case "s16":
		f.Format = frame.S16
	}
	for op := frame.EndOfStream; op <= frame.Cancel; op++ {
		if op.String() == g.Op {
			f.Op = op
		}
	}
	if g.DataText != "" {
		f.Data = []byte(g.DataText)
	} else if g.DataHex != "" {
		if f.Data, err = hex.DecodeString(g.DataHex); err != nil {
			t.Fatal(err)
		}
	}
	return f
}

func TestGolden(t *testing.T) {
	descs, err := filepath.Glob(filepath.Join(wireDir, "*.json"))
	if err != nil || len(descs) == 0 {
		t.Fatalf("no golden vectors in %s (%v)", wireDir, err)
	}
	for _, desc := range descs {
		name := strings.TrimSuffix(filepath.Base(desc), ".json")
		t.Run(name, func(t *testing.T) {
			raw, err := os.ReadFile(desc)
			if err != nil {
				t.Fatal(err)
			}
			var g golden
			if err := json.Unmarshal(raw, &g); err != nil {
				t.Fatal(err)
			}
			bin := strings.TrimSuffix(desc, ".json") + ".msgpack"
			if g.Invalid != "" {
				b, err := hex.DecodeString(g.MsgpackHex)
				if err != nil {
					t.Fatal(err)
				}
				if *update {
					if err := os.WriteFile(bin, b, 0o644); err != nil {
						t.Fatal(err)
					}
				}
				stored, err := os.ReadFile(bin)
				if err != nil {
					t.Fatal(err)
				}
				_, err = frame.Unmarshal(stored)
				if err == nil || !strings.Contains(err.Error(), g.Invalid) {
					t.Fatalf("decode error = %v, want one containing %q", err, g.Invalid)
				}
				return
			}
			want := g.frame(t)
			enc, err := frame.Marshal(want)
			if err != nil {
				t.Fatal(err)
			}
			if *update {
				if err := os.WriteFile(bin, enc, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			stored, err := os.ReadFile(bin)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(enc, stored) {
				t.Fatalf("encoding changed:\n got %x\nwant %x\n(run with -update if the change is intended, and bump the wire version if it is not compatible)", enc, stored)
			}
			got, err := frame.Unmarshal(stored)
			if err != nil {
				t.Fatal(err)
			}
			normalizeMeta(want)
			normalizeMeta(got)
			if !reflect.DeepEqual(got, want) {
				t.Fatalf("decoded %+v\nwant    %+v", got, want)
			}
		})
	}
}

// normalizeMeta makes numbers comparable: JSON gives float64, msgpack gives ints.
func normalizeMeta(f *frame.Frame) {
	if len(f.Data) == 0 {
		f.Data = nil
	}
	if f.Meta == nil {
		return
	}
	b, _ := json.Marshal(f.Meta)
	var m map[string]any
	_ = json.Unmarshal(b, &m)
	f.Meta = m
}
