package cli

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/remotemedia/hybrid/core/frame"
	"github.com/remotemedia/hybrid/internal/wer"
	"github.com/remotemedia/hybrid/target/server/clientws"
)

const voiceDef = "../../../examples/voice.yaml"

// The utterances of the voice tests: one transcript under the route's 40
// characters (EspeakTTS) and one over them (text_collector, then KokoroTTS or
// its fallback).
var voiceSentences = []string{"Turn on the kitchen lights.", "Please remind me to call the dentist tomorrow morning at nine."}

// voiceWAV makes a 16 kHz mono WAV of espeak-ng sentences separated by gaps of
// silence (gaps[i] before sentence i, one second after the last) over a faint
// noise floor; with no sentences, gaps[0] seconds of the noise floor alone.
func voiceWAV(t *testing.T, dir string, gaps []float64, sentences []string) string {
	t.Helper()
	needVoiceTools(t)
	var parts []string
	for i, s := range sentences {
		raw, clip := filepath.Join(dir, fmt.Sprintf("raw%d.wav", i)), filepath.Join(dir, fmt.Sprintf("clip%d.wav", i))
		gap := filepath.Join(dir, fmt.Sprintf("gap%d.wav", i))
		voiceSh(t, "espeak-ng", "-w", raw, s)
		voiceSh(t, "sox", raw, "-r", "16000", "-c", "1", "-b", "16", clip)
		voiceSh(t, "sox", "-n", "-r", "16000", "-c", "1", "-b", "16", gap, "trim", "0", fmt.Sprint(gaps[i]))
		parts = append(parts, gap, clip)
	}
	tail := filepath.Join(dir, "tail.wav")
	length := "1"
	if len(sentences) == 0 {
		length = fmt.Sprint(gaps[0])
	}
	voiceSh(t, "sox", "-n", "-r", "16000", "-c", "1", "-b", "16", tail, "trim", "0", length)
	clean := filepath.Join(dir, "clean.wav")
	if len(parts) == 0 {
		clean = tail
	} else {
		voiceSh(t, "sox", append(append(parts, tail), clean)...)
	}
	noise, mixed := filepath.Join(dir, "noise.wav"), filepath.Join(dir, "voice.wav")
	voiceSh(t, "sox", clean, noise, "synth", "whitenoise", "vol", "0.002")
	voiceSh(t, "sox", "-m", clean, noise, mixed)
	return mixed
}

func needVoiceTools(t *testing.T) {
	t.Helper()
	needVenv(t)
	for _, tool := range []string{"espeak-ng", "sox"} {
		if _, err := exec.LookPath(tool); err != nil {
			if os.Getenv("CI") != "" {
				t.Fatalf("%s is not installed; scripts/deps.sh installs it", tool)
			}
			t.Skipf("%s is not installed (scripts/deps.sh installs it)", tool)
		}
	}
}

func voiceSh(t *testing.T, name string, args ...string) {
	t.Helper()
	if out, err := exec.Command(name, args...).CombinedOutput(); err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
}

// checkTranscripts asserts one transcript per spoken sentence, in order, within
// 30% word error rate over all of them, and returns them.
func checkTranscripts(t *testing.T, got []string) {
	t.Helper()
	if len(got) != len(voiceSentences) {
		t.Fatalf("%d transcripts %q for %d utterances", len(got), got, len(voiceSentences))
	}
	rate := wer.Rate(strings.Join(voiceSentences, " "), strings.Join(got, " "))
	t.Logf("transcripts %q: word error rate %.1f%% (tiny.en on espeak-ng speech)", got, 100*rate)
	if rate > 0.30 {
		t.Errorf("word error rate %.1f%% > 30%%", 100*rate)
	}
	for i, text := range got {
		if short := len(text) <= 40; short != (i == 0) {
			t.Errorf("transcript %d %q: the route's 40 characters put it on the wrong branch for this test", i, text)
		}
	}
}

// statsIn reads a node's "in" count from the table `run` prints.
func statsIn(t *testing.T, table, id string) int {
	t.Helper()
	sc := bufio.NewScanner(strings.NewReader(table))
	for sc.Scan() {
		if f := strings.Fields(sc.Text()); len(f) > 2 && f[0] == id {
			n, err := strconv.Atoi(f[1])
			if err != nil {
				t.Fatalf("stats row %q: %v", sc.Text(), err)
			}
			return n
		}
	}
	t.Fatalf("no stats row for %s in:\n%s", id, table)
	return 0
}

