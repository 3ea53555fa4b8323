package docsengine

import (
	"bytes"
	"strings"

	"github.com/yuin/goldmark/ast"
	"github.com/yuin/goldmark/parser"
	"github.com/yuin/goldmark/text"
)

// KindCallout is the node kind of Callout.
var KindCallout = ast.NewNodeKind("Callout")

// Callout is a GitHub-style alert: a block quote whose first line is
// [!NOTE], [!TIP], [!IMPORTANT], [!WARNING] or [!CAUTION], optionally
// followed by a title of its own.
type Callout struct {
	ast.BaseBlock
	Alert string // note, tip, important, warning or caution
	Title string // plain text, escaped when rendered
}

// Kind implements ast.Node.
func (n *Callout) Kind() ast.NodeKind { return KindCallout }

// Dump implements ast.Node.
func (n *Callout) Dump(src []byte, level int) {
	ast.DumpHelper(n, src, level, map[string]string{"Alert": n.Alert, "Title": n.Title}, nil)
}

var calloutTitles = map[string]string{
	"note":      "Note",
	"tip":       "Tip",
	"important": "Important",
	"warning":   "Warning",
	"caution":   "Caution",
}

// calloutTransformer replaces callout block quotes by Callout nodes. It keeps
// no state, so one instance serves every goroutine (gm-alert-callouts shares
// a cases.Caser and panics under concurrent use).
type calloutTransformer struct{}

func (calloutTransformer) Transform(doc *ast.Document, reader text.Reader, _ parser.Context) {
	src := reader.Source()
	var quotes []*ast.Blockquote
	_ = ast.Walk(doc, func(n ast.Node, entering bool) (ast.WalkStatus, error) {
		if q, ok := n.(*ast.Blockquote); ok && entering {
			quotes = append(quotes, q)
		}
		if entering && n.Type() == ast.TypeInline {
			return ast.WalkSkipChildren, nil
		}
		return ast.WalkContinue, nil
	})
	for _, q := range quotes {
		transformCallout(q, src)
	}
}

func transformCallout(q *ast.Blockquote, src []byte) {
	para, ok := q.FirstChild().(*ast.Paragraph)
	if !ok || para.Lines().Len() == 0 {
		return
	}
	first := para.Lines().At(0)
	line := bytes.TrimSpace(first.Value(src))
	if len(line) < 4 || line[0] != '[' || line[1] != '!' {
		return
	}
	end := bytes.IndexByte(line, ']')
	if end < 0 {
		return
	}
	typ := strings.ToLower(string(line[2:end]))
	title, ok := calloutTitles[typ]
	if !ok {
		return
	}
	if custom := strings.TrimSpace(string(line[end+1:])); custom != "" {
		title = custom
	}
	// Drop the inlines of the first line; the title is rendered from Title.
	for c := para.FirstChild(); c != nil; {
		if start, ok := inlineStart(c); !ok || start >= first.Stop {
			break
		}
		next := c.NextSibling()
		para.RemoveChild(para, c)
		c = next
	}
	if para.ChildCount() == 0 {
		q.RemoveChild(q, para)
	}
	co := &Callout{Alert: typ, Title: title}
	for c := q.FirstChild(); c != nil; {
		next := c.NextSibling()
		co.AppendChild(co, c)
		c = next
	}
	q.Parent().ReplaceChild(q.Parent(), q, co)
}

// inlineStart is where the first text of an inline node starts in the source.
func inlineStart(n ast.Node) (int, bool) {
	if t, ok := n.(*ast.Text); ok {
		return t.Segment.Start, true
	}
	for c := n.FirstChild(); c != nil; c = c.NextSibling() {
		if s, ok := inlineStart(c); ok {
			return s, true
		}
	}
	return 0, false
}
