package deploy

import (
	"bufio"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestDistWheelInstalls builds the linux/amd64 artifacts with scripts/dist.sh
// (what make dist runs for every target), checks SHA256SUMS, installs the
// platform wheel into a fresh virtual environment and runs `remotemedia
// --version` and a pipeline with a Python node from there.
//
// Offline: the wheel goes in with `pip install --no-deps`, and its dependencies
// (numpy, msgpack) come from the repository's .venv through a .pth file in the
// fresh environment, which puts .venv's site-packages after its own (so the
// wheel's remotemedia package, not .venv's editable one, is the one imported).
func TestDistWheelInstalls(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the release artifacts")
	}
	venvPython, err := filepath.Abs("../.venv/bin/python")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(venvPython); err != nil {
		t.Skip("no .venv (scripts/deps.sh makes it)")
	}
	ctx := testContext(t, 4*time.Minute)
	out := t.TempDir()
	const version = "v0.0.0-deploytest"
	dist := exec.CommandContext(ctx, "scripts/dist.sh")
	dist.Dir = ".."
	dist.Env = append(os.Environ(), "DIST_OUT="+out, "DIST_TARGETS=linux/amd64", "VERSION="+version)
	if b, err := dist.CombinedOutput(); err != nil {
		t.Fatalf("scripts/dist.sh: %v\n%s", err, b)
	}

	sums := readSums(t, filepath.Join(out, "SHA256SUMS"))
	var wheel string
	for _, name := range []string{"remotemedia-" + version + "-linux-amd64", "remotemedia-0.1.0.tar.gz"} {
		if _, ok := sums[name]; !ok {
			t.Errorf("SHA256SUMS lists no %s: %v", name, sums)
		}
	}
	for name, sum := range sums {
		b, err := os.ReadFile(filepath.Join(out, name))
		if err != nil {
			t.Fatal(err)
		}
		if h := sha256.Sum256(b); hex.EncodeToString(h[:]) != sum {
			t.Errorf("%s: sha256 %x, SHA256SUMS says %s", name, h, sum)
		}
		if strings.HasSuffix(name, "manylinux2014_x86_64.musllinux_1_1_x86_64.whl") {
			wheel = filepath.Join(out, name)
		}
	}
	if wheel == "" {
		t.Fatalf("no linux x86_64 platform wheel among %v", sums)
	}

	venv := filepath.Join(t.TempDir(), "venv")
	run(t, "python3", "-m", "venv", "--without-pip", venv)
	run(t, venvPython, "-m", "pip", "--python", filepath.Join(venv, "bin", "python"), "install", "-q", "--no-deps", "--no-index", wheel)
	sitePackages := strings.TrimSpace(run(t, venvPython, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"))
	freshSite := strings.TrimSpace(run(t, filepath.Join(venv, "bin", "python"), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"))
	if err := os.WriteFile(filepath.Join(freshSite, "repo-venv.pth"), []byte(sitePackages+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if got := strings.TrimSpace(run(t, filepath.Join(venv, "bin", "python"), "-c", "import remotemedia; print(remotemedia.__file__)")); !strings.HasPrefix(got, freshSite) {
		t.Fatalf("the fresh environment imports remotemedia from %s, want the wheel's in %s", got, freshSite)
	}

	cmd := filepath.Join(venv, "bin", "remotemedia")
	if got := strings.TrimSpace(run(t, cmd, "--version")); !strings.Contains(got, version) {
		t.Errorf("remotemedia --version printed %q, want %s", got, version)
	}
	if _, err := os.Stat(filepath.Join(venv, "bin", "remotemedia-worker")); err != nil {
		t.Errorf("the wheel installed no remotemedia-worker command: %v", err)
	}

	// A pipeline with a Python node, run from a folder with no .venv: the
	// command's workers must run on the fresh environment's interpreter.
	work := t.TempDir()
	def := filepath.Join(work, "py.yaml")
	if err := os.WriteFile(def, []byte(`version: "1"
nodes:
  - {id: gain, node_type: gain, params: {gain_db: 6}}
  - {id: py, node_type: PassThrough}
connections:
  - {from: gain, to: py}
`), 0o644); err != nil {
		t.Fatal(err)
	}
	in := filepath.Join(work, "in.wav")
	writeWAV(t, in, 16000, 8000)
	c := exec.CommandContext(ctx, cmd, "run", def, "--in", in, "--out", filepath.Join(work, "out.wav"), "--quiet", "--python", "on")
	c.Dir = work
	c.Env = cleanEnv()
	if b, err := c.CombinedOutput(); err != nil {
		t.Fatalf("remotemedia run with a Python node: %v\n%s", err, b)
	}
	st, err := os.Stat(filepath.Join(work, "out.wav"))
	if err != nil {
		t.Fatal(err)
	}
	if want := int64(8000 * 4); st.Size() < want { // 32-bit float samples and a header
		t.Errorf("out.wav is %d bytes, want at least %d: the Python node's output of 8000 samples", st.Size(), want)
	}
}

func run(t *testing.T, name string, args ...string) string {
	t.Helper()
	cmd := exec.Command(name, args...)
	cmd.Env = cleanEnv()
	b, err := cmd.Output()
	if err != nil {
		stderr := ""
		if ee, ok := err.(*exec.ExitError); ok {
			stderr = string(ee.Stderr)
		}
		t.Fatalf("%s %s: %v\n%s%s", name, strings.Join(args, " "), err, b, stderr)
	}
	return string(b)
}

// readSums reads a sha256sum file: file name -> hex digest.
func readSums(t *testing.T, path string) map[string]string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sums := map[string]string{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		sum, name, ok := strings.Cut(sc.Text(), "  ")
		if !ok {
			t.Fatalf("%s: malformed line %q", path, sc.Text())
		}
		sums[name] = sum
	}
	return sums
}

// writeWAV writes n samples of a 440 Hz tone as 16-bit mono PCM.
func writeWAV(t *testing.T, path string, rate, n int) {
	t.Helper()
	b := make([]byte, 44+2*n)
	copy(b, "RIFF")
	binary.LittleEndian.PutUint32(b[4:], uint32(36+2*n))
	copy(b[8:], "WAVEfmt ")
	binary.LittleEndian.PutUint32(b[16:], 16)
	binary.LittleEndian.PutUint16(b[20:], 1)
	binary.LittleEndian.PutUint16(b[22:], 1)
	binary.LittleEndian.PutUint32(b[24:], uint32(rate))
	binary.LittleEndian.PutUint32(b[28:], uint32(2*rate))
	binary.LittleEndian.PutUint16(b[32:], 2)
	binary.LittleEndian.PutUint16(b[34:], 16)
	copy(b[36:], "data")
	binary.LittleEndian.PutUint32(b[40:], uint32(2*n))
	for i := range n {
		binary.LittleEndian.PutUint16(b[44+2*i:], uint16(int16(8000*math.Sin(2*math.Pi*440*float64(i)/float64(rate)))))
	}
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
}
