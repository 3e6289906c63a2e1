package cli

import (
	"cmp"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"

	"github.com/remotemedia/hybrid/core/def"
	"github.com/remotemedia/hybrid/core/node"
	"github.com/remotemedia/hybrid/core/wasmnode"
	modules "github.com/remotemedia/hybrid/wasm-modules"
)

// ErrModules is wrapped by the errors of loading node modules from --modules
// and from a definition's module: fields.
var ErrModules = errors.New("node modules")

// moduleFiles loads modules by file name: a module of a definition or of
// --modules registered under its own key from its path, the standard ones from
// the first --modules directory that has the file, else from the binary.
type moduleFiles struct {
	dirs  []string
	paths map[string]string // module key -> file path
}

func (m *moduleFiles) Load(ctx context.Context, name string) ([]byte, error) {
	if p, ok := m.paths[name]; ok {
		return os.ReadFile(p)
	}
	for _, d := range m.dirs {
		b, err := os.ReadFile(filepath.Join(d, filepath.FromSlash(name)))
		if err == nil || !errors.Is(err, fs.ErrNotExist) {
			return b, err
		}
	}
	b, err := modules.Loader{}.Load(ctx, name)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("module %s is neither in --modules %s nor built into this binary: %w", name, strings.Join(m.dirs, ", "), err)
	}
	return b, err
}

// moduleSpecs lists the WASM node types of this binary and the loader of their
// modules: wasmnode.Standard, then every other module that declares its node
// type (docs/wasm-abi.md): those built into the binary (the Rust dc_block), or
// with --modules, those of the directories too. A --modules directory replaces
// the bytes of the module files it holds (the first directory that has a name
// wins; the binary's own serve the names no directory has); a module without a declaration is skipped with a warning on log
// (the tab may still register it with rm.registerModule(type, bytes)); a bad
// declaration, or a type that two modules or a standard module declare, is an
// error naming the files.
func (w *wasmFlags) moduleSpecs(log io.Writer) ([]wasmnode.ModuleSpec, wasmnode.Loader, error) {
	w.declared = map[string][sha256.Size]byte{}
	specs := slices.Clone(wasmnode.Standard)
	standardFile := map[string]bool{}
	byType := map[string]string{} // node type -> the file that declares it
	for _, m := range specs {
		standardFile[m.File] = true
		byType[m.Spec.Type] = m.File
	}
	add := func(m wasmnode.ModuleSpec, where string) error {
		if other, dup := byType[m.Spec.Type]; dup {
			what := "the module " + other
			if standardFile[other] {
				what = "the standard module " + other
			}
			return fmt.Errorf("%w: %s declares node type %q, which %s already has", ErrModules, where, m.Spec.Type, what)
		}
		byType[m.Spec.Type] = where
		specs = append(specs, m)
		return nil
	}
	// builtins adds the declared modules built into the binary (the Rust
	// dc_block), but not one whose file name skip says a directory has.
	builtins := func(skip map[string]string) error {
		for _, name := range modules.Names() {
			if _, replaced := skip[name]; standardFile[name] || replaced {
				continue
			}
			b, err := fs.ReadFile(modules.FS(), name)
			if err != nil {
				return err
			}
			m, err := wasmnode.DeclaredModule(name, b)
			if errors.Is(err, wasmnode.ErrNoDecl) {
				continue // not a node type of its own
			}
			if err != nil {
				return fmt.Errorf("%w: built-in %w", ErrModules, err)
			}
			if err := add(m, name); err != nil {
				return err
			}
			w.declared[m.Spec.Type] = sha256.Sum256(b)
		}
		return nil
	}
	if len(w.modulesDirs) == 0 {
		if err := builtins(nil); err != nil {
			return nil, nil, err
		}
		return specs, modules.Loader{}, nil
	}
	files := &moduleFiles{dirs: w.modulesDirs, paths: map[string]string{}}
	for _, dir := range w.modulesDirs {
		found, err := filepath.Glob(filepath.Join(dir, "*.wasm"))
		if st, statErr := os.Stat(dir); statErr != nil || !st.IsDir() || err != nil {
			return nil, nil, fmt.Errorf("%w: --modules %s: not a directory", ErrModules, dir)
		}
		sort.Strings(found)
		for _, path := range found {
			name := filepath.Base(path)
			if standardFile[name] {
				continue // loaded by name, from the first directory that has it
			}
			if _, seen := files.paths[name]; seen {
				fmt.Fprintf(log, "remotemedia: --modules: %s skipped: %s is loaded from %s\n", path, name, files.paths[name])
				continue
			}
			b, err := os.ReadFile(path)
			if err != nil {
				return nil, nil, fmt.Errorf("%w: %w", ErrModules, err)
			}
			m, err := wasmnode.DeclaredModule(path, b)
			if errors.Is(err, wasmnode.ErrNoDecl) {
				fmt.Fprintf(log, "remotemedia: --modules: %s declares no node type (docs/wasm-abi.md, \"Declaring the node type\"): not registered\n", path)
				continue
			}
			if err != nil {
				return nil, nil, fmt.Errorf("%w: --modules: %w", ErrModules, err)
			}
			m.File = name
			if err := add(m, path); err != nil {
				return nil, nil, err
			}
			files.paths[name] = path
			w.declared[m.Spec.Type] = sha256.Sum256(b)
		}
	}
	if err := builtins(files.paths); err != nil {
		return nil, nil, err
	}
	return specs, files, nil
}

