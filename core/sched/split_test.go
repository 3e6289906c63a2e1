package sched

import (
	"context"
	"errors"
	"fmt"
	"io"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/remotemedia/hybrid/core/frame"
	"github.com/remotemedia/hybrid/core/node"
)

// tagNode appends its name to each text frame it passes on.
func tagNode(name string) *fnNode {
	return &fnNode{process: func(_ context.Context, _ int, in *frame.Frame, emit node.Emit) error {
		if in.Kind == frame.KindControl {
			return nil
		}
		emit(0, frame.NewText(in.Header, string(in.Data)+">"+name))
		return nil
	}}
}

// splitFixture: a (front source) feeds b (back) and d; b feeds e (back) and c
// (front); only the a->b edge has a when, keeping odd seqs.
func splitFixture() *Graph {
	odd := func(f *frame.Frame) (bool, error) { return f.Seq%2 == 1, nil }
	return &Graph{
		Nodes: []NodeDef{def("a", tagNode("a")), def("b", tagNode("b")), def("c", tagNode("c")), def("d", tagNode("d")), def("e", tagNode("e"))},
		Edges: []Edge{
			{From: "a", To: "b", When: odd, WhenSource: "seq % 2 == 1"},
			{From: "a", To: "d"},
			{From: "b", To: "e"},
			{From: "b", To: "c"},
		},
	}
}

func edgeStrings(g *Graph) []string {
	var out []string
	for _, e := range g.Edges {
		s := fmt.Sprintf("%s->%s:%d", Addr(g, e.From, e.FromPort), e.To, e.ToPort)
		if e.WhenSource != "" {
			s += " when " + e.WhenSource
		}
		out = append(out, s)
	}
	return out
}

func nodeIDs(g *Graph) []string {
	var out []string
	for _, n := range g.Nodes {
		out = append(out, n.ID)
	}
	return out
}

func TestSplitGraph(t *testing.T) {
	s, err := SplitGraph(splitFixture(), []string{"e", "b"})
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"b", "e"}; !reflect.DeepEqual(s.Back, want) {
		t.Errorf("Back = %q, want %q", s.Back, want)
	}
	var cut []string
	for _, e := range s.Cut {
		cut = append(cut, e.From+"->"+e.To)
	}
	if want := []string{"a->b", "b->c"}; !reflect.DeepEqual(cut, want) {
		t.Errorf("Cut = %q, want %q", cut, want)
	}
	if want := []string{"a.out"}; !reflect.DeepEqual(s.Forward, want) {
		t.Errorf("Forward = %q, want %q", s.Forward, want)
	}
	if want := []string{"b.out"}; !reflect.DeepEqual(s.Return, want) {
		t.Errorf("Return = %q, want %q", s.Return, want)
	}
	if !s.OnBack("b") || s.OnBack("a") {
		t.Errorf("OnBack(b), OnBack(a) = %v, %v", s.OnBack("b"), s.OnBack("a"))
	}

	back := s.BackGraph()
	if want := []string{EntryID, "b", "e", "split:b.out"}; !reflect.DeepEqual(nodeIDs(back), want) {
		t.Errorf("back nodes = %q, want %q", nodeIDs(back), want)
	}
	wantBack := []string{"split:in.a.out->b:0 when seq % 2 == 1", "b.out->e:0", "b.out->split:b.out:0"}
	if got := edgeStrings(back); !reflect.DeepEqual(got, wantBack) {
		t.Errorf("back edges = %q, want %q", got, wantBack)
	}
	front := s.FrontGraph(nil)
	if want := []string{EntryID, "a", "c", "d", "split:a.out", ReturnID}; !reflect.DeepEqual(nodeIDs(front), want) {
		t.Errorf("front nodes = %q, want %q", nodeIDs(front), want)
	}
	wantFront := []string{
		"split:in.input->a:0", "split:in.return->split:return:0",
		"a.out->d:0", "a.out->split:a.out:0", "split:a.out.done->split:return:1", "split:return.b.out->c:0",
	}
	if got := edgeStrings(front); !reflect.DeepEqual(got, wantFront) {
		t.Errorf("front edges = %q, want %q", got, wantFront)
	}
	for name, g := range map[string]*Graph{"back": back, "front": front} {
		if _, _, err := check(g); err != nil {
			t.Errorf("%s graph does not check: %v", name, err)
		}
	}
	if addr, ok := ExitAddr("split:b.out"); !ok || addr != "b.out" {
		t.Errorf("ExitAddr(split:b.out) = %q, %v", addr, ok)
	}
	if addr, ok := ExitAddr("split:input"); !ok || addr != "" {
		t.Errorf("ExitAddr(split:input) = %q, %v; want the pipeline's input, \"\"", addr, ok)
	}
	if _, ok := ExitAddr(ReturnID); ok {
		t.Error("ExitAddr(ReturnID) says it is an exit")
	}
}

