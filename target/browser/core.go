//go:build js && wasm

package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"sync"
	"syscall/js"
	"time"

	"github.com/remotemedia/hybrid/core/client"
	"github.com/remotemedia/hybrid/core/def"
	"github.com/remotemedia/hybrid/core/frame"
	"github.com/remotemedia/hybrid/core/node"
	"github.com/remotemedia/hybrid/core/runner"
	"github.com/remotemedia/hybrid/core/sched"
	"github.com/remotemedia/hybrid/core/wasmnode"
	"github.com/remotemedia/hybrid/core/wavio"
	"github.com/remotemedia/hybrid/target/wasmhost"
)

// core is the state behind globalThis.__remotemediaCore.
type core struct {
	mu        sync.Mutex
	host      *wasmhost.Host
	loader    *moduleLoader
	store     *store
	reg       *node.Registry
	next      int
	pipelines map[int]*pipeline
	sessions  map[int]*stream
	pyServers map[string]bool   // Python proxies whose node types are registered
	declared  map[string]string // node type -> sha256 of the module that declared it
	// ready is closed when the last init is done: it sets the fields above once
	// it has registered the modules that declare their node type, after it
	// resolved (every other call waits for ready: exports).
	ready chan struct{}
	// inits counts init's calls; set is the count of the one whose registry
	// the fields above hold (the newest that is done).
	inits, set int
}

// pipeline is a loaded definition and the stats of its last session.
type pipeline struct {
	p       *runner.Pipeline
	frameMS int
	stats   []sched.NodeStats
	live    session       // a *sched.Session, or a split one (split.go)
	split   *client.Split // split placement: the server runs part of it (split.go)
	// liveGraph and liveSplit are what live sessions (open) run: the same, with
	// barge-in on (bargein.go).
	liveGraph *sched.Graph
	liveSplit *client.Split
}

// exports builds the object handed to JavaScript. Every method returns a Promise.
func (c *core) exports() js.Value {
	fns := map[string]func(args []js.Value) (any, error){
		"init":           c.init,
		"pipeline":       c.newPipeline,
		"process":        c.process,
		"open":           c.open,
		"push":           c.push,
		"end":            c.end,
		"stats":          c.stats,
		"graph":          c.graph,
		"close":          c.close,
		"registerModule": c.registerModule,
		"moduleHashes":   func([]js.Value) (any, error) { return c.loader.hashes(), nil },
		"saveDefinition": c.saveDefinition,
		"loadDefinition": c.loadDefinition,
		"nodeTypes":      c.nodeTypes,
		"benchCall":      c.benchCall,
	}
	obj := js.Global().Get("Object").New()
	for name, fn := range fns {
		obj.Set(name, js.FuncOf(func(_ js.Value, args []js.Value) any {
			return promise(func() (any, error) {
				if name != "init" {
					c.mu.Lock()
					ready := c.ready
					c.mu.Unlock()
					if ready == nil {
						return nil, errors.New("core.wasm: call init first")
					}
					<-ready
				}
				return fn(args)
			})
		}))
	}
	return obj
}

func arg(args []js.Value, i int) js.Value {
	if i < len(args) {
		return args[i]
	}
	return js.Undefined()
}

// opt reads a number option, or def when it is absent.
func opt(o js.Value, name string, def float64) float64 {
	if o.Type() != js.TypeObject {
		return def
	}
	if v := o.Get(name); v.Type() == js.TypeNumber {
		return v.Float()
	}
	return def
}

func optString(o js.Value, name string) string {
	if o.Type() != js.TypeObject {
		return ""
	}
	if v := o.Get(name); v.Type() == js.TypeString {
		return v.String()
	}
	return ""
}

