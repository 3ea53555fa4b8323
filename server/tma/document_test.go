package tma_test

import (
	"bytes"
	"context"
	"io"
	"strings"
	"testing"

	"github.com/tma-portal/tma/server/tma"
)

func TestCleanFileName(t *testing.T) {
	for _, tc := range []struct {
		in, want string // want "" for EINVALID
	}{
		{"Bericht.pdf", "Bericht.pdf"},
		{"../../etc/passwd", "passwd"},
		{"a\x00b.pdf", "ab.pdf"},
		{"  .. ", ""},
		{"C:\\Users\\x\\Bericht über Müller.pdf", "Bericht über Müller.pdf"},
		{"/", ""},
		{"", ""},
		{"dir/", "dir"},
		{" .hidden. ", "hidden"},
		{"evil\u202Efdp.exe", "evilfdp.exe"}, // right-to-left override
		{"tab\there.txt", "tabhere.txt"},
		{"bad\xffutf8.pdf", ""},
		{strings.Repeat("ä", 200) + ".pdf", strings.Repeat("ä", 127)}, // 255 bytes at most, whole runes
	} {
		t.Run(tc.in, func(t *testing.T) {
			got, err := tma.CleanFileName(tc.in)
			if tc.want == "" {
				if tma.ErrorCode(err) != tma.EINVALID {
					t.Errorf("CleanFileName(%q) = %q, %v; want EINVALID", tc.in, got, err)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Errorf("CleanFileName(%q) = %q, %v; want %q", tc.in, got, err, tc.want)
			}
		})
	}
}

func TestCheckDocumentType(t *testing.T) {
	for _, tc := range []struct {
		name    string
		allowed []string
		typ     string
		ok      bool
	}{
		{"pdf by default", nil, "application/pdf", true},
		{"parameters ignored", nil, "text/plain; charset=utf-8", true},
		{"upper case", nil, "Application/PDF", true},
		{"html refused by default", nil, "text/html; charset=utf-8", false},
		{"svg refused by default", nil, "image/svg+xml", false},
		{"empty type", nil, "", false},
		{"octet stream", nil, "application/octet-stream", false},
		{"tenant list replaces the default", []string{"text/html"}, "application/pdf", false},
		{"tenant allows html", []string{"text/html"}, "text/html; charset=utf-8", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tma.CheckDocumentType(tc.allowed, tc.typ)
			if tc.ok != (err == nil) || (err != nil && tma.ErrorCode(err) != tma.EINVALID) {
				t.Errorf("CheckDocumentType(%v, %q) = %v", tc.allowed, tc.typ, err)
			}
		})
	}
}

func TestCleanDocumentTypes(t *testing.T) {
	got, err := tma.CleanDocumentTypes([]string{" Image/PNG", "application/pdf", "", "image/png"})
	if err != nil || strings.Join(got, ",") != "application/pdf,image/png" {
		t.Errorf("got %q, %v", got, err)
	}
	for _, bad := range []string{"text", "text/*", "*/*", "text/html; charset=utf-8", "a/b/c", "/pdf", "text/ html"} {
		if _, err := tma.CleanDocumentTypes([]string{bad}); tma.ErrorCode(err) != tma.EINVALID {
			t.Errorf("%q: %v, want EINVALID", bad, err)
		}
	}
}

func TestPreviewOf(t *testing.T) {
	for _, tc := range []struct {
		name, typ string
		want      tma.Preview
	}{
		{"a.pdf", "application/pdf", tma.PreviewPDF},
		{"A.PDF", "application/pdf", tma.PreviewPDF},
		{"photo.jpeg", "image/jpeg", tma.PreviewImage},
		{"photo.jpg", "image/jpeg", tma.PreviewImage},
		{"notes.txt", "text/plain; charset=utf-8", tma.PreviewText},
		{"table.csv", "text/csv", tma.PreviewText},
		{"pdf named png.png", "application/pdf", tma.PreviewNone},
		{"page.pdf", "text/html; charset=utf-8", tma.PreviewNone},
		{"page.html", "text/html", tma.PreviewNone},
		{"drawing.svg", "image/svg+xml", tma.PreviewNone},
		{"report.docx", "application/vnd.openxmlformats-officedocument.wordprocessingml.document", tma.PreviewNone},
		{"noext", "application/pdf", tma.PreviewNone},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := tma.PreviewOf(tc.name, tc.typ); got != tc.want {
				t.Errorf("PreviewOf(%q, %q) = %q, want %q", tc.name, tc.typ, got, tc.want)
			}
		})
	}
}

// memStore is a blob store in memory that counts range opens.
type memStore struct {
	tma.BlobStore
	blobs map[string][]byte
	opens int
}

func (m *memStore) OpenRange(_ context.Context, id string, off, n int64) (io.ReadCloser, error) {
	m.opens++
	b, ok := m.blobs[id]
	if !ok {
		return nil, tma.Errorf(tma.ENOTFOUND, "Blob not found.")
	}
	b = b[off:]
	if n >= 0 && n < int64(len(b)) {
		b = b[:n]
	}
	return io.NopCloser(bytes.NewReader(b)), nil
}

func TestBlobReaderAt(t *testing.T) {
	data := make([]byte, 1000)
	for i := range data {
		data[i] = byte(i * 7)
	}
	store := &memStore{blobs: map[string][]byte{"b": data}}
	ra := tma.NewBlobReaderAt(context.Background(), store, "b", int64(len(data)))
	defer ra.Close()

	// Sequential reads, as a stream reader makes them: one open.
	var got []byte
	p := make([]byte, 64)
	for off := int64(0); ; {
		n, err := ra.ReadAt(p, off)
		got = append(got, p[:n]...)
		off += int64(n)
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	if !bytes.Equal(got, data) || store.opens != 1 {
		t.Fatalf("read %d bytes with %d opens, want %d with 1", len(got), store.opens, len(data))
	}
	// A seek reopens once; reads that go on from there do not.
	store.opens = 0
	for _, off := range []int64{500, 564, 628} {
		if n, err := ra.ReadAt(p, off); n != 64 || err != nil || !bytes.Equal(p, data[off:off+64]) {
			t.Fatalf("ReadAt %d: %d, %v", off, n, err)
		}
	}
	if store.opens != 1 {
		t.Errorf("%d opens after one seek, want 1", store.opens)
	}
	// The end: a short read ends in io.EOF, a read past it too.
	if n, err := ra.ReadAt(p, 980); n != 20 || err != io.EOF || !bytes.Equal(p[:20], data[980:]) {
		t.Errorf("ReadAt at the end: %d, %v", n, err)
	}
	if n, err := ra.ReadAt(p, 1000); n != 0 || err != io.EOF {
		t.Errorf("ReadAt past the end: %d, %v", n, err)
	}
	// A blob shorter than its recorded size ends early in io.EOF.
	short := tma.NewBlobReaderAt(context.Background(), store, "b", 2000)
	defer short.Close()
	if n, err := short.ReadAt(make([]byte, 100), 950); n != 50 || err != io.EOF {
		t.Errorf("short blob: %d, %v", n, err)
	}
	if _, err := tma.NewBlobReaderAt(context.Background(), store, "missing", 10).ReadAt(p, 0); tma.ErrorCode(err) != tma.ENOTFOUND {
		t.Errorf("missing blob: %v", err)
	}
}