// examples/voice.yaml from the CLI: one transcript per utterance, the short
// one spoken by short_reply and the long one by long_reply; silence alone
// makes no ASR call and no reply.
func TestVoiceRun(t *testing.T) {
	dir := t.TempDir()
	in := voiceWAV(t, dir, []float64{1.0, 1.5}, voiceSentences)
	events, short, long := filepath.Join(dir, "ev.jsonl"), filepath.Join(dir, "short.wav"), filepath.Join(dir, "long.wav")
	code, _, stderr := runMain(t, "run", voiceDef, "--in", in, "--events", events, "--python", "on",
		"--out", "short_reply.out="+short, "--out", "long_reply.out="+long)
	if code != 0 {
		t.Fatalf("run: exit %d\n%s", code, stderr)
	}
	// Kokoro is not in .venv: run says once that long_reply runs as its fallback.
	if n := strings.Count(stderr, "it runs as its fallback EspeakTTS"); n != 1 {
		t.Errorf("run said %d times that long_reply runs as its fallback, want once:\n%s", n, stderr)
	}
	raw, err := os.ReadFile(events)
	if err != nil {
		t.Fatal(err)
	}
	var transcripts []string
	utterances := 0
	for _, line := range strings.Split(strings.TrimSpace(string(raw)), "\n") {
		var ev struct {
			Node, Port, Kind, Text string
			Data                   struct{ Event string }
		}
		if err := json.Unmarshal([]byte(line), &ev); err != nil {
			t.Fatalf("%q: %v", line, err)
		}
		switch {
		case ev.Node == "transcript" && ev.Kind == "text":
			transcripts = append(transcripts, ev.Text)
		case ev.Node == "utterances" && ev.Data.Event == "utterance":
			utterances++
		}
	}
	checkTranscripts(t, transcripts)
	if utterances != len(voiceSentences) || statsIn(t, stderr, "asr") != len(voiceSentences) {
		t.Errorf("%d utterances and %d ASR calls for %d sentences", utterances, statsIn(t, stderr, "asr"), len(voiceSentences))
	}
	// Each branch spoke its transcript: espeak-ng says a few words a second.
	for _, out := range []struct {
		path     string
		min, max float64
	}{{short, 0.8, 4}, {long, 2.5, 10}} {
		r, samples := readWAV(t, out.path)
		if sec := float64(len(samples)) / float64(r.SampleRate); sec < out.min || sec > out.max {
			t.Errorf("%s: %.2f s of reply audio, want %.1f-%.1f s", filepath.Base(out.path), sec, out.min, out.max)
		}
	}

	silence := voiceWAV(t, t.TempDir(), []float64{4}, nil)
	code, _, stderr = runMain(t, "run", voiceDef, "--in", silence, "--events", events, "--python", "on",
		"--out", "short_reply.out="+short, "--out", "long_reply.out="+long)
	if code != 0 {
		t.Fatalf("run over silence: exit %d\n%s", code, stderr)
	}
	if n := statsIn(t, stderr, "asr"); n != 0 {
		t.Errorf("silence made %d ASR calls", n)
	}
	if raw, _ := os.ReadFile(events); len(strings.TrimSpace(string(raw))) != 0 {
		t.Errorf("silence made events: %s", raw)
	}
}

// The same over a live session of `remotemedia serve`, which offers the bundled
// voice.yaml: transcripts and reply audio come back on the socket, and the
// proxy's frame requests count the ASR and TTS calls; a silent session adds none.
func TestVoiceLive(t *testing.T) {
	dir := t.TempDir()
	in := voiceWAV(t, dir, []float64{1.0, 1.5}, voiceSentences)
	t.Setenv("REMOTEMEDIA_TOKEN", "s3cret")
	base := "http://" + startServe(t, "--python", "on")
	auth := map[string]string{"Authorization": "Bearer s3cret"}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	c := clientws.New(base, "s3cret")

	session := func(frames []*frame.Frame) (transcripts []string, replyAudio map[string]int) {
		sess, err := c.Open(ctx, "voice")
		if err != nil {
			t.Fatal(err)
		}
		defer sess.Close()
		go func() {
			for _, f := range frames {
				if sess.Send(ctx, f) != nil {
					return
				}
			}
			_ = sess.CloseInput(ctx)
		}()
		replyAudio = map[string]int{}
		for {
			o, err := sess.Recv(ctx)
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				t.Fatal(err)
			}
			switch {
			case o.Error != nil:
				t.Errorf("node error: %+v", o.Error)
			case o.Node == "transcript" && o.Frame.Kind == frame.KindText:
				transcripts = append(transcripts, string(o.Frame.Data))
			case o.Frame.Kind == frame.KindAudio:
				replyAudio[o.Node] += len(o.Frame.Data) / 4
			}
		}
		if end := sess.End(); end.Error != "" {
			t.Fatalf("session failed: %s", end.Error)
		}
		return transcripts, replyAudio
	}

	transcripts, audio := session(wavFrames(t, in))
	checkTranscripts(t, transcripts)
	if audio["short_reply"] < 22050 || audio["long_reply"] < 2*22050 {
		t.Errorf("reply audio samples %v: want at least 1 s from short_reply and 2 s from long_reply", audio)
	}
	frames := metricValue(t, scrapeMetrics(t, base, auth), "pyproxy_requests_total", "op", "frame")
	if frames < 4 { // two utterances to Whisper, at least one sentence to each TTS
		t.Errorf("%v Python frame requests for two utterances and their replies", frames)
	}

	transcripts, audio = session(wavFrames(t, voiceWAV(t, t.TempDir(), []float64{4}, nil)))
	if len(transcripts) != 0 || len(audio) != 0 {
		t.Errorf("silence: transcripts %q, audio %v", transcripts, audio)
	}
	if after := metricValue(t, scrapeMetrics(t, base, auth), "pyproxy_requests_total", "op", "frame"); after != frames {
		t.Errorf("silence made %v Python frame requests", after-frames)
	}
}

