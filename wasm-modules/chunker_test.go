package modules_test

import (
	"bytes"
	"encoding/binary"
	"testing"
)

func TestChunker(t *testing.T) {
	tests := []struct {
		name     string
		given    string
		format   uint8
		rate     int
		channels int
		sizes    []int // input frame sizes in sample frames
		total    int
		expect   int // chunk length in sample frames
	}{
		{"20 ms of 48k stereo f32", `{"ms":20}`, 1, 48000, 2, []int{336, 624, 48, 2000}, 48000/2 + 123, 960},
		{"30 ms of 16k mono s16", `{"ms":30}`, 2, 16000, 1, []int{160, 320, 7}, 16000, 480},
		{"default", `{}`, 1, 8000, 1, []int{1000}, 2000, 160},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			bps := 4 / int(tc.format)
			frame := bps * tc.channels
			in := make([]byte, tc.total*frame)
			for i := range in {
				in[i] = byte(i * 7)
			}
			h := newHarness(t, "chunker.wasm", tc.given)
			const t0 = 1_000_000
			for i, k := 0, 0; i < tc.total; k++ {
				n := min(tc.sizes[k%len(tc.sizes)], tc.total-i)
				hd := header{Kind: 1, Format: tc.format, Channels: uint16(tc.channels), Rate: uint32(tc.rate), TS: t0 + int64(i)*1000000/int64(tc.rate)}
				if err := h.send(t, hd, in[i*frame:(i+n)*frame]); err != nil {
					t.Fatal(err)
				}
				i += n
			}
			full := h.take()
			h.doFlush(t)
			rest := h.take()
			if len(full) != tc.total/tc.expect || len(rest) != 1 {
				t.Fatalf("%d chunks then %d on flush; want %d then 1", len(full), len(rest), tc.total/tc.expect)
			}
			var all []byte
			for k, o := range append(full, rest...) {
				want := tc.expect
				if k == len(full) {
					want = tc.total % tc.expect
				}
				if got := len(o.Data) / frame; got != want {
					t.Errorf("chunk %d: %d frames, want %d", k, got, want)
				}
				if ts := t0 + int64(k*tc.expect)*1000000/int64(tc.rate); o.TS != ts {
					t.Errorf("chunk %d: timestamp %d, want %d", k, o.TS, ts)
				}
				if o.Format != tc.format || int(o.Channels) != tc.channels || int(o.Rate) != tc.rate || o.Port != 0 {
					t.Errorf("chunk %d header %+v", k, o.header)
				}
				all = append(all, o.Data...)
			}
			if !bytes.Equal(all, in) {
				t.Error("chunks do not concatenate to the input")
			}
		})
	}
	t.Run("format change emits the remainder first", func(t *testing.T) {
		h := newHarness(t, "chunker.wasm", `{"ms":10}`)
		h.sendF32(t, 16000, 1, 0, make([]float32, 100))
		s16 := make([]byte, 2*200)
		binary.LittleEndian.PutUint16(s16, 1)
		if err := h.send(t, header{Kind: 1, Format: 2, Channels: 1, Rate: 16000, TS: 50000}, s16); err != nil {
			t.Fatal(err)
		}
		o := h.take()
		if len(o) != 2 || len(o[0].Data) != 400 || o[0].Format != 1 || o[1].Format != 2 || o[1].TS != 50000 || len(o[1].Data) != 320 {
			t.Fatalf("outputs %+v", o)
		}
	})
	t.Run("bad params", func(t *testing.T) {
		if _, err := newHarnessErr(t, "chunker.wasm", `{"ms":0}`); err == nil {
			t.Error("ms=0 accepted")
		}
	})
}