// init({base, memoryPages, callTimeoutMs}): opens the cache, reads the module
// index (from the network, else the cache) and registers the standard modules.
// The modules of the index that declare their node type are registered after
// it resolves, while the page goes on (a first visit fetches them): the other
// calls wait for that (exports), so rm.pipeline finds their types.
func (c *core) init(args []js.Value) (any, error) {
	o := arg(args, 0)
	base := optString(o, "base")
	if base == "" {
		return nil, errors.New("init: options.base (the server's root URL) is required")
	}
	h, err := wasmhost.New(context.Background(), wasmhost.Config{
		MemoryLimitPages: uint32(opt(o, "memoryPages", 0)),
		CallTimeout:      time.Duration(opt(o, "callTimeoutMs", 0) * float64(time.Millisecond)),
	})
	if err != nil {
		return nil, err
	}
	go warmOnce.Do(warmUp) // while init waits on IndexedDB and the network; once a tab (init runs on every RemoteMedia.load)
	ctx := context.Background()
	st, err := openStore(ctx)
	if err != nil {
		st = nil // no IndexedDB: every load goes to the network
	}
	l := newModuleLoader(base, st)
	indexErr := l.refreshIndex(ctx)
	if indexErr == nil && st.empty() {
		l.fetchBundle() // a first visit: every module will come from the network
	}
	reg := node.NewRegistry()
	if err := wasmnode.Register(reg, h, l, wasmnode.Standard); err != nil {
		return nil, err
	}
	ready := make(chan struct{})
	c.mu.Lock()
	c.inits++
	n := c.inits
	c.ready = ready
	c.mu.Unlock()
	go func() {
		defer close(ready)
		recent := st.recentTypes(ctx)
		declared := registerDeclared(ctx, reg, h, l)
		prepareRecent(ctx, reg, recent)
		// Only now, so that a call never sees a registry being filled (a page
		// may call init again: RemoteMedia.load does, each time), and unless a
		// later init was done first.
		c.mu.Lock()
		defer c.mu.Unlock()
		if n > c.set {
			c.host, c.loader, c.store, c.reg, c.declared, c.set = h, l, st, reg, declared, n
			c.pyServers = map[string]bool{} // registered in the registry just replaced
		}
	}()
	res := map[string]any{"cache": st != nil}
	if indexErr != nil {
		res["warning"] = indexErr.Error()
	}
	return res, nil
}

// pipeline(text, {frameMs, server, token}) -> id; a bad definition rejects
// with every problem. With server (an absolute URL), the Python node types of
// the proxy there are registered first (once per server).
func (c *core) newPipeline(args []js.Value) (any, error) {
	text := arg(args, 0)
	if text.Type() != js.TypeString {
		return nil, errors.New("pipeline: want the definition as YAML or JSON text")
	}
	if server := optString(arg(args, 1), "server"); server != "" {
		c.mu.Lock()
		done := c.pyServers[server]
		c.pyServers[server] = true
		c.mu.Unlock()
		if !done {
			if err := registerPython(context.Background(), c, server, optString(arg(args, 1), "token")); err != nil {
				c.mu.Lock()
				delete(c.pyServers, server)
				c.mu.Unlock()
				return nil, fmt.Errorf("pipeline: Python nodes at %s: %w", server, err)
			}
		}
	}
	p, err := runner.Load([]byte(text.String()), c.reg)
	if err != nil {
		return nil, err
	}
	for _, note := range p.Def.Fallbacks() {
		js.Global().Get("console").Call("warn", "remotemedia: "+note)
	}
	split, err := splitOf(arg(args, 1), p, text.String())
	if err != nil {
		return nil, err
	}
	pl := &pipeline{p: p, split: split, frameMS: int(opt(arg(args, 1), "frameMs", runner.DefaultFrameMS))}
	pl.liveGraph, pl.liveSplit = def.WithLiveBargeIn(p.Def, p.Graph), split
	if split != nil && pl.liveGraph != p.Graph {
		if pl.liveSplit, err = splitOf(arg(args, 1), &runner.Pipeline{Def: p.Def, Graph: pl.liveGraph}, text.String()); err != nil {
			return nil, err
		}
	}
	// Load (IndexedDB) and compile (off the main thread) the modules now and all at
	// once, rather than one after another when the first session starts them; a
	// missing or broken module fails here.
	if err := runner.Prepare(context.Background(), pl.local()); err != nil {
		return nil, fmt.Errorf("pipeline: %w", err)
	}
	c.store.noteRecentTypes(pl.local().Graph)
	c.store.flush(context.Background())
	c.mu.Lock()
	defer c.mu.Unlock()
	c.next++
	c.pipelines[c.next] = pl
	return c.next, nil
}

func (c *core) pipelineOf(v js.Value) (*pipeline, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if v.Type() == js.TypeNumber {
		if p := c.pipelines[v.Int()]; p != nil {
			return p, nil
		}
	}
	return nil, errors.New("no such pipeline (closed?)")
}

