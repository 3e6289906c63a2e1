package modules_test

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"math"
	"math/rand/v2"
	"os"
	"os/exec"
	"testing"

	"github.com/remotemedia/hybrid/wasm-modules/native"
)

type segment struct{ start, end float64 } // seconds

// bursts returns rate Hz mono audio of length sec: white noise at -60 dBFS plus a
// harmonic "voice" at about -20 dBFS during each segment.
func bursts(rate int, sec float64, segs []segment) []float32 {
	rng := rand.New(rand.NewPCG(1, 2))
	s := make([]float32, int(sec*float64(rate)))
	for i := range s {
		t := float64(i) / float64(rate)
		v := rng.NormFloat64() * 0.001
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

func runVADNative(t *testing.T, p native.VADParams, in []float32, rate, frame int, t0 int64) vadRun {
	v, err := native.NewVAD(p)
	if err != nil {
		t.Fatal(err)
	}
	var r vadRun
	v.OnEvent = func(e native.VADEvent) { r.events = append(r.events, e) }
	v.OnAudio = func(ts int64, s []float32) {
		r.audio = append(r.audio, output{header{Kind: 1, Format: 1, Channels: 1, Rate: uint32(rate), TS: ts}, append([]byte(nil), f32ToBytes(s)...)})
	}
	for i := 0; i < len(in); i += frame {
		n := min(frame, len(in)-i)
		v.Process(in[i:i+n], rate, 1, t0+int64(i)*1000000/int64(rate))
	}
	v.Flush()
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
		if math.Abs(e.DurationMS-(e.TimeMS-s.TimeMS)) > 1e-3 {
			t.Errorf("segment %d duration %.3f, want %.3f", i, e.DurationMS, e.TimeMS-s.TimeMS)
		}
	}
}

func TestVADSynthetic(t *testing.T) {
	const rate, t0 = 16000, 2_000_000
	truth := []segment{{0.50, 1.30}, {2.00, 2.60}, {3.40, 4.55}, {5.20, 6.00}} // the last runs to the end: flush ends it
	in := bursts(rate, 6.0, truth)
	for _, frame := range []int{320, 77, 1600} {
		r := runVADWASM(t, `{"threshold_db":9,"min_level_db":-50,"window_ms":10,"min_speech_ms":60,"hangover_ms":200,"gate":true}`, in, rate, frame, t0)
		checkSegments(t, r.events, truth, t0/1000, 0.1)
		// gated audio is the input from each speech start through the hangover
		n := 0
		for _, a := range r.audio {
			at := int((a.TS - t0) * rate / 1000000)
			got := a.f32()
			assertClose(t, "gated audio", got, in[at:at+len(got)], 0)
			n += len(got)
		}
		if speech := 3.35 * rate; float64(n) < speech || float64(n) > speech+4*0.25*rate {
			t.Errorf("frame %d: %d gated samples for %.0f of speech", frame, n, speech)
		}
		if first := r.audio[0]; math.Abs(float64(first.TS-t0)/1e6-0.5) > 0.011 {
			t.Errorf("gated audio starts at %d µs", first.TS)
		}
		nat := runVADNative(t, native.DefaultVADParams, in, rate, frame, t0)
		if len(nat.events) != len(r.events) || len(nat.audio) != len(r.audio) {
			t.Fatalf("native: %d events %d audio frames; wasm %d, %d", len(nat.events), len(nat.audio), len(r.events), len(r.audio))
		}
		for i, e := range nat.events {
			if g := r.events[i]; g.Event != e.Event || math.Abs(g.TimeMS-e.TimeMS) > 1e-3 || math.Abs(g.DurationMS-e.DurationMS) > 1e-3 {
				t.Errorf("event %d: wasm %+v, native %+v", i, g, e)
			}
		}
		for i, a := range nat.audio {
			if g := r.audio[i]; g.TS != a.TS || !bytes.Equal(g.Data, a.Data) {
				t.Errorf("audio frame %d differs from native (ts %d vs %d)", i, g.TS, a.TS)
			}
		}
	}
	// gate false: every frame unchanged, same events
	r := runVADWASM(t, `{"gate":false}`, in, rate, 320, t0)
	checkSegments(t, r.events, truth, t0/1000, 0.1)
	if len(r.audio) != len(in)/320 || r.audio[3].TS != t0+3*20000 || !bytes.Equal(r.audio[3].Data, f32ToBytes(in[960:1280])) {
		t.Errorf("gate false: %d audio frames", len(r.audio))
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
