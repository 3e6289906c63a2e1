package modules_test

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/remotemedia/hybrid/wasm-modules/native"
)

type segment struct{ start, end float64 } // seconds

// bursts returns rate Hz mono audio of length sec: white noise at -60 dBFS plus a
// harmonic "voice" at about -20 dBFS during each segment.
func bursts(rate int, sec float64, segs []segment) []float32 {
	return noisyBursts(rate, sec, segs, "white", 0.001)
}

// noisyBursts is bursts in white or pink noise of RMS noiseRMS.
func noisyBursts(rate int, sec float64, segs []segment, kind string, noiseRMS float64) []float32 {
	s := make([]float32, int(sec*float64(rate)))
	nz := noise(kind, len(s), 1)
	for i := range s {
		t := float64(i) / float64(rate)
		v := nz[i] * noiseRMS
		for _, g := range segs {
			if t >= g.start && t < g.end {
				for k := 1; k <= 5; k++ {
					v += 0.06 / float64(k) * math.Sin(2*math.Pi*160*float64(k)*t)
				}
			}
		}
		s[i] = float32(v)
	}
	return s
}

// noise returns n samples of unit-RMS white or pink noise (Paul Kellet's filter
// for pink), the same for the same seed.
func noise(kind string, n int, seed uint64) []float64 {
	rng := rand.New(rand.NewPCG(seed, 2))
	out := make([]float64, n)
	var b [7]float64
	var p float64
	for i := range out {
		w := rng.NormFloat64()
		if kind == "pink" {
			b[0] = 0.99886*b[0] + w*0.0555179
			b[1] = 0.99332*b[1] + w*0.0750759
			b[2] = 0.96900*b[2] + w*0.1538520
			b[3] = 0.86650*b[3] + w*0.3104856
			b[4] = 0.55000*b[4] + w*0.5329522
			b[5] = -0.7616*b[5] - w*0.0168980
			w, b[6] = b[0]+b[1]+b[2]+b[3]+b[4]+b[5]+b[6]+w*0.5362, w*0.115926
		}
		out[i] = w
		p += w * w
	}
	for i := range out {
		out[i] /= math.Sqrt(p / float64(n))
	}
	return out
}

type vadRun struct {
	events []native.VADEvent
	audio  []output
}

func runVADWASM(t *testing.T, params string, in []float32, rate, frame int, t0 int64) vadRun {
	h := newHarness(t, "vad.wasm", params)
	for i := 0; i < len(in); i += frame {
		n := min(frame, len(in)-i)
		h.sendF32(t, uint32(rate), 1, t0+int64(i)*1000000/int64(rate), in[i:i+n])
	}
	h.doFlush(t)
	var r vadRun
	for _, o := range h.take() {
		switch o.Port {
		case 0:
			r.audio = append(r.audio, o)
		case 1:
			var e native.VADEvent
			if err := json.Unmarshal(o.Data, &e); err != nil || o.Kind != 3 {
				t.Fatalf("event %q (kind %d): %v", o.Data, o.Kind, err)
			}
			r.events = append(r.events, e)
		default:
			t.Fatalf("output on port %d", o.Port)
		}
	}
	return r
}

// checkSegments asserts events alternate start/end and match truth within tol seconds.
func checkSegments(t *testing.T, events []native.VADEvent, truth []segment, t0ms, tol float64) {
	t.Helper()
	if len(events) != 2*len(truth) {
		t.Fatalf("events %+v, want %d segments %+v", events, len(truth), truth)
	}
	for i, g := range truth {
		s, e := events[2*i], events[2*i+1]
		if s.Event != "speech_start" || e.Event != "speech_end" {
			t.Fatalf("events %+v", events)
		}
		if d := math.Abs((s.TimeMS-t0ms)/1000 - g.start); d > tol {
			t.Errorf("segment %d starts at %.3f s, truth %.3f s", i, (s.TimeMS-t0ms)/1000, g.start)
		}
		if d := math.Abs((e.TimeMS-t0ms)/1000 - g.end); d > tol {
			t.Errorf("segment %d ends at %.3f s, truth %.3f s", i, (e.TimeMS-t0ms)/1000, g.end)
		}
		if math.Abs(e.DurationMS-(e.TimeMS-s.TimeMS)) > 2e-3 { // each rounded to 1 µs
			t.Errorf("segment %d duration %.3f, want %.3f", i, e.DurationMS, e.TimeMS-s.TimeMS)
		}
	}
}

