// Package gogc holds the garbage collector setting of the project's commands.
package gogc

import (
	"os"
	"runtime/debug"
)

// Percent is the collector target the commands use when GOGC is not set.
const Percent = 400

// Apply sets the collector's target to Percent unless the GOGC environment
// variable is set. A pipeline allocates about a frame per node per frame, and the
// Python proxy about two messages per request, over a live heap of a few MB: at
// Go's default 100% the collector then runs every few milliseconds
// (docs/scheduler.md).
func Apply() {
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(Percent)
	}
}
