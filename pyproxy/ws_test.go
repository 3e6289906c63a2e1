package pyproxy

import (
	"context"
	"strings"
	"testing"

	"github.com/coder/websocket"
	"github.com/remotemedia/hybrid/core/frame"
)

// TestWebSocket checks each reply: the outputs of the frames of one client message,
// an error frame for a failed request, then the zero-length end-of-reply marker,
// with the connection still open for the next message.
func TestWebSocket(t *testing.T) {
	p := newProxy(t, Config{Token: "s3cret"})
	srv, c := serve(t, p)
	ctx := context.Background()
	dial := func(nodeType string) *websocket.Conn {
		id := open(t, c, nodeType, nil)
		conn, _, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(srv.URL, "http")+"/v1/sessions/"+id+"/ws?token=s3cret", nil)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = conn.CloseNow() })
		return conn
	}
	counter, raise := dial("Counter"), dial("Raise")
	eos := frame.NewControl(frame.Header{StreamID: "t", Seq: 3}, frame.EndOfStream)
	tests := []struct {
		name   string
		conn   *websocket.Conn
		typ    websocket.MessageType
		given  []byte
		expect []string // output texts, "eos", or "error: <part of the message>"
	}{
		{name: "two frames", conn: counter, given: encode(t, text(1, "a"), text(2, "b")), expect: []string{"a#1", "b#2"}},
		{name: "bad frame", conn: counter, given: []byte("garbage"), expect: []string{"error: bad frame"}},
		{name: "text message", conn: counter, typ: websocket.MessageText, given: []byte("hi"), expect: []string{"error: binary messages"}},
		{name: "eos", conn: counter, given: encode(t, eos), expect: []string{`{"total":2}`, "eos"}},
		{name: "node raises after an output", conn: raise, given: encode(t, text(1, "a"), text(2, "raise"), text(3, "never")), expect: []string{"a", "error: ValueError: boom from Raise node"}},
		{name: "after the error", conn: raise, given: encode(t, text(4, "ok")), expect: []string{"ok"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			typ := tt.typ
			if typ == 0 {
				typ = websocket.MessageBinary
			}
			if err := tt.conn.Write(ctx, typ, tt.given); err != nil {
				t.Fatal(err)
			}
			var got []string
			for {
				typ, b, err := tt.conn.Read(ctx)
				if err != nil || typ != websocket.MessageBinary {
					t.Fatalf("read after %q: %v %v", got, typ, err)
				}
				if len(b) == 0 {
					break // the end-of-reply marker
				}
				f, err := frame.Unmarshal(b)
				if err != nil {
					t.Fatal(err)
				}
				switch {
				case f.Kind == frame.KindJSON && f.Meta["error"] == true:
					got = append(got, "error: "+f.Text())
				case f.IsControl(frame.EndOfStream):
					got = append(got, "eos")
				default:
					got = append(got, f.Text())
				}
			}
			ok := len(got) == len(tt.expect)
			for i := 0; ok && i < len(got); i++ {
				if e, isErr := strings.CutPrefix(tt.expect[i], "error: "); isErr {
					ok = strings.HasPrefix(got[i], "error: ") && strings.Contains(got[i], e)
				} else {
					ok = got[i] == tt.expect[i]
				}
			}
			if !ok {
				t.Errorf("reply %q, want %q then the marker", got, tt.expect)
			}
		})
	}
	if _, _, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(srv.URL, "http")+"/v1/sessions/x/ws", nil); err == nil {
		t.Error("dial without token succeeded")
	}
}