func TestVADSynthetic(t *testing.T) {
	const rate, t0 = 16000, 2_000_000
	truth := []segment{{0.50, 1.30}, {2.00, 2.60}, {3.40, 4.55}, {5.20, 6.00}} // the last runs to the end: flush ends it
	in := bursts(rate, 6.0, truth)
	var first vadRun
	for _, frame := range []int{320, 77, 1600} {
		r := runVADWASM(t, `{"mode":1,"min_level_db":-60,"window_ms":10,"min_speech_ms":60,"hangover_ms":200,"pad_ms":30,"gate":true}`, in, rate, frame, t0)
		checkSegments(t, r.events, truth, t0/1000, 0.05)
		// gated audio is the input from pad_ms before each speech start through the hangover
		n := 0
		for _, a := range r.audio {
			at := int(math.Round(float64(a.TS-t0) * rate / 1e6)) // the test's timestamps are truncated to the µs
			got := a.f32()
			assertClose(t, "gated audio", got, in[at:at+len(got)], 0)
			n += len(got)
		}
		if speech := 3.35 * rate; float64(n) < speech || float64(n) > speech+4*0.3*rate {
			t.Errorf("frame %d: %d gated samples for %.0f of speech", frame, n, speech)
		}
		if start := float64(r.audio[0].TS-t0) / 1e6; math.Abs(start-(r.events[0].TimeMS-t0/1000)/1000+0.030) > 1e-3 {
			t.Errorf("gated audio starts at %.4f s, speech_start at %.4f s: want pad_ms 30 before it", start, r.events[0].TimeMS/1000-t0/1e6)
		}
		// the frames the audio comes in change nothing but how the gated audio is cut
		if frame == 320 {
			first = r
			continue
		}
		if len(r.events) != len(first.events) {
			t.Fatalf("frame %d: %d events, %d with 320-sample frames", frame, len(r.events), len(first.events))
		}
		for i, e := range r.events {
			if f := first.events[i]; f.Event != e.Event || math.Abs(f.TimeMS-e.TimeMS) > 1e-3 || math.Abs(f.DurationMS-e.DurationMS) > 1e-3 {
				t.Errorf("frame %d: event %d %+v, with 320-sample frames %+v", frame, i, e, f)
			}
		}
	}
	// gate false: every frame unchanged, same events
	r := runVADWASM(t, `{"gate":false}`, in, rate, 320, t0)
	checkSegments(t, r.events, truth, t0/1000, 0.05)
	if len(r.audio) != len(in)/320 || r.audio[3].TS != t0+3*20000 || !bytes.Equal(r.audio[3].Data, f32ToBytes(in[960:1280])) {
		t.Errorf("gate false: %d audio frames", len(r.audio))
	}
}

