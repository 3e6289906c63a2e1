// Package cli implements the `remotemedia` command: run, validate, nodes, serve.
package cli

import (
	"cmp"
	"context"
	"crypto/sha256"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"runtime/debug"
	"strings"
	"syscall"
	"time"

	"github.com/remotemedia/hybrid/core/def"
	"github.com/remotemedia/hybrid/core/node"
	"github.com/remotemedia/hybrid/core/wasmnode"
	"github.com/remotemedia/hybrid/internal/gogc"
	"github.com/remotemedia/hybrid/target/server/live"
	"github.com/remotemedia/hybrid/target/wasmhost"
	modules "github.com/remotemedia/hybrid/wasm-modules"
)

// errUsage marks errors that should print usage and exit 2.
var errUsage = errors.New("usage")

// stdin is what `frames -` reads (a variable for tests).
var stdin io.Reader = os.Stdin

// version is the release version, set at link time:
//
//	go build -ldflags "-X github.com/remotemedia/hybrid/target/server/cli.version=v1.2.0"
var version string

// Version returns the version of this binary: the one set at link time, else
// the module version it was built at, else the VCS revision and time it was
// built from ("+modified" for a tree with changes), with the Go version.
func Version() string {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return cmp.Or(version, "(unknown)")
	}
	v := version
	if v == "" && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
		v = bi.Main.Version
	}
	if v == "" {
		settings := map[string]string{}
		for _, s := range bi.Settings {
			settings[s.Key] = s.Value
		}
		v = "(devel)"
		if rev := settings["vcs.revision"]; rev != "" {
			v = "devel " + rev[:min(12, len(rev))]
			if t := settings["vcs.time"]; t != "" {
				v += " " + t
			}
			if settings["vcs.modified"] == "true" {
				v += " +modified"
			}
		}
	}
	return v + " (" + bi.GoVersion + ")"
}

const usage = `remotemedia: run media pipelines of WebAssembly and Python nodes.

Usage:
  remotemedia run DEF --in IN.wav [--out [NODE.PORT=]OUT.wav ...] [--events EVENTS.jsonl] [flags]
  remotemedia validate DEF
  remotemedia nodes [--json | --schema | --markdown] [--python on]
  remotemedia serve [--listen 127.0.0.1:8080] [flags]
  remotemedia stream URL/NAME --in IN.wav [--out [NODE.PORT=]OUT.wav] [--events EVENTS.jsonl] [--realtime]
  remotemedia frames FILE.msgpack | -
  remotemedia version

Run 'remotemedia COMMAND -h' for a command's flags.
`

