//go:build unix && !linux

package pyproxy

import (
	"os/exec"
	"syscall"
)

// setProcAttr puts the worker in its own process group, so that killing the group
// also ends anything it spawned.
func setProcAttr(cmd *exec.Cmd) { cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true} }

// killGroup sends SIGKILL to the worker's process group.
func killGroup(pid int) { _ = syscall.Kill(-pid, syscall.SIGKILL) }
