package gogc

import (
	"runtime/debug"
	"testing"
)

func TestApply(t *testing.T) {
	old := debug.SetGCPercent(100)
	t.Cleanup(func() { debug.SetGCPercent(old) })

	t.Setenv("GOGC", "")
	Apply(ServePercent + 50)
	if got := debug.SetGCPercent(100); got != ServePercent+50 {
		t.Errorf("GOGC unset: the target is %d%%, want %d%%", got, ServePercent+50)
	}
	t.Setenv("GOGC", "250")
	debug.SetGCPercent(250) // as the runtime read it at start
	Apply(Percent)
	if got := debug.SetGCPercent(100); got != 250 {
		t.Errorf("GOGC=250 set: the target is %d%%, want the environment's 250%%", got)
	}
}
