// Package extract finds the text of uploaded documents for search: PDF
// (through poppler's pdftotext, see pdf.go), DOCX and ODT (own streaming
// XML readers), XLSX (excelize), plain text, Markdown (docs-engine), HTML
// (golang.org/x/net/html) and e-mail (enmime).
//
// Documents hold case data, so everything happens in memory: the bytes are
// read into a buffer of at most tma.MaxExtractInput, zip parts are
// decompressed as streams, excelize is pointed at a temp directory that
// cannot exist, and pdftotext reads the PDF from a pipe on its stdin and
// writes the text to a pipe on its stdout. Every reader is bounded in what
// it reads (zip entries, decompressed bytes) and in what it keeps
// (tma.MaxExtractText); the one external program is bounded in time and
// memory and killed with its whole process group.
package extract

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"runtime"
	"sync"
	"time"

	docsengine "github.com/tma-portal/tma/docs-engine"
	"github.com/tma-portal/tma/server/tma"
)

// Defaults of Config.
const (
	DefaultPDFTimeout = 20 * time.Second
	DefaultPDFMemory  = 1 << 30 // address space of pdftotext, bytes
)

// Config configures a TextExtractor. Zero values take the defaults.
type Config struct {
	// PDFToText is the path of poppler's pdftotext; "" looks "pdftotext"
	// up in PATH on each use, so that installing it later needs no restart.
	PDFToText string
	// PDFTimeout is how long one pdftotext run may take, wall clock.
	PDFTimeout time.Duration
	// PDFMemory is the address space one pdftotext run may map (ulimit -v).
	PDFMemory int64
	// Concurrency is how many documents are read at once (default
	// GOMAXPROCS); more wait. Each may hold tma.MaxExtractInput bytes, an
	// unpacked workbook or a pdftotext process, so this bounds memory.
	Concurrency int
	// Logger gets one warning when pdftotext is missing; nil discards it.
	// Nothing of a document (not even pdftotext's messages, which quote
	// the PDF) is ever logged.
	Logger *slog.Logger
}

// TextExtractor implements tma.TextExtractor. It is safe for concurrent
// use.
type TextExtractor struct {
	cfg      Config
	markdown *docsengine.Engine
	slots    chan struct{} // one per extraction running
	warnOnce sync.Once
}

var _ tma.TextExtractor = (*TextExtractor)(nil)

// New returns a TextExtractor.
func New(cfg Config) *TextExtractor {
	if cfg.PDFTimeout <= 0 {
		cfg.PDFTimeout = DefaultPDFTimeout
	}
	if cfg.PDFMemory <= 0 {
		cfg.PDFMemory = DefaultPDFMemory
	}
	if cfg.Concurrency <= 0 {
		cfg.Concurrency = runtime.GOMAXPROCS(0)
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	return &TextExtractor{cfg: cfg, markdown: docsengine.New(docsengine.Config{}), slots: make(chan struct{}, cfg.Concurrency)}
}

// The formats, by sniffed media type.
type format int

const (
	formatNone format = iota
	formatText
	formatMarkdown
	formatHTML
	formatPDF
	formatDOCX
	formatODF
	formatXLSX
	formatEML
)

var formats = map[string]format{
	"text/plain":      formatText,
	"text/csv":        formatText,
	"text/markdown":   formatMarkdown,
	"text/x-markdown": formatMarkdown,
	"text/html":       formatHTML,
	"application/pdf": formatPDF,
	"application/vnd.openxmlformats-officedocument.wordprocessingml.document": formatDOCX,
	"application/vnd.oasis.opendocument.text":                                 formatODF,
	"application/vnd.oasis.opendocument.spreadsheet":                          formatODF,
	"application/vnd.oasis.opendocument.presentation":                         formatODF,
	"application/vnd.openxmlformats-officedocument.spreadsheetml.sheet":       formatXLSX,
	"message/rfc822": formatEML,
}

// Extract implements tma.TextExtractor.
func (x *TextExtractor) Extract(ctx context.Context, contentType string, r io.Reader, size int64) (string, error) {
	const op = "extract.Extract"
	f := formats[tma.BaseType(contentType)]
	if f == formatNone {
		return "", nil
	}
	if size > tma.MaxExtractInput {
		return "", tooLarge()
	}
	select {
	case x.slots <- struct{}{}:
		defer func() { <-x.slots }()
	case <-ctx.Done():
		return "", ctx.Err()
	}
	data, err := readAll(r, size)
	if err != nil {
		return "", tma.Wrap(op, err)
	}
	if err := ctx.Err(); err != nil {
		return "", err
	}
	w := newTextBuilder(tma.MaxExtractText)
	switch f {
	case formatText:
		err = x.text(contentType, data, w)
	case formatMarkdown:
		err = x.markdownText(contentType, data, w)
	case formatHTML:
		err = htmlText(ctx, contentType, data, w)
	case formatPDF:
		err = x.pdfText(ctx, data, w)
	case formatDOCX:
		err = docxText(ctx, data, w)
	case formatODF:
		err = odfText(ctx, data, w)
	case formatXLSX:
		err = xlsxText(ctx, data, w)
	case formatEML:
		err = emlText(ctx, data, w)
	}
	if ctxErr := ctx.Err(); ctxErr != nil && err != nil {
		return "", ctxErr // the caller gave up; whatever failed, that is why
	}
	if err != nil {
		return "", tma.Wrap(op, err)
	}
	return w.String(), nil
}

func tooLarge() error {
	return tma.Errorf(tma.ETOOLARGE, "The file is larger than %d MiB; its text is not searched.", tma.MaxExtractInput>>20)
}

// readAll reads r to its end into memory, at most tma.MaxExtractInput
// bytes.
func readAll(r io.Reader, size int64) ([]byte, error) {
	var buf bytes.Buffer
	if size > 0 {
		buf.Grow(int(size) + bytes.MinRead) // size <= MaxExtractInput
	}
	n, err := buf.ReadFrom(io.LimitReader(r, tma.MaxExtractInput+1))
	if err != nil {
		return nil, err
	}
	if n > tma.MaxExtractInput {
		return nil, tooLarge()
	}
	return buf.Bytes(), nil
}

// text extracts plain text and CSV.
func (x *TextExtractor) text(contentType string, data []byte, w *textBuilder) error {
	s, err := decodeText(contentType, data)
	if err != nil {
		return err
	}
	w.write(s)
	return nil
}

// markdownText extracts the visible text of Markdown with docs-engine, the
// renderer of the wiki, so that a document and a wiki page with the same
// source index the same. A file too large or too deeply nested for the
// renderer is indexed as plain text instead: its words are still there.
func (x *TextExtractor) markdownText(contentType string, data []byte, w *textBuilder) error {
	s, err := decodeText(contentType, data)
	if err != nil {
		return err
	}
	res, err := x.markdown.Render([]byte(s), docsengine.Options{})
	var le *docsengine.LimitError
	switch {
	case errors.As(err, &le):
		w.write(s)
	case err != nil:
		return tma.Errorf(tma.EINVALID, "The Markdown file could not be read.")
	default:
		w.write(res.Text)
	}
	return nil
}