func TestSplitGraphSourceOnBack(t *testing.T) {
	g := &Graph{Nodes: []NodeDef{def("a", pass()), def("b", pass())}, Edges: []Edge{edge("a", "b")}}
	s, err := SplitGraph(g, []string{"a"})
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{""}; !reflect.DeepEqual(s.Forward, want) {
		t.Errorf("Forward = %q, want %q (the pipeline's input)", s.Forward, want)
	}
	if want := []string{"split:in.input->split:input:0", "split:input.done->split:return:1", "split:in.return->split:return:0", "split:return.a.out->b:0"}; !slices.Equal(sorted(edgeStrings(s.FrontGraph(nil))), sorted(want)) {
		t.Errorf("front edges = %q, want %q", edgeStrings(s.FrontGraph(nil)), want)
	}
	if want := []string{"split:in.input->a:0", "a.out->split:a.out:0"}; !reflect.DeepEqual(edgeStrings(s.BackGraph()), want) {
		t.Errorf("back edges = %q, want %q", edgeStrings(s.BackGraph()), want)
	}
}

func TestSplitGraphRefuses(t *testing.T) {
	chain := &Graph{Nodes: []NodeDef{def("a", pass()), def("b", pass()), def("c", pass())}, Edges: []Edge{edge("a", "b"), edge("b", "c")}}
	for _, tc := range []struct {
		name      string
		back      []string
		expectErr string
	}{
		{name: "nothing on the back", back: nil, expectErr: "no node runs on the back side"},
		{name: "unknown node", back: []string{"x"}, expectErr: `no node "x"`},
		{name: "back, front, back", back: []string{"a", "c"}, expectErr: "b runs in front but lies between back-side nodes"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := SplitGraph(chain, tc.back)
			if !errors.Is(err, ErrSplit) || !strings.Contains(fmt.Sprint(err), tc.expectErr) {
				t.Fatalf("err = %v, want ErrSplit saying %q", err, tc.expectErr)
			}
		})
	}
}

// loopback is a Bridge to a back side run in-process, as the server would.
type loopback struct {
	back    *Session
	front   func() *Session
	finals  func(Output)
	mu      sync.Mutex
	ended   bool
	returns chan *frame.Frame
}

func (l *loopback) Send(ctx context.Context, addr string, f *frame.Frame) error {
	c := *f
	c.Meta = map[string]any{}
	if addr != "" {
		c.Meta[AddrKey] = addr
	}
	return l.back.Push(ctx, &c)
}

func (l *loopback) EndInput(ctx context.Context) error {
	l.mu.Lock()
	l.ended = true
	l.mu.Unlock()
	return l.back.CloseInput(ctx)
}

