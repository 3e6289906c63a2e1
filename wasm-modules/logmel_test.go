package modules_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"math"
	"os"
	"os/exec"
	"testing"
	"time"
)

// speech16k is espeak-ng speaking text with silence around it, at 16 kHz (resampled
// from espeak's 22.05 kHz by resample.wasm, best quality).
func speech16k(t *testing.T, text string) []float32 {
	t.Helper()
	out, err := exec.Command("espeak-ng", "-s", "150", "--stdout", text).Output()
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("espeak-ng: %v", err)
		}
		t.Skipf("espeak-ng: %v", err)
	}
	rate, i := 0, 12
	var s []float32
	for i+8 <= len(out) && s == nil {
		id, n := string(out[i:i+4]), int(binary.LittleEndian.Uint32(out[i+4:]))
		if id == "fmt " {
			rate = int(binary.LittleEndian.Uint32(out[i+12:]))
		}
		if id == "data" {
			body := out[i+8:]
			if n <= len(body) {
				body = body[:n]
			}
			s = make([]float32, len(body)/2)
			for k := range s {
				s[k] = float32(int16(binary.LittleEndian.Uint16(body[2*k:]))) / 32768
			}
		}
		i += 8 + n + n%2
	}
	if s == nil || rate == 0 {
		t.Fatal("espeak-ng: no fmt or data chunk")
	}
	s = append(append(make([]float32, rate/4), s...), make([]float32, rate/3)...)
	return wasmResampler("best")(t, s, rate, 16000)
}

// logmelRef runs pyproxy/python/scripts/whisper_logmel_ref.py on audio; it returns
// [frames][n_mels] flattened.
func logmelRef(t *testing.T, audio []float32, nMels int, mode string) []float32 {
	t.Helper()
	py := os.Getenv("REMOTEMEDIA_PYTHON")
	if py == "" {
		py = "../.venv/bin/python"
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, py, "../pyproxy/python/scripts/whisper_logmel_ref.py", fmt.Sprint(nMels), mode)
	cmd.Stdin = bytes.NewReader(f32ToBytes(audio))
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		if _, statErr := os.Stat(py); statErr != nil && os.Getenv("CI") == "" {
			t.Skipf("no Python venv at %s: %v", py, statErr)
		}
		t.Fatalf("whisper_logmel_ref.py %d %s: %v\n%s", nMels, mode, err, stderr.Bytes())
	}
	return bytesToF32(out)
}

// logmelWASM runs logmel.wasm over audio in frames of `size` samples and
// returns its rows flattened, checking every output header.
func logmelWASM(t *testing.T, params string, audio []float32, nMels, size int) []float32 {
	t.Helper()
	h := newHarness(t, "logmel.wasm", params)
	var rows []float32
	collect := func() {
		for _, o := range h.take() {
			if o.Kind != 1 || o.Format != 1 || o.Rate != 100 || int(o.Channels) != nMels {
				t.Fatalf("output header %+v, want f32 audio, rate 100, %d channels", o.header, nMels)
			}
			if want := int64(len(rows)/nMels) * 10000; o.TS != want {
				t.Fatalf("output at %d µs, want %d (frame %d)", o.TS, want, len(rows)/nMels)
			}
			rows = append(rows, o.f32()...)
		}
	}
	for i := 0; i < len(audio); i += size {
		h.sendF32(t, 16000, 1, int64(i)*1000000/16000, audio[i:min(i+size, len(audio))])
		collect()
	}
	h.doFlush(t)
	collect()
	return rows
}

func maxAbsDiff(t *testing.T, got, want []float32) float64 {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%d values, want %d", len(got), len(want))
	}
	d := 0.0
	for i := range got {
		d = max(d, math.Abs(float64(got[i]-want[i])))
		if math.IsNaN(float64(got[i])) {
			t.Fatalf("value %d is NaN", i)
		}
	}
	return d
}

// TestLogMelMatchesWhisper compares logmel.wasm with a numpy reference of
// Whisper's log_mel_spectrogram (and faster-whisper's numpy port of it) on
// espeak-ng speech: max abs difference <= 1e-3.
func TestLogMelMatchesWhisper(t *testing.T) {
	audio := speech16k(t, "The quick brown fox jumps over the lazy dog. Remote media runs the same nodes in the tab and on the server.")
	frames := len(audio) / 160
	for _, nMels := range []int{80, 128} {
		t.Run(fmt.Sprintf("%d bands, segment", nMels), func(t *testing.T) {
			got := logmelWASM(t, fmt.Sprintf(`{"n_mels":%d,"clamp":"segment"}`, nMels), audio, nMels, 320)
			if len(got) != frames*nMels {
				t.Fatalf("%d frames, want %d (Whisper: samples / 160)", len(got)/nMels, frames)
			}
			d := maxAbsDiff(t, got, logmelRef(t, audio, nMels, "whisper"))
			t.Logf("max |wasm - numpy Whisper| = %.2g", d)
			if d > 1e-3 {
				t.Errorf("max abs difference %.3g > 1e-3", d)
			}
			if ref := logmelRef(t, audio, nMels, "faster-whisper"); len(ref) > 0 {
				d := maxAbsDiff(t, got, ref)
				t.Logf("max |wasm - faster_whisper.FeatureExtractor| = %.2g", d)
				if d > 1e-3 {
					t.Errorf("max abs difference from faster-whisper %.3g > 1e-3", d)
				}
			}
		})
		t.Run(fmt.Sprintf("%d bands, running, ragged frames", nMels), func(t *testing.T) {
			got := logmelWASM(t, fmt.Sprintf(`{"n_mels":%d}`, nMels), audio, nMels, 137)
			d := maxAbsDiff(t, got, logmelRef(t, audio, nMels, "running"))
			t.Logf("max |wasm - numpy, running maximum| = %.2g", d)
			if d > 1e-3 {
				t.Errorf("max abs difference %.3g > 1e-3", d)
			}
		})
	}
}

func TestLogMelSegmentsAndErrors(t *testing.T) {
	audio := sine(16000*3/2, 1, 16000, 440, 0.3) // 1.5 s: 150 frames
	// segment_s 0.5: three segments of 50 frames, each clamped at its own maximum.
	h := newHarness(t, "logmel.wasm", `{"clamp":"segment","segment_s":0.5}`)
	for i := 0; i < len(audio); i += 1600 {
		h.sendF32(t, 16000, 1, int64(i)*1000000/16000, audio[i:i+1600])
	}
	h.doFlush(t)
	outs := h.take()
	if len(outs) != 3 {
		t.Fatalf("%d outputs, want 3 segments", len(outs))
	}
	for i, o := range outs {
		if n := len(o.Data) / 4 / 80; n != 50 || o.TS != int64(i)*500000 {
			t.Errorf("segment %d: %d frames at %d µs, want 50 at %d", i, n, o.TS, i*500000)
		}
	}
	for _, p := range []string{`{"n_mels":64}`, `{"clamp":"global"}`, `{"segment_s":0}`} {
		if _, err := newHarnessErr(t, "logmel.wasm", p); err == nil {
			t.Errorf("%s accepted", p)
		}
	}
	h = newHarness(t, "logmel.wasm", `{}`)
	if err := h.send(t, header{Kind: 1, Format: 1, Channels: 1, Rate: 48000}, f32ToBytes(make([]float32, 960))); err == nil {
		t.Error("48 kHz input accepted")
	}
}