// collector gathers a run's outputs for JavaScript: audio per source
// (node.port) concatenated, and events as runner.Event JSON.
type collector struct {
	audio  []*audioOut
	events []any
}

type audioOut struct {
	src            string
	node, port     string
	rate, channels int
	data           []byte // f32 little-endian
	frames         int
	runs           []audioRun // where the audio lies in time: gated output has gaps
}

// audioRun is a stretch of consecutive output frames: from sample frame offset
// of the concatenated audio, frames long, starting at ts_us in the input's time.
type audioRun struct {
	tsUS, offset, frames int64
}

func (col *collector) add(o sched.Output) error {
	if o.Frame != nil && o.Frame.Kind == frame.KindAudio {
		f := o.Frame
		src := o.Node + "." + o.Port
		var a *audioOut
		for _, x := range col.audio {
			if x.src == src {
				a = x
			}
		}
		if a == nil {
			a = &audioOut{src: src, node: o.Node, port: o.Port, rate: int(f.SampleRate), channels: int(f.Channels)}
			col.audio = append(col.audio, a)
		}
		b := f32Bytes(f)
		a.data = append(a.data, b...)
		a.frames++
		a.addRun(f.Timestamp, int64(len(b)/4/max(1, int(f.Channels))))
		return nil
	}
	if ev, ok := runner.EventOf(o); ok {
		b, err := json.Marshal(ev)
		if err != nil {
			return err
		}
		col.events = append(col.events, string(b))
	}
	return nil
}

// addRun records n sample frames stamped tsUS (µs): they extend the last run
// when they start within a millisecond of where it ends, else start a new one.
func (a *audioOut) addRun(tsUS, n int64) {
	if k := len(a.runs); k > 0 {
		r := &a.runs[k-1]
		end := r.tsUS + (r.frames*1e6)/int64(max(1, a.rate))
		if d := tsUS - end; d > -1000 && d < 1000 {
			r.frames += n
			return
		}
	}
	var offset int64
	if k := len(a.runs); k > 0 {
		offset = a.runs[k-1].offset + a.runs[k-1].frames
	}
	a.runs = append(a.runs, audioRun{tsUS: tsUS, offset: offset, frames: n})
}

// f32Bytes returns an audio frame's samples as f32 bytes, converting s16 as the CLI does.
func f32Bytes(f *frame.Frame) []byte {
	if f.Format != frame.S16 {
		return f.Data
	}
	return frame.NewAudioF32(f.Header, f.SampleRate, f.Channels, f.Float32s()).Data
}

func (col *collector) result(stats []sched.NodeStats) map[string]any {
	audio := make([]any, len(col.audio))
	for i, a := range col.audio {
		runs := make([]any, len(a.runs))
		for j, r := range a.runs {
			runs[j] = map[string]any{"ts_us": r.tsUS, "offset": r.offset, "frames": r.frames}
		}
		audio[i] = map[string]any{"node": a.node, "port": a.port, "sampleRate": a.rate, "channels": a.channels,
			"frames": a.frames, "samples": float32Array(a.data), "runs": runs}
	}
	return map[string]any{"audio": audio, "events": js.Global().Get("JSON").Call("parse", "["+joinComma(col.events)+"]"), "stats": statsJS(stats)}
}

func joinComma(xs []any) string {
	var b bytes.Buffer
	for i, x := range xs {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(x.(string))
	}
	return b.String()
}

// statsJS gives each node's counters and times in µs: p50/p99 of its work time,
// its mean work time (true even where the clock is coarse), p50/p99 of the time
// its outputs waited for room downstream, and clock_us, the step of the clock
// they were measured with.
func statsJS(stats []sched.NodeStats) []any {
	us := func(d time.Duration) float64 { return float64(d) / 1e3 }
	out := make([]any, len(stats))
	for i, s := range stats {
		mean := 0.0
		if s.In > 0 {
			mean = us(s.Work) / float64(s.In)
		}
		out[i] = map[string]any{"id": s.ID, "in": s.In, "out": s.Out, "dropped": s.Dropped, "errors": s.Errors,
			"filtered": s.Filtered, "p50_us": us(s.P50), "p99_us": us(s.P99), "work_mean_us": mean,
			"blocked_p50_us": us(s.BlockedP50), "blocked_p99_us": us(s.BlockedP99), "clock_us": us(clockStep()),
			"wait_p50_us": us(s.WaitP50), "wait_p99_us": us(s.WaitP99), "queue": s.QueueLen}
	}
	return out
}

