package web

import (
	"strings"
	"testing"
)

func TestParseRange(t *testing.T) {
	tests := []struct {
		header string
		size   int64
		off, n int64
		kind   rangeKind
	}{
		{"bytes=0-99", 1000, 0, 100, rangePartial},
		{"bytes=100-", 1000, 100, 900, rangePartial},
		{"bytes=-10", 1000, 990, 10, rangePartial},
		{"bytes=-5000", 1000, 0, 1000, rangePartial},
		{"bytes=990-5000", 1000, 990, 10, rangePartial},
		{"BYTES=1-1", 1000, 1, 1, rangePartial},
		{"bytes=1000-", 1000, 0, 0, rangeUnsatisfiable},
		{"bytes=-0", 1000, 0, 0, rangeUnsatisfiable},
		{"bytes=5-1", 1000, 0, 0, rangeNone},
		{"bytes=0-1,5-6", 1000, 0, 0, rangeNone},
		{"bytes=a-b", 1000, 0, 0, rangeNone},
		{"bytes=+1-2", 1000, 0, 0, rangeNone},
		{"items=0-1", 1000, 0, 0, rangeNone},
		{"bytes=99999999999999999999-", 1000, 0, 0, rangeNone},
	}
	for _, tc := range tests {
		t.Run(tc.header, func(t *testing.T) {
			off, n, kind := parseRange(tc.header, tc.size)
			if kind != tc.kind || (kind == rangePartial && (off != tc.off || n != tc.n)) {
				t.Fatalf("parseRange(%q, %d) = %d, %d, %d; want %d, %d, %d", tc.header, tc.size, off, n, kind, tc.off, tc.n, tc.kind)
			}
		})
	}
}

func FuzzParseRange(f *testing.F) {
	for _, s := range []string{"bytes=0-1", "bytes=-1", "bytes=1-", "bytes=,", "bytes=-"} {
		f.Add(s, int64(100))
	}
	f.Fuzz(func(t *testing.T, header string, size int64) {
		if size < 0 {
			size = -size
		}
		off, n, kind := parseRange(header, size)
		if kind == rangePartial && (off < 0 || n < 1 || off+n > size) {
			t.Fatalf("parseRange(%q, %d) = %d, %d outside the body", header, size, off, n)
		}
	})
}

func TestContentDisposition(t *testing.T) {
	tests := []struct{ name, want string }{
		{"Bericht.pdf", `attachment; filename="Bericht.pdf"; filename*=UTF-8''Bericht.pdf`},
		{"Gesprächsnotiz Süd.pdf", `attachment; filename="Gespraechsnotiz Sued.pdf"; filename*=UTF-8''Gespr%C3%A4chsnotiz%20S%C3%BCd.pdf`},
		{"a\"b\\c;d.txt", `attachment; filename="a_b_c;d.txt"; filename*=UTF-8''a%22b%5Cc%3Bd.txt`},
		{"x\r\nSet-Cookie: y", `attachment; filename="x__Set-Cookie: y"; filename*=UTF-8''x%0D%0ASet-Cookie%3A%20y`},
		{"日本.txt", `attachment; filename="__.txt"; filename*=UTF-8''%E6%97%A5%E6%9C%AC.txt`},
	}
	for _, tc := range tests {
		got := contentDisposition("attachment", tc.name)
		if got != tc.want {
			t.Errorf("contentDisposition(%q) =\n %s\nwant\n %s", tc.name, got, tc.want)
		}
		if strings.ContainsAny(got, "\r\n\x00") {
			t.Errorf("%q: control characters in the header", tc.name)
		}
	}
}

func TestStreamRouteMatch(t *testing.T) {
	r := newStreamRoute("POST", "/cases/:id/documents")
	for path, want := range map[string]bool{
		"/cases/abc/documents":   true,
		"/CASES/abc/Documents":   true, // Fiber's router ignores case
		"/cases//documents":      false,
		"/cases/abc/documents/":  false,
		"/cases/abc/notes":       false,
		"/cases/abc/documents/x": false,
	} {
		if got := r.match("POST", path); got != want {
			t.Errorf("match(%q) = %v, want %v", path, got, want)
		}
	}
	if r.match("GET", "/cases/abc/documents") {
		t.Error("GET matched a POST route")
	}
}

func TestFormatSize(t *testing.T) {
	for n, want := range map[int64]string{512 << 20: "512 MiB", 1 << 20: "1 MiB", 1536: "1.5 KiB", 100: "100 B", 3 << 30: "3 GiB"} {
		if got := formatSize(n); got != want {
			t.Errorf("formatSize(%d) = %q, want %q", n, got, want)
		}
	}
}
