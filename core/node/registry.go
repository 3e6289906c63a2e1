package node

import (
	"fmt"
	"sort"
	"sync"
	"time"
)

// RemoteFunc makes the spec of nodeType running on other servers (a
// definition's host: urls, each call bounded by timeout; docs/voice.md).
type RemoteFunc func(nodeType string, urls []string, timeout time.Duration) (*Spec, error)

// Registry maps node types to their implementations. One node_type may have one
// implementation per Runtime. A Registry is safe for concurrent use.
type Registry struct {
	mu     sync.RWMutex
	specs  map[string]map[Runtime]*Spec
	remote RemoteFunc
}

// SetRemote lets definitions built with r run nodes on other servers (host:);
// without it (a browser tab) such a definition does not build.
func (r *Registry) SetRemote(f RemoteFunc) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.remote = f
}

// Remote returns what SetRemote set, or nil.
func (r *Registry) Remote() RemoteFunc {
	r.mu.RLock()
	defer r.mu.RUnlock()
	return r.remote
}

// NewRegistry returns an empty registry.
func NewRegistry() *Registry {
	return &Registry{specs: map[string]map[Runtime]*Spec{}}
}

// Register adds a spec. Registering the same (type, runtime) twice is an error.
func (r *Registry) Register(s Spec) error {
	if s.Type == "" || s.Runtime == "" || s.New == nil {
		return fmt.Errorf("node: register %q: spec needs Type, Runtime and New", s.Type)
	}
	if len(s.Outputs) == 0 {
		return fmt.Errorf("node: register %q: spec has no output port", s.Type)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	byRuntime := r.specs[s.Type]
	if byRuntime == nil {
		byRuntime = map[Runtime]*Spec{}
		r.specs[s.Type] = byRuntime
	}
	if _, dup := byRuntime[s.Runtime]; dup {
		return fmt.Errorf("node: %q for runtime %q is already registered", s.Type, s.Runtime)
	}
	byRuntime[s.Runtime] = &s
	return nil
}

// MustRegister is Register for use from init; it panics on a programming error.
func (r *Registry) MustRegister(s Spec) {
	if err := r.Register(s); err != nil {
		panic(err)
	}
}

// Lookup returns the implementation of typ for a runtime hint: one of the
// Runtime values, or "auto"/"" for the first in Preference order that can run
// here (Spec.Unavailable empty: a WASM type whose module is missing falls back
// to its Python implementation), or the first of all when none can.
// Hints "server" and "browser" are placement hints and behave like "auto".
func (r *Registry) Lookup(typ, hint string) (*Spec, error) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	byRuntime := r.specs[typ]
	if len(byRuntime) == 0 {
		return nil, fmt.Errorf("%w %q", ErrUnknownType, typ)
	}
	switch hint {
	case "", "auto", "server", "browser":
		var first *Spec
		for _, rt := range Preference {
			if s, ok := byRuntime[rt]; ok {
				if s.Unavailable == "" {
					return s, nil
				}
				if first == nil {
					first = s
				}
			}
		}
		if first != nil {
			return first, nil
		}
	default:
		if s, ok := byRuntime[Runtime(hint)]; ok {
			return s, nil
		}
		have := make([]string, 0, len(byRuntime))
		for rt := range byRuntime {
			have = append(have, string(rt))
		}
		sort.Strings(have)
		return nil, fmt.Errorf("%w: %q has no %q implementation here (have: %v)", ErrUnavailable, typ, hint, have)
	}
	return nil, fmt.Errorf("%w %q", ErrUnknownType, typ)
}

// Specs returns every registered spec sorted by type, then runtime preference.
func (r *Registry) Specs() []*Spec {
	r.mu.RLock()
	defer r.mu.RUnlock()
	var out []*Spec
	for _, byRuntime := range r.specs {
		for _, rt := range Preference {
			if s, ok := byRuntime[rt]; ok {
				out = append(out, s)
			}
		}
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].Type < out[j].Type })
	return out
}

// Types returns the sorted node type names.
func (r *Registry) Types() []string {
	r.mu.RLock()
	defer r.mu.RUnlock()
	out := make([]string, 0, len(r.specs))
	for t := range r.specs {
		out = append(out, t)
	}
	sort.Strings(out)
	return out
}
