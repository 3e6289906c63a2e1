package live

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"net/textproto"
	"slices"
	"strconv"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/remotemedia/hybrid/core/def"
	"github.com/remotemedia/hybrid/core/frame"
	"github.com/remotemedia/hybrid/core/runner"
	"github.com/remotemedia/hybrid/core/sched"
	"github.com/remotemedia/hybrid/core/wavio"
)

// Media types of the one-shot run.
const (
	mimeWAV       = "audio/wav"
	mimeNDJSON    = "application/x-ndjson"
	mimeMultipart = "multipart/mixed"
)

// runNamed serves POST /v1/pipelines/:name/run.
func (s *Server) runNamed(c echo.Context) error {
	p, err := s.pipeline(c)
	if p == nil {
		return err
	}
	body, err := io.ReadAll(http.MaxBytesReader(c.Response(), c.Request().Body, s.cfg.MaxBody))
	if err != nil {
		return s.bodyError(c, err)
	}
	return s.runOnce(c, p, body)
}

// runInline serves POST /v1/inline/run: multipart/form-data with a
// `definition` part and an `audio` part.
func (s *Server) runInline(c echo.Context) error {
	if !s.inlineAllowed(c) {
		return nil
	}
	r := c.Request()
	r.Body = http.MaxBytesReader(c.Response(), r.Body, s.cfg.MaxBody+def.MaxSize)
	mr, err := r.MultipartReader()
	if err != nil {
		return httpError(c, http.StatusBadRequest, fmt.Errorf("%w: send multipart/form-data with a `definition` part and an `audio` part: %w", ErrInline, err))
	}
	var defData, audio []byte
	var haveDef, haveAudio bool
	for {
		part, err := mr.NextPart()
		if err == io.EOF {
			break
		}
		if err != nil {
			return s.bodyError(c, err)
		}
		switch part.FormName() {
		case "definition":
			defData, err = io.ReadAll(io.LimitReader(part, def.MaxSize+1))
			haveDef = true
		case "audio":
			audio, err = io.ReadAll(part)
			haveAudio = true
		}
		if err != nil {
			return s.bodyError(c, err)
		}
	}
	if !haveDef || !haveAudio {
		return httpError(c, http.StatusBadRequest, fmt.Errorf("%w: the form needs a `definition` part and an `audio` part", ErrInline))
	}
	p, err := inlinePipeline(defData, s.cfg.Registry)
	if err != nil {
		return httpError(c, http.StatusBadRequest, err)
	}
	return s.runOnce(c, p, audio)
}

// bodyError answers a request body that could not be read: 413 over the limit.
func (s *Server) bodyError(c echo.Context, err error) error {
	var tooBig *http.MaxBytesError
	if errors.As(err, &tooBig) {
		s.m.refused.WithLabelValues("body_size").Inc()
		return httpError(c, http.StatusRequestEntityTooLarge, fmt.Errorf("%w: the request body is over the limit of %d bytes", ErrLimit, tooBig.Limit))
	}
	return httpError(c, http.StatusBadRequest, fmt.Errorf("live: reading the request body: %w", err))
}

