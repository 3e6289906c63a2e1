package pyproxy

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/vmihailenco/msgpack/v5"
)

// ProtocolVersion is the version of the worker pipe protocol this proxy speaks.
const ProtocolVersion = 1

// exitMemory is the worker's exit status after a MemoryError under its memory limit.
const exitMemory = 3

// maxMessage bounds one pipe message, so a corrupt length cannot make us allocate gigabytes.
const maxMessage = 1 << 30

// NodeType is a node type a worker registered, as reported in its ready message.
type NodeType struct {
	Type      string  `json:"node_type" msgpack:"node_type"`
	Doc       string  `json:"doc" msgpack:"doc"`
	Streaming bool    `json:"is_streaming" msgpack:"is_streaming"`
	Params    []Param `json:"params" msgpack:"params"`
	// Unavailable, when set, says why the type cannot run on this machine (its
	// model or program is not installed); sessions of it fail to open.
	Unavailable string `json:"unavailable,omitempty" msgpack:"unavailable"`
}

// Param is one parameter of a Python node type.
type Param struct {
	Name    string `json:"name" msgpack:"name"`
	Type    string `json:"type" msgpack:"type"`
	Default any    `json:"default" msgpack:"default"`
	Doc     string `json:"doc" msgpack:"doc"`
	// Required: the type cannot run without a value for it.
	Required bool `json:"required,omitempty" msgpack:"required"`
	// Operator marks an operator-only param (a program, a file path, a model
	// location, a code choice): only the operator sets it, never a client.
	Operator bool `json:"operator,omitempty" msgpack:"operator"`
}

// message is any worker -> proxy message (docs/worker-protocol.md): ready, output,
// done, error or pong. Fields a message's op does not use are absent on the pipe and
// zero here.
type message struct {
	Op      string `msgpack:"op"`
	ID      uint64 `msgpack:"id"`      // all but ready: the request answered
	Session string `msgpack:"session"` // output, done, error: the request's session
	Frame   []byte `msgpack:"frame"`   // output: one frame in the wire format
	// Error (error) is "ExceptionType: message": what a client may see.
	Error string `msgpack:"error"`
	// Type (error) is the exception's type name.
	Type string `msgpack:"type"`
	// Traceback of an error: logged with the session id, never sent to a client.
	Traceback string `msgpack:"traceback"`
	// Fatal marks an error after which the worker exits (its memory limit was hit).
	Fatal   bool       `msgpack:"fatal"`
	Version int        `msgpack:"version"` // ready: ProtocolVersion
	PID     int        `msgpack:"pid"`     // ready
	Nodes   []NodeType `msgpack:"nodes"`   // ready
}

// request is any proxy -> worker message, before it is given its id; write encodes
// it as one of the message structs below.
type request struct {
	op       string // open, frame, flush, close or ping
	session  string
	nodeType string         // open
	params   map[string]any // open
	frame    []byte         // frame
}

// The proxy -> worker messages as they go on the pipe (docs/worker-protocol.md):
// field order is the order of the keys in the msgpack map.
type (
	// openRequest creates a node instance for a session.
	openRequest struct {
		Op       string         `msgpack:"op"`
		ID       uint64         `msgpack:"id"`
		Session  string         `msgpack:"session"`
		NodeType string         `msgpack:"node_type"`
		Params   map[string]any `msgpack:"params"`
	}
	// frameRequest hands a session's node one frame in the wire format.
	frameRequest struct {
		Op      string `msgpack:"op"`
		ID      uint64 `msgpack:"id"`
		Session string `msgpack:"session"`
		Frame   []byte `msgpack:"frame"`
	}
	// sessionRequest is flush or close: an op on a session, with no other field.
	sessionRequest struct {
		Op      string `msgpack:"op"`
		ID      uint64 `msgpack:"id"`
		Session string `msgpack:"session"`
	}
	// pingRequest asks for a pong.
	pingRequest struct {
		Op string `msgpack:"op"`
		ID uint64 `msgpack:"id"`
	}
)

// call is one request in flight: the outputs it produced so far and how it ended.
type call struct {
	id      uint64
	started time.Time
	notify  chan struct{} // signalled on every change

	mu   sync.Mutex
	outs [][]byte
	done bool
	err  error
}

func (c *call) push(frame []byte) {
	c.mu.Lock()
	c.outs = append(c.outs, frame)
	c.mu.Unlock()
	c.signal()
}

func (c *call) finish(err error) {
	c.mu.Lock()
	if !c.done {
		c.done, c.err = true, err
	}
	c.mu.Unlock()
	c.signal()
}