// registerDefModules registers on h the node types that w.def's nodes name
// with module: (docs/definitions.md), each path relative to the definition
// file's directory. The module must declare the node's node_type. A type
// already registered from the same bytes (by --modules, or by another node) is
// fine; any other node type of that name is an error.
func (w *wasmFlags) registerDefModules(reg *node.Registry, h wasmnode.Host) error {
	dir := filepath.Dir(w.defPath)
	for i, n := range w.def.Nodes {
		if n.Module == "" {
			continue
		}
		field := fmt.Sprintf("%s: nodes[%d].module", w.defPath, i)
		path := n.Module
		if !filepath.IsAbs(path) {
			path = filepath.Join(dir, filepath.FromSlash(path))
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return fmt.Errorf("%w: %s: %w", ErrModules, field, err)
		}
		m, err := wasmnode.DeclaredModule(n.Module, b)
		if err != nil {
			return fmt.Errorf("%w: %s: %w", ErrModules, field, err)
		}
		if n.NodeType != m.Spec.Type {
			return fmt.Errorf("%w: %s: %s declares node type %q, not %q (the node's node_type)", ErrModules, field, n.Module, m.Spec.Type, n.NodeType)
		}
		sum := sha256.Sum256(b)
		if prev, ok := w.declared[m.Spec.Type]; ok && prev == sum {
			continue // --modules or an earlier node registered these very bytes
		}
		if _, err := reg.Lookup(m.Spec.Type, ""); err == nil {
			return fmt.Errorf("%w: %s: %s declares node type %q, which is already a node type here (a standard one, or another module's)", ErrModules, field, n.Module, m.Spec.Type)
		}
		m.File = path
		if err := wasmnode.Register(reg, h, &moduleFiles{paths: map[string]string{path: path}}, []wasmnode.ModuleSpec{m}); err != nil {
			return fmt.Errorf("%w: %s: %w", ErrModules, field, err)
		}
		w.declared[m.Spec.Type] = sum
	}
	return nil
}

// dirsFS is several --modules directories seen as one: a name is looked up in
// each in turn (the first that has it wins, as the server's own registry
// does), and the root lists the files of all of them.
type dirsFS []fs.FS

func (d dirsFS) Open(name string) (fs.File, error) {
	for _, f := range d {
		file, err := f.Open(name)
		if err == nil || !errors.Is(err, fs.ErrNotExist) {
			return file, err
		}
	}
	return nil, &fs.PathError{Op: "open", Path: name, Err: fs.ErrNotExist}
}

// ReadDir lists name in every directory, each file once, sorted.
func (d dirsFS) ReadDir(name string) ([]fs.DirEntry, error) {
	seen := map[string]bool{}
	var out []fs.DirEntry
	var firstErr error
	for _, f := range d {
		entries, err := fs.ReadDir(f, name)
		if err != nil {
			firstErr = cmp.Or(firstErr, err)
			continue
		}
		for _, e := range entries {
			if !seen[e.Name()] {
				seen[e.Name()] = true
				out = append(out, e)
			}
		}
	}
	if out == nil && firstErr != nil {
		return nil, firstErr
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name() < out[j].Name() })
	return out, nil
}

// registerDefinitionsModules registers the modules that the definitions in
// dir (serve --definitions) name with module:, as run does for its one.
func (w *wasmFlags) registerDefinitionsModules(reg *node.Registry, h wasmnode.Host, dir string) error {
	var files []string
	for _, ext := range []string{"*.yaml", "*.yml", "*.json"} {
		found, _ := filepath.Glob(filepath.Join(dir, ext))
		files = append(files, found...)
	}
	sort.Strings(files)
	for _, f := range files {
		d, _ := def.ParseFile(f)
		if d == nil {
			continue // live.LoadDir reports what is wrong with it
		}
		w.def, w.defPath = d, f
		if err := w.registerDefModules(reg, h); err != nil {
			return err
		}
	}
	w.def = nil
	return nil
}
