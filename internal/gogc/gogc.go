// Package gogc holds the garbage collector setting of the project's commands.
package gogc

import (
	"os"
	"runtime/debug"
)

// Percent is the collector target the commands use when GOGC is not set.
const Percent = 400

// ServePercent is the collector target of `remotemedia serve`, a long-running
// server whose live heap (tens of MB: its sessions, its offered modules) makes
// Go's default 100% headroom large enough that the collector runs seldom,
// where 400% would hold four times the live heap in garbage, most of a live
// session's resident memory (docs/server.md, "Memory").
const ServePercent = 100

// Apply sets the collector's target to percent unless the GOGC environment
// variable is set. A pipeline allocates about a frame per node per frame, and the
// Python proxy about two messages per request, over a live heap of a few MB: at
// Go's default 100% the collector then runs every few milliseconds
// (docs/scheduler.md), so the one-shot commands and the proxy use Percent.
func Apply(percent int) {
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(percent)
	}
}
