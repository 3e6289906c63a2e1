package client

import (
	"context"
	"testing"

	"github.com/remotemedia/hybrid/core/frame"
)

// discardConn takes every message and never answers.
type discardConn struct{ done chan struct{} }

func (c discardConn) Write(context.Context, []byte) error { return nil }
func (c discardConn) Read(ctx context.Context) ([]byte, error) {
	select {
	case <-ctx.Done():
		return nil, ctx.Err()
	case <-c.done:
		return nil, context.Canceled
	}
}
func (c discardConn) Close() error { return nil }

// BenchmarkSessionSend is the client's cost of one 20 ms frame of 16 kHz
// mono s16 (640 bytes), as a phone sends it.
func BenchmarkSessionSend(b *testing.B) {
	conn := discardConn{done: make(chan struct{})}
	defer close(conn.done)
	sock := NewSocket(conn)
	defer sock.Close()
	sess, _ := sock.Open("s")
	f := frame.NewAudioS16(frame.Header{}, 16000, 1, make([]int16, 320))
	ctx := context.Background()
	b.ReportAllocs()
	b.SetBytes(640)
	for i := 0; b.Loop(); i++ {
		f.Seq, f.Timestamp = uint64(i), int64(i)*20000
		if err := sess.Send(ctx, f); err != nil {
			b.Fatal(err)
		}
	}
}
