package modules_test

import (
	"encoding/json"
	"fmt"
	"math"
	"strings"
	"testing"
)

type utterance struct {
	ts     int64 // µs
	audio  []float32
	cancel bool // a cancel control frame, not audio
}

type bufferEvent struct {
	Event    string  `json:"event"`
	TimeMS   float64 `json:"time_ms"`
	StartMS  float64 `json:"start_ms"`
	EndMS    float64 `json:"end_ms"`
	SpeechMS float64 `json:"speech_ms"`
}

// vadEvents are the events the vad node sends for speech segments: speech_start
// at each start, sent once min_speech_ms (60) of it has come in, and speech_end
// at each end, sent once hangover_ms (200) of silence has; gated, the vad sends
// the segment's audio after its speech_start and before its speech_end.
type vadEvent struct {
	json   string
	sendMS float64 // sent after the audio frame that reaches this time
}

func vadEventsFor(segs []segment, t0ms float64) []vadEvent {
	var es []vadEvent
	for _, g := range segs {
		s, e := t0ms+g.start*1000, t0ms+g.end*1000
		es = append(es, vadEvent{fmt.Sprintf(`{"event":"speech_start","time_ms":%.3f}`, s), s + 60},
			vadEvent{fmt.Sprintf(`{"event":"speech_end","time_ms":%.3f,"duration_ms":%.3f}`, e, e-s), e + 200})
	}
	return es
}

// lastCancelAt is where in the input (ms) the last runSpeechBuffer's first
// cancel came out: the end of the audio frame after which it was emitted.
var lastCancelAt float64

// runSpeechBuffer runs speech_buffer.wasm (params) over in, cut into frames of
// frame samples, with the vad events of segs on its events port, in the order
// the vad (gate false) sends them: each frame's audio, then the events it
// completes. With gated, only the audio within a segment (through its hangover)
// is sent, after the segment's speech_start.
func runSpeechBuffer(t *testing.T, params string, in []float32, rate, frame int, t0 int64, segs []segment, gated bool) ([]utterance, []bufferEvent) {
	t.Helper()
	buf := newHarness(t, "speech_buffer.wasm", params)
	events := vadEventsFor(segs, float64(t0)/1000)
	inSpeech := func(ms float64) bool {
		for _, g := range segs {
			if ms >= float64(t0)/1000+g.start*1000 && ms < float64(t0)/1000+g.end*1000+200 {
				return true
			}
		}
		return false
	}
	var held []int   // gated: frames of a segment waiting for its speech_start
	cancelAt := -1.0 // ms: the end of the input frame after which the first cancel came out
	send := func(i int) {
		n := min(frame, len(in)-i)
		buf.sendF32(t, uint32(rate), 1, t0+int64(i)*1000000/int64(rate), in[i:i+n])
	}
	for i := 0; i < len(in); i += frame {
		startMS := (float64(t0) + float64(i)*1e6/float64(rate)) / 1000
		endMS := startMS + float64(min(frame, len(in)-i))*1000/float64(rate)
		switch {
		case !gated:
			send(i)
		case inSpeech(startMS):
			held = append(held, i)
		}
		flush := func() {
			for _, j := range held {
				send(j)
			}
			held = held[:0]
		}
		for len(events) > 0 && events[0].sendMS <= endMS {
			end := strings.Contains(events[0].json, "speech_end")
			if end { // the vad sends a segment's audio before its speech_end
				flush()
			}
			if err := buf.send(t, header{Kind: 3, TS: int64(events[0].sendMS * 1000), Port: 1}, []byte(events[0].json)); err != nil {
				t.Fatal(err)
			}
			events = events[1:]
			if end {
				held = held[:0] // audio past the hangover: gated out
			}
		}
		if gated && len(events)%2 == 1 { // after a speech_start, before its speech_end: the held audio goes
			flush()
		}
		for _, o := range buf.outs {
			if o.Kind == 6 && cancelAt < 0 {
				cancelAt = endMS
			}
		}
	}
	lastCancelAt = cancelAt
	buf.doFlush(t)
	var us []utterance
	var es []bufferEvent
	for _, o := range buf.take() {
		switch o.Port {
		case 0:
			if o.Kind == 6 && o.Format == 3 && len(o.Data) == 0 {
				us = append(us, utterance{ts: o.TS, cancel: true})
				continue
			}
			if o.Kind != 1 || o.Rate != uint32(rate) || o.Channels != 1 {
				t.Fatalf("utterance header %+v", o.header)
			}
			us = append(us, utterance{ts: o.TS, audio: o.f32()})
		case 1:
			var e bufferEvent
			if err := json.Unmarshal(o.Data, &e); err != nil || o.Kind != 3 {
				t.Fatalf("event %q: %v", o.Data, err)
			}
			es = append(es, e)
		}
	}
	return us, es
}

