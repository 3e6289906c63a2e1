// Package wasmguard rewrites WebAssembly modules for the hosts before they are
// compiled. Both hosts have every memory.grow of a module record when it is
// refused (Watch), so that a trap that follows a refused growth is reported as
// the memory cap, whatever the guest did after the refusal (it may trap, or
// write through the -1 memory.grow returned). The server host also instruments
// every module it does not trust for the call deadline (Guard).
//
// It imports nothing but the standard library: target/browser uses it too.
package wasmguard

import (
	"errors"
	"fmt"
	"strings"
)

// The per-call deadline is enforced by instrumenting every module before it is
// compiled (see Guard). Every loop header and function entry decrements a
// budget global; when it reaches 0 the guest runs `memory.grow 0`, which
// wazero's compiler (wazevo) implements as an exit to Go (ExitCodeGrowMemory,
// served by a call to MemoryInstance.Grow, whose prologue checks for a pending
// preemption), refills the budget, and traps if the interrupt global is set.
// The exit is the guest's safe point: Go cannot preempt compiled wasm code, so
// without it a guest spinning in a loop would stall every stop-the-world (GC)
// forever, the watchdog included. On deadline the watchdog sets the interrupt
// to 1 and the budget to 0, so the guest traps at its next check. The cost is
// a load, a store and a branch per loop iteration plus one exit to Go every
// BudgetRefill iterations; wazero's WithCloseOnContextDone costs a call out to
// Go per iteration plus a goroutine per call.

// ErrGuard is returned for a module that cannot be instrumented (malformed, or
// using an opcode or section outside WebAssembly 2.0). Such a module is not
// loaded rather than run unguarded.
var ErrGuard = errors.New("wasm host: module cannot be instrumented")

const (
	// InterruptExport is the mutable i32 global Guard adds and exports: 1
	// makes the guest trap at its next safe point.
	InterruptExport = "__rm_interrupt"
	// BudgetExport is the mutable i32 global Guard adds after InterruptExport
	// and exports: the checks left until the guest's next safe point.
	BudgetExport = "__rm_budget"
	// BudgetRefill is the budget after each safe point: a guest exits to Go
	// at least once every BudgetRefill loop iterations or function entries.
	BudgetRefill = 1 << 12
	// StartExport is the export Guard turns a start section into, so that the
	// host can run it under the deadline after instantiation.
	StartExport = "__rm_start"
	// GrowRefusedExport is the mutable i32 global Guard and Watch add and
	// export: every memory.grow of the module that returns -1 (the memory cap,
	// or the module's own maximum, refused it) sets it to 1. The host clears it.
	GrowRefusedExport = "__rm_grow_refused"
)

// Section ids (WebAssembly 2.0, binary format "Modules").
const (
	secCustom   = 0
	secImport   = 2
	secMemory   = 5
	secGlobal   = 6
	secExport   = 7
	secStart    = 8
	secCode     = 10
	secDataCnt  = 12
	numSections = 13
)

// sectionRank is the order non-custom sections must appear in.
var sectionRank = [numSections]int{secCustom: 0, 1: 1, secImport: 2, 3: 3, 4: 4, 5: 5, secGlobal: 6,
	secExport: 7, secStart: 8, 9: 9, secDataCnt: 10, secCode: 11, 11: 12}

// Value types of WebAssembly 2.0: i32 i64 f32 f64 v128 funcref externref.
func isValType(b byte) bool {
	switch b {
	case 0x7f, 0x7e, 0x7d, 0x7c, 0x7b, 0x70, 0x6f:
		return true
	}
	return false
}

// zeroMemory is a memory section body of one memory of 0 pages (max 0).
var zeroMemory = []byte{1, 0x01, 0, 0}

type section struct {
	id   byte
	body []byte
}

