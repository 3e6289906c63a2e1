package modules_test

import (
	"encoding/json"
	"math"
	"testing"
)

type levelEvent struct {
	Event      string  `json:"event"`
	TimeMS     float64 `json:"time_ms"`
	RMSDB      float64 `json:"rms_db"`
	PeakDB     float64 `json:"peak_db"`
	Clipped    int     `json:"clipped"`
	DurationMS float64 `json:"duration_ms"`
}

// runFrames sends in (interleaved) through h in frames of `size` sample frames
// with their timestamps, flushes, and returns the audio of port 0 and the JSON
// events of port 1.
func runFrames(t *testing.T, h *harness, in []float32, rate, channels, size int) ([]float32, []levelEvent) {
	t.Helper()
	var audio []float32
	var events []levelEvent
	collect := func() {
		for _, o := range h.take() {
			switch o.Port {
			case 0:
				audio = append(audio, o.f32()...)
			case 1:
				var e levelEvent
				if o.Kind != 3 {
					t.Fatalf("port 1 frame of kind %d", o.Kind)
				}
				if err := json.Unmarshal(o.Data, &e); err != nil {
					t.Fatalf("event %q: %v", o.Data, err)
				}
				events = append(events, e)
			}
		}
	}
	for i := 0; i < len(in)/channels; i += size {
		n := min(size, len(in)/channels-i)
		h.sendF32(t, uint32(rate), uint16(channels), int64(i)*1000000/int64(rate), in[i*channels:(i+n)*channels])
		collect()
	}
	h.doFlush(t)
	collect()
	return audio, events
}

func TestLevelMonitor(t *testing.T) {
	const rate = 48000
	// 300 ms of a 1 kHz sine at 0.5, 700 ms of silence, 300 ms of a sine at 1.2 clipped to ±1.
	var in []float32
	in = append(in, sine(rate*3/10, 1, rate, 1000, 0.5)...)
	in = append(in, make([]float32, rate*7/10)...)
	loud := sine(rate*3/10, 1, rate, 1000, 1.2)
	clippedPerWindow := 0
	for i, v := range loud {
		loud[i] = max(-1, min(1, v))
		if i < rate/10 && math.Abs(float64(loud[i])) >= 0.999 {
			clippedPerWindow++
		}
	}
	in = append(in, loud...)
	h := newHarness(t, "level.wasm", `{"window_ms":100,"silence_db":-60,"silence_ms":300}`)
	audio, events := runFrames(t, h, in, rate, 1, 960)
	assertClose(t, "pass-through", audio, in, 0)

	var levels, other []levelEvent
	for _, e := range events {
		if e.Event == "level" {
			levels = append(levels, e)
		} else {
			other = append(other, e)
		}
	}
	if len(levels) != 13 {
		t.Fatalf("%d level events, want 13 (100 ms windows of 1.3 s): %+v", len(levels), levels)
	}
	clippedRMS := 0.0
	for _, v := range loud[:rate/10] {
		clippedRMS += float64(v) * float64(v)
	}
	clippedRMS = 10 * math.Log10(clippedRMS/float64(rate/10))
	for i, e := range levels {
		var rms, peak float64
		clipped := 0
		switch {
		case i < 3:
			rms, peak = 20*math.Log10(0.5/math.Sqrt2), 20*math.Log10(0.5)
		case i < 10:
			rms, peak = -120, -120
		default:
			rms, peak, clipped = clippedRMS, 0, clippedPerWindow
		}
		if e.TimeMS != float64(100*i) || math.Abs(e.RMSDB-rms) > 0.01 || math.Abs(e.PeakDB-peak) > 0.01 || e.Clipped != clipped {
			t.Errorf("window %d: %+v, want time %d ms, rms %.2f dB, peak %.2f dB, %d clipped", i, e, 100*i, rms, peak, clipped)
		}
	}
	if clippedPerWindow < 1000 {
		t.Fatalf("the test signal clips only %d samples per window", clippedPerWindow)
	}
	want := []levelEvent{{Event: "silence_start", TimeMS: 300}, {Event: "silence_end", TimeMS: 1000, DurationMS: 700}}
	if len(other) != 2 || other[0] != want[0] || other[1] != want[1] {
		t.Errorf("silence events %+v, want %+v", other, want)
	}
}

func TestLevelMonitorStereoAndOptions(t *testing.T) {
	// Stereo, ragged frames: one window's level covers both channels (0.5 and 0.25 sines).
	in := sine(16000, 2, 16000, 500, 0.5)
	for i := 1; i < len(in); i += 2 {
		in[i] /= 2
	}
	h := newHarness(t, "level.wasm", `{"window_ms":250,"levels":true}`)
	_, events := runFrames(t, h, in, 16000, 2, 333)
	if len(events) != 4 {
		t.Fatalf("events %+v, want 4 windows", events)
	}
	rms := 10 * math.Log10((0.125+0.125/4)/2)
	for _, e := range events {
		if math.Abs(e.RMSDB-rms) > 0.01 || math.Abs(e.PeakDB-20*math.Log10(0.5)) > 0.01 {
			t.Errorf("%+v, want rms %.2f dB, peak -6.02 dB", e, rms)
		}
	}
	// levels false: only clipping windows and silence events.
	h = newHarness(t, "level.wasm", `{"window_ms":100,"levels":false,"silence_ms":0}`)
	sig := append(make([]float32, 4800), sine(4800, 1, 48000, 1000, 1)...)
	_, events = runFrames(t, h, sig, 48000, 1, 960)
	if len(events) != 3 || events[0].Event != "silence_start" || events[1].Event != "level" || events[1].Clipped != 200 || events[2].Event != "silence_end" {
		t.Errorf("events %+v, want silence_start, one level with 200 clipped samples (sin = ±1 twice a period), silence_end", events)
	}
	for _, p := range []string{`{"window_ms":0}`, `{"clip_level":0}`, `{"silence_ms":-1}`} {
		if _, err := newHarnessErr(t, "level.wasm", p); err == nil {
			t.Errorf("%s accepted", p)
		}
	}
}
