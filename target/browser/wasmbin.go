//go:build js && wasm

package main

import (
	"encoding/binary"
	"errors"
	"fmt"
	"sort"
	"strings"

	"github.com/remotemedia/hybrid/core/wasmnode"
)

// The browser's WebAssembly API cannot list an import's signature nor cap a
// memory the module defines itself, so the host reads the two sections it needs
// from the module bytes: imports are checked exactly as the server checks them,
// and the memory's maximum is lowered to the page cap so that memory.grow fails
// past it, as it does under wazero.

// errMalformed is wrapped when module bytes cannot be read.
var errMalformed = errors.New("malformed module")

const (
	secType   = 1
	secImport = 2
	secMemory = 5
)

// sig is a function signature in the binary encoding's value type bytes.
type sig struct{ params, results string }

var (
	sigI32x2 = sig{"\x7f\x7f", "\x7f"}
	sigI32x4 = sig{"\x7f\x7f\x7f\x7f", "\x7f"}
	sigI32x1 = sig{"\x7f", "\x7f"}
)

// granted lists the imports docs/wasm-abi.md grants, with their signatures.
var granted = map[string]sig{
	"rm.emit":  {"\x7f\x7f\x7f", ""},
	"rm.log":   {"\x7f\x7f\x7f", ""},
	"rm.error": {"\x7f\x7f", ""},

	"wasi_snapshot_preview1.args_sizes_get":      sigI32x2,
	"wasi_snapshot_preview1.args_get":            sigI32x2,
	"wasi_snapshot_preview1.environ_sizes_get":   sigI32x2,
	"wasi_snapshot_preview1.environ_get":         sigI32x2,
	"wasi_snapshot_preview1.clock_time_get":      {"\x7f\x7e\x7f", "\x7f"},
	"wasi_snapshot_preview1.clock_res_get":       sigI32x2,
	"wasi_snapshot_preview1.random_get":          sigI32x2,
	"wasi_snapshot_preview1.fd_write":            sigI32x4,
	"wasi_snapshot_preview1.fd_close":            sigI32x1,
	"wasi_snapshot_preview1.fd_fdstat_get":       sigI32x2,
	"wasi_snapshot_preview1.fd_seek":             {"\x7f\x7e\x7f\x7f", "\x7f"},
	"wasi_snapshot_preview1.fd_read":             sigI32x4,
	"wasi_snapshot_preview1.fd_prestat_get":      sigI32x2,
	"wasi_snapshot_preview1.fd_prestat_dir_name": {"\x7f\x7f\x7f", "\x7f"},
	"wasi_snapshot_preview1.poll_oneoff":         sigI32x4,
	"wasi_snapshot_preview1.sched_yield":         {"", "\x7f"},
	"wasi_snapshot_preview1.proc_exit":           {"\x7f", ""},
}

// reader reads the binary format.
type reader struct {
	b   []byte
	err error
}

func (r *reader) fail() { r.err, r.b = errMalformed, nil }

func (r *reader) byte() byte {
	if len(r.b) == 0 {
		r.fail()
		return 0
	}
	c := r.b[0]
	r.b = r.b[1:]
	return c
}

func (r *reader) uleb() uint32 {
	var v uint64
	for shift := 0; shift < 35; shift += 7 {
		c := r.byte()
		v |= uint64(c&0x7f) << shift
		if c&0x80 == 0 {
			return uint32(v)
		}
	}
	r.fail()
	return 0
}

func (r *reader) bytes(n uint32) []byte {
	if uint32(len(r.b)) < n {
		r.fail()
		return nil
	}
	s := r.b[:n]
	r.b = r.b[n:]
	return s
}

func (r *reader) name() string { return string(r.bytes(r.uleb())) }

// limits reads a limits entry: flags, min and optional max.
func (r *reader) limits() (flags byte, min, max uint32) {
	flags = r.byte()
	min = r.uleb()
	if flags&1 != 0 {
		max = r.uleb()
	}
	return flags, min, max
}

