package cli

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/remotemedia/hybrid/core/client"
	"github.com/remotemedia/hybrid/core/frame"
	"github.com/remotemedia/hybrid/core/wavio"
	"github.com/remotemedia/hybrid/target/server/clientws"
)

// benchVoiceScript is the plain-Python baseline of BenchmarkVoiceTurn.
const benchVoiceScript = "../../../pyproxy/python/scripts/bench_voice.py"

// benchVoiceSentences are the utterances of BenchmarkVoiceTurn, one a turn in
// turn: two over the route's 40 characters (text_collector, then KokoroTTS's
// fallback EspeakTTS) and one under (EspeakTTS).
var benchVoiceSentences = []string{voiceSentences[1], voiceSentences[0], "What will the weather be like this weekend in Boston?"}

// BenchmarkVoiceTurn measures examples/voice.yaml turn by turn, as make bench's
// voice rows: each turn is one espeak-ng utterance (half a second of silence,
// the sentence, one second of silence) and reports the median over its turns of
// the time from the end of speech to the utterance cut out for Whisper
// (utterance_ms: the VAD, the segment buffer and their orchestration), to the
// transcript (transcript_ms) and to the first reply audio (reply_ms).
//
//   - live: a live session of `remotemedia serve` (in process, --python on) over
//     loopback, the utterance streamed as a client streams it, a 20 ms frame
//     every 20 ms; timed from sending the frame that holds the last sample of
//     speech to receiving speech_buffer's utterance event, the transcript and
//     the reply audio.
//   - python: the same pipeline in plain Python (pyproxy/python/scripts/bench_voice.py:
//     the package's energy VAD, WhisperASR and EspeakTTS in an asyncio loop),
//     fed at the same pace and timed the same way in its process.
//
// Both wait the same 450 ms of audio after the speech (the vad's hangover, 300,
// and speech_buffer's post-roll, 150) before the utterance goes to Whisper; the
// models are the same (tiny.en int8, beam 5; espeak-ng), so what differs is the
// orchestration, the preprocessing and the VAD. Each side warms up on one
// untimed turn (the model's load). Run it with a count of turns:
//
//	go test ./target/server/cli -run - -bench VoiceTurn -benchtime 5x
//
// With -benchtime 1x (make test-bench's quick mode) it runs one short turn a
// side, unpaced, to check the harness: its figures are not latencies.
func BenchmarkVoiceTurn(b *testing.B) {
	if os.Getenv("REMOTEMEDIA_PYTHON") == "" {
		b.Skip("no .venv with the Python package (make deps)")
	}
	quick := flag.Lookup("test.benchtime").Value.String() == "1x"
	sentences := benchVoiceSentences
	if quick {
		sentences = []string{voiceSentences[0]}
	}
	dir := b.TempDir()
	turns := make([]benchTurn, len(sentences))
	for i, s := range sentences {
		turns[i] = benchVoiceTurn(b, dir, i, s)
	}

	b.Run("live", func(b *testing.B) {
		ctx, cancel := context.WithTimeout(context.Background(), time.Duration(b.N+2)*time.Minute)
		defer cancel()
		c := clientws.New("http://"+benchServe(b, "--python", "on"), "")
		if !quick {
			if _, err := liveTurn(ctx, c, turns[0], false); err != nil { // the worker loads Whisper
				b.Fatal(err)
			}
		}
		var utteranceMS, transcriptMS, replyMS []float64
		b.ResetTimer()
		for i := range b.N {
			t, err := liveTurn(ctx, c, turns[i%len(turns)], !quick)
			if err != nil {
				b.Fatal(err)
			}
			utteranceMS = append(utteranceMS, t.utteranceMS)
			transcriptMS, replyMS = append(transcriptMS, t.transcriptMS), append(replyMS, t.replyMS)
			b.Logf("turn %d: %q, utterance %.0f ms, transcript %.0f ms, reply %.0f ms", i, t.transcript, t.utteranceMS, t.transcriptMS, t.replyMS)
		}
		b.ReportMetric(medianOf(utteranceMS), "utterance_ms")
		b.ReportMetric(medianOf(transcriptMS), "transcript_ms")
		b.ReportMetric(medianOf(replyMS), "reply_ms")
	})

	b.Run("python", func(b *testing.B) {
		ctx, cancel := context.WithTimeout(context.Background(), time.Duration(b.N+2)*time.Minute)
		defer cancel()
		args := []string{benchVoiceScript, "--turns", fmt.Sprint(b.N)}
		for _, t := range turns {
			args = append(args, "--turn", fmt.Sprintf("%s:%.4f", t.wav, t.speechEnd))
		}
		if quick {
			args = append(args, "--fast")
		}
		out, err := exec.CommandContext(ctx, os.Getenv("REMOTEMEDIA_PYTHON"), args...).Output()
		if err != nil {
			var ee *exec.ExitError
			if errors.As(err, &ee) {
				b.Fatalf("bench_voice.py: %v\n%s", err, ee.Stderr)
			}
			b.Fatalf("bench_voice.py: %v", err)
		}
		var r struct {
			UtteranceMS  []float64 `json:"utterance_ms"`
			TranscriptMS []float64 `json:"transcript_ms"`
			ReplyMS      []float64 `json:"reply_ms"`
			Transcripts  []string  `json:"transcripts"`
		}
		if err := json.Unmarshal(out, &r); err != nil || len(r.UtteranceMS) != b.N || len(r.TranscriptMS) != b.N || len(r.ReplyMS) != b.N {
			b.Fatalf("bench_voice.py printed %q (%v): want %d turns", out, err, b.N)
		}
		for i := range b.N {
			b.Logf("turn %d: %q, utterance %.0f ms, transcript %.0f ms, reply %.0f ms", i, r.Transcripts[i], r.UtteranceMS[i], r.TranscriptMS[i], r.ReplyMS[i])
		}
		b.ReportMetric(medianOf(r.UtteranceMS), "utterance_ms")
		b.ReportMetric(medianOf(r.TranscriptMS), "transcript_ms")
		b.ReportMetric(medianOf(r.ReplyMS), "reply_ms")
	})
}