// runOnce runs p over a WAV file and answers with the audio, the events, or both.
func (s *Server) runOnce(c echo.Context, p *Pipeline, body []byte) error {
	r := c.Request()
	if err := s.begin(); err != nil {
		return httpError(c, statusOf(err), err)
	}
	defer s.active.Done()
	addr := clientAddr(r)
	if err := s.admit(addr); err != nil {
		return httpError(c, statusOf(err), err)
	}
	defer s.release(addr)

	q := r.URL.Query()
	frameMS := runner.DefaultFrameMS
	if v := q.Get("frame_ms"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 1000 {
			return httpError(c, http.StatusBadRequest, fmt.Errorf("live: frame_ms=%q: want a whole number of milliseconds from 1 to 1000", v))
		}
		frameMS = n
	}
	mode := answerMode(r.Header.Get(echo.HeaderAccept))
	output := ""
	if mode != mimeNDJSON {
		var err error
		if output, err = pickAudioOutput(p, q.Get("output")); err != nil {
			return httpError(c, http.StatusBadRequest, err)
		}
	}
	wr, err := wavio.NewReader(bytes.NewReader(body), "the request body")
	if err != nil {
		return httpError(c, http.StatusBadRequest, err)
	}
	src, err := runner.NewReaderSource(wr.Read, wr.SampleRate, wr.Channels, frameMS, "run")
	if err != nil {
		return httpError(c, http.StatusBadRequest, err)
	}
	counted := &countingSource{src: src}

	ctx, cancel := context.WithTimeoutCause(r.Context(), s.cfg.MaxSessionLength,
		fmt.Errorf("%w: the run took over its maximum of %v", ErrSessionLength, s.cfg.MaxSessionLength))
	defer cancel()
	stop := context.AfterFunc(s.ctx, cancel)
	defer stop()

	pm := s.m.forPipeline(p.metricName)
	pm.sessions.Inc()
	defer pm.sessions.Dec()
	sink := &runSink{output: output, events: mode != mimeWAV}
	stats, err := runner.Run(ctx, &runner.Pipeline{Def: p.def, Graph: p.oneShotGraph()}, counted, sink.write,
		sched.Options{QueueSize: s.cfg.QueueSize, StreamID: "run", Spin: true})
	pm.framesIn.Add(float64(counted.n))
	pm.framesOut.Add(float64(sink.framesOut))
	pm.failed.Add(float64(sink.nodeErrors))
	s.m.ended(p, stats, err != nil)
	if err != nil {
		if s.ctx.Err() != nil {
			return httpError(c, http.StatusServiceUnavailable, fmt.Errorf("%w: the run was cut short: %w", ErrDraining, err))
		}
		return httpError(c, http.StatusUnprocessableEntity, fmt.Errorf("live: pipeline %q failed: %w", p.Name, err))
	}
	wav, err := sink.finish()
	if err != nil {
		return httpError(c, http.StatusUnprocessableEntity, err)
	}
	end := endBody{FramesIn: counted.n, Stats: make([]nodeStat, len(stats))}
	for i, st := range stats {
		end.Dropped += st.Dropped
		end.Stats[i] = statOf(st)
	}
	endLine, _ := json.Marshal(map[string]endBody{"end": end})
	sink.ev.Write(endLine)
	sink.ev.WriteByte('\n')

	w := c.Response()
	switch mode {
	case mimeWAV:
		return c.Blob(http.StatusOK, mimeWAV, wav)
	case mimeNDJSON:
		return c.Blob(http.StatusOK, mimeNDJSON, sink.ev.Bytes())
	}
	mw := multipart.NewWriter(w)
	w.Header().Set(echo.HeaderContentType, mime.FormatMediaType(mimeMultipart, map[string]string{"boundary": mw.Boundary()}))
	w.WriteHeader(http.StatusOK)
	for _, part := range []struct {
		typ  string
		data []byte
	}{{mimeWAV, wav}, {mimeNDJSON, sink.ev.Bytes()}} {
		pw, err := mw.CreatePart(textproto.MIMEHeader{"Content-Type": {part.typ}})
		if err != nil {
			return err
		}
		if _, err := pw.Write(part.data); err != nil {
			return err
		}
	}
	return mw.Close()
}

// answerMode picks the answer's media type from an Accept header.
func answerMode(accept string) string {
	switch {
	case strings.Contains(accept, mimeMultipart):
		return mimeMultipart
	case strings.Contains(accept, mimeNDJSON):
		return mimeNDJSON
	}
	return mimeWAV
}