// Guard returns wasm instrumented for the deadline and for refused growth.
// Four mutable i32 globals are appended after every other global: $i
// (InterruptExport, initial 0), $b (BudgetExport, initial BudgetRefill), $r
// (GrowRefusedExport, initial 0) and $t (not exported), and at every function
// entry and right after every loop's block type:
//
//	global.get $b; i32.const 1; i32.sub; global.set $b
//	global.get $b; i32.const 0; i32.le_s
//	if
//	  i32.const 0; memory.grow; drop           ;; the safe point: an exit to Go
//	  i32.const BudgetRefill; global.set $b
//	  global.get $i; if; unreachable; end
//	end
//
// Every memory.grow of the module becomes the check of Watch. A module without
// a memory gets a 0-page one (max 0) for the safe point's memory.grow. No
// function, global or memory index moves. A start section becomes the export
// StartExport. DWARF custom sections are dropped (their code offsets no longer
// hold); other custom sections are kept.
func Guard(wasm []byte) ([]byte, error) {
	out, err := instrument(wasm, true)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrGuard, err)
	}
	return out, nil
}

// Watch returns wasm with two mutable i32 globals appended after every other
// global, $r (GrowRefusedExport, initial 0) and $t (not exported), and every
// memory.grow followed by a check that sets $r when it returned -1:
//
//	memory.grow; global.set $t
//	global.get $t; i32.const -1; i32.eq; if; i32.const 1; global.set $r; end
//	global.get $t
//
// Nothing else changes but the dropped DWARF sections (see Guard): the cost is
// a few instructions per memory.grow, which a module runs rarely.
func Watch(wasm []byte) ([]byte, error) {
	out, err := instrument(wasm, false)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrGuard, err)
	}
	return out, nil
}

// instrument is Guard (deadline) or Watch (!deadline): it reads the
// sections, scans them for what the rewrite needs, plans the added globals
// and exports, rewrites the sections and encodes the module again.
func instrument(wasm []byte, deadline bool) ([]byte, error) {
	secs, err := readModule(wasm)
	if err != nil {
		return nil, err
	}
	if err := checkVectors(secs); err != nil {
		return nil, err
	}
	facts, err := scan(secs)
	if err != nil {
		return nil, err
	}
	p, err := newPlan(facts, deadline)
	if err != nil {
		return nil, err
	}
	out, err := p.rewrite(secs)
	if err != nil {
		return nil, err
	}
	return encodeModule(wasm[:8], out), nil
}

// moduleFacts is what instrument needs to know of a module before it rewrites it.
type moduleFacts struct {
	importedGlobals, definedGlobals uint32
	start                           int    // the start function, or -1
	exports                         []byte // the export section's body
	hasExports, hasGlobals          bool
	hasMemory                       bool // a memory is imported or defined
	memorySection                   bool // a memory section is present, maybe empty
}

// scan reads the import, memory, global, export and start sections.
func scan(secs []section) (moduleFacts, error) {
	f := moduleFacts{start: -1}
	for _, s := range secs {
		var err error
		switch s.id {
		case secImport:
			var memories uint32
			f.importedGlobals, memories, err = countImports(s.body)
			f.hasMemory = f.hasMemory || memories > 0
		case secMemory:
			f.memorySection = true
			sr := &reader{b: s.body}
			f.hasMemory = f.hasMemory || sr.u32() > 0
			err = sr.err
		case secGlobal:
			f.hasGlobals = true
			sr := &reader{b: s.body}
			f.definedGlobals, err = sr.u32(), sr.err
		case secExport:
			f.hasExports, f.exports = true, s.body
		case secStart:
			sr := &reader{b: s.body}
			fn := sr.u32()
			if err = sr.end(); err == nil {
				f.start = int(fn)
			}
		}
		if err != nil {
			return f, fmt.Errorf("section id %d: %w", s.id, err)
		}
	}
	return f, nil
}

// plan is the rewrite of one module: the globals and exports it adds and the
// code it inserts.
type plan struct {
	moduleFacts
	deadline   bool
	check      []byte // the safe point inserted at function entries and loops (deadline only)
	grow       []byte // what replaces every memory.grow
	newExports []byte // the new export section body
}

// newPlan numbers the added globals after the module's own, in order:
// interrupt and budget (deadline only), refused, tmp.
func newPlan(f moduleFacts, deadline bool) (*plan, error) {
	if !deadline {
		f.start = -1 // kept as the start section
	}
	g := uint64(f.importedGlobals) + uint64(f.definedGlobals)
	if g >= 1<<32-4 {
		return nil, errors.New("too many globals")
	}
	p := &plan{moduleFacts: f, deadline: deadline}
	next := uint32(g)
	var added []export
	if deadline {
		interrupt, budget := next, next+1
		next += 2
		added = append(added, export{InterruptExport, 0x03, interrupt}, export{BudgetExport, 0x03, budget})
		p.check = safePoint(interrupt, budget)
	}
	refused, tmp := next, next+1
	added = append(added, export{GrowRefusedExport, 0x03, refused})
	if f.start >= 0 {
		added = append(added, export{StartExport, 0x00, uint32(f.start)})
	}
	p.grow = watchedGrow(refused, tmp)
	var err error
	if p.newExports, err = addExports(f.exports, added); err != nil {
		return nil, fmt.Errorf("export section: %w", err)
	}
	return p, nil
}

