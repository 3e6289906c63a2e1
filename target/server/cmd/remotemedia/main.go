// Command remotemedia runs media pipelines of WebAssembly and Python nodes: over a
// file (run), as a server for browsers and clients (serve), and checks definitions
// (validate) and lists node types (nodes).
package main

import (
	"os"

	"github.com/remotemedia/hybrid/target/server/cli"
)

func main() {
	os.Exit(cli.Main(os.Args[1:], os.Stdout, os.Stderr))
}