func TestSpeechBuffer(t *testing.T) {
	const rate, t0 = 16000, 5_000_000
	// Speech at 0.5-1.3 s, a 150 ms blip at 2.0 s (under min_speech_ms), and 3.2 s of speech from 3.0 s cut
	// into 1.5 s pieces by max_speech_ms.
	truth := []segment{{0.5, 1.3}, {2.0, 2.15}, {3.0, 6.2}}
	in := bursts(rate, 7.0, truth)
	for _, frame := range []int{320, 77, 1600} {
		us, es := runSpeechBuffer(t, `{"pre_roll_ms":300,"post_roll_ms":100,"min_speech_ms":250,"max_speech_ms":1500}`, in, rate, frame, t0, truth, false)
		// 0.2-1.4 s; 2.7-4.2 and 4.2-5.7 (max_speech_ms); 5.7-6.3.
		want := []segment{{0.2, 1.4}, {2.7, 4.2}, {4.2, 5.7}, {5.7, 6.3}}
		if len(us) != len(want) {
			t.Fatalf("frame %d: %d utterances, want %d (events %+v)", frame, len(us), len(want), es)
		}
		for i, w := range want {
			u := us[i]
			start := float64(u.ts-t0) / 1e6
			end := start + float64(len(u.audio))/rate
			if math.Abs(start-w.start) > 0.03 || math.Abs(end-w.end) > 0.03 {
				t.Errorf("frame %d: utterance %d is %.3f-%.3f s, want %.3f-%.3f", frame, i, start, end, w.start, w.end)
			}
			// The audio is the input's own samples from the utterance's timestamp on.
			at := int((u.ts - t0) * rate / 1000000)
			assertClose(t, "utterance audio", u.audio, in[at:at+len(u.audio)], 0)
		}
		// The pieces of the long utterance follow each other without a gap or an overlap.
		if got, want := us[2].ts, us[1].ts+int64(len(us[1].audio))*1000000/rate; got != want {
			t.Errorf("frame %d: the second piece starts at %d µs, the first ends at %d", frame, got, want)
		}
		var kinds []string
		for _, e := range es {
			kinds = append(kinds, e.Event)
		}
		if got := strings.Join(kinds, ","); got != "utterance,dropped,utterance,utterance,utterance" {
			t.Errorf("frame %d: events %s", frame, got)
		}
		if d := es[1]; d.SpeechMS < 100 || d.SpeechMS >= 250 || math.Abs(d.StartMS-t0/1000-1700) > 30 {
			t.Errorf("frame %d: dropped blip %+v", frame, d)
		}
		if e := es[0]; math.Abs(e.SpeechMS-800) > 40 || e.StartMS != float64(us[0].ts)/1000 {
			t.Errorf("frame %d: first utterance's event %+v (ts %d)", frame, e, us[0].ts)
		}
	}
}

// Barge-in: after the first utterance has gone out, speech still going on (no
// speech_end from the vad) barge_in_ms after its onset sends a barge_in event
// and a cancel frame ahead of its own utterance; a blip whose speech_end comes
// sooner (here 100 ms of speech and the vad's 200 ms hangover) does not, nor
// does the first utterance.
func TestSpeechBufferBargeIn(t *testing.T) {
	const rate, t0 = 16000, 0
	truth := []segment{{0.5, 1.3}, {2.0, 2.1}, {3.0, 4.0}}
	in := bursts(rate, 5.0, truth)
	us, es := runSpeechBuffer(t, `{"barge_in_ms":350,"min_speech_ms":50}`, in, rate, 320, t0, truth, false)
	var got []string
	for _, u := range us {
		if u.cancel {
			got = append(got, fmt.Sprintf("cancel@%d", u.ts/10000))
		} else {
			got = append(got, fmt.Sprintf("utterance@%d", (u.ts+300000)/10000)) // its onset, without the pre-roll
		}
	}
	// The 100 ms blip at 2.0 s is an utterance (min_speech_ms 50) but no barge-in.
	if s := strings.Join(got, " "); s != "utterance@50 utterance@200 cancel@300 utterance@300" {
		t.Fatalf("port 0: %s, want utterance@50 utterance@200 cancel@300 utterance@300 (in 10 ms)", s)
	}
	var barge []bufferEvent
	for _, e := range es {
		if e.Event == "barge_in" {
			barge = append(barge, e)
		}
	}
	if len(barge) != 1 || math.Abs(barge[0].StartMS-2700) > 20 || barge[0].TimeMS != 3000 {
		t.Fatalf("barge_in events %+v, want one at 3000 ms with start_ms 2700 (the utterance's start, pre-roll included)", barge)
	}
	// The stop goes out with the audio that reaches onset + barge_in_ms.
	if lastCancelAt < 3350 || lastCancelAt > 3370 {
		t.Errorf("the cancel came out after the input reached %.0f ms; want 3350-3370 (onset 3000 + barge_in_ms 350, in 20 ms frames)", lastCancelAt)
	}
	// With barge_in_ms 150, as live sessions have it, within 200 ms of the onset.
	runSpeechBuffer(t, `{"barge_in_ms":150,"min_speech_ms":50}`, in, rate, 320, t0, []segment{truth[0], truth[2]}, false)
	if lastCancelAt < 3150 || lastCancelAt > 3200 {
		t.Errorf("barge_in_ms 150: the cancel came out after the input reached %.0f ms; want it within 200 ms of the onset at 3000", lastCancelAt)
	}
	// Off by default: the same input gives no cancel.
	us, _ = runSpeechBuffer(t, `{"min_speech_ms":50}`, in, rate, 320, t0, truth, false)
	for _, u := range us {
		if u.cancel {
			t.Fatal("a cancel with barge_in_ms unset")
		}
	}
}

