package rm

import (
	"testing"

	"github.com/remotemedia/hybrid/core/frame"
)

// TestABINumbers: the SDK's frame kinds and sample formats are the host's.
func TestABINumbers(t *testing.T) {
	kinds := map[Kind]frame.Kind{KindAudio: frame.KindAudio, KindText: frame.KindText, KindJSON: frame.KindJSON, KindBinary: frame.KindBinary}
	for sdk, host := range kinds {
		if uint8(sdk) != uint8(host) {
			t.Errorf("kind %v: SDK %d, host %d", host, sdk, host)
		}
	}
	if uint8(F32) != uint8(frame.F32) || uint8(S16) != uint8(frame.S16) {
		t.Errorf("formats: SDK f32 %d s16 %d, host %d %d", F32, S16, frame.F32, frame.S16)
	}
}
