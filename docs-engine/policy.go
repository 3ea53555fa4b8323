package docsengine

import (
	"regexp"

	"github.com/microcosm-cc/bluemonday"
)

// classes lists every class we emit; class attributes with anything else
// are dropped whole.
var classes = regexp.MustCompile(`^(?:(?:callout|callout-(?:note|tip|important|warning|caution)|callout-title|mermaid|wiki-link|wiki-missing|footnotes|footnote-ref|footnote-backref|language-[\p{L}\p{N}_+#.-]{1,40})(?: |$))+$`)

// newPolicy is bluemonday's UGC policy (no scripts, styles, frames, forms or
// event handlers; URLs relative or http, https, mailto; rel="nofollow") plus
// what our renderers emit.
func newPolicy() *bluemonday.Policy {
	p := bluemonday.UGCPolicy()
	// Heading and footnote ids ("übersicht", "fn:1", "fnref:1").
	p.AllowAttrs("id").Matching(regexp.MustCompile(`^[\p{L}\p{N}_:.-]{1,200}$`)).OnElements("h1", "h2", "h3", "h4", "h5", "h6", "li", "sup")
	p.AllowAttrs("class").Matching(classes).OnElements("div", "p", "a", "span", "pre", "code")
	p.AllowAttrs("role").Matching(regexp.MustCompile(`^(?:note|doc-noteref|doc-endnotes|doc-backlink)$`)).OnElements("div", "a")
	// Link and image titles are plain attribute text, escaped on output;
	// the UGC policy's pattern drops titles with quotes or asterisks.
	p.AllowAttrs("title").OnElements("a", "img")
	p.AllowAttrs("start").Matching(bluemonday.Integer).OnElements("ol")
	// Task-list checkboxes; goldmark always writes them disabled.
	p.AllowAttrs("type").Matching(regexp.MustCompile(`^checkbox$`)).OnElements("input")
	p.AllowAttrs("checked", "disabled").Matching(regexp.MustCompile(`^(?:|checked|disabled)$`)).OnElements("input")
	return p
}