func (c *call) signal() {
	select {
	case c.notify <- struct{}{}:
	default:
	}
}

func (c *call) take() (outs [][]byte, done bool, err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	outs, c.outs = c.outs, nil
	return outs, c.done, c.err
}

// worker is one Python worker process and the requests in flight on it.
type worker struct {
	pid    int
	memory int64 // the memory limit it runs under (bytes, 0 none)
	cmd    *exec.Cmd
	stdin  io.WriteCloser
	stdout *bufio.Reader
	log    *slog.Logger
	stderr *tailWriter
	nodes  []NodeType
	// orphan receives outputs whose request already completed (streaming nodes).
	orphan func(session string, frame []byte)

	sessions atomic.Int64 // sessions pinned here, for load balancing

	wmu      sync.Mutex // serializes writes to stdin
	wbuf     bytes.Buffer
	enc      *msgpack.Encoder // writes to wbuf; compact ints, sorted map keys
	frameReq frameRequest     // reused: one frame request without an allocation

	mu      sync.Mutex
	nextID  uint64
	pending map[uint64]*call
	cause   error         // why the worker stopped; set before dead is closed
	dead    chan struct{} // closed once the process has exited and been reaped
}

// newRequestEncoder is the encoder of proxy -> worker messages: integers in their
// shortest form and map keys sorted, so one request always encodes to the same bytes.
func newRequestEncoder(buf *bytes.Buffer) *msgpack.Encoder {
	enc := msgpack.NewEncoder(buf)
	enc.UseCompactInts(true)
	enc.SetSortMapKeys(true)
	return enc
}

// startWorker runs a worker process and waits for its ready message.
func startWorker(ctx context.Context, cfg Config, orphan func(string, []byte)) (*worker, error) {
	args := []string{"-m", "remotemedia.worker"}
	for _, m := range cfg.Modules {
		args = append(args, "--module", m)
	}
	for _, m := range cfg.ModuleNames {
		args = append(args, "--module-name", m)
	}
	memory := max(cfg.MemoryLimit, 0)
	args = append(args, "--memory-limit", strconv.FormatInt(memory, 10))
	cmd := exec.Command(cfg.Python, args...)
	cmd.Env = append(os.Environ(), "PYTHONUNBUFFERED=1")
	setProcAttr(cmd)
	cmd.WaitDelay = time.Second // a grandchild holding stderr open must not block Wait
	w := &worker{memory: memory, cmd: cmd, orphan: orphan, pending: map[uint64]*call{}, dead: make(chan struct{})}
	w.enc = newRequestEncoder(&w.wbuf)
	w.stderr = &tailWriter{log: cfg.Logger}
	cmd.Stderr = w.stderr
	var err error
	if w.stdin, err = cmd.StdinPipe(); err != nil {
		return nil, fmt.Errorf("pyproxy: start worker: %w", err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, fmt.Errorf("pyproxy: start worker: %w", err)
	}
	w.stdout = bufio.NewReaderSize(stdout, 64<<10)
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("pyproxy: start worker %q: %w", strings.Join(cmd.Args, " "), err)
	}
	w.pid = cmd.Process.Pid
	w.log = cfg.Logger.With("worker", w.pid)
	w.stderr.setLogger(w.log)

	ready := make(chan error, 1)
	go func() { ready <- w.readReady() }()
	timer := time.NewTimer(cfg.StartTimeout)
	defer timer.Stop()
	select {
	case err = <-ready:
	case <-timer.C:
		err = fmt.Errorf("no ready message within %s", cfg.StartTimeout)
	case <-ctx.Done():
		err = ctx.Err()
	}
	if err != nil {
		killGroup(w.pid)
		waitErr := cmd.Wait()
		return nil, fmt.Errorf("%w: worker %d (%s) did not start: %v (exit: %v)%s", ErrProtocol, w.pid, cfg.Python, err, waitErr, w.stderr.tail())
	}
	go w.readLoop()
	return w, nil
}

func (w *worker) readReady() error {
	var buf []byte
	for {
		var m message
		var err error
		if buf, err = readMessage(w.stdout, buf, &m); err != nil {
			return err
		}
		if m.Op != "ready" {
			return fmt.Errorf("first message is %q, want \"ready\"", m.Op)
		}
		if m.Version != ProtocolVersion {
			return fmt.Errorf("protocol version %d, want %d", m.Version, ProtocolVersion)
		}
		w.nodes = m.Nodes
		return nil
	}
}

