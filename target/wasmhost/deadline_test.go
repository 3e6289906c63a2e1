//go:build !js

package wasmhost

import (
	"fmt"
	"runtime/debug"
	"testing"
	"time"
)

// SpinLimit bounds how long a test waits for a call into a guest that spins
// (loop.c, callloop.wat, simd.wat): the host stops such a call at its deadline,
// well under a second in every test.
const SpinLimit = 10 * time.Second

// ReturnsWithin runs call (a call into a guest that spins until the host stops
// it) and returns its result. When the call has not returned within SpinLimit
// (or half the time left before the test binary's -timeout), the guest has no
// safe point the host can stop it at: the goroutine running it can never be
// stopped again and would hold up the next garbage collection forever, so
// ReturnsWithin ends the test binary at once with a panic naming the test,
// instead of letting it hang until go test's timeout. The collector is off
// while it waits, so that a stop-the-world stuck behind the guest cannot stop
// its timer too.
func ReturnsWithin[T any](tb testing.TB, what string, call func() T) T {
	tb.Helper()
	limit := SpinLimit
	if d, ok := tb.(interface{ Deadline() (time.Time, bool) }); ok {
		if deadline, ok := d.Deadline(); ok {
			limit = min(limit, time.Until(deadline)/2)
		}
	}
	gc := debug.SetGCPercent(-1)
	done := make(chan T, 1)
	go func() { done <- call() }()
	timer := time.NewTimer(limit)
	select {
	case v := <-done:
		timer.Stop()
		debug.SetGCPercent(gc)
		return v
	case <-timer.C:
		// No deferred clean-up: a stop-the-world (SetGCPercent's too) would wait for the guest.
		panic(fmt.Sprintf("%s: %s has not returned after %v: the guest spins with no safe point the host can stop it at",
			tb.Name(), what, limit))
	}
}