func (l *loopback) Next(ctx context.Context) (*frame.Frame, error) {
	select {
	case f, ok := <-l.returns:
		if !ok {
			return nil, io.EOF
		}
		return f, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// relay reads the back side's outputs: exits' frames go back into the front
// session (or, once its input has closed, to Next), the rest are finals.
func (l *loopback) relay(ctx context.Context) {
	defer close(l.returns)
	for o := range l.back.Outputs() {
		addr, ok := ExitAddr(o.Node)
		if !ok {
			l.finals(o)
			continue
		}
		c := *o.Frame
		c.Meta = map[string]any{AddrKey: addr}
		if err := l.front().Push(ctx, &c); errors.Is(err, ErrClosed) {
			l.returns <- &c
		}
	}
}

func TestSplitRunsAsTheWholeGraph(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	const n = 6
	whole := start(t, splitFixture(), Options{})
	go func() {
		for i := range uint64(n) {
			_ = whole.Push(ctx, text(i))
		}
		_ = whole.CloseInput(ctx)
	}()
	want := texts(whole.Outputs())

	s, err := SplitGraph(splitFixture(), []string{"b", "e"})
	if err != nil {
		t.Fatal(err)
	}
	back := start(t, s.BackGraph(), Options{})
	var mu sync.Mutex
	got := map[string][]string{}
	add := func(o Output) {
		mu.Lock()
		defer mu.Unlock()
		if o.Frame != nil && o.Frame.Kind != frame.KindControl {
			got[o.Node+"."+o.Port] = append(got[o.Node+"."+o.Port], fmt.Sprintf("%d:%s", o.Frame.Seq, o.Frame.Data))
		}
	}
	var front *Session
	l := &loopback{back: back, front: func() *Session { return front }, finals: add, returns: make(chan *frame.Frame, 16)}
	front = start(t, s.FrontGraph(l), Options{})
	go l.relay(ctx)
	go func() {
		for i := range uint64(n) {
			_ = front.Push(ctx, text(i))
		}
		_ = front.CloseInput(ctx)
	}()
	for o := range front.Outputs() {
		if IsBridge(o.Node) {
			t.Errorf("a bridge node's output reached Outputs: %+v", o)
			continue
		}
		add(o)
	}
	if err := front.Wait(); err != nil {
		t.Fatalf("front: %v", err)
	}
	if err := back.Wait(); err != nil {
		t.Fatalf("back: %v", err)
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("split outputs = %v\nwant (whole graph) %v", got, want)
	}
	if want := []string{"1:1>a>b>c", "3:3>a>b>c", "5:5>a>b>c"}; !reflect.DeepEqual(got["c.out"], want) {
		t.Errorf("c.out = %q, want %q", got["c.out"], want)
	}
}

func texts(outs <-chan Output) map[string][]string {
	got := map[string][]string{}
	for o := range outs {
		if o.Frame != nil && o.Frame.Kind != frame.KindControl {
			got[o.Node+"."+o.Port] = append(got[o.Node+"."+o.Port], fmt.Sprintf("%d:%s", o.Frame.Seq, o.Frame.Data))
		}
	}
	return got
}

// recordingBridge records what the front side sends across; nothing comes back.
type recordingBridge struct {
	mu   sync.Mutex
	sent []string
}

func (b *recordingBridge) Send(_ context.Context, addr string, f *frame.Frame) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	what := string(f.Data)
	if f.Kind == frame.KindControl {
		what = f.Op.String()
	}
	b.sent = append(b.sent, addr+":"+what)
	return nil
}

func (b *recordingBridge) EndInput(context.Context) error { return nil }

func (b *recordingBridge) Next(context.Context) (*frame.Frame, error) { return nil, io.EOF }

// TestSplitCancelCrosses: a cancel a front node sends down a cut edge (a
// barge-in) crosses to the back side, in order with the data, so the server's
// part drops its queued work as the whole graph would.
func TestSplitCancelCrosses(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	barge := &fnNode{process: func(_ context.Context, _ int, in *frame.Frame, emit node.Emit) error {
		if in.Kind == frame.KindControl {
			return nil
		}
		if string(in.Data) == "stop" {
			emit(0, frame.NewControl(in.Header, frame.Cancel))
			return nil
		}
		emit(0, in)
		return nil
	}}
	g := &Graph{Nodes: []NodeDef{def("a", barge), def("b", tagNode("b"))}, Edges: []Edge{{From: "a", To: "b"}}}
	s, err := SplitGraph(g, []string{"b"})
	if err != nil {
		t.Fatal(err)
	}
	br := &recordingBridge{}
	front := start(t, s.FrontGraph(br), Options{})
	for _, txt := range []string{"one", "stop", "two"} {
		if err := front.Push(ctx, frame.NewText(frame.Header{}, txt)); err != nil {
			t.Fatal(err)
		}
	}
	if err := front.CloseInput(ctx); err != nil {
		t.Fatal(err)
	}
	for range front.Outputs() {
	}
	if err := front.Wait(); err != nil {
		t.Fatal(err)
	}
	br.mu.Lock()
	defer br.mu.Unlock()
	// "one" crosses unless the cancel found it still queued at the cut (and
	// dropped it, as a cancel does).
	want := []string{"a.out:cancel", "a.out:two"}
	if got := br.sent; !slices.Equal(got, want) && !slices.Equal(got, append([]string{"a.out:one"}, want...)) {
		t.Errorf("sent across %q, want %q, after \"a.out:one\" or not", got, want)
	}
}