// clockStep is the smallest step of the clock latencies are measured with. Go's
// clock in a tab is performance.now(), which browsers coarsen to 5-100 µs (1 ms
// in some) unless the page is cross-origin isolated: a node faster than that
// measures 0 on most frames, so only its mean work time is meaningful.
var clockStep = sync.OnceValue(func() time.Duration {
	step := time.Duration(1<<63 - 1)
	for range 3 {
		t0 := time.Now()
		t1 := time.Now()
		for t1.Sub(t0) == 0 {
			t1 = time.Now()
		}
		step = min(step, t1.Sub(t0))
	}
	return step
})

// process(id, {pcm, sampleRate, channels} | {wav}) -> {audio, events, stats}:
// the whole input is cut into frames by runner.PCMSource, exactly as
// `remotemedia run` cuts a file.
func (c *core) process(args []js.Value) (any, error) {
	p, err := c.pipelineOf(arg(args, 0))
	if err != nil {
		return nil, err
	}
	src, err := sourceOf(arg(args, 1), p.frameMS, arg(args, 2))
	if err != nil {
		return nil, fmt.Errorf("process: %w", err)
	}
	col := &collector{}
	stats, err := p.run(context.Background(), src, col.add)
	p.stats = stats
	if err != nil {
		return nil, err
	}
	return col.result(stats), nil
}

// sourceOf makes the source of a process call; onProgress, when a function,
// hears how far it has read (withProgress).
func sourceOf(in js.Value, frameMS int, onProgress js.Value) (*runner.PCMSource, error) {
	if in.Type() != js.TypeObject {
		return nil, errors.New("want {pcm: Float32Array, sampleRate, channels} or {wav: ArrayBuffer}")
	}
	if w := in.Get("wav"); !w.IsUndefined() {
		b, err := bytesOf(w)
		if err != nil {
			return nil, fmt.Errorf("wav: %w", err)
		}
		r, err := wavio.NewReader(bytes.NewReader(b), "wav")
		if err != nil {
			return nil, err
		}
		return runner.NewReaderSource(withProgress(r.Read, r.Frames, r.SampleRate, r.Channels, onProgress), r.SampleRate, r.Channels, frameMS, "browser")
	}
	samples, err := float32s(in.Get("pcm"))
	if err != nil {
		return nil, fmt.Errorf("pcm: %w", err)
	}
	rate, chans := int(opt(in, "sampleRate", 0)), int(opt(in, "channels", 1))
	if onProgress.Type() != js.TypeFunction || rate <= 0 || chans <= 0 {
		return runner.NewPCMSource(samples, rate, chans, frameMS, "browser")
	}
	off := 0
	read := func(dst []float32) (int, error) { // NewPCMSource's read
		if off >= len(samples) {
			return 0, io.EOF
		}
		n := copy(dst, samples[off:])
		off += n
		return n, nil
	}
	return runner.NewReaderSource(withProgress(read, int64(len(samples)/chans), rate, chans, onProgress), rate, chans, frameMS, "browser")
}

// stream is one live session fed by push: pushed samples are cut into frames by
// the same runner.PCMSource as process uses.
type stream struct {
	p       *pipeline
	sess    session
	samples chan []float32
	fed     chan error
	done    chan struct{}
	rate    int
	chans   int
}

// open(id, onOutput, {sampleRate, channels}) -> session id. onOutput receives
// {node, port, kind:"audio", sampleRate, channels, seq, ts_us, samples} or an
// event object for every output, as it comes.
func (c *core) open(args []js.Value) (any, error) {
	p, err := c.pipelineOf(arg(args, 0))
	if err != nil {
		return nil, err
	}
	cb := arg(args, 1)
	if cb.Type() != js.TypeFunction {
		return nil, errors.New("open: want a callback for outputs")
	}
	o := arg(args, 2)
	rate, chans := int(opt(o, "sampleRate", 0)), int(opt(o, "channels", 1))
	st := &stream{p: p, samples: make(chan []float32, 64), fed: make(chan error, 1), done: make(chan struct{}), rate: rate, chans: chans}
	src, err := runner.NewReaderSource(runner.ChunkReader(st.samples), rate, chans, p.frameMS, "browser")
	if err != nil {
		return nil, fmt.Errorf("open: %w", err)
	}
	sess, err := p.start(context.Background())
	if err != nil {
		return nil, err
	}
	st.sess = sess
	go func() {
		st.fed <- runner.Feed(context.Background(), sess, src)
	}()
	go func() {
		defer close(st.done)
		for out := range sess.Outputs() {
			cb.Invoke(outputJS(out))
		}
	}()
	c.mu.Lock()
	defer c.mu.Unlock()
	c.next++
	c.sessions[c.next] = st
	p.live = sess
	return c.next, nil
}

