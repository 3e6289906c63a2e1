package pyproxy

import (
	"os/exec"
	"syscall"
)

// setProcAttr puts the worker in its own process group (so that killing the group
// also ends anything it spawned) and has the kernel kill it if the proxy dies.
func setProcAttr(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
}

// killGroup sends SIGKILL to the worker's process group.
func killGroup(pid int) { _ = syscall.Kill(-pid, syscall.SIGKILL) }
