package live

import (
	"testing"

	"github.com/remotemedia/hybrid/core/node"
)

// Exported for the external tests.
var (
	TestRegistryOf = func() *node.Registry { return testRegistry }
	SpeechLike     = speechLike
	WAVBytes       = func(t *testing.T, samples []float32, rate, channels int) []byte {
		return wavBytes(t, samples, rate, channels)
	}
)