// TestVADEventFields checks the fields of each kind of event.
func TestVADEventFields(t *testing.T) {
	const rate = 16000
	in := bursts(rate, 3, []segment{{1, 2}})
	h := newHarness(t, "vad.wasm", `{"frame_events":true,"window_ms":20}`)
	for i := 0; i < len(in); i += 320 {
		h.sendF32(t, rate, 1, int64(i)*1e6/rate, in[i:i+320])
	}
	h.doFlush(t)
	type event struct {
		Event         string
		TimeMS        float64 `json:"time_ms"`
		HasSpeech     *bool   `json:"has_speech"`
		Probability   *float64
		IsSpeechStart *bool `json:"is_speech_start"`
		IsSpeechEndV  *bool `json:"is_speech_end"`
	}
	var frames, speechFrames, likely int
	var kinds []string
	for _, o := range h.take() {
		if o.Port != 1 {
			continue
		}
		var e event
		if err := json.Unmarshal(o.Data, &e); err != nil || e.HasSpeech == nil || e.Probability == nil || e.IsSpeechStart == nil || e.IsSpeechEndV == nil {
			t.Fatalf("event %s: %v", o.Data, err)
		}
		if p := *e.Probability; p < 0 || p > 1 {
			t.Errorf("event %s: probability out of [0, 1]", o.Data)
		}
		switch e.Event {
		case "frame":
			if math.Mod(e.TimeMS, 20) != 0 {
				t.Errorf("frame event at %v ms: want a multiple of window_ms 20", e.TimeMS)
			}
			frames++
			if *e.HasSpeech {
				speechFrames++
			}
			if *e.Probability >= 0.5 {
				likely++
				if !*e.HasSpeech && e.TimeMS > 1000 {
					t.Errorf("frame %s: probable speech outside the segment", o.Data)
				}
			}
		case "speech_start":
			kinds = append(kinds, e.Event)
			if !*e.HasSpeech || !*e.IsSpeechStart || *e.IsSpeechEndV || *e.Probability < 0.5 {
				t.Errorf("speech_start %s", o.Data)
			}
		case "speech_end":
			kinds = append(kinds, e.Event)
			if *e.HasSpeech || *e.IsSpeechStart || !*e.IsSpeechEndV {
				t.Errorf("speech_end %s", o.Data)
			}
		default:
			t.Errorf("event %s", o.Data)
		}
	}
	// 1 s of speech: 50 frames of 20 ms, then the 200 ms hangover; min_speech_ms (60) delays has_speech by 2 frames
	if frames != 150 || likely < 48 || likely > 53 || speechFrames < 56 || speechFrames > 62 || len(kinds) != 2 {
		t.Errorf("%d frame events, %d of probable speech, %d in speech, then %v; want 150, about 50, about 58, one speech_start and one speech_end",
			frames, likely, speechFrames, kinds)
	}
}

// TestVADNoise checks the defaults in white and pink noise: at 5 and 0 dB SNR the
// segments are found; noise alone, at any level and after a 20 dB step, is no speech
// once the first second has trained the noise model. (The "voice" is a steady tone:
// after about a second unchanged a sound joins the noise model, so no segment is longer.)
func TestVADNoise(t *testing.T) {
	const rate = 16000
	truth := []segment{{1.5, 2.5}, {3.5, 4.2}, {5.0, 5.9}}
	voice := 0.06 * math.Sqrt((1+0.25+1.0/9+1.0/16+1.0/25)/2) // RMS of the harmonic voice
	for _, kind := range []string{"white", "pink"} {
		for _, snr := range []float64{5, 0} {
			in := noisyBursts(rate, 7, truth, kind, voice/math.Pow(10, snr/20))
			r := runVADWASM(t, `{}`, in, rate, 320, 0)
			t.Logf("%s %g dB: %+v", kind, snr, r.events)
			checkSegments(t, r.events, truth, 0, 0.1)
		}
		for _, rms := range []float64{0.3, 0.01, 1e-4} {
			in := noisyBursts(rate, 6, nil, kind, rms)
			for i := len(in) / 2; i < len(in); i++ { // 20 dB louder half way
				in[i] *= 10
			}
			r := runVADWASM(t, `{}`, in, rate, 320, 0)
			for _, e := range r.events {
				if e.Event == "speech_start" && (e.TimeMS > 4000 || e.TimeMS < 3000 && e.TimeMS > 1000) {
					t.Errorf("%s noise at RMS %g (then 20 dB more at 3 s): speech_start at %.0f ms", kind, rms, e.TimeMS)
				}
			}
		}
	}
}

