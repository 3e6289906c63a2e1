package live

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"sync"
	"testing"

	"github.com/remotemedia/hybrid/core/client"
	"github.com/remotemedia/hybrid/core/frame"
	"github.com/remotemedia/hybrid/core/node"
	"github.com/remotemedia/hybrid/core/runner"
	"github.com/remotemedia/hybrid/core/sched"
	"github.com/remotemedia/hybrid/target/server/clientws"
)

// runSplit runs frames through a split placement of definition data against
// the server at url, the way a tab does (client.Split), and collects the outputs.
func runSplit(t *testing.T, url string, data []byte, opts client.SplitOptions, src runner.Source) (*result, []sched.NodeStats, error) {
	t.Helper()
	p, err := runner.Load(data, testRegistry)
	if err != nil {
		t.Fatal(err)
	}
	sp, err := clientws.New(url, "").NewSplit(p, opts)
	if err != nil {
		t.Fatal(err)
	}
	res := newResult()
	stats, err := sp.Run(testCtx(t), src, func(o sched.Output) error {
		if o.Err != nil {
			res.errs = append(res.errs, o.Err.Error())
			return nil
		}
		res.add(o.Node+"."+o.Port, o.Frame)
		return nil
	})
	return res, stats, err
}

// TestSplitMatchesWholeRun: examples/split-frontend.yaml with its vad on the
// server (the catalogue's copy, by name, and the definition sent inline) gives
// the bytes and events of the whole pipeline run in one place.
func TestSplitMatchesWholeRun(t *testing.T) {
	data, err := os.ReadFile("../../../examples/split-frontend.yaml")
	if err != nil {
		t.Fatal(err)
	}
	s, hs := newTestServer(t, Config{AllowInline: true})
	frames := framesOf(t, speechLike(3), 48000, 2, "run")
	want := inProcess(t, s, "split-frontend", frames)
	if len(want.audio["level.out"]) == 0 || len(want.events["vad.events"]) < 4 {
		t.Fatalf("the whole run gave %d bytes of level.out and %d events: the input should have speech",
			len(want.audio["level.out"]), len(want.events["vad.events"]))
	}
	for _, tc := range []struct {
		name string
		opts client.SplitOptions
	}{
		{name: "catalogue", opts: client.SplitOptions{Pipeline: "split-frontend"}},
		{name: "inline", opts: client.SplitOptions{Definition: data}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, stats, err := runSplit(t, hs.URL, data, tc.opts, &sliceSource{frames: frames})
			if err != nil {
				t.Fatal(err)
			}
			sameOutputs(t, "split", got, want)
			var ids []string
			byID := map[string]sched.NodeStats{}
			for _, st := range stats {
				ids = append(ids, st.ID)
				byID[st.ID] = st
			}
			if vad, rs := byID["vad"], byID["resample"]; vad.In == 0 || vad.In != rs.Out || byID["level"].In == 0 {
				t.Errorf("vad (on the server) took %d frames and gave %d; resample gave %d, level took %d: every frame should cross",
					vad.In, vad.Out, rs.Out, byID["level"].In)
			}
			if strings.Join(ids, ",") != "mono,resample,vad,level" {
				t.Errorf("stats of %q, want the four nodes of both sides in definition order", ids)
			}
		})
	}
}

// TestSplitServerFailure: a server node's fatal error fails the tab's session,
// naming the server's part and the reason.
func TestSplitServerFailure(t *testing.T) {
	_, hs := newTestServer(t, Config{AllowInline: true})
	def := []byte(`version: "1"
nodes:
  - {id: g, node_type: gain}
  - {id: m, node_type: model, runtime_hint: server}
connections:
  - {from: g, to: m}
`)
	frames := framesOf(t, speechLike(0.2), 48000, 2, "dies")
	_, _, err := runSplit(t, hs.URL, def, client.SplitOptions{Definition: def, StreamID: "dies"}, &sliceSource{frames: frames})
	if !errors.Is(err, client.ErrSessionFailed) || !strings.Contains(err.Error(), "worker running it died") || !strings.Contains(err.Error(), "(m)") {
		t.Fatalf("err = %v, want ErrSessionFailed naming the server's part (m) and its reason", err)
	}
}

