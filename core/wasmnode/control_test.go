package wasmnode

import (
	"errors"
	"testing"

	"github.com/remotemedia/hybrid/core/frame"
)

// A module may emit a flush or a cancel of its own (speech_buffer's barge-in):
// kind 6, the op in the format byte, no payload; any other op fails the call.
func TestFrameOfControl(t *testing.T) {
	in := frame.Header{StreamID: "s", Meta: map[string]any{"k": "v"}}
	for _, tc := range []struct {
		name      string
		op        uint8
		data      []byte
		expect    frame.ControlOp
		expectErr bool
	}{
		{name: "cancel", op: 3, expect: frame.Cancel},
		{name: "flush", op: 2, expect: frame.Flush},
		{name: "payload ignored", op: 3, data: []byte("x"), expect: frame.Cancel},
		{name: "end of stream is the scheduler's", op: 1, expectErr: true},
		{name: "unknown op", op: 9, expectErr: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f, err := frameOf(Header{Kind: frame.KindControl, Format: frame.SampleFormat(tc.op), Timestamp: 1500}, tc.data, in, 4)
			if tc.expectErr {
				if !errors.Is(err, ErrABI) {
					t.Fatalf("got %v, %v; want ErrABI", f, err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !f.IsControl(tc.expect) || f.Timestamp != 1500 || f.StreamID != "s" || len(f.Data) != 0 {
				t.Errorf("frame %+v, want a %v control frame at 1500 µs of stream s", f, tc.expect)
			}
		})
	}
}
