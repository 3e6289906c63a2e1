// Package client talks to a `remotemedia serve` server (docs/server.md): the
// catalogue of pipelines, live sessions over a WebSocket, and one-shot runs of a
// WAV file. It is pure Go, like the rest of core/: what differs per target comes
// in as two small pieces, a Doer for HTTP exchanges and a DialFunc for
// WebSockets (target/server/clientws implements both natively).
package client

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"mime"
	"net/url"
	"strconv"
	"strings"

	"github.com/remotemedia/hybrid/core/runner"
)

// Errors returned by this package.
var (
	// ErrRefused matches every HTTP error answer of the server (see *StatusError).
	ErrRefused = errors.New("client: server refused the request")
	// ErrResponse is an answer of the server this client cannot understand.
	ErrResponse = errors.New("client: bad answer from server")
	// ErrClosed is an operation on a socket that is closed or has failed; the
	// error that closed it (a *CloseError when the server closed it) is wrapped
	// beside it.
	ErrClosed = errors.New("client: socket closed")
	// ErrEnded is an operation on a session whose end frame has arrived.
	ErrEnded = errors.New("client: session ended")
	// ErrSessionFailed is a session whose end frame carries an error.
	ErrSessionFailed = errors.New("client: session failed")
	// ErrDraining is a data frame sent to a session after the server said it
	// is shutting down: the session's input has ended (the client sent its
	// eos), and its last outputs and end frame are on their way.
	ErrDraining = errors.New("client: the server is shutting down")
)

// Request is one HTTP exchange as a Doer performs it.
type Request struct {
	Method      string
	URL         string
	ContentType string // of Body; "" for none
	Accept      string // "" for none
	Token       string // sent as Authorization: Bearer when not empty
	Body        []byte // nil for none
}

// Response is the whole answer to a Request.
type Response struct {
	Status      int
	ContentType string
	Body        []byte
}

// Doer performs one HTTP exchange and returns the whole answer.
type Doer interface {
	Do(ctx context.Context, req *Request) (*Response, error)
}

// StatusError is an HTTP error answer of the server.
type StatusError struct {
	Method, URL string
	Code        int
	Message     string // the server's {"error": ...}, else its body's text
}

func (e *StatusError) Error() string {
	return fmt.Sprintf("client: %s %s: server answered %d: %s", e.Method, e.URL, e.Code, e.Message)
}

// Is matches ErrRefused.
func (e *StatusError) Is(target error) bool { return target == ErrRefused }

// NewStatusError makes the error for an answer with status code code and
// body: the message is the body's {"error": ...} (or {"message": ...}), else
// its text.
func NewStatusError(method, rawURL string, code int, body []byte) *StatusError {
	var msg struct {
		Error   string `json:"error"`
		Message string `json:"message"` // echo's own answers (404 of an unknown route)
	}
	text := strings.TrimSpace(string(body))
	if json.Unmarshal(body, &msg) == nil && (msg.Error != "" || msg.Message != "") {
		text = cmp.Or(msg.Error, msg.Message)
	}
	if len(text) > 1024 {
		text = text[:1024] + "…"
	}
	if text == "" {
		text = "(no message)"
	}
	return &StatusError{Method: method, URL: rawURL, Code: code, Message: text}
}

// Client is a server at BaseURL.
type Client struct {
	BaseURL string // e.g. "http://127.0.0.1:8080"; "" in a browser page served by it
	Token   string // the server's bearer token, when it needs one
	Doer    Doer   // for the catalogue and one-shot runs
	Dial    DialFunc
}

// Port is one input or output of a pipeline.
type Port struct {
	Node  string   `json:"node"`
	Port  string   `json:"port"`
	Kinds []string `json:"kinds"`
}

// Pipeline is one definition the server offers.
type Pipeline struct {
	Name        string `json:"name"`
	Description string `json:"description,omitempty"`
	Inputs      []Port `json:"inputs"`
	Outputs     []Port `json:"outputs"`
}

// Pipelines lists the pipelines the server offers (GET /v1/pipelines).
func (c *Client) Pipelines(ctx context.Context) ([]Pipeline, error) {
	resp, err := c.do(ctx, &Request{Method: "GET", URL: c.BaseURL + "/v1/pipelines", Accept: "application/json"})
	if err != nil {
		return nil, err
	}
	var list struct {
		Pipelines []Pipeline `json:"pipelines"`
	}
	if err := json.Unmarshal(resp.Body, &list); err != nil {
		return nil, fmt.Errorf("%w: GET /v1/pipelines: %v", ErrResponse, err)
	}
	return list.Pipelines, nil
}

// Get fetches path under BaseURL (e.g. "/metrics") and returns its body.
func (c *Client) Get(ctx context.Context, path string) ([]byte, error) {
	resp, err := c.do(ctx, &Request{Method: "GET", URL: c.BaseURL + path})
	if err != nil {
		return nil, err
	}
	return resp.Body, nil
}

