// Command wasmdata merges the data segments of a WebAssembly module in place:
//
//	go run ./tools/wasmdata [-gap 64] module.wasm
//
// Go's wasm linker writes one active data segment per run of non-zero bytes (the
// Go chunker module has 22,539), and wazero decodes every segment again each time
// it loads the module, even from its compilation cache. Merging segments whose
// gaps are at most -gap zero bytes (a fresh memory is zero, so the instance's
// memory is the same) took loading the chunker from cache from about 57 to 47 ms.
// A module whose data section is anything but non-overlapping active segments of
// memory 0 at i32.const offsets is left as it is.
package main

import (
	"encoding/binary"
	"errors"
	"flag"
	"fmt"
	"os"
	"slices"
)

func main() {
	gap := flag.Int("gap", 64, "merge segments at most this many zero bytes apart")
	flag.Parse()
	if flag.NArg() != 1 {
		fmt.Fprintln(os.Stderr, "usage: wasmdata [-gap N] module.wasm")
		os.Exit(2)
	}
	if err := run(flag.Arg(0), *gap); err != nil {
		fmt.Fprintf(os.Stderr, "wasmdata: %s: %v\n", flag.Arg(0), err)
		os.Exit(1)
	}
}

func run(path string, gap int) error {
	in, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	out, before, after, err := merge(in, gap)
	if err != nil || after >= before {
		return err
	}
	if err := os.WriteFile(path, out, 0o644); err != nil {
		return err
	}
	fmt.Printf("wasmdata: %s: %d data segments merged into %d\n", path, before, after)
	return nil
}

type segment struct {
	offset uint32
	data   []byte
}

var errUnsupported = errors.New("data section left as it is")

// merge returns wasm with its data segments merged, and the segment counts
// before and after. Unsupported data sections come back unchanged.
func merge(wasm []byte, gap int) (out []byte, before, after int, err error) {
	secs, err := sections(wasm)
	if err != nil {
		return nil, 0, 0, err
	}
	var merged []segment
	for _, s := range secs {
		if s.id != 11 {
			continue
		}
		segs, err := parseData(s.body)
		if errors.Is(err, errUnsupported) {
			return wasm, 0, 0, nil
		} else if err != nil {
			return nil, 0, 0, fmt.Errorf("data section: %w", err)
		}
		merged = mergeSegments(segs, gap)
		before, after = len(segs), len(merged)
	}
	out = append(out, wasm[:8]...)
	for _, s := range secs {
		switch s.id {
		case 11:
			out = appendSection(out, 11, encodeData(merged))
		case 12: // the data count section
			out = appendSection(out, 12, binary.AppendUvarint(nil, uint64(after)))
		default:
			out = appendSection(out, s.id, s.body)
		}
	}
	return out, before, after, nil
}

type section struct {
	id   byte
	body []byte
}

func sections(wasm []byte) ([]section, error) {
	if len(wasm) < 8 || string(wasm[:4]) != "\x00asm" {
		return nil, errors.New("not a WebAssembly module")
	}
	var secs []section
	for p := 8; p < len(wasm); {
		size, n := binary.Uvarint(wasm[p+1:])
		start := p + 1 + n
		if n <= 0 || size > uint64(len(wasm)-start) {
			return nil, fmt.Errorf("section at byte %d: bad size", p)
		}
		secs = append(secs, section{wasm[p], wasm[start : start+int(size)]})
		p = start + int(size)
	}
	return secs, nil
}

func parseData(b []byte) ([]segment, error) {
	count, n := binary.Uvarint(b)
	if n <= 0 {
		return nil, errors.New("bad count")
	}
	b = b[n:]
	segs := make([]segment, 0, count)
	for range count {
		// flags 0 (active, memory 0), i32.const offset, end
		if len(b) < 3 || b[0] != 0 || b[1] != 0x41 {
			return nil, errUnsupported
		}
		off, n := sleb32(b[2:])
		if n <= 0 || len(b) < 2+n+1 || b[2+n] != 0x0b {
			return nil, errUnsupported
		}
		b = b[3+n:]
		size, n := binary.Uvarint(b)
		if n <= 0 || size > uint64(len(b)-n) {
			return nil, errors.New("bad segment size")
		}
		segs = append(segs, segment{uint32(off), b[n : n+int(size)]})
		b = b[n+int(size):]
	}
	if len(b) != 0 {
		return nil, errors.New("bytes after the last segment")
	}
	slices.SortStableFunc(segs, func(a, b segment) int { return int(int64(a.offset) - int64(b.offset)) })
	for i := 1; i < len(segs); i++ {
		if uint64(segs[i-1].offset)+uint64(len(segs[i-1].data)) > uint64(segs[i].offset) {
			return nil, errUnsupported // overlapping: order would matter
		}
	}
	return segs, nil
}

func mergeSegments(segs []segment, gap int) []segment {
	var out []segment
	for _, s := range segs {
		if k := len(out) - 1; k >= 0 {
			end := uint64(out[k].offset) + uint64(len(out[k].data))
			if uint64(s.offset)-end <= uint64(gap) {
				out[k].data = append(append(out[k].data, make([]byte, uint64(s.offset)-end)...), s.data...)
				continue
			}
		}
		out = append(out, segment{s.offset, append([]byte(nil), s.data...)})
	}
	return out
}

func encodeData(segs []segment) []byte {
	b := binary.AppendUvarint(nil, uint64(len(segs)))
	for _, s := range segs {
		b = append(b, 0, 0x41)
		b = appendSleb32(b, int32(s.offset))
		b = append(b, 0x0b)
		b = binary.AppendUvarint(b, uint64(len(s.data)))
		b = append(b, s.data...)
	}
	return b
}

func appendSection(out []byte, id byte, body []byte) []byte {
	out = append(out, id)
	out = binary.AppendUvarint(out, uint64(len(body)))
	return append(out, body...)
}

// sleb32 decodes a signed LEB128 i32 (binary.Varint is zig-zag, not LEB128).
func sleb32(b []byte) (int32, int) {
	var v int64
	for i, shift := 0, 0; i < len(b) && i < 5; i, shift = i+1, shift+7 {
		v |= int64(b[i]&0x7f) << shift
		if b[i] < 0x80 {
			if shift+7 < 64 && b[i]&0x40 != 0 {
				v |= -1 << (shift + 7)
			}
			return int32(v), i + 1
		}
	}
	return 0, -1
}

func appendSleb32(b []byte, v int32) []byte {
	x := int64(v)
	for {
		c := byte(x & 0x7f)
		x >>= 7
		if (x == 0 && c&0x40 == 0) || (x == -1 && c&0x40 != 0) {
			return append(b, c)
		}
		b = append(b, c|0x80)
	}
}
