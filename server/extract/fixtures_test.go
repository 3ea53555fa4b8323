package extract_test

// The fixtures of the extraction tests are made here, by the test itself,
// from text written by hand: nothing is copied from elsewhere, and nothing
// binary is committed. Each helper writes the smallest file its reader
// accepts, the way the real producer lays it out (Word's parts and
// namespaces, LibreOffice's stored "mimetype" first, fpdf with an embedded
// UTF-8 font, excelize's own workbook).

import (
	"archive/zip"
	"bytes"
	"compress/flate"
	"hash/crc32"
	"strings"
	"testing"

	"github.com/go-pdf/fpdf"
	"github.com/xuri/excelize/v2"
	"golang.org/x/image/font/gofont/goregular"
)

// zipFile is one entry of a zip written by makeZip.
type zipFile struct {
	name, body string
	store      bool // no compression (ODF's mimetype)
}

func makeZip(tb testing.TB, files ...zipFile) []byte {
	tb.Helper()
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	for _, f := range files {
		method := zip.Deflate
		if f.store {
			method = zip.Store
		}
		w, err := zw.CreateHeader(&zip.FileHeader{Name: f.name, Method: method})
		if err != nil {
			tb.Fatal(err)
		}
		if _, err := w.Write([]byte(f.body)); err != nil {
			tb.Fatal(err)
		}
	}
	if err := zw.Close(); err != nil {
		tb.Fatal(err)
	}
	return buf.Bytes()
}

// makeDOCX wraps WordprocessingML body content in a minimal Word document.
func makeDOCX(tb testing.TB, body string) []byte {
	tb.Helper()
	return makeZip(tb,
		zipFile{name: "[Content_Types].xml", body: `<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types"><Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/><Default Extension="xml" ContentType="application/xml"/><Override PartName="/word/document.xml" ContentType="application/vnd.openxmlformats-officedocument.wordprocessingml.document.main+xml"/></Types>`},
		zipFile{name: "_rels/.rels", body: `<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships"><Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/officeDocument" Target="word/document.xml"/></Relationships>`},
		zipFile{name: "word/document.xml", body: `<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<w:document xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main"><w:body>` + body + `</w:body></w:document>`},
	)
}

// makeODT wraps ODF body content in a minimal OpenDocument text.
func makeODT(tb testing.TB, body string) []byte {
	tb.Helper()
	return makeZip(tb,
		zipFile{name: "mimetype", body: "application/vnd.oasis.opendocument.text", store: true},
		zipFile{name: "META-INF/manifest.xml", body: `<?xml version="1.0" encoding="UTF-8"?>
<manifest:manifest xmlns:manifest="urn:oasis:names:tc:opendocument:xmlns:manifest:1.0" manifest:version="1.2"><manifest:file-entry manifest:full-path="/" manifest:media-type="application/vnd.oasis.opendocument.text"/><manifest:file-entry manifest:full-path="content.xml" manifest:media-type="text/xml"/></manifest:manifest>`},
		zipFile{name: "content.xml", body: `<?xml version="1.0" encoding="UTF-8"?>
<office:document-content xmlns:office="urn:oasis:names:tc:opendocument:xmlns:office:1.0" xmlns:text="urn:oasis:names:tc:opendocument:xmlns:text:1.0" xmlns:table="urn:oasis:names:tc:opendocument:xmlns:table:1.0" office:version="1.2"><office:body><office:text>` + body + `</office:text></office:body></office:document-content>`},
	)
}

// makeXLSX writes a workbook with excelize: each sheet's rows of cells.
func makeXLSX(tb testing.TB, sheets []string, rows map[string][][]any) []byte {
	tb.Helper()
	f := excelize.NewFile()
	defer f.Close()
	for i, name := range sheets {
		if i == 0 {
			if err := f.SetSheetName("Sheet1", name); err != nil {
				tb.Fatal(err)
			}
		} else if _, err := f.NewSheet(name); err != nil {
			tb.Fatal(err)
		}
		for r, row := range rows[name] {
			cell, _ := excelize.CoordinatesToCellName(1, r+1)
			if err := f.SetSheetRow(name, cell, &row); err != nil {
				tb.Fatal(err)
			}
		}
	}
	buf, err := f.WriteToBuffer()
	if err != nil {
		tb.Fatal(err)
	}
	return buf.Bytes()
}

// makePDF writes a two-page PDF with fpdf, in the Go font embedded as
// UTF-8 TrueType (as server/pdf does), one line per entry.
func makePDF(tb testing.TB, pages ...[]string) []byte {
	tb.Helper()
	p := fpdf.New("P", "mm", "A4", "")
	p.AddUTF8FontFromBytes("go", "", goregular.TTF)
	for _, lines := range pages {
		p.AddPage()
		p.SetFont("go", "", 12)
		for _, l := range lines {
			p.Cell(0, 10, l)
			p.Ln(10)
		}
	}
	var buf bytes.Buffer
	if err := p.Output(&buf); err != nil {
		tb.Fatal(err)
	}
	return buf.Bytes()
}

// makeEML joins header and body lines with CRLF, as mail is sent.
func makeEML(lines ...string) []byte {
	return []byte(strings.Join(lines, "\r\n") + "\r\n")
}

// zeroDeflate returns a raw deflate stream that inflates to n zero bytes
// (n a multiple of 1 MiB), and their CRC-32, without compressing n bytes:
// one compressed MiB, sync-flushed so that it ends on a byte boundary and
// refers to nothing before it, repeated, then a final empty stored block.
func zeroDeflate(tb testing.TB, n int) ([]byte, uint32) {
	tb.Helper()
	const mib = 1 << 20
	var chunk bytes.Buffer
	fw, err := flate.NewWriter(&chunk, flate.BestCompression)
	if err != nil {
		tb.Fatal(err)
	}
	zero := make([]byte, mib)
	if _, err := fw.Write(zero); err != nil {
		tb.Fatal(err)
	}
	if err := fw.Flush(); err != nil {
		tb.Fatal(err)
	}
	var out bytes.Buffer
	var crc uint32
	for range n / mib {
		out.Write(chunk.Bytes())
		crc = crc32.Update(crc, crc32.IEEETable, zero)
	}
	out.Write([]byte{0x01, 0x00, 0x00, 0xff, 0xff}) // BFINAL, stored, LEN 0
	return out.Bytes(), crc
}

// bombs caches zeroDeflate's streams by size; the tests that use them do
// not run in parallel.
var bombs = map[int]struct {
	data []byte
	crc  uint32
}{}

// makeBomb writes a zip whose entry name inflates to n zero bytes from
// about n/1000 compressed bytes. If declared is not n, the directory lies
// about the size.
func makeBomb(tb testing.TB, name string, n int, declared uint64, extra ...zipFile) []byte {
	tb.Helper()
	bomb, ok := bombs[n]
	if !ok {
		bomb.data, bomb.crc = zeroDeflate(tb, n)
		bombs[n] = bomb
	}
	data, crc := bomb.data, bomb.crc
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	for _, f := range extra {
		w, err := zw.Create(f.name)
		if err != nil {
			tb.Fatal(err)
		}
		if _, err := w.Write([]byte(f.body)); err != nil {
			tb.Fatal(err)
		}
	}
	w, err := zw.CreateRaw(&zip.FileHeader{
		Name: name, Method: zip.Deflate, CRC32: crc,
		CompressedSize64: uint64(len(data)), UncompressedSize64: declared,
	})
	if err != nil {
		tb.Fatal(err)
	}
	if _, err := w.Write(data); err != nil {
		tb.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		tb.Fatal(err)
	}
	return buf.Bytes()
}
