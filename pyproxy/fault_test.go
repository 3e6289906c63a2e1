package pyproxy

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/remotemedia/hybrid/core/pynode"
)

// expectStatus checks that err is the proxy's plain HTTP error with code and text.
func expectStatus(t *testing.T, err error, code int, text string) {
	t.Helper()
	var se *pynode.StatusError
	if !errors.As(err, &se) || se.Code != code || !strings.Contains(se.Message, text) {
		t.Errorf("got %v, want HTTP %d with %q", err, code, text)
	}
}

func TestNodeRaises(t *testing.T) {
	p := newProxy(t, Config{})
	_, c := serve(t, p)
	ctx := context.Background()
	id := open(t, c, "Raise", nil)
	const boom = "ValueError: boom from Raise node"

	_, err := send(ctx, c, id, text(1, "raise"))
	expectStatus(t, err, 422, boom)

	// After an output has been streamed, the error arrives as an error frame.
	out, err := send(ctx, c, id, text(2, "a"), text(3, "raise"), text(4, "never sent"))
	if !errors.Is(err, pynode.ErrRemote) || !strings.Contains(err.Error(), boom) || !slices.Equal(out, []string{"a"}) {
		t.Errorf("got %v %v, want [a] then an error with %q", out, err, boom)
	}
	if out, err := send(ctx, c, id, text(5, "ok")); err != nil || !slices.Equal(out, []string{"ok"}) {
		t.Errorf("next frame: %v %v, want [ok]", out, err)
	}
	if n := testutil.ToFloat64(p.m.restarts); n != 0 {
		t.Errorf("a node exception restarted the worker (%v restarts)", n)
	}
}
