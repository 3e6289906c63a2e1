//go:build js && wasm

package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"sync"
	"syscall/js"

	"github.com/hack-pad/go-indexeddb/idb"
	"github.com/vmihailenco/msgpack/v5"
)

// The IndexedDB database that keeps module bytes (by sha256), the last module
// index seen, and saved definitions, so that after a first visit a pipeline
// runs with the module URLs unreachable. A first open in a profile takes
// 50-70 ms (the database is created), so remotemedia.js starts one while
// core.wasm downloads (its IDB object creates the same stores) and leaves its
// promise in globalThis.__remotemediaIDB; openStore waits for it, and then its
// own open finds the database made.
const (
	dbName        = "remotemedia"
	dbVersion     = 1
	storeModules  = "modules"     // sha256 hex -> Uint8Array
	storeMeta     = "meta"        // "index" -> JSON text of /modules/index.json
	storeDefs     = "definitions" // name -> definition text
	metaIndexKey  = "index"
	maxModuleSize = 64 << 20
)

// errOffline is wrapped when a module is neither reachable nor cached.
var errOffline = errors.New("not reachable and not cached")

// store is the IndexedDB database; nil when the browser has none (private
// windows of some browsers), in which case everything is fetched every time.
type store struct {
	opened  chan struct{}  // closed once the open openStore started has ended
	db      *idb.Database  // set before opened is closed, when the open succeeded
	openErr error          // set before opened is closed, when it failed
	writes  sync.WaitGroup // the writes putLater started

	mu     sync.Mutex
	known  map[string]bool // the modules store's keys, when remotemedia.js read them (nil: unknown)
	recent []string        // the node types kept under metaRecentKey (recent.go)
}

// errNoIndexedDB is openStore's error in a page without IndexedDB.
var errNoIndexedDB = errors.New("indexeddb: not available in this page")

// openStore opens the database. It returns before its own connection is
// open: the first read or write waits for it (database). On a first visit init has nothing to read,
// and its wait for a second connection to the database remotemedia.js had
// just opened took 17-28 ms of a cold load on the 2-core machine.
func openStore(ctx context.Context) (*store, error) {
	if g := js.Global().Get("indexedDB"); g.IsUndefined() || g.IsNull() {
		return nil, errNoIndexedDB // idb.Global would panic
	}
	if early := js.Global().Get("__remotemediaIDB"); early.Type() == js.TypeObject {
		// It never rejects, and resolves to null when the open failed: then
		// this page has no usable IndexedDB. Without it, the open below creates
		// the database.
		if db, _ := await(ctx, early); db.IsNull() {
			return nil, errNoIndexedDB
		}
	}
	s := &store{opened: make(chan struct{}), known: knownKeys(ctx)}
	go func() {
		defer close(s.opened)
		req, err := idb.Global().Open(context.Background(), dbName, dbVersion, func(db *idb.Database, _, _ uint) error {
			for _, name := range []string{storeModules, storeMeta, storeDefs} {
				if _, err := db.CreateObjectStore(name, idb.ObjectStoreOptions{}); err != nil {
					return err
				}
			}
			return nil
		})
		if err == nil {
			s.db, err = req.Await(context.Background())
		}
		if err != nil {
			s.openErr = fmt.Errorf("indexeddb: %w", err)
		}
	}()
	return s, nil
}

// database waits for the connection openStore started.
func (s *store) database(ctx context.Context) (*idb.Database, error) {
	select {
	case <-s.opened:
	case <-ctx.Done():
		return nil, context.Cause(ctx)
	}
	if s.openErr != nil {
		return nil, s.openErr
	}
	return s.db, nil
}

// knownKeys returns the keys of the modules store that remotemedia.js read
// while core.wasm downloaded (globalThis.__remotemediaIDBKeys, a promise of an
// array of strings), or nil when there is no such read. On a first visit the
// store is empty, and each module's read, a miss, would cost an IndexedDB
// round trip on the way to the first frame.
func knownKeys(ctx context.Context) map[string]bool {
	p := js.Global().Get("__remotemediaIDBKeys")
	if p.Type() != js.TypeObject {
		return nil
	}
	js.Global().Delete("__remotemediaIDBKeys") // read once: a later init reads the store itself
	keys, err := await(ctx, p)
	if err != nil || !keys.InstanceOf(js.Global().Get("Array")) {
		return nil
	}
	known := make(map[string]bool, keys.Length())
	for i := range keys.Length() {
		if k := keys.Index(i); k.Type() == js.TypeString {
			known[k.String()] = true
		}
	}
	return known
}

