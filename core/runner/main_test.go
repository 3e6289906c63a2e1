package runner

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain fails the package's tests if any goroutine a run started (the feed,
// a session's nodes) is still there at the end. Under GOOS=js the runtime keeps
// a goroutine of its own for JavaScript events.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m, goleak.IgnoreAnyFunction("runtime.handleEvent"))
}
