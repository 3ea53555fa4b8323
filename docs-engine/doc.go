// Package docsengine turns the team's Markdown process documentation into
// safe HTML, tables of contents, wiki links, checklists and plain text for
// search. The WordPress (WXR) import lives in the wxr sub-package. It is a
// leaf library: it imports nothing from server/, which scripts/layering.sh
// enforces.
//
// # Pipeline
//
// Render parses with goldmark (CommonMark plus GFM tables, task lists,
// strikethrough and autolinks, footnotes, Mermaid blocks, our callouts and
// wiki links), walks the tree once to give headings their ids and to collect
// the table of contents, wiki link targets, task-list items and plain text,
// renders the tree to HTML and passes that HTML through a bluemonday policy.
//
// # Threat model
//
// Documents are written by case workers, imported from WordPress and read by
// other tenants' staff, so every document is untrusted input. Two walls stand
// between a document and the reader's browser:
//
//  1. goldmark runs in its default safe mode (never html.WithUnsafe): raw HTML
//     is replaced by a comment, and links with javascript:, vbscript:,
//     file: and data: destinations are dropped. Our own renderers (callouts,
//     wiki links, Mermaid) escape every byte they take from the document.
//  2. bluemonday, built on its UGC policy, then keeps only the elements and
//     attributes we emit: ids on headings and footnotes, a fixed set of
//     classes, disabled task-list checkboxes, and URLs that are relative or
//     use http, https or mailto. It removes every style attribute, event
//     handler, script, iframe, object, embed, style and SVG element.
//
// Mermaid diagrams leave the library as escaped text in <pre class="mermaid">;
// the page later runs a vendored Mermaid script over them (with its
// securityLevel left at "strict"). This package never emits a script tag.
//
// Rendering is bounded: inputs over Config.MaxBytes are refused with
// ErrTooLarge before parsing, and trees nested deeper than Config.MaxDepth are
// refused with ErrTooDeep before rendering. One Engine is safe for concurrent
// use; per-call state lives in the parser context and in Render's locals.
package docsengine
