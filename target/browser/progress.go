//go:build js && wasm

package main

import (
	"syscall/js"
	"time"
)

// progressEvery is how often, in wall time, a long process run reports its
// progress and lets the page's event loop run (so the page can paint it).
const progressEvery = 100 * time.Millisecond

// withProgress wraps a source's read so that onProgress (a JavaScript
// function, or undefined for none) is called with (seconds read, seconds in
// all) at most every progressEvery, and then at the end. After each call the
// reader sleeps a millisecond: with every node goroutine waiting for input,
// the Go runtime hands the thread back to the event loop meanwhile.
func withProgress(read func([]float32) (int, error), totalFrames int64, rate, channels int, onProgress js.Value) func([]float32) (int, error) {
	if onProgress.Type() != js.TypeFunction || rate <= 0 || channels <= 0 {
		return read
	}
	var samples int64
	last := time.Now()
	total := float64(totalFrames) / float64(rate)
	return func(dst []float32) (int, error) {
		n, err := read(dst)
		samples += int64(n)
		if now := time.Now(); err != nil || now.Sub(last) >= progressEvery {
			last = now
			onProgress.Invoke(float64(samples/int64(channels))/float64(rate), total)
			if err == nil {
				time.Sleep(time.Millisecond)
			}
		}
		return n, err
	}
}
