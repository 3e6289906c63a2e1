package rm

// The ABI's numbers (docs/wasm-abi.md). They are written here rather than taken
// from core/frame so that a guest module does not link the host's codec; abi_test.go
// checks that the two agree.

// Kind is a frame kind at the call boundary.
type Kind uint8

// Frame kinds.
const (
	KindAudio  Kind = 1
	KindText   Kind = 2
	KindJSON   Kind = 3
	KindBinary Kind = 4
)

// Format is an audio sample format.
type Format uint8

// Sample formats.
const (
	F32 Format = 1
	S16 Format = 2
)

// Log levels for Log.
const (
	LevelDebug = 0
	LevelInfo  = 1
	LevelWarn  = 2
	LevelError = 3
)
