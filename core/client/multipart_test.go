package client

import (
	"bytes"
	"fmt"
	"io"
	"mime/multipart"
	"net/textproto"
	"reflect"
	"strings"
	"testing"
)

func TestMultipartParts(t *testing.T) {
	tests := []struct {
		name      string
		given     string
		expect    []bodyPart
		expectErr string
	}{
		{name: "two parts", given: "--B\r\nContent-Type: audio/wav\r\n\r\nRIFF\r\n--B\r\ncontent-type: application/x-ndjson\r\nX-Other: 1\r\n\r\n{}\n\r\n--B--\r\n",
			expect: []bodyPart{{"audio/wav", []byte("RIFF")}, {"application/x-ndjson", []byte("{}\n")}}},
		{name: "preamble, LF lines, padding", given: "ignored\n--B  \nContent-Type: a/b\n\nx\n--B--", expect: []bodyPart{{"a/b", []byte("x")}}},
		{name: "boundary-like content", given: "--B\r\nContent-Type: a/b\r\n\r\n--Bx\r\n--B-y\r\n--B--\r\n", expect: []bodyPart{{"a/b", []byte("--Bx\r\n--B-y")}}},
		{name: "empty part", given: "--B\r\nContent-Type: a/b\r\n\r\n\r\n--B--", expect: []bodyPart{{"a/b", []byte{}}}},
		{name: "no parts", given: "--B--\r\n", expect: nil},
		{name: "no boundary", given: "RIFF", expectErr: `no boundary "B"`},
		{name: "unterminated part", given: "--B\r\nContent-Type: a/b\r\n\r\nRIFF", expectErr: "does not end"},
		{name: "unterminated headers", given: "--B\r\nContent-Type: a/b", expectErr: "no end of headers"},
		{name: "bad header", given: "--B\r\nnot a header\r\n\r\nx\r\n--B--", expectErr: "malformed part header"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := multipartParts([]byte(tt.given), "B")
			if tt.expectErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.expectErr) {
					t.Fatalf("err = %v, want one containing %q", err, tt.expectErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if fmt.Sprintf("%q", got) != fmt.Sprintf("%q", tt.expect) {
				t.Errorf("parts = %q, want %q", got, tt.expect)
			}
		})
	}
}

// TestMultipartPartsReadsTheWriter: what mime/multipart.Writer (the server's
// run handler) writes comes back part for part, whatever the boundary.
func TestMultipartPartsReadsTheWriter(t *testing.T) {
	want := []bodyPart{{"audio/wav", []byte("RIFF\x00\r\n--\r\n")}, {"application/x-ndjson", []byte("{\"a\":1}\n{\"end\":{}}\n")}, {"text/plain", []byte{}}}
	for i := range 20 {
		var buf bytes.Buffer
		w := multipart.NewWriter(&buf)
		for _, p := range want {
			pw, err := w.CreatePart(textproto.MIMEHeader{"Content-Type": {p.contentType}})
			if err != nil {
				t.Fatal(err)
			}
			_, _ = pw.Write(p.body)
		}
		_ = w.Close()
		got, err := multipartParts(buf.Bytes(), w.Boundary())
		if err != nil {
			t.Fatalf("round %d: %v", i, err)
		}
		if fmt.Sprintf("%q", got) != fmt.Sprintf("%q", want) {
			t.Fatalf("round %d: parts = %q, want %q", i, got, want)
		}
	}
}

// FuzzMultipartParts: never a panic, and where mime/multipart.Reader and
// multipartParts both read a body, they read the same parts.
func FuzzMultipartParts(f *testing.F) {
	f.Add([]byte("--B\r\nContent-Type: audio/wav\r\n\r\nRIFF\r\n--B\r\nContent-Type: application/x-ndjson\r\n\r\n{}\n\r\n--B--\r\n"))
	f.Add([]byte("pre\n--B \nContent-Type: a/b\n\n--Bx\n--B--"))
	f.Add([]byte("--B\r\n\r\n\r\n--B--"))
	f.Fuzz(func(t *testing.T, body []byte) {
		got, err := multipartParts(body, "B")
		if err != nil {
			return
		}
		r := multipart.NewReader(bytes.NewReader(body), "B")
		var want []bodyPart
		for {
			p, err := r.NextRawPart()
			if err == io.EOF {
				break
			}
			if err != nil {
				return
			}
			b, err := io.ReadAll(p)
			if err != nil {
				return
			}
			want = append(want, bodyPart{p.Header.Get("Content-Type"), b})
		}
		for i := range want {
			if want[i].body == nil {
				want[i].body = []byte{}
			}
		}
		for i := range got {
			if got[i].body == nil {
				got[i].body = []byte{}
			}
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("multipartParts %q, mime/multipart %q", got, want)
		}
	})
}
