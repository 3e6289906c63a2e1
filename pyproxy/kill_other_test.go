//go:build !unix

package pyproxy

import "os"

// killPID ends one process at once, as a crash would.
func killPID(pid int) error {
	p, err := os.FindProcess(pid)
	if err != nil {
		return err
	}
	return p.Kill()
}
