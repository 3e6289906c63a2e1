package cli

import (
	"context"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/remotemedia/hybrid/core/def"
	"github.com/remotemedia/hybrid/core/frame"
	"github.com/remotemedia/hybrid/core/runner"
	"github.com/remotemedia/hybrid/core/sched"
	"github.com/remotemedia/hybrid/core/wavio"
)

// BenchmarkVoiceTurn runs examples/voice.yaml (with its Python workers) over one
// utterance and reports, per turn, the time from handing the pipeline the frame
// where the speech ends to the transcript (transcript_ms) and to the first
// reply audio (reply_ms). The input goes in as fast as the pipeline takes it,
// so the vad's hangover (300 ms of audio, which a live stream waits for in
// real time) is not in these figures: they are the pipeline's own work, the
// Whisper call (tiny.en) and the first TTS sentence included.
//
//	go test ./target/server/cli -run - -bench VoiceTurn -benchtime 5x
func BenchmarkVoiceTurn(b *testing.B) {
	if os.Getenv("REMOTEMEDIA_PYTHON") == "" {
		b.Skip("no .venv with the Python package (make deps)")
	}
	dir := b.TempDir()
	in := benchVoiceWAV(b, dir)
	f, err := os.Open(in)
	if err != nil {
		b.Fatal(err)
	}
	r, err := wavio.NewReader(f, in)
	if err != nil {
		b.Fatal(err)
	}
	samples, err := r.ReadAll()
	f.Close()
	if err != nil {
		b.Fatal(err)
	}
	const rate, frameLen = 16000, 320
	speechEnd := len(samples) - rate // the WAV ends with one second of silence
	data, err := os.ReadFile(voiceDef)
	if err != nil {
		b.Fatal(err)
	}
	d, _ := def.Parse(data)
	fs := newFlagSet("bench", io.Discard, "")
	var wf wasmFlags
	var pf pythonFlags
	wf.register(fs)
	pf.register(fs)
	if _, err := parseArgs(fs, []string{"--python", "on", "--wasm-cache", filepath.Join(dir, "cache")}); err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	reg, cleanup, err := registryFor(ctx, d, &wf, &pf, io.Discard)
	if err != nil {
		b.Fatal(err)
	}
	defer cleanup()
	p, err := runner.Load(data, reg)
	if err != nil {
		b.Fatal(err)
	}
	var transcriptTotal, replyTotal time.Duration
	b.ResetTimer()
	for range b.N {
		var ended, transcript, reply time.Time
		i := 0
		src := sourceFunc(func() (*frame.Frame, error) {
			if i >= len(samples) {
				return nil, io.EOF
			}
			n := min(frameLen, len(samples)-i)
			fr := frame.NewAudioF32(frame.Header{StreamID: "bench", Seq: uint64(i / frameLen), Timestamp: int64(i) * 1e6 / rate}, rate, 1, samples[i:i+n])
			if i <= speechEnd && speechEnd < i+n {
				ended = time.Now()
			}
			i += n
			return fr, nil
		})
		_, err := runner.Run(ctx, p, src, func(o sched.Output) error {
			switch {
			case o.Frame == nil:
			case o.Node == "transcript" && o.Frame.Kind == frame.KindText && transcript.IsZero():
				transcript = time.Now()
			case o.Frame.Kind == frame.KindAudio && reply.IsZero():
				reply = time.Now()
			}
			return nil
		}, sched.Options{StreamID: "bench", Spin: true})
		if err != nil {
			b.Fatal(err)
		}
		if transcript.IsZero() || reply.IsZero() {
			b.Fatal("the utterance got no transcript or no reply")
		}
		transcriptTotal += transcript.Sub(ended)
		replyTotal += reply.Sub(ended)
	}
	b.ReportMetric(float64(transcriptTotal.Milliseconds())/float64(b.N), "transcript_ms")
	b.ReportMetric(float64(replyTotal.Milliseconds())/float64(b.N), "reply_ms")
}

// benchVoiceWAV is one espeak-ng utterance, 16 kHz mono, with half a second of
// silence before it and one second after.
func benchVoiceWAV(b *testing.B, dir string) string {
	raw, clip, gap, tail, out := filepath.Join(dir, "raw.wav"), filepath.Join(dir, "clip.wav"), filepath.Join(dir, "gap.wav"), filepath.Join(dir, "tail.wav"), filepath.Join(dir, "in.wav")
	for _, cmd := range [][]string{
		{"espeak-ng", "-w", raw, voiceSentences[1]},
		{"sox", raw, "-r", "16000", "-c", "1", "-b", "16", clip},
		{"sox", "-n", "-r", "16000", "-c", "1", "-b", "16", gap, "trim", "0", "0.5"},
		{"sox", "-n", "-r", "16000", "-c", "1", "-b", "16", tail, "trim", "0", "1"},
		{"sox", gap, clip, tail, out},
	} {
		if msg, err := exec.Command(cmd[0], cmd[1:]...).CombinedOutput(); err != nil {
			b.Skipf("%v: %v\n%s", cmd, err, msg)
		}
	}
	return out
}