// globals returns the global section body: the module's own globals (body,
// after their count) followed by the added ones.
func (p *plan) globals(body []byte) []byte {
	n := p.definedGlobals + 2
	if p.deadline {
		n += 2
	}
	b := appendU32(nil, n)
	b = append(b, body...)
	if p.deadline {
		b = append(b, 0x7f, 0x01, 0x41, 0x00, 0x0b) // interrupt: mut i32 = 0
		b = append(b, 0x7f, 0x01, 0x41)             // budget: mut i32 = BudgetRefill
		b = append(appendS32(b, BudgetRefill), 0x0b)
	}
	b = append(b, 0x7f, 0x01, 0x41, 0x00, 0x0b)    // refused: mut i32 = 0
	return append(b, 0x7f, 0x01, 0x41, 0x00, 0x0b) // tmp: mut i32 = 0
}

// rewrite returns the module's sections rewritten by p, with the sections it
// needs and the module lacks inserted.
func (p *plan) rewrite(secs []section) ([]section, error) {
	var out []section
	for _, s := range secs {
		switch s.id {
		case secCustom:
			if name, err := customName(s.body); err == nil && strings.HasPrefix(name, ".debug_") {
				continue
			}
		case secGlobal:
			gr := &reader{b: s.body}
			gr.u32()
			s.body = p.globals(s.body[gr.off:])
		case secMemory:
			if p.deadline && !p.hasMemory { // an empty memory section
				s.body = zeroMemory
			}
		case secExport:
			s.body = p.newExports
		case secStart:
			if p.deadline {
				continue
			}
		case secCode:
			body, err := instrumentCode(s.body, p.check, p.grow)
			if err != nil {
				return nil, fmt.Errorf("code section: %w", err)
			}
			s.body = body
		}
		out = append(out, s)
	}
	if p.deadline && !p.hasMemory && !p.memorySection {
		out = insertSection(out, section{secMemory, zeroMemory})
	}
	if !p.hasGlobals {
		out = insertSection(out, section{secGlobal, p.globals(nil)})
	}
	if !p.hasExports {
		out = insertSection(out, section{secExport, p.newExports})
	}
	return out, nil
}

// safePoint returns the check Guard inserts (see Guard) for the interrupt and
// budget global indexes.
func safePoint(interrupt, budget uint32) []byte {
	getB := appendU32([]byte{0x23}, budget)
	setB := appendU32([]byte{0x24}, budget)
	b := append([]byte{}, getB...)
	b = append(b, 0x41, 0x01, 0x6b) // i32.const 1; i32.sub
	b = append(b, setB...)
	b = append(b, getB...)
	b = append(b, 0x41, 0x00, 0x4c, 0x04, 0x40) // i32.const 0; i32.le_s; if
	b = append(b, 0x41, 0x00, 0x40, 0x00, 0x1a) // i32.const 0; memory.grow 0; drop
	b = appendS32(append(b, 0x41), BudgetRefill)
	b = append(b, setB...)
	b = appendU32(append(b, 0x23), interrupt)
	return append(b, 0x04, 0x40, 0x00, 0x0b, 0x0b) // if; unreachable; end; end
}

// watchedGrow returns what replaces a memory.grow (see Watch) for the refused
// and tmp global indexes.
func watchedGrow(refused, tmp uint32) []byte {
	getT := appendU32([]byte{0x23}, tmp)
	b := appendU32([]byte{0x40, 0x00, 0x24}, tmp) // memory.grow 0; global.set $t
	b = append(b, getT...)
	b = append(b, 0x41, 0x7f, 0x46, 0x04, 0x40, 0x41, 0x01, 0x24) // i32.const -1; i32.eq; if; i32.const 1; global.set
	b = appendU32(b, refused)
	b = append(b, 0x0b) // end
	return append(b, getT...)
}

