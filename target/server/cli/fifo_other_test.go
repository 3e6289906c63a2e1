//go:build !unix

package cli

import "testing"

// mkfifo skips the test: this platform has no named pipes in the file system.
func mkfifo(t *testing.T, path string) {
	t.Helper()
	t.Skipf("no named pipes (FIFOs) on this platform for %s", path)
}
