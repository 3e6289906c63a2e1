package main

// The WebRTC round trip (e2e/webrtc_test.go, BenchmarkBrowserWebRTC, run by the
// e2e suite's -bench Browser): Chromium's fake microphone plays the speech WAV
// into remotemedia.js's connectWebRTC on loopback; page times from the speech
// onset heard on the microphone to the first speech_start on the data channel,
// and to the first returned audio above silence.
func init() {
	rows = append(rows,
		row{"browser WebRTC: speech onset at the microphone to the first speech_start event", "BenchmarkBrowserWebRTC", "onset-event-ms", 1, "ms", 0, true},
		row{"browser WebRTC: speech onset at the microphone to the returned speech audio", "BenchmarkBrowserWebRTC", "onset-audio-ms", 1, "ms", 0, true},
	)
}
