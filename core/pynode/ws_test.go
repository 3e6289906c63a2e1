package pynode

import (
	"context"
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/remotemedia/hybrid/core/frame"
)

// fakeWS plays the proxy's side of a session's WebSocket for the "Upper" node:
// each message's text frames come back upper-cased, then the zero-length marker;
// "fail" answers an error frame, "die" an error frame and then a closed
// connection, eos the flushed output and the eos frame itself.
type fakeWS struct {
	replies [][]byte
	closed  bool
	dead    bool
}

func (c *fakeWS) Write(ctx context.Context, msg []byte) error {
	if c.closed || c.dead {
		return errors.New("write on a closed connection")
	}
	dec := frame.NewDecoder(strings.NewReader(string(msg)))
	for {
		f, err := dec.Decode()
		if err != nil {
			break
		}
		switch {
		case f.IsControl(frame.EndOfStream):
			c.reply(frame.NewText(frame.Header{}, "flushed"), f)
		case f.Text() == "fail" || f.Text() == "die":
			js, _ := json.Marshal(map[string]string{"error": "pyproxy: node \"Upper\": " + f.Text()})
			c.reply(frame.NewJSON(frame.Header{Meta: map[string]any{"error": true}}, js))
			if f.Text() == "die" {
				c.dead = true
				return nil
			}
		default:
			c.reply(frame.NewText(f.Header, strings.ToUpper(f.Text())))
		}
	}
	c.replies = append(c.replies, nil)
	return nil
}

func (c *fakeWS) reply(fs ...*frame.Frame) {
	for _, f := range fs {
		b, _ := frame.Marshal(f)
		c.replies = append(c.replies, b)
	}
}

func (c *fakeWS) Read(ctx context.Context) ([]byte, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if len(c.replies) == 0 {
		return nil, errors.New("connection closed by the proxy")
	}
	b := c.replies[0]
	c.replies = c.replies[1:]
	return b, nil
}

func (c *fakeWS) Close() error { c.closed = true; return nil }

func TestWSTransport(t *testing.T) {
	c, log := fakeProxy(t)
	ctx := context.Background()
	var conns []*fakeWS
	var dialed []string
	tr := NewWSTransport(c, func(_ context.Context, url, token string) (MessageConn, error) {
		dialed = append(dialed, url+" "+token)
		conns = append(conns, &fakeWS{})
		return conns[len(conns)-1], nil
	})
	tr.Fallback = func(nodeType, session string, err error) { t.Errorf("fell back to HTTP: %v", err) }
	id, err := tr.Open(ctx, "Upper", nil)
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"http://proxy/v1/sessions/s1/ws tok"}; !slices.Equal(dialed, want) {
		t.Errorf("dialed %q, want %q", dialed, want)
	}
	var got []string
	emit := func(f *frame.Frame) { got = append(got, f.Text()) }
	tests := []struct {
		name      string
		call      func() error
		expect    []string
		expectErr string
		dials     int // connections opened so far
	}{
		{name: "frames", call: func() error {
			return tr.Send(ctx, id, encodeAll(t, frame.NewText(frame.Header{}, "a"), frame.NewText(frame.Header{}, "b")), emit)
		}, expect: []string{"A", "B"}, dials: 1},
		{name: "error frame keeps the connection", call: func() error {
			return tr.Send(ctx, id, encodeAll(t, frame.NewText(frame.Header{}, "fail")), emit)
		}, expectErr: `pynode: remote node failed: pyproxy: node "Upper": fail`, dials: 1},
		{name: "flush drops the eos echo", call: func() error { return tr.Flush(ctx, id, emit) }, expect: []string{"flushed"}, dials: 1},
		{name: "a closed connection fails with the proxy's reason", call: func() error {
			return tr.Send(ctx, id, encodeAll(t, frame.NewText(frame.Header{}, "die")), emit)
		}, expectErr: `pyproxy: node "Upper": die`, dials: 1},
		{name: "the next call dials again", call: func() error {
			return tr.Send(ctx, id, encodeAll(t, frame.NewText(frame.Header{}, "c")), emit)
		}, expect: []string{"C"}, dials: 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got = nil
			err := tt.call()
			switch {
			case tt.expectErr != "":
				if err == nil || !strings.Contains(err.Error(), tt.expectErr) {
					t.Errorf("err = %v, want %q", err, tt.expectErr)
				}
			case err != nil || !slices.Equal(got, tt.expect):
				t.Errorf("got %q %v, want %q", got, err, tt.expect)
			}
			if len(conns) != tt.dials {
				t.Errorf("%d connections opened, want %d", len(conns), tt.dials)
			}
		})
	}
	if err := tr.Close(ctx, id); err != nil {
		t.Fatal(err)
	}
	if !conns[0].dead || !conns[0].closed || !conns[1].closed {
		t.Errorf("connections not closed: %+v %+v", conns[0], conns[1])
	}
	if want := []string{`open {"node_type":"Upper","params":null}`, "close s1"}; !slices.Equal(*log, want) {
		t.Errorf("HTTP requests %q, want %q", *log, want)
	}
}

// TestWSTransportFallback: a session whose WebSocket cannot open runs over HTTP.
func TestWSTransportFallback(t *testing.T) {
	c, log := fakeProxy(t)
	ctx := context.Background()
	var fellBack []string
	tr := NewWSTransport(c, func(context.Context, string, string) (MessageConn, error) {
		return nil, errors.New("upgrade refused")
	})
	tr.Fallback = func(nodeType, session string, err error) {
		fellBack = append(fellBack, nodeType+" "+session+": "+err.Error())
	}
	id, err := tr.Open(ctx, "Upper", nil)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	if err := tr.Send(ctx, id, encodeAll(t, frame.NewText(frame.Header{}, "x")), func(f *frame.Frame) { got = append(got, f.Text()) }); err != nil || !slices.Equal(got, []string{"X"}) {
		t.Errorf("send over HTTP: %q %v", got, err)
	}
	if err := tr.Flush(ctx, id, func(f *frame.Frame) { got = append(got, f.Text()) }); err != nil || !slices.Equal(got, []string{"X", "flushed"}) {
		t.Errorf("flush over HTTP: %q %v", got, err)
	}
	tr.Dial = func(ctx context.Context, _, _ string) (MessageConn, error) {
		<-ctx.Done() // a proxy that never answers the upgrade
		return nil, ctx.Err()
	}
	tr.DialTimeout = 20 * time.Millisecond
	if _, err := tr.Open(ctx, "Upper", nil); err != nil {
		t.Fatal(err)
	}
	if want := []string{"Upper s1: upgrade refused", "Upper s1: context deadline exceeded"}; !slices.Equal(fellBack, want) {
		t.Errorf("Fallback heard %q, want %q", fellBack, want)
	}
	if err := tr.Send(ctx, "gone", nil, func(*frame.Frame) {}); !errors.Is(err, ErrRemote) {
		t.Errorf("a session not opened here: %v, want the proxy's answer", err)
	}
	if want := []string{`open {"node_type":"Upper","params":null}`, "flush", `open {"node_type":"Upper","params":null}`}; !slices.Equal(*log, want) {
		t.Errorf("HTTP requests %q, want %q", *log, want)
	}
}

func encodeAll(t *testing.T, fs ...*frame.Frame) []byte {
	t.Helper()
	var b []byte
	for _, f := range fs {
		var err error
		if b, err = frame.AppendMarshal(b, f); err != nil {
			t.Fatal(err)
		}
	}
	return b
}
