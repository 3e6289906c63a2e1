//go:build js

package wasmnode

import "log"

// logger is where a node's module logs and the node's own warnings go in the
// browser: the standard log package (the console), in the format of slog's
// default logger. log/slog, which the server's logger uses (log.go), would add
// about 150 KB to core.wasm and its set-up to every node's creation.
type logger struct{ id, file string }

func newLogger(id, file string) logger { return logger{id, file} }

var levelNames = [...]string{"DEBUG", "INFO", "WARN", "ERROR"}

// log logs msg at rm.log's level (0 debug, 1 info, 2 warn, 3 error; others info).
func (l logger) log(level int32, msg string) {
	name := "INFO"
	if level >= 0 && int(level) < len(levelNames) {
		name = levelNames[level]
	}
	log.Printf("%s %s node=%s module=%s", name, msg, l.id, l.file)
}

func (l logger) warn(msg string, err error) {
	log.Printf("WARN %s node=%s module=%s err=%v", msg, l.id, l.file, err)
}
