// Package docsengine turns the team's Markdown process documentation into
// safe HTML, tables of contents, wiki links and plain text for search, and
// imports WordPress (WXR) exports. It is a leaf library: it imports nothing
// from server/, which scripts/layering.sh enforces.
//
// The wiki capability fills this package; until then it holds no code.
package docsengine
