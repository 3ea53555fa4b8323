package docsengine

import (
	"bytes"
	"errors"
	"fmt"
	"net/url"
	"strings"

	"github.com/microcosm-cc/bluemonday"
	"github.com/yuin/goldmark"
	"github.com/yuin/goldmark/ast"
	"github.com/yuin/goldmark/extension"
	east "github.com/yuin/goldmark/extension/ast"
	"github.com/yuin/goldmark/parser"
	"github.com/yuin/goldmark/renderer"
	"github.com/yuin/goldmark/text"
	"github.com/yuin/goldmark/util"
	"go.abhg.dev/goldmark/mermaid"
)

// Default limits. A process page is rarely over 100 KiB, and nobody nests
// lists or quotes a hundred levels deep on purpose.
const (
	DefaultMaxBytes = 2 << 20
	DefaultMaxDepth = 100
)

// ErrTooLarge and ErrTooDeep are the kinds of LimitError; test for them with
// errors.Is.
var (
	ErrTooLarge = errors.New("document too large")
	ErrTooDeep  = errors.New("document nested too deeply")
	// ErrTooComplex is a document that would make the parser scan the same
	// text again and again: thousands of brackets in one paragraph, or
	// unclosed link destinations and titles.
	ErrTooComplex = errors.New("document too complex")
)

// LimitError says which limit a document broke and by how much, so that the
// editor can tell the author what to change.
type LimitError struct {
	Kind   error // ErrTooLarge, ErrTooDeep or ErrTooComplex
	Limit  int   // bytes, levels or scan steps
	Actual int   // bytes, the depth at which the check stopped, or scan steps
}

func (e *LimitError) Error() string {
	switch e.Kind {
	case ErrTooLarge:
		return fmt.Sprintf("docsengine: %v: %d bytes, the limit is %d bytes", e.Kind, e.Actual, e.Limit)
	case ErrTooComplex:
		return fmt.Sprintf("docsengine: %v: too many links or brackets in one paragraph, or unclosed links; split long paragraphs with blank lines", e.Kind)
	}
	return fmt.Sprintf("docsengine: %v: more than %d levels of lists, quotes or emphasis", e.Kind, e.Limit)
}

func (e *LimitError) Unwrap() error { return e.Kind }

// Config sets an Engine's limits. Zero values take the defaults.
type Config struct {
	MaxBytes int // inputs larger than this are refused with ErrTooLarge
	MaxDepth int // trees deeper than this are refused with ErrTooDeep
	// IDPrefix starts every heading id (and the fragment of a wiki link to
	// a section), so that a document embedded in a page cannot take the
	// ids of the page's own elements (labels, aria references, fragments).
	IDPrefix string
}

// Resolver maps a wiki link target ("Page title" or "path/page") to the URL
// of that page. It reports exists=false for a page that does not exist yet;
// url may then point at a page to create it, or be empty. A URL that is not
// relative, http, https or mailto is ignored. Render calls it at most once
// per distinct target, from the goroutine that called Render.
type Resolver interface {
	ResolveWikiLink(target string) (url string, exists bool)
}

// Options are the per-document inputs of Render.
type Options struct {
	// Resolver resolves wiki links; nil renders every wiki link as missing.
	Resolver Resolver
	// AttachmentURL maps the name in a link or image destination
	// "attachment:<name>" (percent-decoded) to the URL of that file. A URL
	// that is not relative, http, https or mailto is ignored; without
	// AttachmentURL such destinations reach the sanitizer, which drops them.
	// Called from the goroutine that called Render.
	AttachmentURL func(name string) string
}

// Heading is one entry of a table of contents.
type Heading struct {
	Level int    // 1 to 6
	Text  string // plain text of the heading
	ID    string // the id attribute of the heading, for "#" links
}

// Task is one task-list item ("- [x] Inform the manager").
type Task struct {
	Text    string
	Checked bool
}

// Result is a rendered document.
type Result struct {
	HTML  string    // sanitized, safe to embed in a page
	TOC   []Heading // every heading, in document order
	Links []string  // distinct wiki link targets, in document order, for backlinks
	Tasks []Task    // task-list items, in document order
	Text  string    // visible text for search, one block per line
}

// Engine renders Markdown documents. It is safe for concurrent use.
type Engine struct {
	md       goldmark.Markdown
	policy   *bluemonday.Policy
	maxBytes int
	maxDepth int
	idPrefix string
}

