package pyproxy

import (
	"io"
	"testing"
)

type discardCloser struct{ io.Writer }

func (discardCloser) Close() error { return nil }

// BenchmarkWorkerWrite encodes and writes one frame request (a 20 ms stereo f32
// frame) as the proxy does for every frame it feeds a worker.
func BenchmarkWorkerWrite(b *testing.B) {
	w := &worker{stdin: discardCloser{io.Discard}}
	w.enc = newRequestEncoder(&w.wbuf)
	body := audio20ms(b)
	r := request{op: "frame", session: "0123456789abcdef", frame: body}
	b.ReportAllocs()
	b.SetBytes(int64(len(body)))
	var id uint64
	for b.Loop() {
		id++
		if err := w.write(id, r); err != nil {
			b.Fatal(err)
		}
	}
}
