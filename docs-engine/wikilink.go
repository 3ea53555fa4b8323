package docsengine

import (
	"bytes"
	"net/url"
	"strings"

	"github.com/yuin/goldmark/ast"
	"github.com/yuin/goldmark/parser"
	"github.com/yuin/goldmark/text"
)

// maxWikiLink bounds how far the parser looks for the closing "]]", so that a
// long line full of "[[" costs linear time. (go.abhg.dev/goldmark/wikilink
// searches the whole rest of the line for every "[", which is quadratic, and
// has no notion of a missing page; hence our own ~100 lines.)
const maxWikiLink = 512

// KindWikiLink is the node kind of WikiLink.
var KindWikiLink = ast.NewNodeKind("WikiLink")

// WikiLink is a link to another page of the wiki: [[Target]],
// [[path/target|label]] or [[Target#Section]]. Its child is the label.
type WikiLink struct {
	ast.BaseInline
	Target   string // page title or path, as written
	Fragment string // text after "#", as written
	URL      string // from the Resolver; empty if it gave none
	Exists   bool   // from the Resolver
}

// Kind implements ast.Node.
func (n *WikiLink) Kind() ast.NodeKind { return KindWikiLink }

// Dump implements ast.Node.
func (n *WikiLink) Dump(src []byte, level int) {
	ast.DumpHelper(n, src, level, map[string]string{"Target": n.Target, "URL": n.URL}, nil)
}

type wikiLinkParser struct{}

func (wikiLinkParser) Trigger() []byte { return []byte{'['} }

// Parse reads [[target]] or [[target|label]] from one line. Targets and
// labels may not contain brackets or line breaks, and must not be blank.
func (wikiLinkParser) Parse(_ ast.Node, block text.Reader, _ parser.Context) ast.Node {
	line, seg := block.PeekLine()
	if len(line) < 5 || line[0] != '[' || line[1] != '[' {
		return nil
	}
	window := line[2:]
	if len(window) > maxWikiLink {
		window = window[:maxWikiLink]
	}
	end := bytes.Index(window, []byte("]]"))
	if end < 0 {
		return nil
	}
	inner := window[:end]
	if bytes.ContainsAny(inner, "[]\n\r") {
		return nil
	}
	target, labelStart := inner, 0
	if i := bytes.IndexByte(inner, '|'); i >= 0 {
		target, labelStart = inner[:i], i+1
	}
	label := inner[labelStart:]
	t := strings.TrimSpace(string(target))
	if t == "" || len(bytes.TrimSpace(label)) == 0 {
		return nil
	}
	n := &WikiLink{Target: t}
	if i := strings.LastIndexByte(t, '#'); i >= 0 {
		n.Target, n.Fragment = strings.TrimSpace(t[:i]), strings.TrimSpace(t[i+1:])
		if n.Target == "" {
			return nil // [[#Section]] is a link within the page; not ours
		}
	}
	start := seg.Start + 2 + labelStart
	lseg := text.NewSegment(start, start+len(label))
	lseg = lseg.TrimLeftSpace(block.Source())
	lseg = lseg.TrimRightSpace(block.Source())
	n.AppendChild(n, ast.NewTextSegment(lseg))
	block.Advance(2 + end + 2)
	return n
}

type wikiTarget struct {
	url    string
	exists bool
}

// resolveWikiLink asks the caller's resolver and keeps the URL only if it is
// relative or http, https or mailto.
func resolveWikiLink(r Resolver, target string) wikiTarget {
	if r == nil {
		return wikiTarget{}
	}
	u, exists := r.ResolveWikiLink(target)
	if !safeURL(u) {
		u = ""
	}
	return wikiTarget{url: u, exists: exists}
}

// safeURL reports whether u is relative or uses http, https or mailto.
func safeURL(u string) bool {
	p, err := url.Parse(u)
	if err != nil {
		return false
	}
	switch strings.ToLower(p.Scheme) {
	case "", "http", "https", "mailto":
		return true
	}
	return false
}
