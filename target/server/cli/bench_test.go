package cli

import (
	"context"
	"math"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/remotemedia/hybrid/core/frame"
	"github.com/remotemedia/hybrid/core/runner"
	"github.com/remotemedia/hybrid/core/sched"
	"github.com/remotemedia/hybrid/core/wasmnode"
	"github.com/remotemedia/hybrid/internal/gogc"
	"github.com/remotemedia/hybrid/target/wasmhost"
	modules "github.com/remotemedia/hybrid/wasm-modules"
)

// loadBenchDef loads a definition on a registry as the remotemedia command
// builds it.
func loadBenchDef(b *testing.B, path string) *runner.Pipeline {
	gogc.Apply(gogc.Percent) // as remotemedia run runs
	ctx := context.Background()
	wf := wasmFlags{memoryPages: 256, callTimeout: time.Second, cacheDir: b.TempDir()}
	reg, h, err := wf.registry(ctx)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { h.Close(ctx) })
	data, err := os.ReadFile(path)
	if err != nil {
		b.Fatal(err)
	}
	p, err := runner.Load(data, reg)
	if err != nil {
		b.Fatalf("%s: %v", path, err)
	}
	return p
}

// speechLike is sample i of one second of speech-like audio: a 220 Hz tone
// with a 3 Hz envelope.
func speechLike(i, rate int) float64 {
	t := float64(i) / float64(rate)
	return 0.3 * math.Sin(2*math.Pi*220*t) * (0.5 + 0.5*math.Sin(2*math.Pi*3*t))
}

// frontEnd loads the example definition (to_mono → resample → gain → vad), and
// one second of speech-like audio (48 kHz stereo) cut in 20 ms frames.
func frontEnd(b *testing.B) (*runner.Pipeline, []*frame.Frame) {
	p := loadBenchDef(b, "../../../examples/speech-frontend.yaml")
	const rate, per = 48000, 960
	frames := make([]*frame.Frame, 50)
	for i := range frames {
		s := make([]float32, 2*per)
		for j := 0; j < per; j++ {
			v := float32(speechLike(i*per+j, rate))
			s[2*j], s[2*j+1] = v, v
		}
		frames[i] = frame.NewAudioF32(frame.Header{Seq: uint64(i), Timestamp: int64(i) * 20000}, rate, 2, s)
	}
	return p, frames
}

// phoneFrontEnd loads the bench's phone definition (convert → gain → vad, as
// make bench serves it), and one second of speech-like audio as a phone or
// browser sends it (16 kHz mono s16) cut in 20 ms frames.
func phoneFrontEnd(b *testing.B) (*runner.Pipeline, []*frame.Frame) {
	p := loadBenchDef(b, "../../../testdata/bench/phone-frontend.yaml")
	const rate, per = 16000, 320
	frames := make([]*frame.Frame, 50)
	for i := range frames {
		s := make([]int16, per)
		for j := range s {
			s[j] = int16(math.Round(speechLike(i*per+j, rate) * 32767))
		}
		frames[i] = frame.NewAudioS16(frame.Header{Seq: uint64(i), Timestamp: int64(i) * 20000}, rate, 1, s)
	}
	return p, frames
}

// runStream pushes n frames through a new session of p as fast as it takes them.
func runStream(p *runner.Pipeline, frames []*frame.Frame, n int) error {
	return runStreamWith(p, frames, n, sched.Options{Spin: true}) // as run does
}

// runStreamWith is runStream with the session's options; with opts.Synchronous the
// outputs are dropped by an OnOutput callback.
func runStreamWith(p *runner.Pipeline, frames []*frame.Frame, n int, opts sched.Options) error {
	ctx := context.Background()
	if opts.Synchronous {
		opts.OnOutput = func(sched.Output) {}
	}
	s, err := sched.Start(ctx, p.Graph, opts)
	if err != nil {
		return err
	}
	defer s.Close()
	go func() {
		for range s.Outputs() {
		}
	}()
	for i := 0; i < n; i++ {
		if err := s.Push(ctx, frames[i%len(frames)]); err != nil {
			return err
		}
	}
	if err := s.CloseInput(ctx); err != nil {
		return err
	}
	return s.Wait()
}