// benchTurn is one utterance of BenchmarkVoiceTurn: its WAV, its 20 ms frames
// and where its speech ends (seconds from the start).
type benchTurn struct {
	wav       string
	frames    []*frame.Frame
	speechEnd float64
}

// benchVoiceTurn makes the i-th utterance: sentence spoken by espeak-ng, 16 kHz
// mono, with half a second of silence before it and one second after. Its
// speech ends at the last sample above 1% of full scale (espeak-ng trails about
// 0.3 s of near silence of its own).
func benchVoiceTurn(b *testing.B, dir string, i int, sentence string) benchTurn {
	name := func(s string) string { return filepath.Join(dir, fmt.Sprintf("%s%d.wav", s, i)) }
	raw, clip, gap, tail, out := name("raw"), name("clip"), name("gap"), name("tail"), name("in")
	for _, cmd := range [][]string{
		{"espeak-ng", "-w", raw, sentence},
		{"sox", raw, "-r", "16000", "-c", "1", "-b", "16", clip},
		{"sox", "-n", "-r", "16000", "-c", "1", "-b", "16", gap, "trim", "0", "0.5"},
		{"sox", "-n", "-r", "16000", "-c", "1", "-b", "16", tail, "trim", "0", "1"},
		{"sox", gap, clip, tail, out},
	} {
		if msg, err := exec.Command(cmd[0], cmd[1:]...).CombinedOutput(); err != nil {
			b.Skipf("%v: %v\n%s", cmd, err, msg)
		}
	}
	f, err := os.Open(out)
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	r, err := wavio.NewReader(f, out)
	if err != nil {
		b.Fatal(err)
	}
	samples, err := r.ReadAll()
	if err != nil {
		b.Fatal(err)
	}
	const rate, frameLen = 16000, 320
	last := len(samples) - 1
	for last > 0 && math.Abs(float64(samples[last])) < 0.01 {
		last--
	}
	t := benchTurn{wav: out, speechEnd: float64(last+1) / rate}
	for i := 0; i < len(samples); i += frameLen {
		n := min(frameLen, len(samples)-i)
		t.frames = append(t.frames, frame.NewAudioF32(frame.Header{StreamID: "bench", Seq: uint64(i / frameLen),
			Timestamp: int64(i) * 1e6 / rate}, rate, 1, samples[i:i+n]))
	}
	return t
}

