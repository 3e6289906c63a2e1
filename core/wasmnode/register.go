package wasmnode

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"sync"

	"github.com/remotemedia/hybrid/core/node"
)

// Register registers each module spec in reg with Runtime wasm. A node's New
// loads (l) and compiles (h) its module the first time any session needs it;
// the compiled module is shared by every later node of that file. A load or
// compile error is returned from New (and tried again by the next New).
func Register(reg *node.Registry, h Host, l Loader, mods []ModuleSpec) error {
	c := &moduleCache{host: h, loader: l, mods: map[string]*cachedModule{}}
	for _, m := range mods {
		spec, file := m.Spec, m.File
		spec.Runtime = node.RuntimeWASM
		if why := missingModule(l, spec.Type, file); why != "" {
			spec.Unavailable = why
		}
		outputs := len(spec.Outputs)
		spec.New = func(ctx context.Context, cfg node.Config) (node.Node, error) {
			mod, err := c.get(ctx, file)
			if err != nil {
				return nil, err
			}
			return newNode(ctx, mod, file, cfg, outputs)
		}
		spec.Prepare = func(ctx context.Context) error {
			_, err := c.get(ctx, file)
			return err
		}
		if err := reg.Register(spec); err != nil {
			return fmt.Errorf("wasm: module %q: %w", file, err)
		}
	}
	return nil
}

// moduleCache compiles each module file once per process.
type moduleCache struct {
	host   Host
	loader Loader
	mu     sync.Mutex
	mods   map[string]*cachedModule
}

type cachedModule struct {
	mu  sync.Mutex
	mod Module
}

func (c *moduleCache) get(ctx context.Context, file string) (Module, error) {
	c.mu.Lock()
	m := c.mods[file]
	if m == nil {
		m = &cachedModule{}
		c.mods[file] = m
	}
	c.mu.Unlock()

	m.mu.Lock()
	defer m.mu.Unlock()
	if m.mod != nil {
		return m.mod, nil
	}
	wasm, err := c.loader.Load(ctx, file)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("wasm: module %q: %w: %w (run make modules)", file, node.ErrUnavailable, err)
	}
	if err != nil {
		return nil, fmt.Errorf("wasm: module %q: %w", file, err)
	}
	if m.mod, err = c.host.Compile(ctx, file, wasm); err != nil {
		return nil, err // the Host names the module
	}
	return m.mod, nil
}
