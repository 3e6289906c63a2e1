package main

import (
	"bytes"
	"context"
	"encoding/binary"
	"testing"

	"github.com/tetratelabs/wazero"
)

// module is a wasm module with one page of memory, exported, and the given
// active data segments (offset, bytes).
func module(segs ...segment) []byte {
	b := []byte("\x00asm\x01\x00\x00\x00")
	b = appendSection(b, 5, []byte{1, 0, 1})                               // memory: min 1 page
	b = appendSection(b, 7, []byte{1, 3, 'm', 'e', 'm', 2, 0})             // export "mem"
	b = appendSection(b, 12, binary.AppendUvarint(nil, uint64(len(segs)))) // data count
	return appendSection(b, 11, encodeData(segs))
}

func memoryOf(t *testing.T, wasm []byte) []byte {
	t.Helper()
	ctx := context.Background()
	r := wazero.NewRuntime(ctx)
	defer r.Close(ctx)
	m, err := r.Instantiate(ctx, wasm)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := m.Memory().Read(0, m.Memory().Size())
	return bytes.Clone(b)
}

// TestMerge: segments a few zero bytes apart become one, far ones stay apart, the
// data count follows, and the instance's memory is byte for byte the same.
func TestMerge(t *testing.T) {
	in := module(segment{200, []byte("xyz")}, segment{16, []byte("abc")}, segment{24, []byte("de")}, segment{-1 & 0xfff0, []byte("end")})
	out, before, after, err := merge(in, 64)
	if err != nil {
		t.Fatal(err)
	}
	if before != 4 || after != 3 {
		t.Fatalf("%d segments -> %d, want 4 -> 3", before, after)
	}
	if !bytes.Equal(memoryOf(t, in), memoryOf(t, out)) {
		t.Fatal("merging changed the memory the module starts with")
	}
	secs, err := sections(out)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range secs {
		if s.id == 12 && !bytes.Equal(s.body, []byte{3}) {
			t.Fatalf("data count section %v, want 3", s.body)
		}
	}
	segs, err := parseData(secs[len(secs)-1].body)
	if err != nil || len(segs) != 3 || segs[0].offset != 16 || string(segs[0].data) != "abc\x00\x00\x00\x00\x00de" {
		t.Fatalf("merged segments %+v (%v)", segs, err)
	}
}

// TestMergeLeavesOverlapsAlone: overlapping segments depend on their order, so
// the module is returned unchanged.
func TestMergeLeavesOverlapsAlone(t *testing.T) {
	in := module(segment{16, []byte("abcd")}, segment{18, []byte("XY")})
	out, _, _, err := merge(in, 64)
	if err != nil || !bytes.Equal(out, in) {
		t.Fatalf("overlapping segments: module changed (%v)", err)
	}
	if _, _, _, err := merge([]byte("not wasm"), 64); err == nil {
		t.Fatal("merge accepted bytes that are not a module")
	}
}
