//go:build !unix

package pyproxy

import (
	"os"
	"os/exec"
)

// setProcAttr has no process groups to set up on this platform.
func setProcAttr(*exec.Cmd) {}

// killGroup kills the worker process itself; there are no process groups here.
func killGroup(pid int) {
	if p, err := os.FindProcess(pid); err == nil {
		_ = p.Kill()
	}
}
