package sched

import (
	"context"
	"fmt"
	"runtime"
	"testing"
)

// BenchmarkChain measures the cost of a frame crossing pass-through Go nodes: one
// op is one frame pushed through the whole chain; ns/hop and allocs/hop divide
// by the number of nodes.
func BenchmarkChain(b *testing.B) {
	for _, hops := range []int{1, 8} {
		b.Run(fmt.Sprintf("nodes=%d", hops), func(b *testing.B) {
			g := &Graph{}
			for i := range hops {
				g.Nodes = append(g.Nodes, def(fmt.Sprint("n", i), pass()))
				if i > 0 {
					g.Edges = append(g.Edges, edge(fmt.Sprint("n", i-1), fmt.Sprint("n", i)))
				}
			}
			f := text(1)
			ctx := context.Background()
			var before, after runtime.MemStats
			runtime.ReadMemStats(&before)
			b.ReportAllocs()
			b.ResetTimer()
			s, err := Start(ctx, g, Options{Spin: true})
			if err != nil {
				b.Fatal(err)
			}
			go func() {
				for range b.N {
					if err := s.Push(ctx, f); err != nil {
						return
					}
				}
				_ = s.CloseInput(ctx)
			}()
			n := 0
			for range s.Outputs() {
				n++
			}
			if err := s.Wait(); err != nil || n != b.N {
				b.Fatalf("got %d of %d frames, err %v", n, b.N, err)
			}
			b.StopTimer()
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*hops), "ns/hop")
			runtime.ReadMemStats(&after)
			b.ReportMetric(float64(after.Mallocs-before.Mallocs)/float64(b.N*hops), "allocs/hop")
		})
	}
}

// BenchmarkChainSynchronous is BenchmarkChain in synchronous mode, outputs to OnOutput:
// the frame crosses every node on the pushing goroutine.
func BenchmarkChainSynchronous(b *testing.B) {
	for _, hops := range []int{1, 8} {
		b.Run(fmt.Sprintf("nodes=%d", hops), func(b *testing.B) {
			g := &Graph{}
			for i := range hops {
				g.Nodes = append(g.Nodes, def(fmt.Sprint("n", i), pass()))
				if i > 0 {
					g.Edges = append(g.Edges, edge(fmt.Sprint("n", i-1), fmt.Sprint("n", i)))
				}
			}
			f := text(1)
			ctx := context.Background()
			n := 0
			s, err := Start(ctx, g, Options{Synchronous: true, OnOutput: func(Output) { n++ }})
			if err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			b.ResetTimer()
			for range b.N {
				if err := s.Push(ctx, f); err != nil {
					b.Fatal(err)
				}
			}
			if err := s.CloseInput(ctx); err != nil || n != b.N {
				b.Fatalf("got %d of %d frames, err %v", n, b.N, err)
			}
			b.StopTimer()
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*hops), "ns/hop")
		})
	}
}