// readMessage reads one length-prefixed msgpack map into m, reusing buf.
func readMessage(r *bufio.Reader, buf []byte, m *message) ([]byte, error) {
	var hdr [4]byte
	if _, err := io.ReadFull(r, hdr[:]); err != nil {
		return buf, err
	}
	n := binary.BigEndian.Uint32(hdr[:])
	if n > maxMessage {
		return buf, fmt.Errorf("%w: message of %d bytes", ErrProtocol, n)
	}
	if cap(buf) < int(n) {
		buf = make([]byte, n)
	}
	buf = buf[:n]
	if _, err := io.ReadFull(r, buf); err != nil {
		return buf, err
	}
	if err := msgpack.Unmarshal(buf, m); err != nil {
		return buf, fmt.Errorf("%w: %v", ErrProtocol, err)
	}
	return buf, nil
}

func (w *worker) readLoop() {
	var buf []byte
	var err error
	for {
		var m message
		if buf, err = readMessage(w.stdout, buf, &m); err != nil {
			break
		}
		w.dispatch(&m)
	}
	if !errors.Is(err, io.EOF) {
		w.log.Error("pyproxy: reading worker output", "err", err)
	}
	killGroup(w.pid) // a worker that closed stdout is no use; end it and anything it spawned
	waitErr := w.cmd.Wait()
	if waitErr == nil {
		waitErr = errors.New("exited")
	}
	var exit *exec.ExitError
	w.mu.Lock()
	if w.cause == nil && errors.As(waitErr, &exit) && exit.ExitCode() == exitMemory && w.memory > 0 {
		w.cause = &WorkerError{PID: w.pid, MemoryLimit: w.memory, Err: waitErr}
	}
	if w.cause == nil {
		w.cause = &WorkerError{PID: w.pid, Err: waitErr}
	}
	pending := w.pending
	w.pending = nil
	close(w.dead)
	w.mu.Unlock()
	for _, c := range pending {
		c.finish(w.cause)
	}
}

func (w *worker) dispatch(m *message) {
	switch m.Op {
	case "output":
		w.mu.Lock()
		c := w.pending[m.ID]
		w.mu.Unlock()
		if c != nil {
			c.push(m.Frame)
		} else {
			w.orphan(m.Session, m.Frame)
		}
	case "error":
		if m.Traceback != "" || m.Fatal {
			w.log.Warn("pyproxy: node raised", "session", m.Session, "error", m.Error, "traceback", m.Traceback, "fatal", m.Fatal)
		}
		if m.Fatal && w.memory > 0 {
			// The worker is going over its memory limit and exits: the call, and
			// every session here, fail with that rather than a node error.
			w.kill(&WorkerError{PID: w.pid, MemoryLimit: w.memory, Err: errors.New(m.Error)})
			return
		}
		fallthrough
	case "done", "pong":
		w.mu.Lock()
		c := w.pending[m.ID]
		delete(w.pending, m.ID)
		w.mu.Unlock()
		switch {
		case c == nil && m.Op == "error":
			w.log.Error("pyproxy: worker error", "id", m.ID, "session", m.Session, "error", m.Error)
		case c == nil:
		case m.Op == "error":
			c.finish(&NodeError{Session: m.Session, Type: m.Type, Message: m.Error})
		default:
			c.finish(nil)
		}
	default:
		w.log.Warn("pyproxy: unknown message from worker", "op", m.Op, "id", m.ID, "session", m.Session)
	}
}

// start sends a request and returns its call, or the worker's death cause.
func (w *worker) start(r request) (*call, error) {
	c := &call{started: time.Now(), notify: make(chan struct{}, 1)}
	w.mu.Lock()
	if w.pending == nil {
		w.mu.Unlock()
		return nil, w.cause
	}
	w.nextID++
	c.id = w.nextID
	w.pending[c.id] = c
	w.mu.Unlock()
	if err := w.write(c.id, r); err != nil {
		killGroup(w.pid)
		<-w.dead
		return nil, w.cause
	}
	return c, nil
}

