package e2e

import (
	"fmt"
	"testing"

	"github.com/chromedp/chromedp"
)

// webrtcRun is what the page saw of one WebRTC session of speech-frontend fed
// by the fake microphone (the speech WAV): the events, the end message, and
// page times (performance.now(), ms) of the speech onset heard on the
// microphone, of the first speech_start and of the first returned audio above
// silence; the returned track's loudest analyser RMS, and getStats' inbound
// packets and totalAudioEnergy.
type webrtcRun struct {
	Events     []map[string]any `json:"events"`
	End        map[string]any   `json:"end"`
	Onset      float64          `json:"onset"`
	FirstStart float64          `json:"firstStart"`
	FirstOut   float64          `json:"firstOut"`
	MaxOut     float64          `json:"maxOut"`
	Energy     float64          `json:"energy"`
	Packets    float64          `json:"packets"`
}

// runWebRTCPage runs the speech WAV through speech-frontend over WebRTC with
// remotemedia.js's connectWebRTC, in a Chromium whose microphone plays the file.
func runWebRTCPage(t testing.TB) webrtcRun {
	t.Helper()
	s := startServer(t)
	ctx := browser(t,
		chromedp.Flag("use-fake-device-for-media-stream", true),
		chromedp.Flag("use-fake-ui-for-media-stream", true),
		chromedp.Flag("use-file-for-fake-audio-capture", speech+"%noloop"),
		chromedp.Flag("autoplay-policy", "no-user-gesture-required"),
		chromedp.Flag("allow-loopback-in-peer-connection", true), // ICE on 127.0.0.1: the server's only candidate
	)
	navigate(t, ctx, s.url)
	return eval[webrtcRun](t, ctx, fmt.Sprintf(`
		const ms = await navigator.mediaDevices.getUserMedia({ audio: true });
		const ac = new AudioContext();
		await ac.resume();
		const level = (stream) => {
			const a = ac.createAnalyser();
			a.fftSize = 1024;
			ac.createMediaStreamSource(stream).connect(a);
			const buf = new Float32Array(a.fftSize);
			return () => {
				a.getFloatTimeDomainData(buf);
				let s = 0;
				for (const v of buf) s += v * v;
				return Math.sqrt(s / buf.length);
			};
		};
		const mic = level(ms);
		const events = [];
		let firstStart = 0;
		const rtc = await RemoteMedia.connectWebRTC(%q, ms, {
			onEvent: (e) => {
				events.push(e);
				if (!firstStart && e.data && e.data.event === "speech_start") firstStart = performance.now();
			},
		});
		if (!rtc.track) throw new Error("connectWebRTC returned no audio track");
		const el = new Audio(); // Chromium plays a remote track into Web Audio only while a media element holds it
		el.srcObject = rtc.stream;
		el.muted = true;
		await el.play().catch(() => {});
		const out = level(rtc.stream);
		let onset = 0, firstOut = 0, maxOut = 0;
		const t0 = performance.now();
		while (performance.now() - t0 < 9500) { // the file is about 7.5 s long
			await new Promise((r) => setTimeout(r, 5));
			const now = performance.now(), o = out();
			if (!onset && mic() > 0.02) onset = now;
			if (!firstOut && o > 0.01) firstOut = now;
			maxOut = Math.max(maxOut, o);
		}
		let energy = 0, packets = 0;
		(await rtc.pc.getStats()).forEach((st) => {
			if (st.type === "inbound-rtp" && st.kind === "audio") { energy = st.totalAudioEnergy || 0; packets = st.packetsReceived || 0; }
		});
		const end = await rtc.stop();
		return { events, end, onset, firstStart, firstOut, maxOut, energy, packets };`, "speech-frontend"))
}

func countEvent(evs []map[string]any, name string) int {
	n := 0
	for _, ev := range evs {
		if d, ok := ev["data"].(map[string]any); ok && d["event"] == name {
			n++
		}
	}
	return n
}

// TestWebRTC: the page sends the fake microphone (the speech WAV) over WebRTC
// with connectWebRTC, as Chromium encodes it by default, and gets the VAD's
// speech segments on the data channel, as many as the CLI finds in the file,
// and the gated speech back on the returned track, measured in the page.
func TestWebRTC(t *testing.T) {
	_, cliEvents := cliRun(t)
	want := countEvent(cliEvents, "speech_start")
	r := runWebRTCPage(t)
	starts, ends := countEvent(r.Events, "speech_start"), countEvent(r.Events, "speech_end")
	t.Logf("webrtc: %d speech_start, %d speech_end (CLI on the file: %d); opus_in %v; returned audio: max RMS %.3f, totalAudioEnergy %.3f over %v packets; "+
		"onset at %.0f ms, first speech_start %+.0f ms, first returned audio %+.0f ms",
		starts, ends, want, r.End["opus_in"], r.MaxOut, r.Energy, r.Packets, r.Onset, r.FirstStart-r.Onset, r.FirstOut-r.Onset)
	if starts != want || ends != want {
		t.Fatalf("%d speech_start and %d speech_end over WebRTC, want %d of each (as the CLI on the file): %v", starts, ends, want, r.Events)
	}
	end, _ := r.End["end"].(map[string]any)
	if end == nil || end["error"] != "" {
		t.Fatalf("end message %v, want one without error", r.End)
	}
	if fi, _ := end["frames_in"].(float64); fi < 300 { // 20 ms frames of the ~7.5 s file
		t.Errorf("frames_in %v, want the whole file's (over 300)", end["frames_in"])
	}
	if r.MaxOut < 0.01 || r.Packets == 0 { // totalAudioEnergy stays 0 in headless Chromium (nothing plays out)
		t.Fatalf("the returned track carried no audio: max RMS %.4f in the analyser over %v packets", r.MaxOut, r.Packets)
	}
}

// BenchmarkBrowserWebRTC reports the WebRTC round trip of `make bench`
// (the e2e suite's -bench Browser runs it): from the speech onset heard on
// the page's microphone to the first speech_start on the data channel, and to
// the first returned audio above silence, in page time over loopback.
func BenchmarkBrowserWebRTC(b *testing.B) {
	for b.Loop() {
		r := runWebRTCPage(b)
		if r.Onset == 0 || r.FirstStart == 0 || r.FirstOut == 0 {
			b.Fatalf("a time is missing: onset %v, first event %v, first audio %v", r.Onset, r.FirstStart, r.FirstOut)
		}
		b.ReportMetric(r.FirstStart-r.Onset, "onset-event-ms")
		b.ReportMetric(r.FirstOut-r.Onset, "onset-audio-ms")
	}
}