// turnTimes are one turn's figures.
type turnTimes struct {
	transcript                         string
	utteranceMS, transcriptMS, replyMS float64
}

// liveTurn streams t in a session of voice and times it: paced, a frame every
// 20 ms, else as fast as the session takes them.
func liveTurn(ctx context.Context, c *client.Client, t benchTurn, paced bool) (turnTimes, error) {
	sess, err := c.Open(ctx, "voice")
	if err != nil {
		return turnTimes{}, err
	}
	defer sess.Close()
	ended := make(chan time.Time, 1)
	sent := make(chan error, 1)
	go func() {
		start := time.Now()
		for k, f := range t.frames {
			if paced {
				time.Sleep(time.Until(start.Add(time.Duration(k) * 20 * time.Millisecond)))
			}
			from := float64(f.Timestamp) / 1e6
			if from <= t.speechEnd && t.speechEnd < from+0.02 {
				ended <- time.Now()
			}
			if err := sess.Send(ctx, f); err != nil {
				sent <- err
				return
			}
		}
		sent <- sess.CloseInput(ctx)
	}()
	var tt turnTimes
	var utteranceAt, transcriptAt, replyAt time.Time
	for {
		o, err := sess.Recv(ctx)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return tt, err
		}
		switch {
		case o.Error != nil:
			return tt, fmt.Errorf("node error: %+v", o.Error)
		case o.Node == "utterances" && o.Frame.Kind == frame.KindJSON && utteranceAt.IsZero() &&
			strings.Contains(string(o.Frame.Data), `"event":"utterance"`):
			utteranceAt = time.Now()
		case o.Node == "transcript" && o.Frame.Kind == frame.KindText && transcriptAt.IsZero():
			transcriptAt, tt.transcript = time.Now(), string(o.Frame.Data)
		case o.Frame.Kind == frame.KindAudio && replyAt.IsZero():
			replyAt = time.Now()
		}
	}
	if err := <-sent; err != nil {
		return tt, err
	}
	if end := sess.End(); end.Error != "" {
		return tt, fmt.Errorf("session failed: %s", end.Error)
	}
	if utteranceAt.IsZero() || transcriptAt.IsZero() || replyAt.IsZero() {
		return tt, fmt.Errorf("the utterance got no utterance event, transcript or reply (transcript %q)", tt.transcript)
	}
	var end time.Time
	select {
	case end = <-ended:
	default:
		return tt, fmt.Errorf("no frame holds the end of speech at %.3f s", t.speechEnd)
	}
	tt.utteranceMS = float64(utteranceAt.Sub(end).Microseconds()) / 1e3
	tt.transcriptMS = float64(transcriptAt.Sub(end).Microseconds()) / 1e3
	tt.replyMS = float64(replyAt.Sub(end).Microseconds()) / 1e3
	return tt, nil
}

// benchServe runs `serve` in process with args on a free loopback port until
// the benchmark ends (startServe's twin for a *testing.B), and returns its
// address.
func benchServe(b *testing.B, args ...string) string {
	ctx, cancel := context.WithCancel(context.Background())
	var stdout, stderr lockedBuffer
	done := make(chan error, 1)
	go func() { done <- cmdServe(ctx, append([]string{"--listen", "127.0.0.1:0"}, args...), &stdout, &stderr) }()
	b.Cleanup(func() {
		cancel()
		select {
		case <-done:
		case <-time.After(30 * time.Second):
			b.Error("serve did not stop within 30s")
		}
	})
	deadline := time.After(60 * time.Second)
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		if m := servingRE.FindStringSubmatch(stdout.String()); m != nil {
			return m[1]
		}
		select {
		case err := <-done:
			b.Fatalf("serve ended: %v\n%s", err, stderr.String())
		case <-deadline:
			b.Fatalf("serve did not start within 60s:\n%s", stderr.String())
		case <-tick.C:
		}
	}
}

// medianOf is the median of vs (NaN when empty).
func medianOf(vs []float64) float64 {
	if len(vs) == 0 {
		return math.NaN()
	}
	s := slices.Sorted(slices.Values(vs))
	if n := len(s); n%2 == 0 {
		return (s[n/2-1] + s[n/2]) / 2
	}
	return s[len(s)/2]
}