// New returns an Engine with the given limits.
func New(cfg Config) *Engine {
	if cfg.MaxBytes <= 0 {
		cfg.MaxBytes = DefaultMaxBytes
	}
	if cfg.MaxDepth <= 0 {
		cfg.MaxDepth = DefaultMaxDepth
	}
	md := goldmark.New(
		goldmark.WithExtensions(
			extension.GFM, // tables, task lists, strikethrough, autolinks
			extension.Footnote,
			// Client mode without a script: blocks become <pre class="mermaid">.
			&mermaid.Extender{RenderMode: mermaid.RenderModeClient, NoScript: true},
		),
		goldmark.WithParserOptions(
			parser.WithInlineParsers(util.Prioritized(wikiLinkParser{}, 199)),
			parser.WithASTTransformers(util.Prioritized(calloutTransformer{}, 500)),
		),
		goldmark.WithRendererOptions(
			renderer.WithNodeRenderers(util.Prioritized(nodeRenderer{}, 500)),
		),
	)
	return &Engine{md: md, policy: newPolicy(), maxBytes: cfg.MaxBytes, maxDepth: cfg.MaxDepth, idPrefix: cfg.IDPrefix}
}

// Render turns Markdown into sanitized HTML and the data derived from it.
// It returns a *LimitError (ErrTooLarge, ErrTooDeep) for documents over the
// limits.
func (e *Engine) Render(src []byte, opts Options) (Result, error) {
	if len(src) > e.maxBytes {
		return Result{}, &LimitError{Kind: ErrTooLarge, Limit: e.maxBytes, Actual: len(src)}
	}
	if d := blockDepth(src, e.maxDepth); d > e.maxDepth {
		return Result{}, &LimitError{Kind: ErrTooDeep, Limit: e.maxDepth, Actual: d}
	}
	if c := scanCost(src); c > maxScanCost {
		return Result{}, &LimitError{Kind: ErrTooComplex, Limit: maxScanCost, Actual: c}
	}
	ids := newHeadingIDs(e.idPrefix)
	doc := e.md.Parser().Parse(text.NewReader(src), parser.WithContext(parser.NewContext(parser.WithIDs(ids))))

	var res Result
	if err := collect(doc, src, ids, opts, e.maxDepth, &res); err != nil {
		return Result{}, err
	}
	var buf bytes.Buffer
	buf.Grow(len(src) + len(src)/2)
	if err := e.md.Renderer().Render(&buf, src, doc); err != nil {
		return Result{}, fmt.Errorf("docsengine: render: %w", err)
	}
	res.HTML = e.policy.SanitizeReader(&buf).String()
	return res, nil
}

// collect walks the tree once: it checks the depth, gives headings their ids,
// resolves wiki links and fills the TOC, links, tasks and text of res.
func collect(doc ast.Node, src []byte, ids *headingIDs, opts Options, maxDepth int, res *Result) error {
	var (
		depth    int
		deepest  int
		txt      textWriter
		resolved = map[string]wikiTarget{}
	)
	err := ast.Walk(doc, func(n ast.Node, entering bool) (ast.WalkStatus, error) {
		if !entering {
			depth--
			if n.Type() == ast.TypeBlock && n.Kind() != east.KindTableCell {
				txt.endBlock()
			}
			return ast.WalkContinue, nil
		}
		depth++
		if depth > deepest {
			deepest = depth
		}
		if depth > maxDepth {
			return ast.WalkStop, &LimitError{Kind: ErrTooDeep, Limit: maxDepth, Actual: depth}
		}
		switch n := n.(type) {
		case *ast.Heading:
			title := inlineText(n, src)
			id := string(ids.Generate([]byte(title), ast.KindHeading))
			n.SetAttributeString("id", []byte(id))
			res.TOC = append(res.TOC, Heading{Level: n.Level, Text: title, ID: id})
		case *WikiLink:
			t, ok := resolved[n.Target]
			if !ok {
				t = resolveWikiLink(opts.Resolver, n.Target)
				resolved[n.Target] = t
				res.Links = append(res.Links, n.Target)
			}
			n.URL, n.Exists = t.url, t.exists
			if n.URL != "" && n.Fragment != "" {
				n.URL += "#" + ids.prefix + slug(n.Fragment)
			}
		case *ast.Image:
			n.Destination = attachmentDestination(n.Destination, opts.AttachmentURL)
		case *ast.Link:
			n.Destination = attachmentDestination(n.Destination, opts.AttachmentURL)
		case *east.TaskCheckBox:
			res.Tasks = append(res.Tasks, Task{Text: strings.TrimSpace(inlineText(n.Parent(), src)), Checked: n.IsChecked})
		case *Callout:
			txt.write(n.Title)
			txt.endBlock()
		}
		txt.node(n, src)
		return ast.WalkContinue, nil
	})
	res.Text = txt.String()
	return err
}

// attachmentScheme starts a destination that names a file attached to the
// document.
const attachmentScheme = "attachment:"

// attachmentDestination replaces an "attachment:<name>" destination with the
// URL that toURL gives for the name, if that URL is safe.
func attachmentDestination(dest []byte, toURL func(string) string) []byte {
	if toURL == nil || len(dest) <= len(attachmentScheme) || !strings.EqualFold(string(dest[:len(attachmentScheme)]), attachmentScheme) {
		return dest
	}
	name := string(dest[len(attachmentScheme):])
	if n, err := url.PathUnescape(name); err == nil {
		name = n
	}
	if u := toURL(name); u != "" && safeURL(u) {
		return []byte(u)
	}
	return dest
}
