// Command precompress writes FILE.br (brotli, quality 11), FILE.gz (gzip, best
// compression) and, last, FILE.sha256 (the hex sha256 of FILE they were made
// from) beside each FILE given, for the web handler to serve to clients that
// accept them (docs/browser.md, "Serving core.wasm"); the handler ignores
// copies whose FILE.sha256 does not match FILE. `make browser` runs it on
// web/dist/core.wasm. Each output is written to a temporary file and renamed,
// so an interrupted build leaves no truncated copy.
//
//	go run ./tools/precompress web/dist/core.wasm
package main

import (
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/andybalholm/brotli"
)

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: precompress FILE...")
		os.Exit(2)
	}
	for _, name := range os.Args[1:] {
		if err := precompress(name); err != nil {
			fmt.Fprintln(os.Stderr, "precompress:", err)
			os.Exit(1)
		}
	}
}

// precompress writes name.br, name.gz and name.sha256.
func precompress(name string) error {
	raw, err := os.ReadFile(name)
	if err != nil {
		return err
	}
	encoders := []struct {
		ext string
		new func(io.Writer) (io.WriteCloser, error)
	}{
		{".br", func(w io.Writer) (io.WriteCloser, error) {
			return brotli.NewWriterOptions(w, brotli.WriterOptions{Quality: brotli.BestCompression, LGWin: 24}), nil
		}},
		{".gz", func(w io.Writer) (io.WriteCloser, error) { return gzip.NewWriterLevel(w, gzip.BestCompression) }},
	}
	for _, e := range encoders {
		if err := write(name+e.ext, raw, e.new); err != nil {
			return err
		}
	}
	sum := sha256.Sum256(raw)
	return write(name+".sha256", []byte(hex.EncodeToString(sum[:])+"\n"), func(w io.Writer) (io.WriteCloser, error) {
		return nopCloser{w}, nil
	})
}

// write compresses raw into a temporary file beside out and renames it to out.
func write(out string, raw []byte, newEncoder func(io.Writer) (io.WriteCloser, error)) (err error) {
	tmp, err := os.CreateTemp(filepath.Dir(out), "."+filepath.Base(out)+".tmp*") // a dot: //go:embed skips it
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			_ = tmp.Close()
			_ = os.Remove(tmp.Name())
		}
	}()
	enc, err := newEncoder(tmp)
	if err != nil {
		return err
	}
	if _, err = enc.Write(raw); err != nil {
		return fmt.Errorf("%s: %w", out, err)
	}
	if err = enc.Close(); err != nil {
		return fmt.Errorf("%s: %w", out, err)
	}
	if err = tmp.Close(); err != nil {
		return fmt.Errorf("%s: %w", out, err)
	}
	if err = os.Chmod(tmp.Name(), 0o644); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), out)
}

type nopCloser struct{ io.Writer }

func (nopCloser) Close() error { return nil }