// Barge-in over a live session (on by default there): the user speaks again
// while the reply to the first utterance is still being made. The client gets
// the barge_in event at the new speech's onset and a cancel (the stop) on each
// reply output, after which no audio of the cancelled reply comes; the
// interrupting utterance gets its own transcript and its own reply. (That the
// stop leaves within 200 ms of the onset, in stream time, is
// TestSpeechBufferBargeIn's: here the input is sent as fast as it goes, so that
// the first reply is surely still in flight.)
func TestVoiceLiveBargeIn(t *testing.T) {
	dir := t.TempDir()
	first, second := voiceSentences[1], voiceSentences[0] // a long reply, then a short interruption
	in := voiceWAV(t, dir, []float64{1.0, 1.0}, []string{first, second})
	t.Setenv("REMOTEMEDIA_TOKEN", "s3cret")
	base := "http://" + startServe(t, "--python", "on")
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	sess, err := clientws.New(base, "s3cret").Open(ctx, "voice")
	if err != nil {
		t.Fatal(err)
	}
	defer sess.Close()
	frames := wavFrames(t, in)
	go func() {
		for _, f := range frames {
			if sess.Send(ctx, f) != nil {
				return
			}
		}
		_ = sess.CloseInput(ctx)
	}()

	var (
		bargeIn          *struct{ TimeMS, StartMS float64 }
		stopped          = map[string]bool{} // reply outputs that got the cancel
		transcripts      []string
		staleAfterStop   int
		secondReplyAudio int
	)
	for {
		o, err := sess.Recv(ctx)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if o.Error != nil {
			t.Errorf("node error: %+v", o.Error)
			continue
		}
		f := o.Frame
		switch {
		case o.Node == "utterances" && f.Kind == frame.KindJSON:
			var ev struct {
				Event           string
				TimeMS, StartMS float64 `json:"-"`
				T               float64 `json:"time_ms"`
				S               float64 `json:"start_ms"`
			}
			if err := json.Unmarshal(f.Data, &ev); err != nil {
				t.Fatal(err)
			}
			if ev.Event == "barge_in" {
				if bargeIn != nil {
					t.Errorf("a second barge_in: %s", f.Data)
				}
				bargeIn = &struct{ TimeMS, StartMS float64 }{ev.T, ev.S}
			}
		case f.IsControl(frame.Cancel):
			stopped[o.Node] = true
		case o.Node == "transcript" && f.Kind == frame.KindText:
			transcripts = append(transcripts, string(f.Data))
		case f.Kind == frame.KindAudio && bargeIn != nil && float64(f.Timestamp) >= bargeIn.StartMS*1000:
			secondReplyAudio += len(f.Data) / 4
		case f.Kind == frame.KindAudio && stopped[o.Node]:
			staleAfterStop++
		}
	}
	if end := sess.End(); end.Error != "" {
		t.Fatalf("session failed: %s", end.Error)
	}
	if bargeIn == nil {
		t.Fatal("no barge_in event")
	}
	// The second sentence starts 1 s after the first ends (espeak-ng's own edges add a little).
	t.Logf("barge_in at %.0f ms (its utterance from %.0f ms); stops on %v; transcripts %q", bargeIn.TimeMS, bargeIn.StartMS, stopped, transcripts)
	if !stopped["short_reply"] || !stopped["long_reply"] || !stopped["transcript"] {
		t.Errorf("the cancel reached %v; want short_reply, long_reply and transcript", stopped)
	}
	if staleAfterStop > 0 {
		t.Errorf("%d audio frames of the cancelled reply came after the stop", staleAfterStop)
	}
	if len(transcripts) == 0 || wer.Rate(second, transcripts[len(transcripts)-1]) > 0.30 {
		t.Errorf("transcripts %q: the interrupting utterance %q has none of its own", transcripts, second)
	}
	if secondReplyAudio < 22050/2 {
		t.Errorf("%d samples of reply to the interrupting utterance", secondReplyAudio)
	}
}

