package wasmguard

import (
	"errors"
	"fmt"
)

// wazero's decoder (v1.12) sizes a slice by the count a module declares before
// it reads the entries: a 2 KB module whose element section declares 2^31
// segments makes it allocate 77 GB, and the process dies (a fatal error, not a
// panic: FuzzInstrument found it). checkVectors walks
// every vector wazero pre-sizes, entry by entry, so that a count larger than
// the bytes that follow fails here with an error instead.

// ErrCounts is wrapped (besides ErrGuard) when a module declares more entries
// in a vector than its bytes hold, or a function more than maxLocals locals: a
// module wazero must not be given (see checkVectors).
var ErrCounts = errors.New("declared counts out of bounds")

// maxLocals is the most locals a function may declare (V8's limit too): wazero
// sizes the function's locals by their sum, up to 2^32.
const maxLocals = 50000

// Section ids checkVectors walks besides those guard already reads.
const (
	secType     = 1
	secFunction = 3
	secTable    = 4
	secElement  = 9
	secData     = 11
)

// CheckCounts applies checkVectors to the sections wazero decodes before it
// fails, a section whose size runs past the end included (wazero starts on it
// with the bytes left): an error wraps ErrCounts. Tests use it to keep such
// modules from wazero; the hosts never give it a module Guard or Watch refused.
func CheckCounts(wasm []byte) error {
	var secs []section
	r := &reader{b: wasm, off: min(8, len(wasm))}
	for r.off < len(wasm) && r.err == nil {
		id := r.byte()
		size := r.u32()
		at := r.off
		if body := r.bytes(size); r.err == nil {
			secs = append(secs, section{id, body})
		} else if at <= len(wasm) {
			secs = append(secs, section{id, wasm[at:]})
		}
	}
	return checkVectors(secs)
}

func checkVectors(secs []section) error {
	for _, s := range secs {
		r := &reader{b: s.body}
		switch s.id {
		case secType:
			r.vector(func(i uint32) {
				if form := r.byte(); r.err == nil && form != 0x60 {
					r.fail("type %d: form 0x%02x", i, form)
				}
				r.bytes(r.u32()) // params
				r.bytes(r.u32()) // results
			})
		case secImport:
			if _, _, err := countImports(s.body); err != nil {
				return fmt.Errorf("section id %d: %w: %w", s.id, ErrCounts, err)
			}
			continue
		case secExport:
			r.vector(func(uint32) { r.bytes(r.u32()); r.byte(); r.u32() })
		case secFunction:
			r.vector(func(uint32) { r.u32() })
		case secTable:
			r.vector(func(uint32) { r.byte(); r.limits() })
		case secMemory:
			r.vector(func(uint32) { r.limits() })
		case secGlobal:
			r.vector(func(uint32) { r.byte(); r.byte(); r.constExpr() })
		case secCode:
			r.vector(func(i uint32) {
				body := &reader{b: r.bytes(r.u32())}
				var locals uint64
				body.vector(func(uint32) { locals += uint64(body.u32()); body.valType() })
				if body.err == nil && locals > maxLocals {
					r.fail("function body %d: %d locals, over %d", i, locals, maxLocals)
				}
			})
		case secElement:
			r.vector(r.elementSegment)
		case secData:
			r.vector(func(i uint32) {
				switch flags := r.u32(); flags {
				case 0:
					r.constExpr()
				case 1:
				case 2:
					r.u32()
					r.constExpr()
				default:
					r.fail("data segment %d: flags %d", i, flags)
				}
				r.bytes(r.u32())
			})
		case secCustom:
			if name := string(r.bytes(r.u32())); r.err != nil || name != "name" {
				continue
			}
			r.nameSubsections()
		default:
			continue
		}
		if err := r.end(); err != nil {
			return fmt.Errorf("section id %d: %w: %w", s.id, ErrCounts, err)
		}
	}
	return nil
}

// vector reads a count and calls entry for each entry while no error stuck.
func (r *reader) vector(entry func(i uint32)) {
	for n, i := r.u32(), uint32(0); i < n && r.err == nil; i++ {
		entry(i)
	}
}

// constExpr skips a constant expression up to its end.
func (r *reader) constExpr() {
	for r.err == nil {
		op := r.byte()
		if op == 0x0b {
			return
		}
		r.immediates(op)
	}
}

// elementSegment skips an element segment (its 8 encodings).
func (r *reader) elementSegment(i uint32) {
	flags := r.u32()
	if flags > 7 {
		r.fail("element segment %d: flags %d", i, flags)
		return
	}
	if flags&3 == 2 {
		r.u32() // table index
	}
	if flags&1 == 0 {
		r.constExpr() // offset
	}
	if flags&3 != 0 {
		r.byte() // elemkind or reftype
	}
	if flags&4 == 0 {
		r.vector(func(uint32) { r.u32() }) // function indexes
	} else {
		r.vector(func(uint32) { r.constExpr() })
	}
}

// nameSubsections skips the subsections of a "name" custom section, walking
// the name maps wazero decodes (function and local names).
func (r *reader) nameSubsections() {
	nameMap := func(s *reader) {
		s.vector(func(uint32) { s.u32(); s.bytes(s.u32()) })
	}
	for r.off < len(r.b) && r.err == nil {
		id := r.byte()
		s := &reader{b: r.bytes(r.u32())}
		switch id {
		case 1:
			nameMap(s)
		case 2:
			s.vector(func(uint32) { s.u32(); nameMap(s) })
		default:
			continue
		}
		if err := s.end(); err != nil {
			r.fail("name subsection %d: %v", id, err)
		}
	}
}
