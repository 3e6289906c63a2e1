package web

import (
	"bytes"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// getModule returns GET /remotemedia.mjs, checking that it is sent as
// JavaScript (a browser runs a module script only with a JavaScript MIME type).
func getModule(t *testing.T) []byte {
	t.Helper()
	srv := httptest.NewServer(Handler(nil, nil))
	defer srv.Close()
	resp, err := http.Get(srv.URL + "/remotemedia.mjs")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if ct := resp.Header.Get("Content-Type"); resp.StatusCode != http.StatusOK || !strings.HasPrefix(ct, "text/javascript") {
		t.Fatalf("GET /remotemedia.mjs: %s, Content-Type %q; want 200 and text/javascript", resp.Status, ct)
	}
	return b
}

// TestESModule: the module is remotemedia.js without its classic-only lines and
// with its module lines.
func TestESModule(t *testing.T) {
	got := getModule(t)
	for _, bad := range []string{"document.currentScript", "})(globalThis)", "g.RemoteMedia =", classicOnly, modulePrefix} {
		if bytes.Contains(got, []byte(bad)) {
			t.Errorf("the module still has %q", bad)
		}
	}
	for _, want := range []string{"\nconst g = globalThis;\n", "\nconst scriptURL = import.meta.url;\n",
		"\nexport { RemoteMedia };\n", "\nexport default RemoteMedia;\n", "\nclass Pipeline {\n"} {
		if !bytes.Contains(got, []byte(want)) {
			t.Errorf("the module lacks %q", want)
		}
	}
}

// TestBothFormsLoad: Node imports remotemedia.mjs as the server sends it (its
// exports, no global) and runs remotemedia.js as a classic script
// (globalThis.RemoteMedia), each with the globals of a page, and finds the same
// API. The e2e suite runs the classic form in Chromium.
func TestBothFormsLoad(t *testing.T) {
	nodeBin, err := exec.LookPath("node")
	if err != nil {
		t.Skip("no node on PATH")
	}
	dir := t.TempDir()
	classic, err := os.ReadFile("remotemedia.js")
	if err != nil {
		t.Fatal(err)
	}
	for name, b := range map[string][]byte{"remotemedia.js": classic, "remotemedia.mjs": getModule(t)} {
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	const script = `
		globalThis.location = { href: "https://media.example/app/page.html" };
		globalThis.document = { currentScript: { src: "https://media.example/static/remotemedia.js" } };
		const api = (R) => Object.getOwnPropertyNames(R.prototype).concat(Object.getOwnPropertyNames(R)).sort().join(",");
		const fs = await import("node:fs");
		const vm = await import("node:vm");
		vm.runInThisContext(fs.readFileSync(process.argv[1] + "/remotemedia.js", "utf8"));
		const classic = globalThis.RemoteMedia;
		delete globalThis.RemoteMedia;
		const mod = await import("file://" + process.argv[1] + "/remotemedia.mjs");
		if (mod.default !== mod.RemoteMedia) throw new Error("the default export is not RemoteMedia");
		if (globalThis.RemoteMedia) throw new Error("the module set a global");
		if (typeof classic !== "function") throw new Error("the classic script set no globalThis.RemoteMedia");
		if (api(classic) !== api(mod.RemoteMedia)) throw new Error("the APIs differ: " + api(classic) + " / " + api(mod.RemoteMedia));
		console.log(api(mod.RemoteMedia));`
	out, err := exec.CommandContext(t.Context(), nodeBin, "--input-type=module", "-e", script, dir).CombinedOutput()
	if err != nil {
		t.Fatalf("node: %v\n%s", err, out)
	}
	for _, name := range []string{"load", "pipeline", "registerModule", "nodeTypes"} {
		if !strings.Contains(string(out), name) {
			t.Errorf("API %q missing: %s", name, out)
		}
	}
}
