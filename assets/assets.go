// Package assets embeds the page templates, static files (CSS, JavaScript,
// icons) and the English and German message catalogs.
package assets

import "embed"

// FS holds templates/*.html, static/* and i18n/*.json.
//
//go:embed templates static i18n
var FS embed.FS