// BenchmarkFrontEndChain measures the example definition per 20 ms frame of
// 48 kHz stereo audio, through the scheduler, one stream.
func BenchmarkFrontEndChain(b *testing.B) {
	p, frames := frontEnd(b)
	b.ReportAllocs()
	b.ResetTimer()
	if err := runStream(p, frames, b.N); err != nil {
		b.Fatal(err)
	}
	b.StopTimer()
	b.ReportMetric(float64(b.Elapsed().Microseconds())/float64(b.N), "µs/frame")
}

// BenchmarkFrontEndStreams runs 64 sessions of the example definition at once,
// each as fast as it goes: the aggregate frames/s, and the real-time streams
// (50 frames/s each) that rate would carry.
func BenchmarkFrontEndStreams(b *testing.B) {
	const sessions = 64
	p, frames := frontEnd(b)
	per := max(b.N/sessions, 1)
	b.ResetTimer()
	var wg sync.WaitGroup
	for range sessions {
		wg.Go(func() {
			if err := runStream(p, frames, per); err != nil {
				b.Error(err)
			}
		})
	}
	wg.Wait()
	b.StopTimer()
	rate := float64(per*sessions) / b.Elapsed().Seconds()
	b.ReportMetric(rate, "frames/s")
	b.ReportMetric(rate/50, "streams")
}

// BenchmarkPhoneFrontEndStreams is BenchmarkFrontEndStreams for the phone
// front end make bench serves live (testdata/bench/phone-frontend.yaml, 16 kHz
// mono s16 in): the same pipeline in process, without the network. Each session
// runs with a goroutine per node (goroutines) or on its pusher's goroutine
// (synchronous, sched.Options.Synchronous, as the live server runs it).
func BenchmarkPhoneFrontEndStreams(b *testing.B) {
	const sessions = 64
	for _, mode := range []struct {
		name string
		opts sched.Options
	}{{"goroutines", sched.Options{Spin: true}}, {"synchronous", sched.Options{Synchronous: true}}} {
		b.Run(mode.name, func(b *testing.B) {
			p, frames := phoneFrontEnd(b)
			per := max(b.N/sessions, 1)
			b.ResetTimer()
			var wg sync.WaitGroup
			for range sessions {
				wg.Go(func() {
					if err := runStreamWith(p, frames, per, mode.opts); err != nil {
						b.Error(err)
					}
				})
			}
			wg.Wait()
			b.StopTimer()
			rate := float64(per*sessions) / b.Elapsed().Seconds()
			b.ReportMetric(rate, "frames/s")
			b.ReportMetric(rate/50, "streams")
		})
	}
}

// BenchmarkLoadModules measures compiling every standard module on a new host:
// cold (empty cache directory) and cached (a directory a previous host filled).
func BenchmarkLoadModules(b *testing.B) {
	ctx := context.Background()
	load := func(b *testing.B, dir string) {
		h, err := wasmhost.New(ctx, wasmhost.Config{CacheDir: dir, Trusted: modules.Hashes()}) // as the binary does
		if err != nil {
			b.Fatal(err)
		}
		defer h.Close(ctx)
		for _, m := range wasmnode.Standard {
			wasm, err := modules.Loader{}.Load(ctx, m.File)
			if err != nil {
				b.Fatal(err)
			}
			if _, err := h.Compile(ctx, m.File, wasm); err != nil {
				b.Fatal(err)
			}
		}
	}
	b.Run("cold", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			load(b, b.TempDir())
		}
	})
	b.Run("cached", func(b *testing.B) {
		dir := b.TempDir()
		load(b, dir)
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			load(b, dir)
		}
	})
}
