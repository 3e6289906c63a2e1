package wasmguard

import (
	"bytes"
	"errors"
	"testing"
)

// memoryModule is a module of one memory section with the given limits entry.
func memoryModule(limits ...byte) []byte {
	body := append([]byte{1}, limits...)
	return append([]byte("\x00asm\x01\x00\x00\x00\x05"), append([]byte{byte(len(body))}, body...)...)
}

func TestCapMemory(t *testing.T) {
	tests := []struct {
		name      string
		given     []byte
		expect    []byte
		expectErr error
	}{
		{name: "no maximum gets the cap", given: memoryModule(0, 1), expect: memoryModule(1, 1, 32)},
		{name: "a maximum over the cap is lowered", given: memoryModule(1, 1, 0x80, 0x02), expect: memoryModule(1, 1, 32)},
		{name: "a maximum under the cap is kept", given: memoryModule(1, 1, 8), expect: memoryModule(1, 1, 8)},
		{name: "a minimum over the cap", given: memoryModule(0, 33), expectErr: ErrMemoryMinimum},
		{name: "a shared memory", given: memoryModule(3, 1, 2), expectErr: ErrMemoryKind},
		{name: "truncated", given: memoryModule(1, 1), expectErr: ErrMalformed},
		{name: "not wasm", given: []byte("nope"), expectErr: ErrMalformed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := CapMemory(tt.given, 32)
			if !errors.Is(err, tt.expectErr) || (err == nil) != (tt.expectErr == nil) {
				t.Fatalf("error %v, want %v", err, tt.expectErr)
			}
			if !bytes.Equal(got, tt.expect) {
				t.Fatalf("got % x, want % x", got, tt.expect)
			}
		})
	}
}

func TestModuleImports(t *testing.T) {
	m := []byte("\x00asm\x01\x00\x00\x00" +
		"\x01\x06\x01\x60\x02\x7f\x7e\x00" + // type 0: (i32, i64) -> ()
		"\x02\x16\x02" + // two imports
		"\x02rm\x04emit\x00\x00" + // rm.emit: func type 0
		"\x03env\x03mem\x02\x00\x01") // env.mem: memory, min 1
	got, err := ModuleImports(m)
	if err != nil {
		t.Fatal(err)
	}
	want := []Import{
		{Module: "rm", Name: "emit", Kind: ImportFunc, Sig: Sig{Params: "\x7f\x7e"}, TypeOK: true},
		{Module: "env", Name: "mem", Kind: ImportMemory},
	}
	if len(got) != len(want) || got[0] != want[0] || got[1] != want[1] {
		t.Fatalf("got %+v, want %+v", got, want)
	}
}
