package wasmnode

// ModuleChecker is implemented by a Loader that can tell, cheaply and without
// loading it, whether it has a module file (the binary's embedded modules, a
// directory). Register marks a node type whose module it lacks as unavailable,
// so that runtime_hint auto falls back to another implementation of the type
// (node.Registry.Lookup) and an explicit `wasm` hint is refused at validation
// rather than at the first session. A loader that cannot tell (fetch in the
// tab) is trusted to have every module.
type ModuleChecker interface {
	// MissingModule says why the module file name is not there ("gain.wasm is
	// not in --modules ./mods"), or returns "" when it is.
	MissingModule(name string) string
}

// missingModule says why the node type typ of module file cannot run with
// loader l, or "" when it can (or l cannot tell).
func missingModule(l Loader, typ, file string) string {
	if c, ok := l.(ModuleChecker); ok {
		if why := c.MissingModule(file); why != "" {
			return typ + ": its module " + why
		}
	}
	return ""
}
