// Package assets embeds the page templates, static files (CSS, JavaScript,
// icons) and the English and German message catalogs.
package assets

import "embed"

// FS holds templates/*.html, static/*, i18n/*.json and the wiki page
// templates wiki/<name>.<locale>.md.
//
//go:embed templates static i18n wiki
var FS embed.FS