// TestVADRates runs the detector at other rates, channel counts and decision frames.
func TestVADRates(t *testing.T) {
	truth := []segment{{1.0, 2.0}, {2.8, 3.5}}
	for _, c := range []struct {
		rate, channels int
		params         string
	}{
		{8000, 1, `{}`}, {11025, 1, `{"window_ms":30}`}, {22050, 1, `{}`}, {44100, 2, `{"window_ms":20}`}, {48000, 1, `{"window_ms":30}`}, {48000, 2, `{}`},
	} {
		mono := noisyBursts(c.rate, 4.5, truth, "pink", 0.01)
		in := make([]float32, 0, len(mono)*c.channels)
		for _, v := range mono {
			for range c.channels {
				in = append(in, v)
			}
		}
		h := newHarness(t, "vad.wasm", c.params)
		frame := c.rate / 50 * c.channels
		for i := 0; i < len(in); i += frame {
			n := min(frame, len(in)-i)
			h.sendF32(t, uint32(c.rate), uint16(c.channels), int64(i/c.channels)*1e6/int64(c.rate), in[i:i+n])
		}
		h.doFlush(t)
		var events []native.VADEvent
		var gated int
		for _, o := range h.take() {
			if o.Port == 0 {
				if o.Rate != uint32(c.rate) || o.Channels != uint16(c.channels) {
					t.Errorf("%d Hz %d channels: gated audio at %d Hz %d channels", c.rate, c.channels, o.Rate, o.Channels)
				}
				gated += len(o.Data) / 4 / c.channels
				continue
			}
			var e native.VADEvent
			if err := json.Unmarshal(o.Data, &e); err != nil {
				t.Fatal(err)
			}
			events = append(events, e)
		}
		t.Logf("%d Hz x%d %s: %+v", c.rate, c.channels, c.params, events)
		checkSegments(t, events, truth, 0, 0.1)
		if want := 1.7 * float64(c.rate); float64(gated) < want || float64(gated) > want+0.6*float64(c.rate) {
			t.Errorf("%d Hz: %d gated frames for %.0f of speech", c.rate, gated, want)
		}
	}
}

// TestVADBadInput checks the errors of rates out of range.
func TestVADBadInput(t *testing.T) {
	h := newHarness(t, "vad.wasm", `{}`)
	for _, rate := range []uint32{4000, 96000} {
		err := h.send(t, header{Kind: 1, Format: 1, Channels: 1, Rate: rate}, f32ToBytes(make([]float32, 160)))
		if err == nil || !strings.Contains(err.Error(), "sample_rate must be 8000 to 48000 Hz") {
			t.Errorf("%d Hz: %v", rate, err)
		}
	}
}

// espeak returns espeak-ng's rendering of text as mono f32 at its rate.
func espeak(t *testing.T, text string) ([]float32, int) {
	out, err := exec.Command("espeak-ng", "--stdout", text).Output()
	if err != nil {
		if os.Getenv("CI") != "" { // the test command builds and installs it: a skip would hide a failure
			t.Fatalf("espeak-ng: %v", err)
		}
		t.Skipf("espeak-ng: %v", err)
	}
	// RIFF: find "fmt " for the rate and "data" for the samples.
	rate, i := 0, 12
	for i+8 <= len(out) {
		id, n := string(out[i:i+4]), int(binary.LittleEndian.Uint32(out[i+4:]))
		if id == "fmt " {
			rate = int(binary.LittleEndian.Uint32(out[i+12:]))
		}
		if id == "data" {
			body := out[i+8:]
			if n <= len(body) {
				body = body[:n]
			}
			s := make([]float32, len(body)/2)
			for k := range s {
				s[k] = float32(int16(binary.LittleEndian.Uint16(body[2*k:]))) / 32768
			}
			return s, rate
		}
		i += 8 + n + n%2
	}
	t.Fatal("espeak-ng: no data chunk")
	return nil, 0
}