func TestSpeechBufferNoSpeech(t *testing.T) {
	const rate = 16000
	in := bursts(rate, 3.0, nil)
	us, es := runSpeechBuffer(t, `{}`, in, rate, 320, 0, nil, false)
	if len(us) != 0 || len(es) != 0 {
		t.Fatalf("silence gave %d utterances, events %+v", len(us), es)
	}
}

// Gated audio (vad gate: true) has no pre-roll to give, but the utterances are still cut at the events.
func TestSpeechBufferGatedInput(t *testing.T) {
	const rate, t0 = 16000, 0
	truth := []segment{{0.5, 1.3}, {2.0, 2.8}}
	in := bursts(rate, 3.5, truth)
	us, es := runSpeechBuffer(t, `{"pre_roll_ms":300,"post_roll_ms":100}`, in, rate, 320, t0, truth, true)
	if len(us) != 2 {
		t.Fatalf("%d utterances, want 2 (events %+v)", len(us), es)
	}
	for i, u := range us {
		start := float64(u.ts) / 1e6
		end := start + float64(len(u.audio))/rate
		if math.Abs(start-truth[i].start) > 0.03 || math.Abs(end-(truth[i].end+0.1)) > 0.03 {
			t.Errorf("utterance %d is %.3f-%.3f s, truth %.2f-%.2f (+0.1 post-roll)", i, start, end, truth[i].start, truth[i].end)
		}
		at := int(u.ts * rate / 1000000)
		assertClose(t, "utterance audio", u.audio, in[at:at+len(u.audio)], 0)
	}
}

func TestTextCollector(t *testing.T) {
	for _, tc := range []struct {
		name, params string
		given        []string
		expect       []string // after each piece is sent, joined by |; the last entry is what flush adds
	}{
		{"tokens", `{}`, []string{"Hello", " there.", " How are", " you? I am", " fine"},
			[]string{"", "Hello there.", "", "How are you?", "", "I am fine"}},
		{"whole reply", `{}`, []string{"First one. Second one! Third? And the rest"},
			[]string{"First one.|Second one!|Third?", "And the rest"}},
		{"numbers and quotes", `{}`, []string{`Pi is 3.14 (roughly). He said "stop!" then left`},
			[]string{`Pi is 3.14 (roughly).|He said "stop!"`, "then left"}},
		{"line breaks", `{}`, []string{"a list\nsecond line\n"}, []string{"a list|second line", ""}},
		{"min_chars joins", `{"min_chars":12}`, []string{"Hi. Yes. This is longer. Ok."},
			[]string{"Hi. Yes. This is longer.", "Ok."}},
		{"max_chars cuts", `{"max_chars":16}`, []string{"one two three four five six"},
			[]string{"one two three", "four five six"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, "text_collector.wasm", tc.params)
			texts := func() string {
				var s []string
				for _, o := range h.take() {
					if o.Kind != 2 || o.Port != 0 {
						t.Fatalf("output %+v", o.header)
					}
					s = append(s, string(o.Data))
				}
				return strings.Join(s, "|")
			}
			var got []string
			for i, piece := range tc.given {
				if err := h.send(t, header{Kind: 2, TS: int64(i) * 1000}, []byte(piece)); err != nil {
					t.Fatal(err)
				}
				got = append(got, texts())
			}
			h.doFlush(t)
			got = append(got, texts())
			if strings.Join(got, " / ") != strings.Join(tc.expect, " / ") {
				t.Errorf("got      %q\nexpected %q", got, tc.expect)
			}
		})
	}
}

// passthrough sends every frame on as it came: kind, format, timestamp, payload.
func TestPassthrough(t *testing.T) {
	h := newHarness(t, "passthrough.wasm", `{}`)
	in := []output{
		{header{Kind: 2, TS: 1000}, []byte("a transcript")},
		{header{Kind: 3, TS: 2000}, []byte(`{"event":"utterance"}`)},
		{header{Kind: 1, Format: 1, Channels: 2, Rate: 48000, TS: 3000}, f32ToBytes([]float32{0.5, -0.25, 1, 0})},
		{header{Kind: 4, TS: 4000}, []byte{0, 1, 2}},
	}
	for _, o := range in {
		if err := h.send(t, o.header, o.Data); err != nil {
			t.Fatal(err)
		}
	}
	got := h.take()
	if len(got) != len(in) {
		t.Fatalf("%d outputs for %d inputs", len(got), len(in))
	}
	for i, o := range got {
		w := in[i]
		if o.Kind != w.Kind || o.Format != w.Format || o.Channels != w.Channels || o.Rate != w.Rate || o.TS != w.TS || o.Port != 0 || string(o.Data) != string(w.Data) {
			t.Errorf("output %d = %+v %q, want %+v %q", i, o.header, o.Data, w.header, w.Data)
		}
	}
}
