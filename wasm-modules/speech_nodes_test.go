package modules_test

import (
	"math"
	"math/rand/v2"
	"testing"
)

// The monitor, filter and gate on espeak-ng speech: two sentences with a second
// of digital silence between them (speech16k adds 0.25 s before, 0.33 s after).

func twoSentences(t *testing.T) (audio []float32, gapFrom, gapTo int) {
	a := speech16k(t, "Level meters watch this sentence.")
	b := speech16k(t, "And then this one.")
	gapFrom = len(a)
	audio = append(append(a, make([]float32, 16000)...), b...)
	return audio, gapFrom, gapFrom + 16000
}

func TestLevelOnSpeech(t *testing.T) {
	audio, gapFrom, gapTo := twoSentences(t)
	h := newHarness(t, "level.wasm", `{"window_ms":50,"silence_db":-60,"silence_ms":300}`)
	_, events := runFrames(t, h, audio, 16000, 1, 320)
	var silences [][2]float64 // start, end in ms (end 0: open)
	loudest := -200.0
	for _, e := range events {
		switch e.Event {
		case "silence_start":
			silences = append(silences, [2]float64{e.TimeMS, 0})
		case "silence_end":
			silences[len(silences)-1][1] = e.TimeMS
			if d := e.TimeMS - silences[len(silences)-1][0]; math.Abs(d-e.DurationMS) > 1e-6 {
				t.Errorf("silence_end %+v: duration %.3f, want %.3f", e, e.DurationMS, d)
			}
		case "level":
			loudest = max(loudest, e.PeakDB)
			if e.Clipped != 0 {
				t.Errorf("espeak's speech clipped: %+v", e)
			}
		}
	}
	t.Logf("silences %v ms; loudest peak %.1f dBFS", silences, loudest)
	// The gap between the sentences is found: it starts at most one window after
	// the first sentence's audio ends (espeak's own trailing silence may come first)
	// and ends within a window of the second's start (plus its leading silence).
	gapStart, gapEnd := float64(gapFrom)/16, float64(gapTo)/16
	found := false
	for _, s := range silences {
		if s[0] <= gapStart && s[1] >= gapEnd-50 && s[1] <= gapEnd+600 {
			found = true
		}
	}
	if !found {
		t.Errorf("no silence spanning the gap %.0f-%.0f ms in %v", gapStart, gapEnd, silences)
	}
	if loudest < -20 || loudest > 0 {
		t.Errorf("loudest peak %.1f dBFS, want speech level", loudest)
	}
}

func TestHighpassOnSpeech(t *testing.T) {
	audio, _, _ := twoSentences(t)
	withDC := make([]float32, len(audio))
	for i, v := range audio {
		withDC[i] = v + 0.2
	}
	y, _ := runFrames(t, newHarness(t, "highpass.wasm", `{"cutoff_hz":60}`), audio, 16000, 1, 320)
	yDC, _ := runFrames(t, newHarness(t, "highpass.wasm", `{"cutoff_hz":60}`), withDC, 16000, 1, 320)
	// The filter is linear: what the DC leaves after it is the difference, which
	// must have died out after half a second.
	worst := 0.0
	for i := 8000; i < len(y); i++ {
		worst = max(worst, math.Abs(float64(yDC[i]-y[i])))
	}
	if worst > 1e-4 {
		t.Errorf("the 0.2 DC offset leaves %.2g after 0.5 s", worst)
	}
	// Speech (well above 60 Hz) keeps its energy: within 0.5 dB.
	var ein, eout float64
	for i := range audio {
		ein += float64(audio[i]) * float64(audio[i])
		eout += float64(y[i]) * float64(y[i])
	}
	if d := 10 * math.Log10(eout/ein); math.Abs(d) > 0.5 {
		t.Errorf("speech energy changed by %.2f dB", d)
	}
}

func TestNoiseGateOnSpeech(t *testing.T) {
	audio, gapFrom, gapTo := twoSentences(t)
	rng := rand.New(rand.NewPCG(5, 6))
	noisy := make([]float32, len(audio))
	for i, v := range audio {
		noisy[i] = v + float32((rng.Float64()*2-1)*0.001) // noise peaks at -60 dBFS
	}
	y, _ := runFrames(t, newHarness(t, "noise_gate.wasm", `{"threshold_db":-40}`), noisy, 16000, 1, 320)
	// In the middle of the gap the gate is closed: the noise is 80 dB down.
	for i := gapFrom + 4000; i < gapTo-4000; i++ {
		if math.Abs(float64(y[i])) > 0.001*1e-4*1.01 {
			t.Fatalf("sample %d in the gap: %g, want the noise 80 dB down", i, y[i])
		}
	}
	// The speech passes: at least 99.9% of its energy.
	var ein, eout float64
	for i := range audio {
		ein += float64(noisy[i]) * float64(noisy[i])
		eout += float64(y[i]) * float64(y[i])
	}
	if eout/ein < 0.999 {
		t.Errorf("the gate kept %.4f of the energy", eout/ein)
	}
}