// Main runs the command line and returns the process exit code.
func Main(args []string, stdout, stderr io.Writer) int {
	if len(args) < 1 {
		fmt.Fprint(stderr, usage)
		return 2
	}
	if args[0] == "serve" {
		gogc.Apply(gogc.ServePercent)
	} else {
		gogc.Apply(gogc.Percent)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	var err error
	switch args[0] {
	case "run":
		err = cmdRun(ctx, args[1:], stdout, stderr)
	case "validate":
		err = cmdValidate(ctx, args[1:], stdout, stderr)
	case "nodes":
		err = cmdNodes(ctx, args[1:], stdout, stderr)
	case "serve":
		err = cmdServe(ctx, args[1:], stdout, stderr)
	case "stream":
		err = cmdStream(ctx, args[1:], stdout, stderr)
	case "frames":
		err = cmdFrames(args[1:], stdout, stderr)
	case "version", "--version", "-version":
		fmt.Fprintf(stdout, "remotemedia %s\n", Version())
		return 0
	case "-h", "--help", "help":
		fmt.Fprint(stdout, usage)
		return 0
	default:
		fmt.Fprintf(stderr, "remotemedia: unknown command %q\n\n%s", args[0], usage)
		return 2
	}
	switch {
	case err == nil:
		return 0
	case errors.Is(err, flag.ErrHelp):
		return 0
	case errors.Is(err, errUsage):
		fmt.Fprintf(stderr, "remotemedia %s: %v\n", args[0], err)
		return 2
	default:
		fmt.Fprintf(stderr, "remotemedia %s: %v\n", args[0], err)
		return 1
	}
}

// wasmFlags are the WASM host settings shared by run, nodes and serve.
type wasmFlags struct {
	memoryPages uint
	callTimeout time.Duration
	cacheDir    string
	modulesDirs listFlag // --modules, repeatable (modules.go)

	log      io.Writer                    // warnings of loading modules (nil: none)
	def      *def.Definition              // registry also registers the modules its nodes name (module:)
	defPath  string                       // the file def came from: module: paths are relative to it
	declared map[string][sha256.Size]byte // node type -> sha256 of the module that declared it
}

func (w *wasmFlags) register(fs *flag.FlagSet) {
	fs.UintVar(&w.memoryPages, "wasm-memory-pages", wasmhost.DefaultMemoryLimitPages, "memory cap per WASM node instance, in 64 KiB pages")
	fs.DurationVar(&w.callTimeout, "wasm-call-timeout", wasmhost.DefaultCallTimeout, "deadline for one call into a WASM node")
	def := ""
	if dir, err := os.UserCacheDir(); err == nil {
		def = filepath.Join(dir, "remotemedia", "wazero")
	}
	fs.StringVar(&w.cacheDir, "wasm-cache", def, "directory of the compiled-module cache (empty: no cache)")
	fs.Var(&w.modulesDirs, "modules", "a directory of node modules (repeatable): its standard module files replace the ones built into the binary, and every other module that declares its node type adds that type (docs/wasm-abi.md)")
}

// registry builds the node registry of this binary on a wazero host: the
// standard WASM modules, the modules that declare their node type (built in, or
// of --modules: moduleSpecs), and those w.def's nodes name with module:.
func (w *wasmFlags) registry(ctx context.Context) (*node.Registry, wasmnode.Host, error) {
	h, err := wasmhost.New(ctx, wasmhost.Config{
		MemoryLimitPages: uint32(w.memoryPages),
		CallTimeout:      w.callTimeout,
		CacheDir:         w.cacheDir,
		Trusted:          modules.Hashes(),
	})
	if err != nil {
		return nil, nil, err
	}
	reg := node.NewRegistry()
	reg.SetRemote(live.RemoteNodes(slog.Default())) // a definition's host: (docs/voice.md), failovers logged to stderr
	specs, loader, err := w.moduleSpecs(cmp.Or[io.Writer](w.log, io.Discard))
	if err == nil {
		err = wasmnode.Register(reg, h, loader, specs)
	}
	if err == nil && w.def != nil {
		err = w.registerDefModules(reg, h)
	}
	if err != nil {
		h.Close(ctx)
		return nil, nil, err
	}
	return reg, h, nil
}

// parseArgs parses flags that may come before or after positional arguments.
func parseArgs(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		args = fs.Args()
		if len(args) == 0 {
			return pos, nil
		}
		pos = append(pos, args[0])
		args = args[1:]
	}
}

func newFlagSet(name string, stderr io.Writer, synopsis string) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintf(stderr, "Usage: remotemedia %s\n\nFlags:\n", synopsis)
		fs.PrintDefaults()
	}
	return fs
}

func cmdNodes(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("nodes", stderr, "nodes [--json | --schema | --markdown] [--python on]")
	asJSON := fs.Bool("json", false, "print the node specs as JSON")
	schema := fs.Bool("schema", false, "print the JSON Schema of pipeline definitions")
	markdown := fs.Bool("markdown", false, "print the node reference as Markdown (docs/nodes.md)")
	var wf wasmFlags
	var pf pythonFlags
	wf.register(fs)
	pf.register(fs) // with no definition, auto means off: --python on lists the Python node types too
	if _, err := parseArgs(fs, args); err != nil {
		return err
	}
	wf.log = stderr
	reg, cleanup, err := registryFor(ctx, nil, &wf, &pf, stderr)
	if err != nil {
		return err
	}
	defer cleanup()
	switch {
	case *schema:
		return writeSchema(stdout, reg)
	case *asJSON:
		return writeSpecsJSON(stdout, reg)
	case *markdown:
		return writeMarkdown(stdout, reg)
	}
	for _, s := range reg.Specs() {
		fmt.Fprintf(stdout, "%-12s %-7s %s\n", s.Type, s.Runtime, s.Doc)
		if s.Unavailable != "" {
			fmt.Fprintf(stdout, "    unavailable here: %s\n", s.Unavailable)
		}
		for _, p := range s.Params {
			def := ""
			switch {
			case p.Required:
				def = " (required)"
			case p.Default != nil:
				def = fmt.Sprintf(" (default %v)", p.Default)
			}
			if p.Operator {
				def += " (operator-only)"
			}
			fmt.Fprintf(stdout, "    %-14s %-8s%s %s\n", p.Name, p.Type, def, p.Doc)
		}
		fmt.Fprintf(stdout, "    ports: in %s, out %s\n", portNames(s.Inputs), portNames(s.Outputs))
	}
	return nil
}

func portNames(ps []node.Port) string {
	names := make([]string, len(ps))
	for i, p := range ps {
		names[i] = p.Name + "(" + strings.Join(p.KindNames(), "|") + ")"
	}
	if len(names) == 0 {
		return "-"
	}
	return strings.Join(names, ", ")
}
