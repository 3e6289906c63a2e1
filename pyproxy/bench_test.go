package pyproxy

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"os/exec"
	"runtime"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/remotemedia/hybrid/core/frame"
	"github.com/remotemedia/hybrid/internal/gogc"
)

// audio20ms is 20 ms of 48 kHz stereo f32 (7680 bytes of samples).
func audio20ms(b testing.TB) []byte {
	samples := make([]float32, 960*2)
	for i := range samples {
		samples[i] = float32(math.Sin(float64(i) / 10))
	}
	enc, err := frame.Marshal(frame.NewAudioF32(frame.Header{StreamID: "bench"}, 48000, 2, samples))
	if err != nil {
		b.Fatal(err)
	}
	return enc
}

func reportPercentiles(b *testing.B, lat []time.Duration) {
	slices.Sort(lat)
	b.ReportMetric(float64(lat[len(lat)/2].Microseconds()), "p50-µs")
	b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds()), "p99-µs")
}

// BenchmarkRoundTrip sends one 20 ms frame at a time through a pass-through Python
// node: over the session's WebSocket as native pipelines do ("websocket"), one
// HTTP request per frame ("http"), and through Proxy.Feed without either ("pipe"),
// which isolates the worker pipe and Python.
func BenchmarkRoundTrip(b *testing.B) {
	gogc.Apply(gogc.Percent) // as the remotemedia and pyproxy commands run
	p := newProxy(b, Config{})
	srv, c := serve(b, p)
	ctx := context.Background()
	body := audio20ms(b)
	id := open(b, c, "PassThrough", nil)
	ws := wsTransport(b, srv.URL, "")
	wsID, err := ws.Open(ctx, "PassThrough", nil)
	if err != nil {
		b.Fatal(err)
	}
	// roundTrips times one send per iteration; send returns how many outputs came back.
	roundTrips := func(b *testing.B, send func() (int, error)) {
		lat := make([]time.Duration, 0, b.N)
		b.ReportAllocs()
		b.SetBytes(int64(len(body)))
		for b.Loop() {
			start := time.Now()
			if n, err := send(); err != nil || n != 1 {
				b.Fatalf("%d outputs, %v", n, err)
			}
			lat = append(lat, time.Since(start))
		}
		reportPercentiles(b, lat)
	}
	b.Run("websocket", func(b *testing.B) {
		roundTrips(b, func() (int, error) {
			n := 0
			err := ws.Send(ctx, wsID, body, func(*frame.Frame) { n++ })
			return n, err
		})
	})
	b.Run("http", func(b *testing.B) {
		roundTrips(b, func() (int, error) {
			n := 0
			err := c.Send(ctx, id, body, func(*frame.Frame) { n++ })
			return n, err
		})
	})
	b.Run("pipe", func(b *testing.B) {
		roundTrips(b, func() (int, error) {
			n := 0
			err := p.Feed(ctx, id, body, func([]byte) error { n++; return nil })
			return n, err
		})
	})
}

// BenchmarkThroughput pushes 20 ms frames from 4 concurrent sessions, each over
// its WebSocket as native pipelines do, spread over 1, 2 and 4 workers; frames/s
// is the aggregate rate. "pass" is the pass-through node, which measures the
// overhead; "busy-1ms" spends 1 ms of pure-Python CPU on each frame (holding the
// GIL), the case more workers are for.
func BenchmarkThroughput(b *testing.B) {
	gogc.Apply(gogc.Percent)
	const sessions = 4
	body := audio20ms(b)
	ctx := context.Background()
	nodes := []struct {
		name, nodeType string
		params         map[string]any
	}{
		{"pass", "PassThrough", nil},
		{"busy-1ms", "Busy", map[string]any{"ms": 1}},
	}
	for _, nd := range nodes {
		for _, workers := range []int{1, 2, 4} {
			p := newProxy(b, Config{Workers: workers})
			srv, _ := serve(b, p)
			ws := wsTransport(b, srv.URL, "")
			ids := make([]string, sessions)
			for i := range ids {
				var err error
				if ids[i], err = ws.Open(ctx, nd.nodeType, nd.params); err != nil {
					b.Fatal(err)
				}
			}
			b.Run(fmt.Sprintf("%s/workers=%d", nd.name, workers), func(b *testing.B) {
				b.ReportAllocs()
				b.SetBytes(int64(len(body)))
				var left atomic.Int64
				left.Store(int64(b.N))
				var wg sync.WaitGroup
				start := time.Now()
				for _, id := range ids {
					wg.Add(1)
					go func() {
						defer wg.Done()
						for left.Add(-1) >= 0 {
							if err := ws.Send(ctx, id, body, func(*frame.Frame) {}); err != nil {
								b.Error(err)
								return
							}
						}
					}()
				}
				wg.Wait()
				b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "frames/s")
			})
			_ = p.Close()
		}
	}
}

// BenchmarkPythonFrontEnd runs the speech front end of examples/speech-frontend.yaml
// written in Python (numpy, a task and an asyncio queue per node, as a RemoteMedia
// pipeline runs: python/scripts/bench_frontend.py), 4 streams in each of one
// process per CPU, for the same figures as BenchmarkFrontEndStreams in
// target/server/cli: frames/s and the real-time streams that carries.
func BenchmarkPythonFrontEnd(b *testing.B) {
	py := testPython(b)
	const streams = 4
	procs := runtime.NumCPU()
	frames := max(b.N/(procs*streams), 1000) // shorter runs are mostly start-up
	out, err := exec.Command(py, "python/scripts/bench_frontend.py", "--frames", strconv.Itoa(frames),
		"--procs", strconv.Itoa(procs), "--streams", strconv.Itoa(streams)).Output()
	if err != nil {
		b.Fatalf("bench_frontend.py: %v", err)
	}
	var res struct {
		FramesPerS float64 `json:"frames_per_s"`
		UsPerFrame float64 `json:"us_per_frame"`
	}
	if err := json.Unmarshal(out, &res); err != nil || res.FramesPerS <= 0 {
		b.Fatalf("bench_frontend.py printed %q (%v)", out, err)
	}
	b.ReportMetric(res.FramesPerS, "frames/s")
	b.ReportMetric(res.FramesPerS/50, "streams")
	b.ReportMetric(res.UsPerFrame, "cpu-µs/frame")
}
