package wasmhost

// Helpers to build module bytes in tests (WebAssembly 2.0, binary format "Modules").

const (
	secMemory = 5
	secExport = 7
	secCode   = 10
)

func appendU32(b []byte, v uint32) []byte {
	for v >= 0x80 {
		b = append(b, byte(v)|0x80)
		v >>= 7
	}
	return append(b, byte(v))
}

func appendName(b []byte, name string) []byte {
	b = appendU32(b, uint32(len(name)))
	return append(b, name...)
}