func outputJS(o sched.Output) any {
	if f := o.Frame; f != nil && f.Kind == frame.KindAudio {
		return map[string]any{"node": o.Node, "port": o.Port, "kind": "audio", "seq": f.Seq, "ts_us": f.Timestamp,
			"sampleRate": f.SampleRate, "channels": f.Channels, "samples": float32Array(f32Bytes(f))}
	}
	ev, _ := runner.EventOf(o)
	b, _ := json.Marshal(ev)
	return js.Global().Get("JSON").Call("parse", string(b))
}

func (c *core) streamOf(v js.Value) (*stream, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if v.Type() == js.TypeNumber {
		if s := c.sessions[v.Int()]; s != nil {
			return s, nil
		}
	}
	return nil, errors.New("no such stream (ended?)")
}

// push(sid, Float32Array): more interleaved samples at the stream's rate.
func (c *core) push(args []js.Value) (any, error) {
	st, err := c.streamOf(arg(args, 0))
	if err != nil {
		return nil, err
	}
	samples, err := float32s(arg(args, 1))
	if err != nil {
		return nil, fmt.Errorf("push: %w", err)
	}
	select {
	case st.samples <- samples:
		return nil, nil
	case <-st.done:
		return nil, errors.New("push: the stream has ended")
	}
}

// end(sid) -> stats: ends the input, waits until every output was delivered.
func (c *core) end(args []js.Value) (any, error) {
	st, err := c.streamOf(arg(args, 0))
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	delete(c.sessions, arg(args, 0).Int())
	c.mu.Unlock()
	close(st.samples)
	ferr := <-st.fed
	<-st.done
	werr := st.sess.Wait()
	st.p.stats = st.sess.Stats()
	st.p.live = nil
	_ = st.sess.Close()
	if err := errors.Join(ferr, werr); err != nil {
		return nil, err
	}
	return statsJS(st.p.stats), nil
}

// stats(id): per-node counters and latency of the live session, else the last one.
func (c *core) stats(args []js.Value) (any, error) {
	p, err := c.pipelineOf(arg(args, 0))
	if err != nil {
		return nil, err
	}
	if p.live != nil {
		return statsJS(p.live.Stats()), nil
	}
	return statsJS(p.stats), nil
}

func (c *core) close(args []js.Value) (any, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if v := arg(args, 0); v.Type() == js.TypeNumber {
		delete(c.pipelines, v.Int())
	}
	return nil, nil
}

// registerModule(nodeType, bytes, source): a custom node type from module
// bytes (docs/browser.md). A module that declares its node type
// (docs/wasm-abi.md) registers that type with its ports and params, nodeType
// (null, or the declared name) aside; one that does not gets nodeType with one
// audio input and one audio output port. It resolves to the registered spec
// ({node_type, doc, params, inputs, outputs}); source (a URL) names the module
// in errors.
func (c *core) registerModule(args []js.Value) (any, error) {
	typ, source := arg(args, 0), optStringOf(arg(args, 2))
	b, err := bytesOf(arg(args, 1))
	if err != nil {
		return nil, fmt.Errorf("registerModule: %w", err)
	}
	name := "module"
	if source != "" {
		name = source
	}
	m, err := wasmnode.DeclaredModule(name, b)
	switch {
	case errors.Is(err, wasmnode.ErrNoDecl) && typ.Type() == js.TypeString && typ.String() != "":
		m = wasmnode.AudioModule("", typ.String(), "registered from JavaScript")
	case err != nil:
		return nil, fmt.Errorf("registerModule: %w", err)
	case typ.Type() == js.TypeString && typ.String() != "" && typ.String() != m.Spec.Type:
		return nil, fmt.Errorf("registerModule: %s declares node type %q, not %q", name, m.Spec.Type, typ.String())
	}
	// Under a folder of its own, so that it never shadows a module of the index.
	m.File = "registered/" + m.Spec.Type + ".wasm"
	sum := sha256Hex(b)
	c.mu.Lock()
	defer c.mu.Unlock()
	if s, err := c.reg.Lookup(m.Spec.Type, ""); err == nil {
		if c.declared[m.Spec.Type] == sum { // the same module again (one the server's index has, say)
			return specJS(*s)
		}
		return nil, fmt.Errorf("registerModule: node type %q is already registered here", m.Spec.Type)
	}
	c.loader.addLocal(m.File, b)
	if err := wasmnode.Register(c.reg, c.host, c.loader, []wasmnode.ModuleSpec{m}); err != nil {
		return nil, fmt.Errorf("registerModule: %w", err)
	}
	c.declared[m.Spec.Type] = sum
	return specJS(m.Spec)
}

