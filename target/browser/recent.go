//go:build js && wasm

package main

import (
	"context"
	"encoding/json"
	"slices"
	"syscall/js"

	"github.com/remotemedia/hybrid/core/node"
	"github.com/remotemedia/hybrid/core/sched"
)

// The node types whose modules the origin's last pipeline prepared are kept in
// the meta store; the next init prepares them again (loads the modules from
// IndexedDB, checks and compiles them) in the background, after init has
// answered and while the page fetches its definition, so that its first
// rm.pipeline finds them ready instead of spending 20 ms of a warm load on
// them. A type the page does not use this time costs a little work, nothing
// else: a pipeline prepares what it uses either way.
const (
	metaRecentKey = "recent-types"
	maxRecent     = 16
)

// recentTypes reads the node types noteRecentTypes kept (none without a store).
func (s *store) recentTypes(ctx context.Context) []string {
	if s == nil {
		return nil
	}
	v, err := s.get(ctx, storeMeta, metaRecentKey)
	if err != nil || v.Type() != js.TypeString {
		return nil
	}
	var types []string
	if json.Unmarshal([]byte(v.String()), &types) != nil || len(types) > maxRecent {
		return nil
	}
	s.mu.Lock()
	s.recent = types
	s.mu.Unlock()
	return types
}

// noteRecentTypes keeps the node types of g that have modules to prepare,
// unless they are the ones kept already.
func (s *store) noteRecentTypes(g *sched.Graph) {
	if s == nil {
		return
	}
	var types []string
	for _, n := range g.Nodes {
		if n.Spec != nil && n.Spec.Prepare != nil && !slices.Contains(types, n.Spec.Type) && len(types) < maxRecent {
			types = append(types, n.Spec.Type)
		}
	}
	slices.Sort(types)
	s.mu.Lock()
	same := slices.Equal(types, s.recent)
	s.recent = types
	s.mu.Unlock()
	if same || len(types) == 0 {
		return
	}
	b, _ := json.Marshal(types)
	s.putLater(storeMeta, metaRecentKey, js.ValueOf(string(b)))
}

// prepareRecent starts preparing the node types of reg named in types, each
// on its own goroutine; errors are the pipeline's to report, when one uses the
// type.
func prepareRecent(ctx context.Context, reg *node.Registry, types []string) {
	for _, t := range types {
		if spec, err := reg.Lookup(t, ""); err == nil && spec.Prepare != nil {
			go func() { _ = spec.Prepare(ctx) }()
		}
	}
}