// pickAudioOutput resolves the output query against the pipeline's audio outputs.
func pickAudioOutput(p *Pipeline, want string) (string, error) {
	audio := p.audioOutputs()
	switch {
	case want != "" && slices.Contains(audio, want):
		return want, nil
	case len(audio) == 0:
		return "", fmt.Errorf("live: pipeline %q has no audio output; ask for its events with Accept: %s", p.Name, mimeNDJSON)
	case want != "":
		return "", fmt.Errorf("live: output=%s is not an audio output of pipeline %q (audio outputs: %s)", want, p.Name, strings.Join(audio, ", "))
	case len(audio) > 1:
		return "", fmt.Errorf("live: pipeline %q has %d audio outputs (%s); pick one with ?output=NODE.PORT", p.Name, len(audio), strings.Join(audio, ", "))
	}
	return audio[0], nil
}

// countingSource counts the frames a source gave.
type countingSource struct {
	src runner.Source
	n   uint64
}

func (c *countingSource) Next() (*frame.Frame, error) {
	f, err := c.src.Next()
	if err == nil {
		c.n++
	}
	return f, err
}

// runSink collects a one-shot run's outputs as `remotemedia run` writes them:
// the chosen audio output as 32-bit float WAV, every other output as events.
type runSink struct {
	output     string // node.port of the audio output written, "" for none
	events     bool
	buf        memFile
	wav        *wavio.Writer
	ev         bytes.Buffer
	framesOut  uint64
	nodeErrors uint64
}

func (s *runSink) write(o sched.Output) error {
	if o.Err != nil {
		s.nodeErrors++
	} else if o.Frame != nil && o.Frame.Kind != frame.KindControl {
		s.framesOut++
	}
	if o.Frame != nil && o.Frame.Kind == frame.KindAudio {
		if s.output == "" || o.Node+"."+o.Port != s.output {
			return nil
		}
		return s.writeAudio(o.Frame)
	}
	ev, ok := runner.EventOf(o)
	if !ok || !s.events {
		return nil
	}
	b, err := json.Marshal(ev)
	if err != nil {
		return err
	}
	s.ev.Write(b)
	s.ev.WriteByte('\n')
	return nil
}

func (s *runSink) writeAudio(f *frame.Frame) error {
	if s.wav == nil {
		s.wav = wavio.NewWriter(&s.buf, int(f.SampleRate), int(f.Channels))
	}
	if int(f.SampleRate) != s.wav.SampleRate || int(f.Channels) != s.wav.Channels {
		return fmt.Errorf("live: %s changed format mid-stream (%d Hz %d channels, then %d Hz %d channels); a WAV file holds one",
			s.output, s.wav.SampleRate, s.wav.Channels, f.SampleRate, f.Channels)
	}
	return s.wav.Write(f.Float32s())
}

// finish completes the WAV file: with no audio, a valid empty one (as run writes).
func (s *runSink) finish() ([]byte, error) {
	if s.output == "" {
		return nil, nil
	}
	if s.wav == nil {
		s.wav = wavio.NewWriter(&s.buf, 16000, 1)
	}
	if err := s.wav.Close(); err != nil {
		return nil, fmt.Errorf("live: writing the WAV answer: %w", err)
	}
	return s.buf.b, nil
}

// memFile is an in-memory io.WriteSeeker, for the WAV writer's header.
type memFile struct {
	b   []byte
	off int
}

func (m *memFile) Write(p []byte) (int, error) {
	if end := m.off + len(p); end > len(m.b) {
		m.b = append(m.b, make([]byte, end-len(m.b))...)
	}
	copy(m.b[m.off:], p)
	m.off += len(p)
	return len(p), nil
}

func (m *memFile) Seek(offset int64, whence int) (int64, error) {
	var base int64
	switch whence {
	case io.SeekCurrent:
		base = int64(m.off)
	case io.SeekEnd:
		base = int64(len(m.b))
	}
	if n := base + offset; n >= 0 {
		m.off = int(n)
		return n, nil
	}
	return 0, errors.New("live: seek before the start")
}