// insertSection puts s before the first non-custom section that must follow it.
func insertSection(secs []section, s section) []section {
	i := len(secs)
	for j, t := range secs {
		if t.id != secCustom && sectionRank[t.id] > sectionRank[s.id] {
			i = j
			break
		}
	}
	secs = append(secs, section{})
	copy(secs[i+1:], secs[i:])
	secs[i] = s
	return secs
}

func customName(body []byte) (string, error) {
	r := &reader{b: body}
	name := r.bytes(r.u32())
	return string(name), r.err
}

// countImports walks the import section and counts global and memory imports.
func countImports(body []byte) (globals, memories uint32, err error) {
	r := &reader{b: body}
	for n, i := r.u32(), uint32(0); i < n && r.err == nil; i++ {
		r.bytes(r.u32()) // module
		r.bytes(r.u32()) // name
		switch kind := r.byte(); kind {
		case 0x00: // func: type index
			r.u32()
		case 0x01: // table: reftype, limits
			if t := r.byte(); t != 0x70 && t != 0x6f {
				r.fail("import %d: table element type 0x%02x", i, t)
			}
			r.limits()
		case 0x02: // memory: limits
			r.limits()
			memories++
		case 0x03: // global: valtype, mutability
			if t := r.byte(); !isValType(t) {
				r.fail("import %d: global type 0x%02x", i, t)
			}
			if m := r.byte(); m > 1 {
				r.fail("import %d: global mutability 0x%02x", i, m)
			}
			globals++
		default:
			r.fail("import %d: unsupported import kind 0x%02x", i, kind)
		}
	}
	return globals, memories, r.end()
}

// export is an entry of the export section.
type export struct {
	name  string
	kind  byte // 0x00 func, 0x03 global
	index uint32
}

// addExports returns the export section body with added appended.
func addExports(body []byte, added []export) ([]byte, error) {
	r := &reader{b: body}
	n := uint32(0)
	if len(body) > 0 {
		n = r.u32()
	}
	for i := uint32(0); i < n && r.err == nil; i++ {
		name := string(r.bytes(r.u32()))
		for _, a := range added {
			if name == a.name {
				return nil, fmt.Errorf("the module already exports %q", name)
			}
		}
		if kind := r.byte(); kind > 0x03 {
			r.fail("export %d: unsupported export kind 0x%02x", i, kind)
		}
		r.u32()
	}
	if err := r.end(); err != nil {
		return nil, err
	}
	if uint64(n)+uint64(len(added)) > 1<<32-1 {
		return nil, errors.New("too many exports")
	}
	out := appendU32(make([]byte, 0, len(body)+60), n+uint32(len(added)))
	if len(body) > 0 {
		hr := &reader{b: body}
		hr.u32()
		out = append(out, body[hr.off:]...) // the existing exports after their count
	}
	for _, a := range added {
		out = appendName(out, a.name)
		out = appendU32(append(out, a.kind), a.index)
	}
	return out, nil
}

// instrumentCode rewrites every function body of a code section.
func instrumentCode(body, check, grow []byte) ([]byte, error) {
	r := &reader{b: body}
	n := r.u32()
	out := appendU32(make([]byte, 0, len(body)+len(body)/8+64), n)
	var fn []byte
	for i := uint32(0); i < n && r.err == nil; i++ {
		code := r.bytes(r.u32())
		if r.err != nil {
			break
		}
		var err error
		if fn, err = instrumentFunc(fn[:0], code, check, grow); err != nil {
			return nil, fmt.Errorf("function body %d: %w", i, err)
		}
		out = appendU32(out, uint32(len(fn)))
		out = append(out, fn...)
	}
	if err := r.end(); err != nil {
		return nil, err
	}
	return out, nil
}

