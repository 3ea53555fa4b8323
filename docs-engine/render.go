package docsengine

import (
	"html"

	"github.com/yuin/goldmark/ast"
	"github.com/yuin/goldmark/renderer"
	"github.com/yuin/goldmark/util"
)

// nodeRenderer writes our own nodes. Every byte taken from the document is
// escaped here; the sanitizer is the second wall, not the first.
type nodeRenderer struct{}

func (nodeRenderer) RegisterFuncs(reg renderer.NodeRendererFuncRegisterer) {
	reg.Register(KindCallout, renderCallout)
	reg.Register(KindWikiLink, renderWikiLink)
}

func renderCallout(w util.BufWriter, _ []byte, node ast.Node, entering bool) (ast.WalkStatus, error) {
	n := node.(*Callout)
	if !entering {
		_, _ = w.WriteString("</div>\n")
		return ast.WalkContinue, nil
	}
	// Alert is one of the keys of calloutTitles, so it needs no escaping.
	_, _ = w.WriteString(`<div class="callout callout-` + n.Alert + `" role="note">` + "\n")
	_, _ = w.WriteString(`<p class="callout-title">` + html.EscapeString(n.Title) + "</p>\n")
	return ast.WalkContinue, nil
}

func renderWikiLink(w util.BufWriter, _ []byte, node ast.Node, entering bool) (ast.WalkStatus, error) {
	n := node.(*WikiLink)
	class := "wiki-link"
	if !n.Exists {
		class += " wiki-missing"
	}
	switch {
	case n.URL == "" && entering:
		_, _ = w.WriteString(`<span class="` + class + `">`)
	case n.URL == "":
		_, _ = w.WriteString("</span>")
	case entering:
		href := util.URLEscape([]byte(n.URL), true)
		_, _ = w.WriteString(`<a href="` + html.EscapeString(string(href)) + `" class="` + class + `">`)
	default:
		_, _ = w.WriteString("</a>")
	}
	return ast.WalkContinue, nil
}
