package e2e

import (
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// demoDrawing is what the demo's canvases show, read back from their pixels.
type demoDrawing struct {
	Width        int     `json:"width"`
	TotalMs      float64 `json:"totalMs"`
	OutFirstX    int     `json:"outFirstX"`   // first column with output (blue) pixels
	OutColumns   int     `json:"outColumns"`  // columns with output pixels
	SpeechFirstX int     `json:"speechFirst"` // first column of the VAD strip's speech colour
	SpeechCols   int     `json:"speechCols"`  // columns of speech colour
	BothCols     int     `json:"bothCols"`    // columns with output and speech
	FirstStartMs float64 `json:"firstStartMs"`
	FirstRunMs   float64 `json:"firstRunMs"` // the first output run's ts_us / 1000
	Clock        float64 `json:"clock"`      // the stats' clock_us
	MeanUS       float64 `json:"meanUS"`     // the vad node's mean work time
	P50US        float64 `json:"p50US"`
	Info         string  `json:"info"`
	Progress     float64 `json:"progress"` // the last progress report's seconds done
	Isolated     bool    `json:"isolated"`
	GraphNodes   int     `json:"graphNodes"`
	EventRows    int     `json:"eventRows"`
	FirstEvent   string  `json:"firstEvent"`
	Mode         string  `json:"mode"`
}

// readDrawing reads the demo's canvases: columns are matched on colour (the
// output's blue on the waveform, the speech green on the VAD strip).
const readDrawing = `
	const near = (d, i, [r, g, b]) => Math.abs(d[i] - r) < 40 && Math.abs(d[i + 1] - g) < 40 && Math.abs(d[i + 2] - b) < 40 && d[i + 3] > 200;
	const hex = (h) => [1, 3, 5].map((i) => parseInt(h.slice(i, i + 2), 16));
	const cols = (id, color) => {
		const c = document.getElementById(id), d = c.getContext("2d").getImageData(0, 0, c.width, c.height).data, out = [];
		for (let x = 0; x < c.width; x++) {
			let hit = false;
			for (let y = 0; y < c.height && !hit; y++) hit = near(d, (y * c.width + x) * 4, color);
			out.push(hit);
		}
		return out;
	};
	const out = cols("wave", hex(demo.colors.output)), speech = cols("vad", hex(demo.colors.speech));
	const res = demo.result, vad = res.stats.find((s) => s.id === "vad") || {};
	const start = res.events.find((e) => e.data && (e.data.event === "speech_start" || e.data.is_speech_start));
	const rows = document.querySelectorAll("#events tbody tr");
	return {
		width: out.length, totalMs: demo.timeline.totalMs,
		outFirstX: out.indexOf(true), outColumns: out.filter(Boolean).length,
		speechFirst: speech.indexOf(true), speechCols: speech.filter(Boolean).length,
		bothCols: out.filter((o, i) => o && speech[i]).length,
		firstStartMs: start ? (start.data.time_ms ?? start.ts_us / 1000) : -1,
		firstRunMs: res.audio[0] && res.audio[0].runs.length ? res.audio[0].runs[0].ts_us / 1000 : -1,
		clock: vad.clock_us, meanUS: vad.work_mean_us, p50US: vad.p50_us,
		info: document.getElementById("input-info").textContent,
		progress: demo.progress ? demo.progress.done : -1,
		isolated: self.crossOriginIsolated === true,
		graphNodes: document.querySelectorAll("#graph [data-node]").length,
		eventRows: rows.length, firstEvent: rows.length ? rows[0].innerText : "",
		mode: document.getElementById("mode").dataset.mode,
	};`

// TestDemoDrawsTheTruth runs the example over the speech WAV on the demo page
// and reads the drawing back from the canvases' pixels: the gated output is
// drawn where the VAD says speech is (its first column at the first
// speech_start's x, within 2 px, not at 0), the input's real rate is shown,
// progress was reported, per-node times have µs resolution (the page is
// cross-origin isolated, so the clock ticks in 5 µs), the graph and a readable
// event list are there. The screenshot is kept in e2e/out/demo-timeline.png.
// It runs on the page's thread and in a Web Worker.
func TestDemoDrawsTheTruth(t *testing.T) {
	s := startServer(t)
	for _, mode := range []string{"page", "worker"} {
		t.Run(mode, func(t *testing.T) {
			ctx := browser(t)
			u := s.url
			if mode == "worker" {
				u += "?worker"
			}
			navigate(t, ctx, u)
			if _, err := chromedp.Run(ctx, chromedp.Poll[bool](`document.getElementById("status").dataset.state === "ready"`,
				chromedp.WithPollingTimeout(60*time.Second))); err != nil {
				t.Fatalf("demo did not become ready: %v", err)
			}
			eval[bool](t, ctx, fmt.Sprintf(`await demo.useFile(%s, "speech.wav"); return !!(await demo.run());`, jsBytes(t, speech)))
			d := eval[demoDrawing](t, ctx, readDrawing)
			t.Logf("drawing: %+v", d)

			// The output is drawn at its timestamps: its first column is where its first
			// run is stamped (it starts at x 0 when drawn from the start of the canvas).
			pxPerMs := float64(d.Width) / d.TotalMs
			if runX := d.FirstRunMs * pxPerMs; d.FirstRunMs < 500 || math.Abs(float64(d.OutFirstX)-runX) > 2 {
				t.Errorf("the output's first run is stamped %.0f ms (x %.1f); it is drawn from x %d", d.FirstRunMs, runX, d.OutFirstX)
			}
			// ... aligned with the VAD timeline: it starts with the first speech segment
			// (a gate may keep a little audio before the onset), which is drawn at its time.
			startX := d.FirstStartMs * pxPerMs
			if math.Abs(d.FirstRunMs-d.FirstStartMs) > 100 || math.Abs(float64(d.SpeechFirstX)-startX) > 2 {
				t.Errorf("first speech_start at %.0f ms (x %.1f), drawn from x %d; the output's first run at %.0f ms: want them within 100 ms",
					d.FirstStartMs, startX, d.SpeechFirstX, d.FirstRunMs)
			}
			// Gated output lies in the speech segments but for the gate's padding at their
			// edges, and nowhere near the whole file.
			if d.OutColumns == 0 || float64(d.OutColumns-d.BothCols) > 0.15*float64(d.OutColumns) || d.OutColumns > d.Width*8/10 {
				t.Errorf("output in %d columns, %d of them in speech segments (%d speech columns of %d): want it in the speech",
					d.OutColumns, d.BothCols, d.SpeechCols, d.Width)
			}
			if d.Info != "speech.wav — 48000 Hz, 2 ch, 16-bit PCM, 9.18 s" {
				t.Errorf("input info %q", d.Info)
			}
			if !d.Isolated || d.Clock > 20 {
				t.Errorf("cross-origin isolated %v, clock step %.1f µs: want isolated with a clock of <= 20 µs", d.Isolated, d.Clock)
			}
			if d.MeanUS <= 0 || d.P50US <= 0 {
				t.Errorf("vad work time: mean %.2f µs, p50 %.2f µs: want both above 0", d.MeanUS, d.P50US)
			}
			if d.Progress < 9 {
				t.Errorf("last progress report at %.2f s, want the whole 9.18 s", d.Progress)
			}
			if d.GraphNodes != 4 || d.EventRows != 4 || !strings.Contains(d.FirstEvent, "vad.events\tspeech starts") || d.Mode != mode {
				t.Errorf("graph nodes %d, event rows %d, first %q, mode %q", d.GraphNodes, d.EventRows, d.FirstEvent, d.Mode)
			}
			png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
			if err != nil {
				t.Fatal(err)
			}
			if err := os.MkdirAll("out", 0o755); err != nil {
				t.Fatal(err)
			}
			path, _ := filepath.Abs(filepath.Join("out", "demo-timeline-"+mode+".png"))
			if err := os.WriteFile(path, png, 0o644); err != nil {
				t.Fatal(err)
			}
			t.Logf("screenshot: %s", path)
		})
	}
}

// TestDemoMicrophone: on the demo page, the fake microphone (the speech WAV)
// draws the input's waveform while it is captured; after a speech segment has
// ended the test stops the microphone, and the segment, the input and the gated
// output stay drawn on the time axis (they were lost on stopping before).
func TestDemoMicrophone(t *testing.T) {
	s := startServer(t)
	ctx := browser(t,
		chromedp.Flag("use-fake-device-for-media-stream", true),
		chromedp.Flag("use-fake-ui-for-media-stream", true),
		chromedp.Flag("use-file-for-fake-audio-capture", speech+"%noloop"),
		chromedp.Flag("autoplay-policy", "no-user-gesture-required"),
	)
	navigate(t, ctx, s.url)
	if _, err := chromedp.Run(ctx, chromedp.Poll[bool](`document.getElementById("status").dataset.state === "ready"`,
		chromedp.WithPollingTimeout(60*time.Second))); err != nil {
		t.Fatalf("demo did not become ready: %v", err)
	}
	// columns counts the canvas columns showing a colour of the page's palette.
	const columns = `
		const near = (d, i, [r, g, b]) => Math.abs(d[i] - r) < 40 && Math.abs(d[i + 1] - g) < 40 && Math.abs(d[i + 2] - b) < 40 && d[i + 3] > 200;
		const hex = (h) => [1, 3, 5].map((i) => parseInt(h.slice(i, i + 2), 16));
		const cols = (id, color) => {
			const c = document.getElementById(id), d = c.getContext("2d").getImageData(0, 0, c.width, c.height).data;
			let n = 0;
			for (let x = 0; x < c.width; x++) {
				let hit = false;
				for (let y = 0; y < c.height && !hit; y++) hit = near(d, (y * c.width + x) * 4, color);
				if (hit) n++;
			}
			return n;
		};
		return { input: cols("wave", hex(demo.colors.input)), output: cols("wave", hex(demo.colors.output)),
			speech: cols("vad", hex(demo.colors.speech)), segments: demo.timeline ? demo.timeline.segments.filter((s) => s.end !== null).length : 0,
			status: document.getElementById("status").textContent };`
	type drawn struct {
		Input, Output, Speech, Segments int
		Status                          string
	}
	eval[bool](t, ctx, `document.getElementById("mic").click(); return true;`)
	// Capturing: wait for the first speech segment to end (about 3.5 s into the file).
	if _, err := chromedp.Run(ctx, chromedp.Poll[bool](`!!demo.timeline && demo.timeline.segments.some((s) => s.end !== null)`,
		chromedp.WithPollingTimeout(60*time.Second))); err != nil {
		t.Fatalf("no speech segment ended while capturing: %v", err)
	}
	// The page redraws every 250 ms while capturing: wait for a drawing with the segment in it.
	if _, err := chromedp.Run(ctx, chromedp.Poll[bool](`(() => {`+columns+`})().speech > 0`, chromedp.WithPollingTimeout(30*time.Second))); err != nil {
		t.Errorf("the ended segment is not drawn while capturing: %v", err)
	}
	during := eval[drawn](t, ctx, columns)
	t.Logf("while capturing: %+v", during)
	if during.Input < 50 || during.Speech == 0 {
		t.Errorf("while capturing: %d input columns and %d speech columns drawn, want the input's waveform and the segment", during.Input, during.Speech)
	}
	eval[bool](t, ctx, `document.getElementById("mic").click(); return true;`)
	if _, err := chromedp.Run(ctx, chromedp.Poll[bool](`document.getElementById("status").dataset.state === "done"`,
		chromedp.WithPollingTimeout(60*time.Second))); err != nil {
		t.Fatalf("the microphone did not stop: %v", err)
	}
	after := eval[drawn](t, ctx, columns)
	t.Logf("after stopping: %+v", after)
	if after.Segments < 1 || after.Speech == 0 || after.Input < 50 || after.Output == 0 || !strings.HasPrefix(after.Status, "microphone stopped after") || strings.HasPrefix(after.Status, "microphone stopped after 0.00") {
		t.Errorf("after stopping: %+v, want the segments, the input and the output still drawn", after)
	}
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Fatal(err)
	}
	path, _ := filepath.Abs(filepath.Join("out", "demo-microphone.png"))
	if err := os.MkdirAll("out", 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, png, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshot: %s", path)
}