// instrumentFunc appends code, with check inserted at its entry and after
// every loop header and every memory.grow replaced by grow, to out. It decodes
// every instruction so that it finds loop and memory.grow opcodes and never
// mistakes an immediate for one.
func instrumentFunc(out, code, check, grow []byte) ([]byte, error) {
	r := &reader{b: code}
	for n, i := r.u32(), uint32(0); i < n && r.err == nil; i++ {
		r.u32()
		r.valType()
	}
	if r.err != nil {
		return nil, fmt.Errorf("locals: %w", r.err)
	}
	out = append(out, code[:r.off]...)
	out = append(out, check...)
	last := r.off
	for depth := 1; depth > 0; {
		if r.off >= len(code) {
			return nil, errors.New("the body ends before its final end")
		}
		at := r.off
		switch op := r.byte(); op {
		case 0x03: // loop
			r.blockType()
			depth++
			out = append(out, code[last:r.off]...)
			out = append(out, check...)
			last = r.off
		case 0x02, 0x04: // block, if
			r.blockType()
			depth++
		case 0x0b: // end
			depth--
		case 0x40: // memory.grow
			r.zero()
			out = append(out, code[last:at]...)
			out = append(out, grow...)
			last = r.off
		default:
			r.immediates(op)
		}
		if r.err != nil {
			return nil, fmt.Errorf("instruction at byte %d: %w", at, r.err)
		}
	}
	if r.off != len(code) {
		return nil, fmt.Errorf("%d bytes after the body's final end", len(code)-r.off)
	}
	return append(out, code[last:]...), nil
}

// immediates skips the immediates of op, any instruction but block, loop, if
// and end (WebAssembly 2.0, binary format "Instructions").
func (r *reader) immediates(op byte) {
	switch {
	case op <= 0x01, op == 0x05, op == 0x0f, op == 0x1a, op == 0x1b, // unreachable nop else return drop select
		op >= 0x45 && op <= 0xc4, op == 0xd1: // numeric, ref.is_null
	case op == 0x0c, op == 0x0d, op == 0x10, // br br_if call
		op >= 0x20 && op <= 0x26, op == 0xd2: // local.* global.* table.get/set ref.func
		r.u32()
	case op == 0x0e: // br_table
		for n, i := r.u32(), uint32(0); i < n && r.err == nil; i++ {
			r.u32()
		}
		r.u32()
	case op == 0x11: // call_indirect: type, table
		r.u32()
		r.u32()
	case op == 0x1c: // select t*
		for n, i := r.u32(), uint32(0); i < n && r.err == nil; i++ {
			r.valType()
		}
	case op >= 0x28 && op <= 0x3e: // loads and stores
		r.memarg()
	case op == 0x3f, op == 0x40: // memory.size, memory.grow
		r.zero()
	case op == 0x41:
		r.leb(5)
	case op == 0x42:
		r.leb(10)
	case op == 0x43:
		r.bytes(4)
	case op == 0x44:
		r.bytes(8)
	case op == 0xd0: // ref.null t
		if t := r.byte(); t != 0x70 && t != 0x6f {
			r.fail("ref.null of type 0x%02x", t)
		}
	case op == 0xfc:
		r.miscImmediates(r.u32())
	case op == 0xfd:
		r.simdImmediates(r.u32())
	default:
		r.fail("unsupported opcode 0x%02x", op)
	}
}

// miscImmediates: the 0xFC prefix (saturating truncation, bulk memory, tables).
func (r *reader) miscImmediates(op uint32) {
	switch op {
	case 0, 1, 2, 3, 4, 5, 6, 7: // trunc_sat
	case 8: // memory.init data, 0x00
		r.u32()
		r.zero()
	case 9, 13, 15, 16, 17: // data.drop, elem.drop, table.grow/size/fill
		r.u32()
	case 10: // memory.copy 0x00 0x00
		r.zero()
		r.zero()
	case 11: // memory.fill 0x00
		r.zero()
	case 12, 14: // table.init elem table, table.copy table table
		r.u32()
		r.u32()
	default:
		r.fail("unsupported opcode 0xfc %d", op)
	}
}

// simdOps marks the 0xFD opcodes WebAssembly 2.0 assigns (0x00-0xFF but 20 gaps).
var simdOps = func() (ok [256]bool) {
	for i := range ok {
		ok[i] = true
	}
	for _, gap := range []byte{0x9a, 0xa2, 0xa5, 0xa6, 0xaf, 0xb0, 0xb2, 0xb3, 0xb4, 0xbb,
		0xc2, 0xc5, 0xc6, 0xcf, 0xd0, 0xd2, 0xd3, 0xd4, 0xe2, 0xee} {
		ok[gap] = false
	}
	return ok
}()

