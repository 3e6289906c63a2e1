package wasmguard

import (
	"errors"
	"fmt"
)

// The hosts read two more things from module bytes with the same reader as
// the instrumenter: the imports with their signatures (ModuleImports: the
// browser's WebAssembly API cannot list an import's signature, and both hosts
// check imports with it), and every memory the module defines, capped at the
// host's page limit (CapMemory: the browser cannot cap a memory the module
// defines itself).

// ErrMalformed is wrapped when module bytes cannot be read.
var ErrMalformed = errors.New("malformed module")

// ErrMemoryMinimum is wrapped when a module's memory starts larger than the
// host's page cap.
var ErrMemoryMinimum = errors.New("memory starts over the page cap")

// ErrMemoryKind is wrapped when a module defines a shared or 64-bit memory.
var ErrMemoryKind = errors.New("shared or 64-bit memories are not supported")

// Import kinds (WebAssembly 2.0, binary format "Import Section").
const (
	ImportFunc   = 0x00
	ImportTable  = 0x01
	ImportMemory = 0x02
	ImportGlobal = 0x03
)

// Sig is a function signature as the binary format's value type bytes
// (0x7f i32, 0x7e i64, ...).
type Sig struct{ Params, Results string }

// Import is one entry of a module's import section.
type Import struct {
	Module, Name string
	Kind         byte
	// Sig is the function's signature (Kind ImportFunc only); TypeOK is false
	// when its type index is outside the type section.
	Sig    Sig
	TypeOK bool
}

// readModule splits wasm into its sections, checking the header, the
// section order and every section's size.
func readModule(wasm []byte) ([]section, error) {
	if len(wasm) < 8 || string(wasm[:4]) != "\x00asm" || string(wasm[4:8]) != "\x01\x00\x00\x00" {
		return nil, fmt.Errorf("%w: not a WebAssembly 1.0/2.0 binary (bad magic or version)", ErrMalformed)
	}
	var secs []section
	r := &reader{b: wasm, off: 8}
	rank := 0
	for r.off < len(wasm) && r.err == nil {
		at := r.off
		id := r.byte()
		body := r.bytes(r.u32())
		switch {
		case r.err != nil:
			return nil, fmt.Errorf("%w: section at byte %d: %w", ErrMalformed, at, r.err)
		case id >= numSections:
			return nil, fmt.Errorf("%w: unsupported section id %d at byte %d", ErrMalformed, id, at)
		case id != secCustom && sectionRank[id] <= rank:
			return nil, fmt.Errorf("%w: section id %d at byte %d is out of order or repeated", ErrMalformed, id, at)
		case id != secCustom:
			rank = sectionRank[id]
		}
		secs = append(secs, section{id, body})
	}
	return secs, nil
}

// encodeModule is the inverse of readModule, with header the module's first 8 bytes.
func encodeModule(header []byte, secs []section) []byte {
	size := len(header)
	for _, s := range secs {
		size += 1 + 5 + len(s.body)
	}
	out := append(make([]byte, 0, size), header...)
	for _, s := range secs {
		out = append(out, s.id)
		out = appendU32(out, uint32(len(s.body)))
		out = append(out, s.body...)
	}
	return out
}

// ModuleImports returns the imports of wasm, in order.
func ModuleImports(wasm []byte) ([]Import, error) {
	secs, err := readModule(wasm)
	if err != nil {
		return nil, err
	}
	var types []Sig
	for _, s := range secs {
		switch s.id {
		case secType:
			if types, err = readTypes(s.body); err != nil {
				return nil, fmt.Errorf("%w: type section: %w", ErrMalformed, err)
			}
		case secImport:
			imports, err := readImports(s.body, types)
			if err != nil {
				return nil, fmt.Errorf("%w: import section: %w", ErrMalformed, err)
			}
			return imports, nil
		}
	}
	return nil, nil
}

func readTypes(body []byte) ([]Sig, error) {
	r := &reader{b: body}
	n := r.u32()
	types := make([]Sig, 0, min(n, 1024))
	for i := uint32(0); i < n && r.err == nil; i++ {
		if form := r.byte(); form != 0x60 {
			r.fail("type %d: form 0x%02x is not a function type", i, form)
		}
		params := string(r.bytes(r.u32()))
		results := string(r.bytes(r.u32()))
		types = append(types, Sig{params, results})
	}
	return types, r.end()
}

func readImports(body []byte, types []Sig) ([]Import, error) {
	r := &reader{b: body}
	n := r.u32()
	imports := make([]Import, 0, min(n, 1024))
	for i := uint32(0); i < n && r.err == nil; i++ {
		imp := Import{Module: string(r.bytes(r.u32())), Name: string(r.bytes(r.u32())), Kind: r.byte()}
		switch imp.Kind {
		case ImportFunc:
			if idx := r.u32(); idx < uint32(len(types)) {
				imp.Sig, imp.TypeOK = types[idx], true
			}
		case ImportTable:
			r.byte()
			r.limits()
		case ImportMemory:
			r.limits()
		case ImportGlobal:
			r.byte()
			r.byte()
		default:
			r.fail("import %d: unsupported import kind 0x%02x", i, imp.Kind)
		}
		imports = append(imports, imp)
	}
	return imports, r.end()
}

// CapMemory returns wasm with the maximum of every memory it defines set to at
// most capPages (and to capPages where it has none), so that memory.grow fails
// past the cap. A memory whose minimum is over the cap wraps ErrMemoryMinimum.
func CapMemory(wasm []byte, capPages uint32) ([]byte, error) {
	secs, err := readModule(wasm)
	if err != nil {
		return nil, err
	}
	for i, s := range secs {
		if s.id != secMemory {
			continue
		}
		if secs[i].body, err = capMemories(s.body, capPages); err != nil {
			return nil, err
		}
	}
	return encodeModule(wasm[:8], secs), nil
}

// capMemories re-encodes a memory section body with every maximum at most capPages.
func capMemories(body []byte, capPages uint32) ([]byte, error) {
	r := &reader{b: body}
	n := r.u32()
	out := appendU32(nil, n)
	for i := uint32(0); i < n && r.err == nil; i++ {
		flags := r.byte()
		if flags&^1 != 0 {
			return nil, fmt.Errorf("memory %d: %w", i, ErrMemoryKind)
		}
		lo, hi := r.u32(), capPages
		if flags&1 != 0 {
			hi = min(r.u32(), capPages)
		}
		if lo > capPages {
			return nil, fmt.Errorf("memory %d starts at %d pages: %w of %d", i, lo, ErrMemoryMinimum, capPages)
		}
		out = appendU32(appendU32(append(out, 1), lo), hi)
	}
	if err := r.end(); err != nil {
		return nil, fmt.Errorf("%w: memory section: %w", ErrMalformed, err)
	}
	return out, nil
}
