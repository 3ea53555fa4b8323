package extract

import (
	"archive/zip"
	"bytes"
	"context"
	"encoding/xml"
	"errors"
	"io"
	"path"
	"slices"
	"strings"

	"golang.org/x/net/html/charset"

	"github.com/tma-portal/tma/server/tma"
)

// Limits of zip containers (DOCX, ODT, XLSX). A zip bomb is a small file
// that unpacks to gigabytes, or a directory of millions of tiny entries;
// both are refused before anything is decompressed where possible, and
// decompression is counted as it happens.
const (
	// maxZipEntries bounds the central directory. archive/zip keeps a
	// struct per entry and reads every entry header present, whatever
	// count the directory's end record claims, so the headers are counted
	// by their signature first. Real documents have tens to hundreds.
	maxZipEntries = 10_000
	// maxZipParts is how many parts of one document are read.
	maxZipParts = 200
	// maxUnzipped is the most bytes decompressed from one document.
	maxUnzipped = 128 << 20
)

var errTooMuchUnzipped = tma.Errorf(tma.ETOOLARGE, "The file unpacks to more than %d MiB; its text is not searched.", maxUnzipped>>20)

// openZip opens a document's zip container after checking its size.
func openZip(data []byte) (*zip.Reader, error) {
	if bytes.Count(data, []byte("PK\x01\x02")) > maxZipEntries {
		return nil, tma.Errorf(tma.ETOOLARGE, "The file holds more than %d parts; its text is not searched.", maxZipEntries)
	}
	zr, err := zip.NewReader(bytes.NewReader(data), int64(len(data)))
	if err != nil {
		return nil, tma.Errorf(tma.EINVALID, "The file is not a valid document (broken zip container).")
	}
	return zr, nil
}

// unzipBudget counts decompressed bytes across the parts of one document.
type unzipBudget struct{ left int64 }

// open opens a part, reading at most what is left of the budget.
func (b *unzipBudget) open(f *zip.File) (io.ReadCloser, error) {
	if f.UncompressedSize64 > uint64(b.left) {
		return nil, errTooMuchUnzipped
	}
	rc, err := f.Open()
	if err != nil {
		return nil, tma.Errorf(tma.EINVALID, "The file is not a valid document (unreadable part).")
	}
	return &budgetReader{rc: rc, b: b}, nil
}

type budgetReader struct {
	rc io.ReadCloser
	b  *unzipBudget
}

func (r *budgetReader) Read(p []byte) (int, error) {
	if r.b.left <= 0 {
		return 0, errTooMuchUnzipped
	}
	if int64(len(p)) > r.b.left {
		p = p[:r.b.left]
	}
	n, err := r.rc.Read(p)
	r.b.left -= int64(n)
	if err != nil && !errors.Is(err, io.EOF) {
		// zip.ErrFormat, zip.ErrChecksum, flate.CorruptInputError
		return n, tma.Errorf(tma.EINVALID, "The file is not a valid document (damaged part).")
	}
	return n, err
}

func (r *budgetReader) Close() error { return r.rc.Close() }

// xmlPart streams the XML of one part through handle, which gets every
// token. Decoding stops once w is full, ctx ends, or the budget is spent.
func xmlPart(ctx context.Context, f *zip.File, budget *unzipBudget, w *textBuilder, handle func(xml.Token)) error {
	rc, err := budget.open(f)
	if err != nil {
		return err
	}
	defer rc.Close()
	d := xml.NewDecoder(rc)
	d.CharsetReader = charset.NewReaderLabel
	for i := 0; !w.full; i++ {
		if i%4096 == 0 {
			if err := ctx.Err(); err != nil {
				return err
			}
		}
		tok, err := d.Token()
		if errors.Is(err, io.EOF) {
			return nil
		}
		var te *tma.Error
		if errors.As(err, &te) {
			return err
		}
		if err != nil {
			return tma.Errorf(tma.EINVALID, "The file is not a valid document (malformed XML).")
		}
		handle(tok)
	}
	return nil
}