// simdImmediates: the 0xFD prefix (vector instructions).
func (r *reader) simdImmediates(op uint32) {
	switch {
	case op > 0xff || !simdOps[op]:
		r.fail("unsupported opcode 0xfd %d", op)
	case op <= 0x0b, op == 0x5c, op == 0x5d: // v128.load*, v128.store, load32/64_zero
		r.memarg()
	case op == 0x0c, op == 0x0d: // v128.const, i8x16.shuffle
		r.bytes(16)
	case op >= 0x15 && op <= 0x22: // extract_lane, replace_lane
		r.byte()
	case op >= 0x54 && op <= 0x5b: // load/store lane
		r.memarg()
		r.byte()
	}
}

// reader decodes a byte slice; its first error sticks and later reads return zero.
type reader struct {
	b   []byte
	off int
	err error
}

func (r *reader) fail(format string, args ...any) {
	if r.err == nil {
		r.err = fmt.Errorf(format, args...)
	}
}

func (r *reader) byte() byte {
	if r.err != nil {
		return 0
	}
	if r.off >= len(r.b) {
		r.fail("unexpected end at byte %d", r.off)
		return 0
	}
	r.off++
	return r.b[r.off-1]
}

func (r *reader) bytes(n uint32) []byte {
	if r.err != nil {
		return nil
	}
	if uint64(n) > uint64(len(r.b)-r.off) {
		r.fail("%d bytes at byte %d run past the end (%d)", n, r.off, len(r.b))
		return nil
	}
	r.off += int(n)
	return r.b[r.off-int(n) : r.off]
}

// leb skips a LEB128 number of at most max bytes and returns its low 64 bits
// and its sign-extended value.
func (r *reader) leb(max int) (u uint64, s int64) {
	var shift uint
	for i := 0; i < max; i++ {
		b := r.byte()
		if r.err != nil {
			return 0, 0
		}
		u |= uint64(b&0x7f) << shift
		shift += 7
		if b&0x80 == 0 {
			s = int64(u)
			if shift < 64 && b&0x40 != 0 {
				s |= -1 << shift
			}
			return u, s
		}
	}
	r.fail("LEB128 number longer than %d bytes at byte %d", max, r.off)
	return 0, 0
}

func (r *reader) u32() uint32 {
	u, _ := r.leb(5)
	if u > 1<<32-1 {
		r.fail("u32 out of range at byte %d", r.off)
	}
	return uint32(u)
}

func (r *reader) zero() {
	if b := r.byte(); b != 0 {
		r.fail("expected 0x00 (memory index), got 0x%02x", b)
	}
}

func (r *reader) valType() {
	if t := r.byte(); r.err == nil && !isValType(t) {
		r.fail("unsupported value type 0x%02x", t)
	}
}

// blockType: 0x40, a value type, or a type index as a non-negative s33.
func (r *reader) blockType() {
	if r.off < len(r.b) && (r.b[r.off] == 0x40 || isValType(r.b[r.off])) {
		r.off++
		return
	}
	if _, s := r.leb(5); s < 0 {
		r.fail("unsupported block type")
	}
}

func (r *reader) memarg() {
	r.u32() // align
	r.u32() // offset
}

func (r *reader) limits() {
	switch flags := r.byte(); flags {
	case 0x00:
		r.u32()
	case 0x01:
		r.u32()
		r.u32()
	default:
		r.fail("unsupported limits flags 0x%02x", flags)
	}
}

// end fails unless every byte was read.
func (r *reader) end() error {
	if r.err == nil && r.off != len(r.b) {
		r.fail("%d unexpected bytes at byte %d", len(r.b)-r.off, r.off)
	}
	return r.err
}

func appendU32(b []byte, v uint32) []byte {
	for v >= 0x80 {
		b = append(b, byte(v)|0x80)
		v >>= 7
	}
	return append(b, byte(v))
}

// appendS32 appends v as a signed LEB128 number (an i32.const immediate).
func appendS32(b []byte, v int32) []byte {
	for v < -64 || v >= 64 {
		b = append(b, byte(v)|0x80)
		v >>= 7
	}
	return append(b, byte(v)&0x7f)
}

func appendName(b []byte, name string) []byte {
	b = appendU32(b, uint32(len(name)))
	return append(b, name...)
}
