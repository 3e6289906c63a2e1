package client

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
)

// bodyPart is one part of a multipart body: its Content-Type and its bytes.
type bodyPart struct {
	contentType string
	body        []byte
}

// multipartParts splits a multipart body (RFC 2046) into its parts as
// mime/multipart.Reader does, for the one-shot run's multipart/mixed answer.
// It does not use mime/multipart: that package brings net, net/textproto and
// crypto/rand into core.wasm, about 200 KB of its 11 MB (docs/browser.md,
// "Size"). As there, lines before the first delimiter are skipped, lines end
// in CRLF (or LF, when the first delimiter line does), a delimiter line may
// have trailing blanks, and the answer may end without a line break after the
// close delimiter. Only each part's Content-Type header is kept.
func multipartParts(body []byte, boundary string) ([]bodyPart, error) {
	if boundary == "" {
		return nil, errors.New("multipart answer without a boundary")
	}
	m := multipartReader{dash: []byte("--" + boundary), nl: []byte("\r\n")}
	rest := body
	// The preamble, up to the first delimiter line.
	for {
		line, after, found := cutLine(rest)
		if m.isClose(line) {
			return nil, nil
		}
		if !found {
			return nil, fmt.Errorf("no boundary %q in the multipart answer", boundary)
		}
		rest = after
		if tail := skipBlanks(line[min(len(line), len(m.dash)):]); bytes.HasPrefix(line, m.dash) && string(tail) == "\n" {
			m.nl = m.nl[1:] // LF line breaks
		}
		if m.isDelimiter(line) {
			break
		}
	}
	var parts []bodyPart
	for {
		ctype, content, err := partHeaders(rest)
		if err != nil {
			return nil, err
		}
		end := m.bodyEnd(content)
		if end < 0 {
			return nil, fmt.Errorf("a part of the multipart answer does not end (no boundary %q after it)", boundary)
		}
		parts = append(parts, bodyPart{contentType: ctype, body: content[:end]})
		rest = bytes.TrimPrefix(content[end:], m.nl)
		line, after, _ := cutLine(rest)
		switch {
		case m.isClose(line):
			return parts, nil
		case m.isDelimiter(line):
			rest = after
		default:
			return nil, fmt.Errorf("a malformed boundary line %q in the multipart answer", line)
		}
	}
}

type multipartReader struct {
	dash []byte // "--" + boundary
	nl   []byte // "\r\n" or "\n"
}

// isDelimiter says line (with its line break) is "--boundary", blanks, a line break.
func (m multipartReader) isDelimiter(line []byte) bool {
	return bytes.HasPrefix(line, m.dash) && bytes.Equal(skipBlanks(line[len(m.dash):]), m.nl)
}

// isClose says line is the close delimiter "--boundary--", blanks, and a line
// break or the end of the body.
func (m multipartReader) isClose(line []byte) bool {
	if !bytes.HasPrefix(line, m.dash) || !bytes.HasPrefix(line[len(m.dash):], []byte("--")) {
		return false
	}
	tail := skipBlanks(line[len(m.dash)+2:])
	return len(tail) == 0 || bytes.Equal(tail, m.nl)
}

// bodyEnd returns where a part's body ends in b: at a line break followed by
// the delimiter (or at b's start when b starts with it), the delimiter then
// followed by a blank, a line break, "--" or the end. -1 when there is none.
func (m multipartReader) bodyEnd(b []byte) int {
	if bytes.HasPrefix(b, m.dash) && m.delimiterFollows(b[len(m.dash):]) {
		return 0
	}
	nlDash := append(append([]byte{}, m.nl...), m.dash...)
	for from := 0; ; {
		i := bytes.Index(b[from:], nlDash)
		if i < 0 {
			return -1
		}
		i += from
		if m.delimiterFollows(b[i+len(nlDash):]) {
			return i
		}
		from = i + 1
	}
}

func (m multipartReader) delimiterFollows(after []byte) bool {
	return len(after) == 0 || bytes.IndexByte([]byte(" \t\r\n"), after[0]) >= 0 || bytes.HasPrefix(after, []byte("--"))
}

// cutLine returns b's first line with its "\n", and what follows it.
func cutLine(b []byte) (line, rest []byte, found bool) {
	if i := bytes.IndexByte(b, '\n'); i >= 0 {
		return b[:i+1], b[i+1:], true
	}
	return b, nil, false
}

func skipBlanks(b []byte) []byte { return bytes.TrimLeft(b, " \t") }

// partHeaders reads a part's header lines up to the blank line and returns its
// Content-Type and what follows the headers.
func partHeaders(b []byte) (contentType string, rest []byte, err error) {
	for {
		line, after, found := bytes.Cut(b, []byte("\n"))
		if !found {
			return "", nil, errors.New("a part of the multipart answer has no end of headers")
		}
		b = after
		line = bytes.TrimSuffix(line, []byte("\r"))
		if len(line) == 0 {
			return contentType, b, nil
		}
		name, value, ok := bytes.Cut(line, []byte(":"))
		if !ok {
			return "", nil, fmt.Errorf("a malformed part header %q in the multipart answer", line)
		}
		if strings.EqualFold(string(bytes.TrimSpace(name)), "Content-Type") {
			contentType = string(bytes.TrimSpace(value))
		}
	}
}