// docxParts are the parts of a DOCX with text, in the order they are
// read: the body, then notes and comments, then headers and footers.
func docxParts(zr *zip.Reader) []*zip.File {
	rank := func(name string) int {
		switch {
		case name == "word/document.xml":
			return 0
		case name == "word/footnotes.xml", name == "word/endnotes.xml", name == "word/comments.xml":
			return 1
		case strings.HasPrefix(name, "word/header") && path.Ext(name) == ".xml":
			return 2
		case strings.HasPrefix(name, "word/footer") && path.Ext(name) == ".xml":
			return 3
		}
		return -1
	}
	var parts []*zip.File
	for _, f := range zr.File {
		if rank(f.Name) >= 0 {
			parts = append(parts, f)
		}
	}
	slices.SortStableFunc(parts, func(a, b *zip.File) int {
		if d := rank(a.Name) - rank(b.Name); d != 0 {
			return d
		}
		return strings.Compare(a.Name, b.Name)
	})
	return parts
}

// docxText extracts the text of a Word document (WordprocessingML): the
// runs' text (w:t, and a:t of text boxes) with tabs and breaks, one line
// per paragraph and table row, cells separated by tabs. Deleted text of
// tracked changes (w:delText) and field codes (w:instrText) are not text a
// reader sees and are skipped.
func docxText(ctx context.Context, data []byte, w *textBuilder) error {
	zr, err := openZip(data)
	if err != nil {
		return err
	}
	parts := docxParts(zr)
	if len(parts) == 0 || parts[0].Name != "word/document.xml" {
		return tma.Errorf(tma.EINVALID, "The file is not a valid Word document (no word/document.xml).")
	}
	budget := &unzipBudget{left: maxUnzipped}
	for i, f := range parts {
		if i == maxZipParts || w.full {
			break
		}
		inRun, inText, inCell := 0, 0, 0
		err := xmlPart(ctx, f, budget, w, func(tok xml.Token) {
			switch t := tok.(type) {
			case xml.StartElement:
				switch t.Name.Local {
				case "r":
					inRun++
				case "t":
					inText++
				case "tc":
					inCell++
				case "tab": // in a run; w:tabs/w:tab in paragraph properties are tab stops
					if inRun > 0 {
						w.tab()
					}
				case "br", "cr":
					if inRun > 0 {
						w.endLine()
					}
				}
			case xml.EndElement:
				switch t.Name.Local {
				case "r":
					inRun--
				case "t":
					inText--
				case "p":
					w.endPara(inCell > 0)
				case "tr":
					w.endLine()
				case "tc":
					inCell--
					w.endCell()
				}
			case xml.CharData:
				if inText > 0 {
					w.write(string(t))
				}
			}
		})
		if err != nil {
			return err
		}
		w.endLine()
	}
	return nil
}

// odfText extracts the text of an OpenDocument file (text, spreadsheet or
// presentation): the character data inside paragraphs and headings
// (text:p, text:h), with text:s, text:tab and text:line-break, one line per
// paragraph and table row, cells separated by tabs.
func odfText(ctx context.Context, data []byte, w *textBuilder) error {
	zr, err := openZip(data)
	if err != nil {
		return err
	}
	i := slices.IndexFunc(zr.File, func(f *zip.File) bool { return f.Name == "content.xml" })
	if i < 0 {
		return tma.Errorf(tma.EINVALID, "The file is not a valid OpenDocument file (no content.xml).")
	}
	const textNS = "urn:oasis:names:tc:opendocument:xmlns:text:1.0"
	const tableNS = "urn:oasis:names:tc:opendocument:xmlns:table:1.0"
	inPara, inCell := 0, 0
	return xmlPart(ctx, zr.File[i], &unzipBudget{left: maxUnzipped}, w, func(tok xml.Token) {
		switch t := tok.(type) {
		case xml.StartElement:
			if t.Name.Space == tableNS && t.Name.Local == "table-cell" {
				inCell++
			}
			if t.Name.Space != textNS {
				return
			}
			switch t.Name.Local {
			case "p", "h":
				inPara++
			case "s":
				w.write(" ") // text:c more spaces would collapse anyway
			case "tab":
				w.tab()
			case "line-break":
				w.endLine()
			}
		case xml.EndElement:
			switch {
			case t.Name.Space == textNS && (t.Name.Local == "p" || t.Name.Local == "h"):
				inPara--
				w.endPara(inCell > 0)
			case t.Name.Space == tableNS && t.Name.Local == "table-cell":
				inCell--
				w.endCell()
			case t.Name.Space == tableNS && t.Name.Local == "table-row":
				w.endLine()
			}
		case xml.CharData:
			if inPara > 0 {
				w.write(string(t))
			}
		}
	})
}