// mayHave reports whether the modules store may hold key: false only when
// the store's keys are known and key is not one of them.
func (s *store) mayHave(key string) bool {
	if s == nil {
		return false
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.known == nil || s.known[key]
}

func (s *store) get(ctx context.Context, storeName, key string) (js.Value, error) {
	if s == nil {
		return js.Undefined(), nil
	}
	db, err := s.database(ctx)
	if err != nil {
		return js.Value{}, err
	}
	txn, err := db.Transaction(idb.TransactionReadOnly, storeName)
	if err != nil {
		return js.Value{}, err
	}
	st, err := txn.ObjectStore(storeName)
	if err != nil {
		return js.Value{}, err
	}
	req, err := st.Get(js.ValueOf(key))
	if err != nil {
		return js.Value{}, err
	}
	return req.Await(ctx)
}

func (s *store) put(ctx context.Context, storeName, key string, v js.Value) error {
	if s == nil {
		return nil
	}
	db, err := s.database(ctx)
	if err != nil {
		return err
	}
	txn, err := db.Transaction(idb.TransactionReadWrite, storeName)
	if err != nil {
		return err
	}
	st, err := txn.ObjectStore(storeName)
	if err != nil {
		return err
	}
	if _, err := st.PutKey(js.ValueOf(key), v); err != nil {
		return err
	}
	// Commit now rather than once the put's success event has been handled: a
	// page busy on its thread (compiling, running a pipeline) then does not hold
	// the write back.
	if err := txn.Commit(); err != nil {
		return err
	}
	return txn.Await(ctx)
}

// putLater starts writing v under key and returns at once; flush waits for
// the writes started so far. So the module cache's writes (5-20 ms each on a
// first visit) overlap the modules' compilation instead of following each
// fetch. A write that fails only costs a refetch on the next visit.
func (s *store) putLater(storeName, key string, v js.Value) {
	if s == nil {
		return
	}
	s.writes.Add(1)
	go func() {
		defer s.writes.Done()
		_ = s.put(context.Background(), storeName, key, v)
	}()
}

// flush waits until the writes putLater started have completed (or failed),
// or ctx is done. rm.pipeline calls it before it resolves: a write still
// pending when the page goes away is lost, and a page busy in one long call (a
// whole file through process) cannot complete one meanwhile.
func (s *store) flush(ctx context.Context) {
	if s == nil {
		return
	}
	done := make(chan struct{})
	go func() {
		s.writes.Wait()
		close(done)
	}()
	select {
	case <-done:
	case <-ctx.Done():
	}
}

// empty reports whether the modules store is known to hold nothing (a first
// visit), or there is no store.
func (s *store) empty() bool {
	if s == nil {
		return true
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.known != nil && len(s.known) == 0
}

// getBytes reads the module bytes kept under key; unless anyway is set, a
// key the store is known not to hold is a miss without a read.
func (s *store) getBytes(ctx context.Context, key string, anyway bool) ([]byte, bool) {
	if !anyway && !s.mayHave(key) {
		return nil, false
	}
	v, err := s.get(ctx, storeModules, key)
	if err != nil || v.IsUndefined() || v.IsNull() || !v.InstanceOf(js.Global().Get("Uint8Array")) {
		return nil, false
	}
	b := make([]byte, v.Length())
	js.CopyBytesToGo(b, v)
	return b, true
}

func (s *store) putBytesLater(key string, b []byte) {
	if s == nil {
		return
	}
	arr := js.Global().Get("Uint8Array").New(len(b))
	js.CopyBytesToJS(arr, b)
	s.mu.Lock()
	if s.known != nil {
		s.known[key] = true
	}
	s.mu.Unlock()
	s.putLater(storeModules, key, arr)
}

func sha256Hex(b []byte) string {
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

// moduleLoader implements wasmnode.Loader: module bytes come from
// base+"modules/NAME", are checked against the sha256 that /modules/index.json
// lists, and are kept in IndexedDB by that hash. A cached copy whose hash is
// right is used without a request; a wrong one is fetched again; when the
// network fails, the cached index and bytes are used.
type moduleLoader struct {
	base  string // URL of the server root, ending in "/"
	store *store

	mu      sync.Mutex
	index   map[string]string // file -> sha256 hex
	loaded  map[string]string // file -> sha256 of the bytes handed out
	local   map[string][]byte // modules registered from bytes (registerModule)
	bundled map[string][]byte // the small modules of /modules/bundle.msgpack, until loaded
	bundle  chan struct{}     // closed when the bundle's fetch ended; nil: none started
}

func newModuleLoader(base string, st *store) *moduleLoader {
	return &moduleLoader{base: base, store: st, loaded: map[string]string{}, local: map[string][]byte{}}
}

// fetchBundle starts fetching /modules/bundle.msgpack, every small module of
// the server in one response (web.BundleName): on a first visit, the first
// pipeline's modules then come from it, where a request each waited 40-70 ms
// on the way to the first frame. Without it (an older server, a failure), the
// modules are fetched one by one as before.
func (l *moduleLoader) fetchBundle() {
	done := make(chan struct{})
	l.mu.Lock()
	l.bundle = done
	l.mu.Unlock()
	go func() {
		defer close(done)
		body, err := l.fetch(context.Background(), "modules/bundle.msgpack")
		if err != nil {
			return
		}
		var m map[string][]byte
		if msgpack.Unmarshal(body, &m) != nil {
			return
		}
		l.mu.Lock()
		l.bundled = m
		l.mu.Unlock()
	}()
}

// fetchModule returns the bytes of modules/name and their sha256: from the
// bundle when it has them with the sha256 want (waiting for the bundle if it
// is on its way), else from their own request.
func (l *moduleLoader) fetchModule(ctx context.Context, name, want string) ([]byte, string, error) {
	l.mu.Lock()
	done := l.bundle
	l.mu.Unlock()
	if done != nil {
		select {
		case <-done:
		case <-ctx.Done():
			return nil, "", context.Cause(ctx)
		}
		l.mu.Lock()
		b, ok := l.bundled[name]
		delete(l.bundled, name) // handed out once: the store keeps it from now on
		l.mu.Unlock()
		if ok {
			if sum := sha256Hex(b); sum == want {
				return b, sum, nil
			}
		}
	}
	b, err := l.fetch(ctx, "modules/"+name)
	if err != nil {
		return nil, "", err
	}
	return b, sha256Hex(b), nil
}

// refreshIndex fetches /modules/index.json, or falls back to the cached one.
func (l *moduleLoader) refreshIndex(ctx context.Context) error {
	body, fetchErr := l.fetch(ctx, "modules/index.json")
	if fetchErr == nil {
		var idx map[string]string
		if err := json.Unmarshal(body, &idx); err != nil {
			return fmt.Errorf("modules/index.json: %w", err)
		}
		l.mu.Lock()
		l.index = idx
		l.mu.Unlock()
		l.store.putLater(storeMeta, metaIndexKey, js.ValueOf(string(body)))
		return nil
	}
	v, err := l.store.get(ctx, storeMeta, metaIndexKey)
	if err != nil || v.Type() != js.TypeString {
		return fmt.Errorf("modules/index.json: %w (%v)", errOffline, fetchErr)
	}
	var idx map[string]string
	if err := json.Unmarshal([]byte(v.String()), &idx); err != nil {
		return fmt.Errorf("cached modules/index.json: %w", err)
	}
	l.mu.Lock()
	l.index = idx
	l.mu.Unlock()
	return nil
}

// fetch GETs base+path with the browser's fetch (net/http would add megabytes
// to core.wasm for one GET).
func (l *moduleLoader) fetch(ctx context.Context, path string) ([]byte, error) {
	opts := js.Global().Get("Object").New()
	opts.Set("cache", "no-cache")
	resp, err := await(ctx, prefetched(l.base+path, opts))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	switch status := resp.Get("status").Int(); {
	case status == 404:
		return nil, fmt.Errorf("%s: %w", path, fs.ErrNotExist)
	case status != 200:
		return nil, fmt.Errorf("%s: HTTP %d", path, status)
	}
	buf, err := await(ctx, resp.Call("arrayBuffer"))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if buf.Get("byteLength").Int() > maxModuleSize {
		return nil, fmt.Errorf("%s: over %d bytes", path, maxModuleSize)
	}
	return bytesOf(buf)
}

// Load implements wasmnode.Loader.
func (l *moduleLoader) Load(ctx context.Context, name string) ([]byte, error) {
	l.mu.Lock()
	if b, ok := l.local[name]; ok {
		l.loaded[name] = sha256Hex(b)
		l.mu.Unlock()
		return b, nil
	}
	want, listed := l.index[name]
	l.mu.Unlock()
	if !listed {
		return nil, fmt.Errorf("module %s: %w: not in modules/index.json", name, fs.ErrNotExist)
	}
	b, ok := l.store.getBytes(ctx, want, false)
	if !ok || sha256Hex(b) != want {
		fetched, sum, err := l.fetchModule(ctx, name, want)
		switch {
		case err != nil:
			// Another tab may have cached it since this one read the store's keys.
			if b, ok = l.store.getBytes(ctx, want, true); !ok || sha256Hex(b) != want {
				return nil, fmt.Errorf("module %s: %w (%w)", name, errOffline, err)
			}
		case sum != want:
			return nil, fmt.Errorf("module %s: sha256 %s does not match modules/index.json (%s)", name, sum, want)
		default:
			b = fetched
			l.store.putBytesLater(want, b)
		}
	}
	l.mu.Lock()
	l.loaded[name] = want
	l.mu.Unlock()
	return b, nil
}

// addLocal makes name load from b (a module registered from JavaScript).
func (l *moduleLoader) addLocal(name string, b []byte) {
	l.mu.Lock()
	l.local[name] = b
	l.mu.Unlock()
}

// hashes returns the sha256 of every module loaded so far.
func (l *moduleLoader) hashes() map[string]any {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := make(map[string]any, len(l.loaded))
	for k, v := range l.loaded {
		out[k] = v
	}
	return out
}
