// Package migrations embeds the numbered SQL migrations. Files are applied in
// name order, each in its own transaction, and are never edited once shipped.
package migrations

import "embed"

// FS holds the *.sql files.
//
//go:embed *.sql
var FS embed.FS
