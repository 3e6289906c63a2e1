//go:build !js

package wasmnode

import (
	"context"
	"log/slog"
)

// logger is where a node's module logs (rm.log, WASI stdout and stderr) and
// the node's own warnings go: slog's default logger, with the node and the
// module as attributes. The browser build has its own (log_js.go).
type logger struct{ l *slog.Logger }

func newLogger(id, file string) logger {
	return logger{slog.Default().With("node", id, "module", file)}
}

var logLevels = [...]slog.Level{slog.LevelDebug, slog.LevelInfo, slog.LevelWarn, slog.LevelError}

// log logs msg at rm.log's level (0 debug, 1 info, 2 warn, 3 error; others info).
func (l logger) log(level int32, msg string) {
	lv := slog.LevelInfo
	if level >= 0 && int(level) < len(logLevels) {
		lv = logLevels[level]
	}
	l.l.Log(context.Background(), lv, msg)
}

func (l logger) warn(msg string, err error) { l.l.Warn(msg, "err", err) }
