//go:build js && wasm

package main

import (
	"context"
	"errors"
	"fmt"

	"github.com/remotemedia/hybrid/core/pynode"
)

// errWSClosed is returned by a call on a WebSocket that has closed or failed.
var errWSClosed = errors.New("pynode: WebSocket closed")

var _ pynode.MessageConn = (*jsSocket)(nil)

// dialWS is the tab's pynode.DialFunc: a browser WebSocket (jsSocket) to a
// Python node session.
func dialWS(ctx context.Context, path, token string) (pynode.MessageConn, error) {
	c, _, err := openSocket(ctx, path, token, socketErrors{
		closed: func(url string, code int, reason string) error {
			return fmt.Errorf("%w: %s: code %d (%s)", errWSClosed, url, code, reason)
		},
		text: pynode.ErrResponse,
		byUs: errWSClosed,
	})
	if err != nil {
		return nil, err
	}
	return c, nil
}