func TestVADSpeech(t *testing.T) {
	u1, rate := espeak(t, "Hello there, this is a test of the detector.")
	u2, _ := espeak(t, "And this is the second sentence.")
	trim := func(s []float32) []float32 { // truth: first and last sample above -40 dBFS
		a, b := 0, len(s)
		for a < b && math.Abs(float64(s[a])) < 0.01 {
			a++
		}
		for b > a && math.Abs(float64(s[b-1])) < 0.01 {
			b--
		}
		return s[a:b]
	}
	u1, u2 = trim(u1), trim(u2)
	gap := rate // 1 s
	in := bursts(rate, float64(3*gap+len(u1)+len(u2))/float64(rate), nil)
	for i, v := range u1 {
		in[gap+i] += v
	}
	for i, v := range u2 {
		in[2*gap+len(u1)+i] += v
	}
	sec := func(n int) float64 { return float64(n) / float64(rate) }
	truth := []segment{{1, sec(gap + len(u1))}, {sec(2*gap + len(u1)), sec(2*gap + len(u1) + len(u2))}}
	r := runVADWASM(t, `{}`, in, rate, rate/50, 0)
	t.Logf("truth %v, events %+v", truth, r.events)
	checkSegments(t, r.events, truth, 0, 0.1)
}

// runVADNative runs native.VAD as runVADWASM runs the module.
func runVADNative(t *testing.T, p native.VADParams, in []float32, rate, frame int, t0 int64) []native.VADEvent {
	t.Helper()
	v, err := native.NewVAD(p)
	if err != nil {
		t.Fatal(err)
	}
	var events []native.VADEvent
	v.OnAudio, v.OnEvent = func(int64, []float32) {}, func(e native.VADEvent) { events = append(events, e) }
	for i := 0; i < len(in); i += frame {
		n := min(frame, len(in)-i)
		if err := v.Process(in[i:i+n], rate, 1, t0+int64(i)*1000000/int64(rate)); err != nil {
			t.Fatal(err)
		}
	}
	v.Flush()
	return events
}

// TestVADNativeAgrees: the Go reference (native.VAD, the "native" benchmark rows)
// gives the module's events: the same speech_start and speech_end at the same
// times, and per-frame probabilities within 0.01 (its FFT sums in another order).
func TestVADNativeAgrees(t *testing.T) {
	segs := []segment{{0.6, 1.5}, {2.1, 2.5}, {3.2, 4.4}}
	for _, c := range []struct {
		name  string
		in    []float32
		rate  int
		mode  int
		frame int
	}{
		{"white 16k", noisyBursts(16000, 5, segs, "white", 0.02), 16000, 1, 320},
		{"pink 16k mode 3", noisyBursts(16000, 5, segs, "pink", 0.03), 16000, 3, 160},
		{"white 8k", noisyBursts(8000, 5, segs, "white", 0.02), 8000, 1, 160},
		{"pink 48k", noisyBursts(48000, 5, segs, "pink", 0.02), 48000, 0, 960},
	} {
		t.Run(c.name, func(t *testing.T) {
			p := native.DefaultVADParams
			p.Mode, p.FrameEvents = c.mode, true
			want := runVADWASM(t, fmt.Sprintf(`{"mode":%d,"frame_events":true}`, c.mode), c.in, c.rate, c.frame, 1000).events
			got := runVADNative(t, p, c.in, c.rate, c.frame, 1000)
			if len(got) != len(want) {
				t.Fatalf("%d events from native.VAD, %d from the module", len(got), len(want))
			}
			boundaries := 0
			for i := range want {
				w, g := want[i], got[i]
				if g.Event != w.Event || math.Abs(g.TimeMS-w.TimeMS) > 1e-3 || g.HasSpeech != w.HasSpeech ||
					math.Abs(g.Probability-w.Probability) > 0.01 || g.IsSpeechStart != w.IsSpeechStart || g.IsSpeechEnd != w.IsSpeechEnd ||
					math.Abs(g.DurationMS-w.DurationMS) > 1e-3 {
					t.Fatalf("event %d: native %+v, module %+v", i, g, w)
				}
				if w.Event != "frame" {
					boundaries++
				}
			}
			if boundaries != 2*len(segs) {
				t.Errorf("%d speech_start/speech_end events, want %d", boundaries, 2*len(segs))
			}
		})
	}
}
