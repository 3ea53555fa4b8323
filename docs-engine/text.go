package docsengine

import (
	"strings"

	"github.com/yuin/goldmark/ast"
	east "github.com/yuin/goldmark/extension/ast"
	"go.abhg.dev/goldmark/mermaid"
)

// textWriter gathers the visible text of a document: blocks are separated by
// one newline, line breaks inside a paragraph become spaces.
type textWriter struct {
	b       strings.Builder
	pending bool // a block ended; write a newline before more text
}

func (w *textWriter) write(s string) {
	if s == "" {
		return
	}
	if w.pending && w.b.Len() > 0 {
		w.b.WriteByte('\n')
	}
	w.pending = false
	w.b.WriteString(s)
}

func (w *textWriter) endBlock() { w.pending = true }

func (w *textWriter) String() string { return w.b.String() }

// node writes the text that n itself carries (not its children's).
func (w *textWriter) node(n ast.Node, src []byte) {
	switch n := n.(type) {
	case *ast.Text:
		w.write(string(n.Segment.Value(src)))
		if n.SoftLineBreak() || n.HardLineBreak() {
			w.write(" ")
		}
	case *ast.String:
		w.write(string(n.Value))
	case *ast.AutoLink:
		w.write(string(n.Label(src)))
	case *ast.FencedCodeBlock, *ast.CodeBlock, *mermaid.Block:
		lines := n.Lines()
		var b strings.Builder
		for i := 0; i < lines.Len(); i++ {
			seg := lines.At(i)
			b.Write(seg.Value(src))
		}
		w.write(strings.TrimRight(b.String(), "\n"))
	case *east.TableCell:
		if n.PreviousSibling() != nil {
			w.write(" ")
		}
	}
}

// inlineText is the plain text of a heading or paragraph: the text of its
// inline descendants, without markup, on one line.
func inlineText(n ast.Node, src []byte) string {
	var w textWriter
	_ = ast.Walk(n, func(c ast.Node, entering bool) (ast.WalkStatus, error) {
		if entering && c.Type() == ast.TypeBlock && c != n {
			return ast.WalkSkipChildren, nil // a nested list under a task
		}
		if entering {
			w.node(c, src)
		}
		return ast.WalkContinue, nil
	})
	return strings.TrimSpace(w.String())
}
