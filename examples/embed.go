// Package examples embeds the example definitions, which the server offers to the
// demo page under /examples/.
package examples

import "embed"

// FS holds the example definitions (NAME.yaml at its root).
//
//go:embed *.yaml
var FS embed.FS