// prepare checks the module's imports against the ABI and returns its bytes with
// every defined memory's maximum set to at most capPages.
func prepare(wasm []byte, capPages uint32) ([]byte, error) {
	if len(wasm) < 8 || string(wasm[:4]) != "\x00asm" || binary.LittleEndian.Uint32(wasm[4:]) != 1 {
		return nil, fmt.Errorf("%w: not a WebAssembly 1.0 binary", errMalformed)
	}
	out := append(make([]byte, 0, len(wasm)+8), wasm[:8]...)
	r := reader{b: wasm[8:]}
	var types []sig
	var bad []string
	for len(r.b) > 0 && r.err == nil {
		id := r.byte()
		body := r.bytes(r.uleb())
		if r.err != nil {
			break
		}
		s := reader{b: body}
		switch id {
		case secType:
			types = readTypes(&s)
		case secImport:
			bad = checkImports(&s, types)
		case secMemory:
			mem, err := capMemory(&s, capPages)
			if err != nil {
				return nil, err
			}
			body = mem
		}
		if s.err != nil {
			return nil, fmt.Errorf("%w: section %d", errMalformed, id)
		}
		out = append(out, id)
		out = binary.AppendUvarint(out, uint64(len(body)))
		out = append(out, body...)
	}
	if r.err != nil {
		return nil, fmt.Errorf("%w: truncated section", errMalformed)
	}
	if len(bad) > 0 {
		sort.Strings(bad)
		return nil, fmt.Errorf("%w: %s", wasmnode.ErrImports, strings.Join(bad, ", "))
	}
	return out, nil
}

func readTypes(s *reader) []sig {
	n := s.uleb()
	types := make([]sig, 0, min(n, 1024))
	for i := uint32(0); i < n && s.err == nil; i++ {
		if s.byte() != 0x60 {
			s.fail()
			break
		}
		params := string(s.bytes(s.uleb()))
		results := string(s.bytes(s.uleb()))
		types = append(types, sig{params, results})
	}
	return types
}

func checkImports(s *reader, types []sig) (bad []string) {
	n := s.uleb()
	for i := uint32(0); i < n && s.err == nil; i++ {
		full := s.name() + "." + s.name()
		switch kind := s.byte(); kind {
		case 0: // func
			idx := s.uleb()
			want, ok := granted[full]
			switch {
			case !ok:
				bad = append(bad, full)
			case idx >= uint32(len(types)) || types[idx] != want:
				bad = append(bad, full+" (wrong signature)")
			}
		case 1: // table
			s.byte()
			s.limits()
			bad = append(bad, full+" (table)")
		case 2: // memory
			s.limits()
			bad = append(bad, full+" (memory)")
		case 3: // global
			s.byte()
			s.byte()
			bad = append(bad, full+" (global)")
		default:
			s.fail()
		}
	}
	return bad
}

// capMemory re-encodes a memory section with every maximum at most capPages.
func capMemory(s *reader, capPages uint32) ([]byte, error) {
	n := s.uleb()
	out := binary.AppendUvarint(nil, uint64(n))
	for i := uint32(0); i < n && s.err == nil; i++ {
		flags, lo, hi := s.limits()
		if flags&^1 != 0 {
			return nil, fmt.Errorf("%w: memory %d: shared or 64-bit memories are not supported", wasmnode.ErrABI, i)
		}
		if lo > capPages {
			return nil, fmt.Errorf("%w: memory %d starts at %d pages, over the cap of %d", wasmnode.ErrMemoryLimit, i, lo, capPages)
		}
		if flags&1 == 0 || hi > capPages {
			hi = capPages
		}
		out = append(out, 1)
		out = binary.AppendUvarint(out, uint64(lo))
		out = binary.AppendUvarint(out, uint64(hi))
	}
	return out, nil
}
