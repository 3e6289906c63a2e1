package e2e

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"math"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"
)

// startServeWith is startServer with extra flags for `remotemedia serve`.
func startServeWith(t *testing.T, args ...string) string {
	t.Helper()
	addr := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	cmd := exec.Command(bin, append([]string{"serve", "--listen", addr, "--python", "off"}, args...)...)
	cmd.Dir = ".."
	var log bytes.Buffer
	cmd.Stdout, cmd.Stderr = &log, &log
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_, _ = cmd.Process.Wait()
		if t.Failed() {
			t.Logf("remotemedia serve output:\n%s", log.String())
		}
	})
	base := "http://" + addr + "/"
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		resp, err := http.Get(base + "healthz")
		if err == nil {
			resp.Body.Close()
			return base
		}
		if time.Now().After(deadline) {
			t.Fatalf("remotemedia serve did not come up on %s: %v\n%s", addr, err, log.String())
		}
	}
}

// TestCustomModuleInTab: a module built outside the tree from the C header
// (testdata/modules/polarity.c), served by `serve --modules DIR`, is a node type
// of the tab (the tab registers the declared modules of the server's index, and
// rm.registerModule(url) registers one from anywhere), with the ports, params
// and JSON output it declares, and runs there; the Rust dc_block does too, and
// its output in the tab is the output of `remotemedia run` on the server, sample
// for sample.
func TestCustomModuleInTab(t *testing.T) {
	for _, tool := range []string{"clang", "wasm-opt"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Fatalf("%s is needed (scripts/deps.sh installs it): %v", tool, err)
		}
	}
	mods := t.TempDir()
	std, _ := filepath.Glob("../wasm-modules/build/*.wasm")
	for _, f := range std {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(mods, filepath.Base(f)), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := os.Stat(filepath.Join(mods, "dc_block.wasm")); err != nil {
		t.Fatalf("dc_block.wasm not built (make modules): %v", err)
	}
	pol := filepath.Join(mods, "polarity.wasm")
	for _, c := range [][]string{
		{"clang", "--target=wasm32", "-O3", "-msimd128", "-mbulk-memory", "-nostdlib", "-ffreestanding", "-Wl,--no-entry",
			"-Wl,--export-dynamic", "-I../wasm-modules/include", "-o", pol + ".tmp", "../testdata/modules/polarity.c"},
		{"wasm-opt", "--enable-simd", "--enable-bulk-memory", "--strip-debug", "--strip-producers", "-O3", "-o", pol, pol + ".tmp"},
		{"rm", pol + ".tmp"},
	} {
		if out, err := exec.Command(c[0], c[1:]...).CombinedOutput(); err != nil {
			t.Fatalf("%v: %v\n%s", c, err, out)
		}
	}
	dir := t.TempDir()
	in, defPath, outWAV := filepath.Join(dir, "in.wav"), filepath.Join(dir, "def.yaml"), filepath.Join(dir, "out.wav")
	input := func(i int) float32 { return float32(0.5*math.Sin(2*math.Pi*100*float64(i)/16000) + 0.25) }
	writeFloatWAV(t, in, 16000, 16000, input)
	def := "version: v1\nnodes:\n  - {id: pol, node_type: polarity, params: {report_every: 10}}\n  - {id: dc, node_type: dc_block}\nconnections:\n  - {from: pol.out, to: dc}\n"
	base := startServeWith(t, "--modules", mods)
	ctx := browser(t)
	navigate(t, ctx, base)

	type port struct {
		Name  string   `json:"name"`
		Kinds []string `json:"kinds"`
	}
	type result struct {
		Spec struct {
			NodeType string `json:"node_type"`
			Params   []struct {
				Name    string `json:"name"`
				Type    string `json:"type"`
				Default any    `json:"default"`
			} `json:"params"`
			Inputs  []port `json:"inputs"`
			Outputs []port `json:"outputs"`
		} `json:"spec"`
		Types  []string  `json:"types"`
		Audio  []float64 `json:"audio"`
		Stats  []float64 `json:"stats"`
		DC     []float64 `json:"dc"`
		Ports  []string  `json:"ports"`
		Rerror string    `json:"rerror"`
	}
	r := eval[result](t, ctx, fmt.Sprintf(`
		const rm = await RemoteMedia.load();
		const before = (await rm.nodeTypes()).filter((t) => t === "polarity" || t === "dc_block");
		const spec = await rm.registerModule("/modules/polarity.wasm");
		const again = await rm.registerModule(new URL("modules/polarity.wasm", location.href)); // the same module: fine
		const dcBytes = await (await fetch("/modules/dc_block.wasm")).arrayBuffer();
		let rerror = "";
		try { await rm.registerModule("polarity", dcBytes); } catch (e) { rerror = e.message; }
		const wav = %[2]s;
		const pol = await (await rm.pipeline(%[3]q)).process({ wav: wav.slice(0) });
		const res = await (await rm.pipeline(%[1]q)).process({ wav });
		const byNode = (n) => (n === "pol" ? pol : res).audio.find((a) => a.node === n);
		return {
			spec, types: [...before, again.node_type],
			audio: Array.from(byNode("pol")?.samples.slice(0, 4) || []),
			stats: pol.events.filter((e) => e.node === "pol" && e.port === "stats").map((e) => e.data.frames),
			dc: Array.from(byNode("dc")?.samples || []),
			ports: [...pol.audio, ...res.audio].map((a) => a.node + "." + a.port),
			rerror,
		};`, def, jsBytes(t, in), "version: v1\nnodes:\n  - {id: pol, node_type: polarity, params: {report_every: 10}}\n"))
	t.Logf("polarity spec in the tab: %+v; outputs %v", r.Spec, r.Ports)
	if r.Spec.NodeType != "polarity" || len(r.Spec.Params) != 2 || r.Spec.Params[0].Name != "invert" || r.Spec.Params[0].Default != true ||
		len(r.Spec.Outputs) != 2 || r.Spec.Outputs[1].Name != "stats" || len(r.Spec.Outputs[1].Kinds) != 1 || r.Spec.Outputs[1].Kinds[0] != "json" {
		t.Errorf("registerModule resolved to %+v, want polarity's declared spec", r.Spec)
	}
	if fmt.Sprint(r.Types) != "[dc_block polarity polarity]" {
		t.Errorf("node types %v, want dc_block and polarity (declared by modules the server has) from the start", r.Types)
	}
	if !bytes.Contains([]byte(r.Rerror), []byte(`declares node type "dc_block", not "polarity"`)) {
		t.Errorf("registering dc_block's module as polarity: %q", r.Rerror)
	}
	if len(r.Audio) != 4 {
		t.Fatalf("no polarity output in the tab (outputs %v)", r.Ports)
	}
	for i, v := range r.Audio {
		if float32(v) != -input(i) {
			t.Errorf("polarity sample %d: %v, want %v", i, v, -input(i))
		}
	}
	if fmt.Sprint(r.Stats) != "[10 20 30 40 50]" {
		t.Errorf("stats events at frames %v, want every 10 of 50", r.Stats)
	}

	// The Rust node: the server's `remotemedia run` of the same chain on the
	// same samples gives the same output.
	if err := os.WriteFile(defPath, []byte(def), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command(bin, "run", defPath, "--modules", mods, "--python", "off", "--in", in, "--out", "dc.out="+outWAV, "--quiet").CombinedOutput(); err != nil {
		t.Fatalf("remotemedia run: %v\n%s", err, out)
	}
	server := floatWAVSamples(t, outWAV)
	if len(server) != len(r.DC) || len(server) != 16000 {
		t.Fatalf("dc_block: %d samples in the tab, %d on the server, want 16000", len(r.DC), len(server))
	}
	for i := range server {
		if float32(r.DC[i]) != server[i] {
			t.Fatalf("dc_block sample %d: tab %v, server %v", i, r.DC[i], server[i])
		}
	}
	var mean float64
	for _, v := range server[8000:] {
		mean += float64(v)
	}
	if mean /= 8000; math.Abs(mean) > 1e-3 {
		t.Errorf("dc_block left a mean of %v over the last 0.5 s (input DC -0.25 after polarity)", mean)
	}
}

// writeFloatWAV writes n mono samples of f as a 32-bit float WAV.
func writeFloatWAV(t *testing.T, path string, rate, n int, f func(int) float32) {
	t.Helper()
	var b bytes.Buffer
	le := func(v any) { _ = binary.Write(&b, binary.LittleEndian, v) }
	b.WriteString("RIFF")
	le(uint32(36 + 4*n))
	b.WriteString("WAVEfmt ")
	le(uint32(16))
	le(uint16(3)) // IEEE float
	le(uint16(1))
	le(uint32(rate))
	le(uint32(4 * rate))
	le(uint16(4))
	le(uint16(32))
	b.WriteString("data")
	le(uint32(4 * n))
	for i := range n {
		le(f(i))
	}
	if err := os.WriteFile(path, b.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
}

// floatWAVSamples reads the samples of a 32-bit float WAV that `remotemedia run` wrote.
func floatWAVSamples(t *testing.T, path string) []float32 {
	t.Helper()
	data := wavData(t, path)
	out := make([]float32, len(data)/4)
	for i := range out {
		out[i] = math.Float32frombits(binary.LittleEndian.Uint32(data[4*i:]))
	}
	return out
}
