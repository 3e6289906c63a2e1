//go:build unix

package pyproxy

import "syscall"

// killPID sends SIGKILL to one process (not its group), as a crash would end it.
func killPID(pid int) error { return syscall.Kill(pid, syscall.SIGKILL) }
