package pynode

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"testing"

	"github.com/remotemedia/hybrid/core/frame"
	"github.com/remotemedia/hybrid/core/node"
)

// lateNotice is the proxy's notice that n late outputs of session s1 were dropped.
func lateNotice(n int) []byte {
	js, _ := json.Marshal(map[string]any{"dropped_late_outputs": n, "session": "s1"})
	b, _ := frame.Marshal(frame.NewJSON(frame.Header{StreamID: "s1", Meta: map[string]any{"dropped_late_outputs": n}}, js))
	return b
}

// TestLateDroppedIsReported: a reply that starts with the proxy's notice of
// dropped late outputs hands on the outputs that were kept, not the notice, and
// the call reports the count (ErrLateDropped, not fatal), over HTTP and over the
// session's WebSocket.
func TestLateDroppedIsReported(t *testing.T) {
	kept, _ := frame.Marshal(frame.NewText(frame.Header{Seq: 7}, "KEPT"))
	reply := append(lateNotice(5), kept...)

	mux := http.NewServeMux()
	mux.HandleFunc("POST /v1/sessions", func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusCreated)
		w.Write([]byte(`{"session_id":"s1"}`))
	})
	mux.HandleFunc("POST /v1/sessions/s1/frames", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", ContentType)
		w.Write(reply)
	})
	httpClient := NewClient("http://proxy", "", inProcess{mux})
	ws := NewWSTransport(httpClient, func(context.Context, string, string) (MessageConn, error) {
		return &scriptedWS{replies: [][]byte{lateNotice(5), kept, nil}}, nil
	})
	for name, tr := range map[string]Transport{"http": httpClient, "websocket": ws} {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			n, err := Spec(tr, RemoteType{Type: "Upper"}).New(ctx, node.Config{ID: "up"})
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			err = n.Process(ctx, 0, frame.NewText(frame.Header{}, "hi"), func(_ int, f *frame.Frame) { got = append(got, f.Text()) })
			if !errors.Is(err, ErrLateDropped) || errors.Is(err, node.ErrFatal) || !strings.Contains(err.Error(), "dropped 5 outputs") {
				t.Fatalf("err = %v, want ErrLateDropped with the count, not fatal", err)
			}
			if strings.Join(got, ",") != "KEPT" {
				t.Errorf("emitted %q, want only the kept output", got)
			}
		})
	}
}

// scriptedWS answers every write with its replies, in order (nil: the end of a reply).
type scriptedWS struct{ replies [][]byte }

func (c *scriptedWS) Write(context.Context, []byte) error { return nil }

func (c *scriptedWS) Read(ctx context.Context) ([]byte, error) {
	if len(c.replies) == 0 {
		return nil, errors.New("connection closed")
	}
	b := c.replies[0]
	c.replies = c.replies[1:]
	return b, nil
}

func (c *scriptedWS) Close() error { return nil }