// write encodes r as request id and writes it to the worker in one call.
func (w *worker) write(id uint64, r request) error {
	w.wmu.Lock()
	defer w.wmu.Unlock()
	w.wbuf.Reset()
	w.wbuf.Write([]byte{0, 0, 0, 0}) // the length, filled in below
	var err error
	switch r.op {
	case "open":
		params := r.params
		if params == nil {
			params = map[string]any{}
		}
		err = w.enc.Encode(&openRequest{Op: r.op, ID: id, Session: r.session, NodeType: r.nodeType, Params: params})
	case "frame":
		w.frameReq = frameRequest{Op: r.op, ID: id, Session: r.session, Frame: r.frame}
		err = w.enc.Encode(&w.frameReq)
		w.frameReq.Frame = nil // not kept alive until the next frame
	case "flush", "close":
		err = w.enc.Encode(&sessionRequest{Op: r.op, ID: id, Session: r.session})
	case "ping":
		err = w.enc.Encode(&pingRequest{Op: r.op, ID: id})
	default:
		err = fmt.Errorf("%w: unknown request op %q", ErrProtocol, r.op)
	}
	if err != nil {
		return fmt.Errorf("pyproxy: encode %s request: %w", r.op, err)
	}
	b := w.wbuf.Bytes()
	binary.BigEndian.PutUint32(b, uint32(len(b)-4))
	_, err = w.stdin.Write(b)
	return err
}

// wait delivers the call's outputs to out.emit as they arrive, calls out.idle
// each time before it blocks, and returns how the call ended. A worker that makes
// no progress for timeout is killed: the call (and every other call on it) then
// fails with a *WorkerError naming the timeout.
func (w *worker) wait(ctx context.Context, c *call, timeout time.Duration, out sink) error {
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	for {
		outs, done, err := c.take()
		for _, o := range outs {
			if e := out.emit(o); e != nil {
				w.forget(c)
				return e
			}
		}
		if len(outs) > 0 {
			timer.Reset(timeout)
		}
		if done {
			return err
		}
		if out.idle != nil {
			if e := out.idle(); e != nil {
				w.forget(c)
				return e
			}
		}
		select {
		case <-c.notify:
		case <-timer.C:
			w.kill(&WorkerError{PID: w.pid, Timeout: timeout})
		case <-ctx.Done():
			w.forget(c)
			return ctx.Err()
		}
	}
}

// forget stops routing a call's results; later outputs go to the session's orphan queue.
func (w *worker) forget(c *call) {
	w.mu.Lock()
	if w.pending != nil {
		delete(w.pending, c.id)
	}
	w.mu.Unlock()
}

// kill ends the worker's process group; cause, if the first one given, becomes the
// error every pending call and session sees.
func (w *worker) kill(cause error) {
	w.mu.Lock()
	if w.cause == nil {
		w.cause = cause
	}
	w.mu.Unlock()
	killGroup(w.pid)
}

// shutdown closes the worker's stdin (it exits on EOF), then kills it after grace.
func (w *worker) shutdown(grace time.Duration) {
	w.mu.Lock()
	if w.cause == nil {
		w.cause = fmt.Errorf("%w: worker %d stopped", ErrClosed, w.pid)
	}
	w.mu.Unlock()
	_ = w.stdin.Close()
	select {
	case <-w.dead:
	case <-time.After(grace):
		killGroup(w.pid)
		<-w.dead
	}
}

func (w *worker) alive() bool {
	select {
	case <-w.dead:
		return false
	default:
		return true
	}
}

// tailWriter forwards a worker's stderr to the log line by line and keeps the last
// lines, to explain a worker that fails to start.
type tailWriter struct {
	mu    sync.Mutex
	log   *slog.Logger
	part  []byte
	lines []string
}

func (t *tailWriter) setLogger(l *slog.Logger) {
	t.mu.Lock()
	t.log = l
	t.mu.Unlock()
}

func (t *tailWriter) Write(b []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.part = append(t.part, b...)
	for {
		i := bytes.IndexByte(t.part, '\n')
		if i < 0 {
			break
		}
		line := string(t.part[:i])
		t.part = t.part[i+1:]
		t.log.Log(context.Background(), stderrLevel(line), "worker stderr", "line", line)
		if t.lines = append(t.lines, line); len(t.lines) > 20 {
			t.lines = t.lines[1:]
		}
	}
	return len(b), nil
}

// stderrLevel is the level a worker's stderr line is logged at: warn (tracebacks,
// native libraries' messages, print()), but info for the worker's own logging
// of INFO or DEBUG records ("2026-01-02 15:04:05,000 INFO name: message").
func stderrLevel(line string) slog.Level {
	if f := strings.Fields(line); len(f) > 3 && (f[2] == "INFO" || f[2] == "DEBUG") && strings.HasSuffix(f[3], ":") {
		return slog.LevelInfo
	}
	return slog.LevelWarn
}

func (t *tailWriter) tail() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	lines := append(t.lines, string(t.part))
	s := strings.TrimSpace(strings.Join(lines, "\n"))
	if s == "" {
		return ""
	}
	return "; stderr:\n" + s
}
