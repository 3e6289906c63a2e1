package web

import (
	"bytes"
	"io/fs"
	"strings"
)

// The markers in remotemedia.js that make it an ES module as well.
const (
	classicOnly  = "// classic-only"
	modulePrefix = "// module: "
)

// esModuleOf reads remotemedia.js from fsys and returns it as an ES module.
func esModuleOf(fsys fs.FS) ([]byte, error) {
	classic, err := fs.ReadFile(fsys, "remotemedia.js")
	if err != nil {
		return nil, err
	}
	return esModule(classic), nil
}

// esModule turns the classic script remotemedia.js into the ES module served as
// remotemedia.mjs, so the two forms are one source: lines ending in
// "// classic-only" (the IIFE around the code, document.currentScript, the
// global and the Web Worker's start) are left out, lines "// module: CODE"
// become CODE (import.meta.url, the exports), and the body loses the two spaces
// of indentation the IIFE gave it.
func esModule(classic []byte) []byte {
	var b bytes.Buffer
	b.Grow(len(classic))
	b.WriteString("// remotemedia.mjs: remotemedia.js as an ES module, made from it by the server (web/esmodule.go).\n")
	for _, line := range strings.SplitAfter(string(classic), "\n") {
		body := strings.TrimRight(line, "\n")
		if strings.HasSuffix(body, classicOnly) {
			continue
		}
		code := strings.TrimLeft(body, " ")
		if rest, ok := strings.CutPrefix(code, modulePrefix); ok {
			line = body[:len(body)-len(code)] + rest + line[len(body):]
		}
		b.WriteString(strings.TrimPrefix(line, "  "))
	}
	return b.Bytes()
}