// stoppableServe starts `remotemedia serve` in process as startServe does and
// returns its address and a function that stops it (and waits until it has).
func stoppableServe(t *testing.T, args ...string) (string, func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	var stdout, stderr lockedBuffer
	done := make(chan struct{})
	go func() {
		_ = cmdServe(ctx, append([]string{"--listen", "127.0.0.1:0"}, args...), &stdout, &stderr)
		close(done)
	}()
	stop := func() {
		cancel()
		select {
		case <-done:
		case <-time.After(30 * time.Second):
			t.Error("serve did not stop within 30s")
		}
	}
	t.Cleanup(stop)
	deadline := time.Now().Add(60 * time.Second)
	for {
		if m := servingRE.FindStringSubmatch(stdout.String()); m != nil {
			return m[1], stop
		}
		select {
		case <-done:
			t.Fatalf("serve ended:\n%s", stderr.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("serve did not start within 60s:\n%s", stderr.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Issue 12 point 6 with real servers on loopback: a pipeline served by one
// runs its node on another (host: [B, C]); B stops mid-stream and the node
// goes on on C, every frame answered once; once C stops too, the session fails
// naming both hosts instead of going quiet.
func TestNodeOnAnotherHostLive(t *testing.T) {
	needVenv(t)
	t.Setenv("REMOTEMEDIA_TOKEN", "s3cret")
	t.Setenv("REMOTEMEDIA_HOST_TOKEN", "s3cret")
	b, stopB := stoppableServe(t, "--python", "on")
	c, stopC := stoppableServe(t, "--python", "on")
	dir := t.TempDir()
	defYAML := fmt.Sprintf("version: \"1\"\nmetadata: {name: remote}\nnodes:\n  - {id: echo, node_type: PassThrough, host: {urls: [http://%s, http://%s], timeout: 20s}}\n", b, c)
	if err := os.WriteFile(filepath.Join(dir, "remote.yaml"), []byte(defYAML), 0o644); err != nil {
		t.Fatal(err)
	}
	a := startServe(t, "--python", "off", "--definitions", dir)

	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	sess, err := clientws.New("http://"+a, "s3cret").Open(ctx, "remote")
	if err != nil {
		t.Fatal(err)
	}
	defer sess.Close()
	send := func(from, to int) {
		t.Helper()
		for i := from; i < to; i++ {
			f := frame.NewAudioF32(frame.Header{Seq: uint64(i), Timestamp: int64(i) * 20000}, 16000, 1, make([]float32, 320))
			if err := sess.Send(ctx, f); err != nil {
				t.Fatal(err)
			}
		}
	}
	recv := func(n int) []int64 {
		t.Helper()
		var ts []int64
		for len(ts) < n {
			o, err := sess.Recv(ctx)
			if err != nil {
				t.Fatalf("after %d of %d outputs: %v", len(ts), n, err)
			}
			if o.Error != nil {
				t.Fatalf("node error: %+v", o.Error)
			}
			if o.Frame.Kind == frame.KindAudio {
				ts = append(ts, o.Frame.Timestamp)
			}
		}
		return ts
	}
	send(0, 10)
	got := recv(10)
	stopB() // B goes away mid-stream
	send(10, 20)
	got = append(got, recv(10)...)
	for i, ts := range got {
		if ts != int64(i)*20000 {
			t.Fatalf("output %d has timestamp %d: want every frame once, in order (%v)", i, ts, got)
		}
	}
	stopC() // now every host is gone: the session fails and says why
	send(20, 21)
	for {
		_, err := sess.Recv(ctx)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	end := sess.End()
	if !strings.Contains(end.Error, "failed on every host") || !strings.Contains(end.Error, b) || !strings.Contains(end.Error, c) {
		t.Errorf("session end %q: want it to fail naming both hosts", end.Error)
	}
}
