package frame_test

import (
	"bytes"
	"errors"
	"runtime"
	"testing"

	"github.com/remotemedia/hybrid/core/frame"
)

// hostileMeta is a text frame of about 70 KB whose metadata lies: maps and
// arrays nested 32 deep, each declaring as many entries as the input could hold
// (but holding one), or a string declaring more bytes than there are.
func hostileMeta(inner func([]byte) []byte) []byte {
	b := []byte{0x86, 0xa1, 'v', 0x01, 0xa4, 'k', 'i', 'n', 'd', 0xa4, 't', 'e', 'x', 't', 0xa4, 'm', 'e', 't', 'a'}
	b = inner(b)
	return append(b, make([]byte, 70<<10)...) // what a reader counts as left
}

func nestedMaps(b []byte) []byte {
	for range 32 {
		b = append(b, 0xde, 0x7f, 0xff, 0xa1, 'k') // map16 of 32767 entries, first key "k"
	}
	return b
}

func nestedArrays(b []byte) []byte {
	b = append(b, 0x81, 0xa1, 'k')
	for range 32 {
		b = append(b, 0xdc, 0xff, 0xff) // array16 of 65535 elements
	}
	return b
}

func longString(b []byte) []byte {
	return append(b, 0x81, 0xa1, 'k', 0xdb, 0x7f, 0xff, 0xff, 0xff) // str32 of 2 GiB
}

// TestHostileMetadataIsCheap: a frame whose metadata declares far more than it
// holds is rejected having allocated little more than the frame's own size
// (the nested maps cost 32.5 MB before).
func TestHostileMetadataIsCheap(t *testing.T) {
	tests := []struct {
		name  string
		given []byte
	}{
		{name: "nested maps", given: hostileMeta(nestedMaps)},
		{name: "nested arrays", given: hostileMeta(nestedArrays)},
		{name: "long string", given: hostileMeta(longString)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var before, after runtime.MemStats
			runtime.GC()
			runtime.ReadMemStats(&before)
			_, err := frame.Unmarshal(tt.given)
			runtime.ReadMemStats(&after)
			if !errors.Is(err, frame.ErrDecode) {
				t.Fatalf("Unmarshal = %v, want ErrDecode", err)
			}
			const limit = 512 << 10 // the frame is 70 KB; a streaming read grows its buffer by doubling
			if got := after.TotalAlloc - before.TotalAlloc; got > limit {
				t.Fatalf("rejecting a %d-byte frame allocated %d bytes, want at most %d (%v)", len(tt.given), got, limit, err)
			}
			_, err = frame.NewDecoder(bytes.NewReader(tt.given)).Decode()
			runtime.ReadMemStats(&before)
			if !errors.Is(err, frame.ErrDecode) {
				t.Fatalf("Decoder.Decode = %v, want ErrDecode", err)
			}
			if got := before.TotalAlloc - after.TotalAlloc; got > limit {
				t.Fatalf("streaming: rejecting a %d-byte frame allocated %d bytes, want at most %d (%v)", len(tt.given), got, limit, err)
			}
		})
	}
}
