package pyproxy

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"
)

const workerVectors = "../testdata/worker"

// vector is a protocol vector's JSON twin (testdata/worker/NAME.json).
type vector struct {
	Direction string         `json:"direction"`
	Doc       string         `json:"doc"`
	Message   map[string]any `json:"message"`
	Replies   []string       `json:"replies"`
}

func loadVectors(t *testing.T) map[string]vector {
	t.Helper()
	descs, err := filepath.Glob(filepath.Join(workerVectors, "*.json"))
	if err != nil || len(descs) < 15 {
		t.Fatalf("want at least 15 vectors in %s, found %d (%v)", workerVectors, len(descs), err)
	}
	out := map[string]vector{}
	for _, d := range descs {
		raw, err := os.ReadFile(d)
		if err != nil {
			t.Fatal(err)
		}
		var v vector
		if err := json.Unmarshal(raw, &v); err != nil {
			t.Fatalf("%s: %v", d, err)
		}
		out[strings.TrimSuffix(filepath.Base(d), ".json")] = v
	}
	return out
}

func vectorBody(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(workerVectors, name+".msgpack"))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// fieldBytes is a bin field of a vector: the twin names it KEY_hex.
func fieldBytes(t *testing.T, msg map[string]any, key string) []byte {
	t.Helper()
	s, _ := msg[key+"_hex"].(string)
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatalf("%s_hex: %v", key, err)
	}
	return b
}

// TestWorkerVectors checks the proxy's side of every protocol vector: a request
// built from its twin encodes to the vector's bytes exactly (length prefix, key
// order, integer sizes), and a worker message decodes to its twin field by field,
// with no field the proxy does not know.
func TestWorkerVectors(t *testing.T) {
	for name, v := range loadVectors(t) {
		t.Run(name, func(t *testing.T) {
			body := vectorBody(t, name)
			switch v.Direction {
			case "proxy_to_worker":
				checkRequestVector(t, v.Message, body)
			case "worker_to_proxy":
				checkMessageVector(t, v.Message, body)
			default:
				t.Fatalf("direction %q", v.Direction)
			}
		})
	}
}

func checkRequestVector(t *testing.T, msg map[string]any, body []byte) {
	r := request{op: msg["op"].(string)}
	r.session, _ = msg["session"].(string)
	r.nodeType, _ = msg["node_type"].(string)
	if p, ok := msg["params"].(map[string]any); ok {
		r.params = map[string]any{}
		for k, v := range p { // JSON numbers are float64; the proxy passes a client's whole numbers as ints
			if f, ok := v.(float64); ok && f == float64(int64(f)) {
				v = int64(f)
			}
			r.params[k] = v
		}
	}
	if _, ok := msg["frame_hex"]; ok {
		r.frame = fieldBytes(t, msg, "frame")
	}
	var out bytes.Buffer
	w := &worker{stdin: discardCloser{&out}}
	w.enc = newRequestEncoder(&w.wbuf)
	if err := w.write(uint64(msg["id"].(float64)), r); err != nil {
		t.Fatal(err)
	}
	want := binary.BigEndian.AppendUint32(nil, uint32(len(body)))
	want = append(want, body...)
	if !bytes.Equal(out.Bytes(), want) {
		t.Errorf("encoded\n%x\nwant\n%x", out.Bytes(), want)
	}
}

func checkMessageVector(t *testing.T, msg map[string]any, body []byte) {
	framed := binary.BigEndian.AppendUint32(nil, uint32(len(body)))
	var m message
	if _, err := readMessage(bufio.NewReader(bytes.NewReader(append(framed, body...))), nil, &m); err != nil {
		t.Fatal(err)
	}
	for key, want := range msg {
		var got any
		switch key {
		case "op":
			got = m.Op
		case "id":
			got, want = m.ID, uint64(want.(float64))
		case "session":
			got = m.Session
		case "frame_hex":
			got, want = m.Frame, fieldBytes(t, msg, "frame")
		case "error":
			got = m.Error
		case "type":
			got = m.Type
		case "traceback":
			got = m.Traceback
		case "fatal":
			got = m.Fatal
		case "version":
			got, want = m.Version, int(want.(float64))
		case "pid":
			got, want = m.PID, int(want.(float64))
		case "nodes":
			raw, _ := json.Marshal(want)
			var nodes []NodeType
			if err := json.Unmarshal(raw, &nodes); err != nil {
				t.Fatal(err)
			}
			got, want = m.Nodes, nodes
		default:
			t.Errorf("field %q: the proxy's message struct does not decode it", key)
			continue
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("field %q: got %#v, want %#v", key, got, want)
		}
	}
}

// TestWriteUnknownOp: a request the protocol does not have is refused, not sent.
func TestWriteUnknownOp(t *testing.T) {
	var out bytes.Buffer
	w := &worker{stdin: discardCloser{&out}}
	w.enc = newRequestEncoder(&w.wbuf)
	err := w.write(1, request{op: "exec", session: "s"})
	if !errors.Is(err, ErrProtocol) || !strings.Contains(err.Error(), `unknown request op "exec"`) {
		t.Errorf("err = %v, want ErrProtocol naming the op", err)
	}
	if out.Len() != 0 {
		t.Errorf("wrote %d bytes", out.Len())
	}
}

// TestNoLogOp: the worker logs to stderr, not through the protocol; a "log"
// message is an unknown op, warned about with its session.
func TestNoLogOp(t *testing.T) {
	rec := &recordHandler{}
	w := &worker{log: slog.New(rec), pending: map[uint64]*call{}}
	w.dispatch(&message{Op: "log", Session: "s9"})
	got := rec.all()
	if len(got) != 1 || got[0].Level != slog.LevelWarn || got[0].Message != "pyproxy: unknown message from worker" ||
		got[0].attrs["op"] != "log" || got[0].attrs["session"] != "s9" {
		t.Errorf("logged %+v, want one warning naming op log and session s9", got)
	}
}

type logRecord struct {
	Level   slog.Level
	Message string
	attrs   map[string]string
}

// recordHandler keeps the records logged through it.
type recordHandler struct {
	mu   sync.Mutex
	recs []logRecord
}

func (h *recordHandler) Enabled(context.Context, slog.Level) bool { return true }
func (h *recordHandler) WithAttrs([]slog.Attr) slog.Handler       { return h }
func (h *recordHandler) WithGroup(string) slog.Handler            { return h }
func (h *recordHandler) Handle(_ context.Context, r slog.Record) error {
	rec := logRecord{Level: r.Level, Message: r.Message, attrs: map[string]string{}}
	r.Attrs(func(a slog.Attr) bool { rec.attrs[a.Key] = a.Value.String(); return true })
	h.mu.Lock()
	h.recs = append(h.recs, rec)
	h.mu.Unlock()
	return nil
}

func (h *recordHandler) all() []logRecord {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]logRecord(nil), h.recs...)
}
