package live

import (
	"bufio"
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/coder/websocket"

	"github.com/remotemedia/hybrid/core/frame"
)

// sseReader reads the inspector's server-sent events.
type sseReader struct {
	t    *testing.T
	resp *http.Response
	sc   *bufio.Scanner
}

func openInspectStream(t *testing.T, ctx context.Context, url string) *sseReader {
	t.Helper()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { resp.Body.Close() })
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "text/event-stream" {
		t.Fatalf("GET %s: %s, Content-Type %q", url, resp.Status, resp.Header.Get("Content-Type"))
	}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	return &sseReader{t: t, resp: resp, sc: sc}
}

// next returns the data of the next "sessions" event and its raw text, or
// ok=false when the stream ended.
func (r *sseReader) next() (sessions []SessionView, raw string, ok bool) {
	r.t.Helper()
	event := ""
	for r.sc.Scan() {
		line := r.sc.Text()
		switch {
		case strings.HasPrefix(line, "event: "):
			event = strings.TrimPrefix(line, "event: ")
		case strings.HasPrefix(line, "data: "):
			raw = strings.TrimPrefix(line, "data: ")
		case line == "" && raw != "":
			if event != "sessions" {
				r.t.Fatalf("event %q, want sessions", event)
			}
			var v struct {
				Sessions []SessionView `json:"sessions"`
			}
			if err := json.Unmarshal([]byte(raw), &v); err != nil {
				r.t.Fatalf("event data: %v: %s", err, raw)
			}
			return v.Sessions, raw, true
		}
	}
	return nil, "", false
}

// TestInspector: a live session of speech-frontend shows up in GET /v1/inspect
// and its stream with the pipeline's graph and counters that reach the frames
// sent, named by an opaque id (neither the client's stream id nor its
// address); it leaves the list when it ends, and Drain ends the stream.
func TestInspector(t *testing.T) {
	s, hs := newTestServer(t, Config{})
	ctx := testCtx(t)

	stream := openInspectStream(t, ctx, hs.URL+"/v1/inspect/stream?interval_ms=100")
	if got, _, ok := stream.next(); !ok || len(got) != 0 {
		t.Fatalf("before any session: %v (stream open %v), want an empty list", got, ok)
	}

	const sid = "alice-private-stream"
	conn := dial(t, ctx, hs, "/v1/pipelines/speech-frontend/ws")
	frames := framesOf(t, speechLike(1), 48000, 2, sid)
	if err := send(ctx, conn, frames, 5); err != nil {
		t.Fatal(err)
	}
	var seen SessionView
	for {
		got, raw, ok := stream.next()
		if !ok {
			t.Fatal("the stream ended while the session ran")
		}
		for _, leak := range []string{sid, "127.0.0.1"} {
			if strings.Contains(raw, leak) {
				t.Fatalf("the inspector names %q: %s", leak, raw)
			}
		}
		if len(got) == 1 && len(got[0].Stats) == 4 && got[0].Stats[3].In == uint64(len(frames)) {
			seen = got[0]
			break
		}
	}
	if seen.Pipeline != "speech-frontend" || seen.Inline || seen.FramesIn != uint64(len(frames)) || len(seen.ID) != 12 {
		t.Errorf("session %+v: want pipeline speech-frontend, not inline, %d frames in, a 12-digit id", seen, len(frames))
	}
	var nodes []string
	for _, n := range seen.Graph.Nodes {
		nodes = append(nodes, n.ID+":"+n.NodeType+":"+n.Runtime+":"+strings.Join(n.Inputs, ",")+">"+strings.Join(n.Outputs, ","))
	}
	if got, want := strings.Join(nodes, " "), "mono:to_mono:wasm:in>out resample:resample:wasm:in>out gain:gain:wasm:in>out vad:vad:wasm:in>out,events"; got != want {
		t.Errorf("graph nodes:\n%s\nwant\n%s", got, want)
	}
	if len(seen.Graph.Edges) != 3 || seen.Graph.Edges[0] != (GraphEdge{From: "mono", FromPort: "out", To: "resample", ToPort: "in"}) {
		t.Errorf("graph edges: %+v", seen.Graph.Edges)
	}
	for _, st := range seen.Stats {
		if st.In != uint64(len(frames)) || st.WorkMeanUS <= 0 || st.Dropped != 0 || st.Errors != 0 {
			t.Errorf("node %s: %+v, want %d frames in, a positive mean work time, no drops or errors", st.ID, st, len(frames))
		}
	}

	// The list answers the same, once.
	var list struct {
		Sessions []SessionView `json:"sessions"`
	}
	if code := getJSON(t, hs.URL+"/v1/inspect", &list); code != 200 || len(list.Sessions) != 1 || list.Sessions[0].ID != seen.ID {
		t.Fatalf("GET /v1/inspect: %d %+v, want the session %s", code, list.Sessions, seen.ID)
	}

	if err := send(ctx, conn, []*frame.Frame{eos(sid)}, 1); err != nil {
		t.Fatal(err)
	}
	collect(t, ctx, conn, sid)
	for {
		got, _, ok := stream.next()
		if !ok {
			t.Fatal("the stream ended before the session left the list")
		}
		if len(got) == 0 {
			break
		}
	}

	if err := s.Drain(ctx); err != nil {
		t.Fatal(err)
	}
	for {
		if _, _, ok := stream.next(); !ok {
			break // Drain ended it
		}
	}
}

func TestInspectorInterval(t *testing.T) {
	_, hs := newTestServer(t, Config{})
	for _, q := range []string{"0", "50", "x", "600000"} {
		resp, err := http.Get(hs.URL + "/v1/inspect/stream?interval_ms=" + q)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusBadRequest {
			t.Errorf("interval_ms=%s: %s, want 400", q, resp.Status)
		}
	}
}

// TestInspectorInline: a session of a definition a client sent is listed as
// "inline", not under the metadata.name the client gave it.
func TestInspectorInline(t *testing.T) {
	s, hs := newTestServer(t, Config{AllowInline: true})
	ctx := testCtx(t)
	stream := openInspectStream(t, ctx, hs.URL+"/v1/inspect/stream?interval_ms=100")
	def := strings.Replace(string(mustJSON(t, s.byName["speech-frontend"].def)), `"speech-frontend"`, `"carols-secret-pipeline"`, 1)
	if !strings.Contains(def, "carols-secret-pipeline") {
		t.Fatalf("the definition has no name to replace: %s", def)
	}
	conn := dial(t, ctx, hs, "/v1/inline/ws")
	if err := conn.Write(ctx, websocket.MessageText, []byte(def)); err != nil {
		t.Fatal(err)
	}
	if err := send(ctx, conn, framesOf(t, speechLike(0.2), 48000, 2, "i"), 1); err != nil {
		t.Fatal(err)
	}
	for {
		got, raw, ok := stream.next()
		if !ok {
			t.Fatal("the stream ended")
		}
		if strings.Contains(raw, "carols-secret-pipeline") {
			t.Fatalf("the inspector shows the client's name of its definition: %s", raw)
		}
		if len(got) == 1 {
			if got[0].Pipeline != "inline" || !got[0].Inline || len(got[0].Graph.Nodes) != 4 {
				t.Errorf("inline session %+v, want pipeline inline with its 4 nodes", got[0])
			}
			return
		}
	}
}

func mustJSON(t *testing.T, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
