package modules_test

import (
	"bufio"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"testing"
)

// refResampler runs pyproxy/python/scripts/resample_ref.py (soxr, scipy) as a
// pipe server in the repository's venv.
type refResampler struct {
	cmd *exec.Cmd
	in  io.WriteCloser
	out *bufio.Reader
}

func startRefResampler(b *testing.B) *refResampler {
	py := os.Getenv("REMOTEMEDIA_PYTHON")
	if py == "" {
		py = "../.venv/bin/python"
	}
	check := exec.Command(py, "-c", "import soxr, scipy.signal")
	if out, err := check.CombinedOutput(); err != nil {
		b.Skipf("soxr and scipy are not importable by %s (scripts/deps.sh bench installs them): %v\n%s", py, err, out)
	}
	cmd := exec.Command(py, "../pyproxy/python/scripts/resample_ref.py")
	cmd.Stderr = os.Stderr
	in, err := cmd.StdinPipe()
	if err != nil {
		b.Fatal(err)
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		b.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	r := &refResampler{cmd: cmd, in: in, out: bufio.NewReader(out)}
	b.Cleanup(func() { in.Close(); cmd.Wait() })
	return r
}

func (r *refResampler) resampler(method string) resampler {
	return func(t testing.TB, in []float32, inRate, outRate int) []float32 {
		req, _ := json.Marshal(map[string]any{"method": method, "in": inRate, "out": outRate, "n": len(in)})
		if _, err := r.in.Write(append(req, '\n')); err != nil {
			t.Fatal(err)
		}
		if _, err := r.in.Write(f32ToBytes(in)); err != nil {
			t.Fatal(err)
		}
		var n uint32
		if err := binary.Read(r.out, binary.LittleEndian, &n); err != nil {
			t.Fatalf("resample_ref.py %s: %v", method, err)
		}
		buf := make([]byte, 4*n)
		if _, err := io.ReadFull(r.out, buf); err != nil {
			t.Fatal(err)
		}
		return bytesToF32(buf)
	}
}

// speed is how many seconds of audio the method resamples per CPU second.
func (r *refResampler) speed(t testing.TB, method string, inRate, outRate int, seconds float64) float64 {
	req, _ := json.Marshal(map[string]any{"method": method, "in": inRate, "out": outRate, "speed": seconds})
	if _, err := r.in.Write(append(req, '\n')); err != nil {
		t.Fatal(err)
	}
	line, err := r.out.ReadBytes('\n')
	if err != nil {
		t.Fatal(err)
	}
	var rep struct {
		X float64 `json:"x_realtime"`
	}
	if err := json.Unmarshal(line, &rep); err != nil {
		t.Fatalf("resample_ref.py: %v: %q", err, line)
	}
	return rep.X
}

// reportQuality measures r on 48 kHz to 16 kHz with the signals of
// TestResampleQuality and TestResamplePassbandAndStopband: SNR of a 1 kHz tone,
// the -0.1 dB passband edge, and the least stopband attenuation (tones every
// 97 Hz from 8 to 24 kHz).
// It returns a function that reports them (b.Loop's start would drop them).
func reportQuality(b *testing.B, r resampler) (report func()) {
	in := sine(24000, 1, 48000, 1000, 0.5)
	y := r(b, in, 48000, 16000)
	snr, edge, stop := snrDB(y, 800, len(y)-800, 16000, 1000, 0.5), passbandEdge(b, r, 48000, 16000), stopband(b, r, 48000, 16000, 97)
	return func() {
		b.ReportMetric(snr, "snr-dB")
		b.ReportMetric(edge, "pass-Hz")
		b.ReportMetric(stop, "stop-dB")
	}
}

// BenchmarkResampleQuality prints the resampler's quality beside soxr's HQ and
// scipy's resample_poly on the same signals (48 kHz to 16 kHz, mono), and each
// one's speed per core: resample.wasm fed 20 ms frames (one op), the Python
// references on 60 s of noise in one call (their best case).
func BenchmarkResampleQuality(b *testing.B) {
	rng := rand.New(rand.NewPCG(1, 2))
	noise := make([]float32, 48000)
	for i := range noise {
		noise[i] = float32(rng.NormFloat64() * 0.1)
	}
	for _, q := range []string{"fast", "high", "best"} {
		b.Run("wasm-"+q, func(b *testing.B) {
			report := reportQuality(b, wasmResampler(q))
			benchWASM(b, "resample.wasm", fmt.Sprintf(`{"rate":16000,"quality":%q}`, q), 48000, 1, noise)
			report()
		})
	}
	for _, method := range []string{"soxr-hq", "scipy-poly"} {
		b.Run(method, func(b *testing.B) {
			r := startRefResampler(b)
			report := reportQuality(b, r.resampler(method))
			for b.Loop() { // the speed comes from the script's own CPU clock
			}
			report()
			b.ReportMetric(r.speed(b, method, 48000, 16000, 60), "x-realtime")
		})
	}
}
