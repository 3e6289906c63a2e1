package cli

import (
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	modules "github.com/remotemedia/hybrid/wasm-modules"
)

// MissingModule says why Load would not find the module file name, or returns
// "" when it would (it implements core/wasmnode.ModuleChecker: with --modules, a
// standard type whose module neither the directories nor the binary hold is
// unavailable, and runtime_hint auto falls back to its Python implementation).
func (m *moduleFiles) MissingModule(name string) string {
	if p, ok := m.paths[name]; ok {
		if _, err := os.Stat(p); err != nil {
			return name + " is not at " + p
		}
		return ""
	}
	for _, d := range m.dirs {
		if st, err := os.Stat(filepath.Join(d, filepath.FromSlash(name))); err == nil && !st.IsDir() {
			return ""
		}
	}
	if _, err := fs.Stat(modules.FS(), name); err == nil {
		return ""
	}
	return name + " is neither in --modules " + strings.Join(m.dirs, ", ") + " nor built into this binary"
}