// Media types of one-shot runs' answers (RunOptions.Accept).
const (
	AcceptWAV       = "audio/wav"
	AcceptNDJSON    = "application/x-ndjson"
	AcceptMultipart = "multipart/mixed"
)

// RunOptions are a one-shot run's choices; the zero value asks for the audio.
type RunOptions struct {
	// Accept is AcceptWAV (the default), AcceptNDJSON (events and end only) or
	// AcceptMultipart (both).
	Accept string
	// FrameMS is the length of the frames the server cuts the input into (0:
	// the server's default, 20).
	FrameMS int
	// Output picks the audio output ("node.port") of a pipeline with several.
	Output string
}

// RunResult is the answer of a one-shot run.
type RunResult struct {
	WAV    []byte         // the audio output, a 32-bit float WAV file (nil with AcceptNDJSON)
	Events []runner.Event // the events, as `remotemedia run --events` writes them
	End    *End           // the session's end (nil with AcceptWAV)
}

// Run runs pipeline over a WAV file (POST /v1/pipelines/{name}/run).
func (c *Client) Run(ctx context.Context, pipeline string, wav []byte, opts RunOptions) (*RunResult, error) {
	q := url.Values{}
	if opts.FrameMS > 0 {
		q.Set("frame_ms", strconv.Itoa(opts.FrameMS))
	}
	if opts.Output != "" {
		q.Set("output", opts.Output)
	}
	u := c.BaseURL + "/v1/pipelines/" + url.PathEscape(pipeline) + "/run"
	if len(q) > 0 {
		u += "?" + q.Encode()
	}
	accept := opts.Accept
	if accept == "" {
		accept = AcceptWAV
	}
	resp, err := c.do(ctx, &Request{Method: "POST", URL: u, ContentType: "audio/wav", Accept: accept, Body: wav})
	if err != nil {
		return nil, err
	}
	res, err := parseRunAnswer(resp.ContentType, resp.Body)
	if err != nil {
		return nil, fmt.Errorf("%w: POST %s: %v", ErrResponse, u, err)
	}
	return res, nil
}

// parseRunAnswer reads a one-shot run's answer by its media type.
func parseRunAnswer(contentType string, body []byte) (*RunResult, error) {
	mt, params, err := mime.ParseMediaType(contentType)
	if err != nil {
		return nil, fmt.Errorf("content type %q: %v", contentType, err)
	}
	res := &RunResult{}
	switch {
	case mt == "audio/wav" || mt == "audio/x-wav" || mt == "audio/wave":
		res.WAV = body
	case mt == AcceptNDJSON:
		if err := res.readNDJSON(body); err != nil {
			return nil, err
		}
	case mt == AcceptMultipart:
		parts, err := multipartParts(body, params["boundary"])
		if err != nil {
			return nil, err
		}
		for _, p := range parts {
			pt, _, _ := mime.ParseMediaType(p.contentType)
			switch pt {
			case AcceptNDJSON:
				if err := res.readNDJSON(p.body); err != nil {
					return nil, err
				}
			case "audio/wav", "audio/x-wav", "audio/wave":
				res.WAV = p.body
			default:
				return nil, fmt.Errorf("multipart answer: a part of type %q", pt)
			}
		}
	default:
		return nil, fmt.Errorf("unexpected content type %q", contentType)
	}
	return res, nil
}

// readNDJSON reads events, one JSON object a line, and the last line's end.
func (r *RunResult) readNDJSON(b []byte) error {
	for i, line := range bytes.Split(b, []byte("\n")) {
		line = bytes.TrimSpace(line)
		if len(line) == 0 {
			continue
		}
		if bytes.HasPrefix(line, []byte(`{"end"`)) {
			var e struct {
				End *End `json:"end"`
			}
			if err := json.Unmarshal(line, &e); err != nil {
				return fmt.Errorf("line %d: %v", i+1, err)
			}
			r.End = e.End
			continue
		}
		var ev runner.Event
		if err := json.Unmarshal(line, &ev); err != nil {
			return fmt.Errorf("line %d: %v", i+1, err)
		}
		r.Events = append(r.Events, ev)
	}
	if r.End == nil {
		return errors.New("the events end without an end line")
	}
	return nil
}

// do performs req with the client's token; an answer other than 2xx is a
// *StatusError.
func (c *Client) do(ctx context.Context, req *Request) (*Response, error) {
	if c.Doer == nil {
		return nil, errors.New("client: no Doer to make HTTP requests with")
	}
	req.Token = c.Token
	resp, err := c.Doer.Do(ctx, req)
	if err != nil {
		return nil, fmt.Errorf("client: %s %s: %w", req.Method, req.URL, err)
	}
	if resp.Status < 200 || resp.Status > 299 {
		return nil, NewStatusError(req.Method, req.URL, resp.Status, resp.Body)
	}
	return resp, nil
}
