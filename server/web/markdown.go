package web

import (
	"bytes"
	"html/template"

	"github.com/yuin/goldmark"
	"github.com/yuin/goldmark/extension"
)

// markdown renders notes. goldmark's default is safe: raw HTML is left out
// and links with dangerous schemes (javascript:, vbscript:, data: other
// than images) are dropped. Never add html.WithUnsafe. Every note passes
// through renderMarkdown, the one place to swap in the docs-engine later.
var markdown = goldmark.New(goldmark.WithExtensions(extension.Table, extension.Strikethrough, extension.TaskList))

// renderMarkdown turns a note's Markdown into HTML that is safe to embed.
func renderMarkdown(src string) template.HTML {
	var buf bytes.Buffer
	if err := markdown.Convert([]byte(src), &buf); err != nil {
		return template.HTML(template.HTMLEscapeString(src)) //nolint:gosec // escaped
	}
	return template.HTML(buf.String()) //nolint:gosec // goldmark in safe mode
}