// registerDeclared registers the modules of the index that are not
// wasmnode.Standard's and declare their node type (the Rust dc_block), as the
// server does with the modules built into it. One that cannot be loaded or
// declares nothing is left out: the server's /modules may hold other files.
func registerDeclared(ctx context.Context, reg *node.Registry, h wasmnode.Host, l *moduleLoader) map[string]string {
	declared := map[string]string{}
	standard := map[string]bool{}
	for _, m := range wasmnode.Standard {
		standard[m.File] = true
	}
	l.mu.Lock()
	var files []string
	for f := range l.index {
		if !standard[f] {
			files = append(files, f)
		}
	}
	l.mu.Unlock()
	slices.Sort(files)
	for _, f := range files {
		b, err := l.Load(ctx, f)
		if err != nil {
			continue
		}
		m, err := wasmnode.DeclaredModule(f, b)
		if err != nil {
			continue
		}
		if _, err := reg.Lookup(m.Spec.Type, ""); err == nil {
			continue
		}
		if wasmnode.Register(reg, h, l, []wasmnode.ModuleSpec{m}) == nil {
			declared[m.Spec.Type] = sha256Hex(b)
		}
	}
	return declared
}

func optStringOf(v js.Value) string {
	if v.Type() == js.TypeString {
		return v.String()
	}
	return ""
}

// specJS is a node spec as JavaScript sees it: {node_type, doc, params,
// inputs: [{name, kinds, doc}], outputs, example}.
func specJS(s node.Spec) (any, error) {
	ports := func(ps []node.Port) []map[string]any {
		out := make([]map[string]any, len(ps))
		for i, p := range ps {
			out[i] = map[string]any{"name": p.Name, "kinds": p.KindNames(), "doc": p.Doc}
		}
		return out
	}
	params := s.Params
	if params == nil {
		params = []node.Param{}
	}
	b, err := json.Marshal(map[string]any{"node_type": s.Type, "doc": s.Doc, "params": params,
		"inputs": ports(s.Inputs), "outputs": ports(s.Outputs), "example": s.Example})
	if err != nil {
		return nil, err
	}
	return js.Global().Get("JSON").Call("parse", string(b)), nil
}

func (c *core) saveDefinition(args []js.Value) (any, error) {
	name, text := arg(args, 0), arg(args, 1)
	if name.Type() != js.TypeString || text.Type() != js.TypeString {
		return nil, errors.New("saveDefinition: want (name, text)")
	}
	if c.store == nil {
		return nil, errors.New("saveDefinition: IndexedDB is not available")
	}
	return nil, c.store.put(context.Background(), storeDefs, name.String(), text)
}

func (c *core) loadDefinition(args []js.Value) (any, error) {
	name := arg(args, 0)
	if name.Type() != js.TypeString {
		return nil, errors.New("loadDefinition: want a name")
	}
	v, err := c.store.get(context.Background(), storeDefs, name.String())
	if err != nil || v.Type() != js.TypeString {
		return nil, err
	}
	return v, nil
}

func (c *core) nodeTypes([]js.Value) (any, error) {
	types := c.reg.Types()
	out := make([]any, len(types))
	for i, t := range types {
		out[i] = t
	}
	return out, nil
}