// TestSplitRefused: a ?nodes= the pipeline cannot be split by is refused
// before the upgrade, saying why.
func TestSplitRefused(t *testing.T) {
	_, hs := newTestServer(t, Config{})
	for _, tc := range []struct {
		name, query, expect string
	}{
		{name: "unknown node", query: "nodes=nope", expect: `no node \"nope\" in the graph`},
		{name: "back and forth", query: "nodes=mono,vad", expect: "resample runs in front but lies between back-side nodes"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp, err := http.Get(hs.URL + "/v1/pipelines/split-frontend/ws?" + tc.query)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			body, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != http.StatusBadRequest || !strings.Contains(string(body), tc.expect) {
				t.Fatalf("HTTP %d %s, want 400 saying %q", resp.StatusCode, body, tc.expect)
			}
		})
	}
}

// registerFlaky adds "flaky" to the test registry once: it refuses the frames
// of odd seq (an error under on_error: continue) and passes the others.
var registerFlaky = sync.OnceFunc(func() {
	audio := []frame.Kind{frame.KindAudio}
	testRegistry.MustRegister(node.Spec{
		Type: "flaky", Runtime: node.RuntimeGo, Doc: "test: refuses odd frames",
		Inputs:  []node.Port{{Name: "in", Kinds: audio}},
		Outputs: []node.Port{{Name: "out", Kinds: audio}},
		New: func(context.Context, node.Config) (node.Node, error) {
			return flaky{}, nil
		},
	})
})

type flaky struct{}

func (flaky) Process(_ context.Context, _ int, in *frame.Frame, emit node.Emit) error {
	if in.Seq%2 == 1 {
		return fmt.Errorf("flaky: frame %d refused", in.Seq)
	}
	emit(0, in)
	return nil
}

func (flaky) Flush(context.Context, node.Emit) error { return nil }
func (flaky) Close() error                           { return nil }

// TestSplitNodeErrors: a server node's errors reach the tab as that node's
// errors, with the frame's seq and timestamp, as when it all runs in one place.
func TestSplitNodeErrors(t *testing.T) {
	registerFlaky()
	_, hs := newTestServer(t, Config{AllowInline: true})
	def := []byte(`version: "1"
nodes:
  - {id: g, node_type: gain}
  - {id: f, node_type: flaky, runtime_hint: server}
connections:
  - {from: g, to: f}
`)
	frames := framesOf(t, speechLike(0.1), 48000, 2, "run")
	var want []string
	p, err := runner.Load(def, testRegistry)
	if err != nil {
		t.Fatal(err)
	}
	_, err = runner.Run(testCtx(t), p, &sliceSource{frames: frames}, func(o sched.Output) error {
		if ev, ok := runner.EventOf(o); ok && o.Err != nil {
			b, _ := json.Marshal(ev)
			want = append(want, string(b))
		}
		return nil
	}, sched.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if len(want) != len(frames)/2 {
		t.Fatalf("the whole run gave %d errors, want %d", len(want), len(frames)/2)
	}
	sp, err := clientws.New(hs.URL, "").NewSplit(p, client.SplitOptions{Definition: def})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	_, err = sp.Run(testCtx(t), &sliceSource{frames: frames}, func(o sched.Output) error {
		if ev, ok := runner.EventOf(o); ok && o.Err != nil {
			b, _ := json.Marshal(ev)
			got = append(got, string(b))
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("split errors:\n%s\nwant (the whole run's):\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

// BenchmarkSplitFrontend: examples/split-frontend.yaml over 3 s of audio,
// split across a loopback server (vad there) and in one place, per 20 ms frame.
func BenchmarkSplitFrontend(b *testing.B) {
	data, err := os.ReadFile("../../../examples/split-frontend.yaml")
	if err != nil {
		b.Fatal(err)
	}
	_, hs := newTestServer(b, Config{})
	frames := framesOf(b, speechLike(3), 48000, 2, "run")
	p, err := runner.Load(data, testRegistry)
	if err != nil {
		b.Fatal(err)
	}
	sp, err := clientws.New(hs.URL, "").NewSplit(p, client.SplitOptions{Pipeline: "split-frontend"})
	if err != nil {
		b.Fatal(err)
	}
	discard := func(sched.Output) error { return nil }
	for _, bc := range []struct {
		name string
		run  func() error
	}{
		{"split", func() error { _, err := sp.Run(testCtx(b), &sliceSource{frames: frames}, discard); return err }},
		{"whole", func() error {
			_, err := runner.Run(testCtx(b), p, &sliceSource{frames: frames}, discard, sched.Options{})
			return err
		}},
	} {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if err := bc.run(); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(frames))/1e3, "µs/frame")
		})
	}
}
