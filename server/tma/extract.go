package tma

import (
	"context"
	"io"
	"path"
	"strings"
)

// Limits of text extraction. A document's text is held in memory, so both
// ends are bounded: what is read and what is kept.
const (
	// MaxExtractInput is the most bytes of a document that are read to
	// find its text. Larger documents are stored, but not searched by
	// content.
	MaxExtractInput = 64 << 20
	// MaxExtractText is the most bytes of UTF-8 text kept per document;
	// longer text is cut at a rune boundary. 2 MiB is about 300,000 words,
	// or a thousand pages.
	MaxExtractText = 2 << 20
)

// TextExtractor turns the plaintext of a document into the text that search
// indexes. Text and bytes stay in memory: nothing of either is written to
// disk, neither by the extractor nor by a program it runs.
type TextExtractor interface {
	// Extract returns the text of a document whose sniffed type is
	// contentType (parameters such as charset are honoured), read from r,
	// which holds size bytes (-1 if unknown). The text is valid UTF-8 in
	// NFC, one block (paragraph, row, header) per line, spaces collapsed,
	// table cells separated by tabs, without control or format
	// characters; it is cut at a rune boundary after MaxExtractText bytes,
	// which is not an error.
	//
	// A type it does not read (images, audio, legacy Office formats)
	// gives "" and no error, without reading r: such a document simply has
	// no text to search.
	//
	// EINVALID if the bytes are not a readable file of that type (a broken
	// zip, malformed XML, a PDF that cannot be opened or is password
	// protected). ETOOLARGE if size or the bytes read exceed
	// MaxExtractInput, if the file unpacks beyond the extractor's limits
	// (zip bombs, too many parts), or if it needs more time or memory than
	// its budget (a hostile PDF). EUNAVAILABLE if the program a type needs
	// (pdftotext) is missing or cannot start: the document itself is fine
	// and is stored without text. ctx.Err() if ctx ends first.
	Extract(ctx context.Context, contentType string, r io.Reader, size int64) (string, error)
}

// ExtractType is the type to extract a version's text as: its sniffed type,
// except that Markdown, which sniffs as plain text, is read as
// text/markdown when the file name says so.
func ExtractType(name, contentType string) string {
	switch strings.ToLower(path.Ext(name)) {
	case ".md", ".markdown":
		if BaseType(contentType) == "text/plain" {
			if _, params, ok := strings.Cut(contentType, ";"); ok {
				return "text/markdown;" + params // keep the charset
			}
			return "text/markdown"
		}
	}
	return contentType
}
