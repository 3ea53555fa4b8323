package extract_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
	"unicode"
	"unicode/utf8"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/tma-portal/tma/server/extract"
	"github.com/tma-portal/tma/server/tma"
)

const (
	docxType = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
	odtType  = "application/vnd.oasis.opendocument.text"
	xlsxType = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
)

// The sentence every format carries: umlauts, an en dash and a euro sign.
const threat = "Drohung gegen Jürgen Müller – Schaden 1.500 €"

// pdftotextPath is the pdftotext of scripts/test.sh (TMA_PDFTOTEXT), or
// the one in PATH; "" if there is none.
func pdftotextPath() string {
	if p := os.Getenv("TMA_PDFTOTEXT"); p != "" {
		return p
	}
	p, _ := exec.LookPath("pdftotext")
	return p
}

// fakeProgram writes an executable shell script.
func fakeProgram(t *testing.T, dir, script string) string {
	t.Helper()
	p := filepath.Join(dir, "fake-pdftotext")
	if err := os.WriteFile(p, []byte("#!/bin/sh\n"+script), 0o755); err != nil {
		t.Fatal(err)
	}
	return p
}

// checkNormalised fails unless text keeps the output contract.
func checkNormalised(t *testing.T, text string) {
	t.Helper()
	if !utf8.ValidString(text) {
		t.Errorf("text is not valid UTF-8: %q", text)
	}
	if len(text) > tma.MaxExtractText {
		t.Errorf("text has %d bytes, over the limit of %d", len(text), tma.MaxExtractText)
	}
	for _, r := range text {
		if (unicode.IsControl(r) && r != '\n' && r != '\t') || unicode.Is(unicode.Cf, r) {
			t.Errorf("text holds %U: %q", r, text)
			break
		}
	}
	for _, line := range strings.Split(text, "\n") {
		if line == "" || strings.TrimSpace(line) != line || strings.Contains(line, "  ") {
			t.Errorf("line not normalised: %q", line)
		}
	}
}

func TestDocumentTextExtraction(t *testing.T) {
	scratch := t.TempDir()
	pdftotext := pdftotextPath()
	fixtures := []struct {
		name, contentType string
		data              []byte
		exact             string   // the whole text, if set
		want, not         []string // substrings that must (not) be there
		needs             string   // a program the fixture needs
	}{{
		name: "PDF", contentType: "application/pdf", needs: pdftotext,
		data: makePDF(t, []string{"Fallakte 2026-17", threat}, []string{"Seite zwei: Straße, Größe, Ärger"}),
		want: []string{"Fallakte 2026-17", threat, "Seite zwei: Straße, Größe, Ärger"},
	}, {
		name: "DOCX", contentType: docxType,
		data: makeDOCX(t, `<w:p><w:r><w:t>`+threat+`</w:t></w:r></w:p>`+
			`<w:p><w:r><w:t>Zwei</w:t></w:r><w:r><w:t xml:space="preserve">teilig </w:t></w:r><w:r><w:tab/><w:t>nach Tab</w:t><w:br/><w:t>neue Zeile</w:t></w:r></w:p>`+
			`<w:p><w:r><w:delText>GELÖSCHT</w:delText></w:r><w:r><w:instrText>HYPERLINK "http://x"</w:instrText></w:r></w:p>`+
			`<w:tbl><w:tr><w:tc><w:p><w:r><w:t>Spalte A</w:t></w:r></w:p></w:tc><w:tc><w:p><w:r><w:t>Spalte B</w:t></w:r></w:p></w:tc></w:tr>`+
			`<w:tr><w:tc><w:p><w:r><w:t>1</w:t></w:r></w:p></w:tc><w:tc><w:p><w:r><w:t>2</w:t></w:r></w:p></w:tc></w:tr></w:tbl>`),
		exact: threat + "\nZweiteilig\tnach Tab\nneue Zeile\nSpalte A\tSpalte B\n1\t2",
		not:   []string{"GELÖSCHT", "HYPERLINK", "<w:"},
	}, {
		name: "ODT", contentType: odtType,
		data: makeODT(t, `<text:h text:outline-level="1">Überschrift</text:h>`+
			`<text:p>Drohung gegen <text:span>Jürgen Müller</text:span><text:s text:c="3"/>– Schaden 1.500 €</text:p>`+
			`<text:p>vor<text:tab/>nach<text:line-break/>Umbruch</text:p>`+
			`<table:table><table:table-row><table:table-cell><text:p>Zelle 1</text:p></table:table-cell><table:table-cell><text:p>Zelle 2</text:p></table:table-cell></table:table-row></table:table>`),
		exact: "Überschrift\n" + threat + "\nvor\tnach\nUmbruch\nZelle 1\tZelle 2",
	}, {
		name: "XLSX", contentType: xlsxType,
		data: makeXLSX(t, []string{"Schäden", "Notizen"}, map[string][][]any{
			"Schäden": {{"Name", "Betrag"}, {"Jürgen Müller", 1500}},
			"Notizen": {{threat}},
		}),
		exact: "Schäden\nName\tBetrag\nJürgen Müller\t1500\nNotizen\n" + threat,
	}, {
		name: "TXT UTF-8 with control characters", contentType: "text/plain; charset=utf-8",
		data:  []byte("\ufeffZeile 1\x00\x07mit\u202eSteuer\u200bzeichen\r\n\r\n\n  Zeile \t  2  \n" + threat),
		exact: "Zeile 1 mitSteuerzeichen\nZeile\t2\n" + threat,
	}, {
		name: "TXT ISO-8859-1 by charset", contentType: "text/plain; charset=iso-8859-1",
		data:  []byte("Gr\xfc\xdfe aus M\xfcnchen"),
		exact: "Grüße aus München",
	}, {
		name: "TXT Windows-1252 without charset", contentType: "text/plain",
		data:  []byte("Schaden \x80 1.500 \x96 gesch\xe4tzt"),
		exact: "Schaden € 1.500 – geschätzt",
	}, {
		name: "CSV", contentType: "text/csv",
		data: []byte("Name;Betrag\nJürgen Müller;1500\n"),
		want: []string{"Jürgen Müller;1500"},
	}, {
		name: "Markdown", contentType: "text/markdown; charset=utf-8",
		data: []byte("# Lagebild\n\nEin **fetter** Hinweis und ein [Verweis](http://x).\n\n- " + threat + "\n\n<script>alert('MDLEAK')</script>\n"),
		want: []string{"Lagebild", "Ein fetter Hinweis und ein Verweis.", threat},
		not:  []string{"**", "](", "http://x", "MDLEAK", "<"},
	}, {
		name: "HTML", contentType: "text/html",
		data: []byte(`<!DOCTYPE html><html><head><meta charset="iso-8859-1"><title>Bericht</title>` +
			`<style>.x { color: red }</style><script>var geheim = "SCRIPTLEAK";</script></head>` +
			"<body><h1>Vorfall</h1><p>J\xfcrgen&nbsp;M\xfcller &amp; Co.\nschreibt</p>" +
			`<noscript><p>NOSCRIPTLEAK</p></noscript><template>TEMPLATELEAK</template>` +
			"<table><tr><td>A1<td>B1</tr></table><pre>a\n  b</pre><!-- COMMENTLEAK --></body></html>"),
		exact: "Bericht\nVorfall\nJürgen Müller & Co. schreibt\nA1\tB1\na\nb",
		not:   []string{"SCRIPTLEAK", "color", "NOSCRIPTLEAK", "TEMPLATELEAK", "COMMENTLEAK", "<", "&amp;"},
	}, {
		name: "EML quoted-printable ISO-8859-1", contentType: "message/rfc822",
		data: makeEML(
			"From: =?iso-8859-1?Q?J=FCrgen_M=FCller?= <jm@example.org>",
			"To: Fallteam <team@example.org>",
			"Subject: =?iso-8859-1?Q?Drohung_gegen_J=FCrgen_M=FCller?=",
			"Date: Mon, 2 Mar 2026 10:00:00 +0100",
			"MIME-Version: 1.0",
			`Content-Type: multipart/mixed; boundary="mix"`,
			"",
			"--mix",
			`Content-Type: multipart/alternative; boundary="alt"`,
			"",
			"--alt",
			"Content-Type: text/plain; charset=iso-8859-1",
			"Content-Transfer-Encoding: quoted-printable",
			"",
			"Schaden gesch=E4tzt: 1.500 Euro, die Stra=DFe ist gesperrt, und diese Zeile=",
			" ist lang.",
			"--alt",
			"Content-Type: text/html; charset=iso-8859-1",
			"",
			"<p>HTMLPART</p>",
			"--alt--",
			"--mix",
			"Content-Type: application/octet-stream",
			`Content-Disposition: attachment; filename="=?iso-8859-1?Q?Anh=E4nge.bin?="`,
			"Content-Transfer-Encoding: base64",
			"",
			"QVRUQUNITUVOVExFQUs=",
			"--mix--"),
		want: []string{"From: Jürgen Müller <jm@example.org>", "To: Fallteam <team@example.org>",
			"Subject: Drohung gegen Jürgen Müller", "Date: Mon, 2 Mar 2026",
			"Schaden geschätzt: 1.500 Euro, die Straße ist gesperrt, und diese Zeile ist lang.",
			"Attachment: Anhänge.bin"},
		not: []string{"=E4", "=?iso", "HTMLPART", "ATTACHMENTLEAK", "QVRU"},
	}, {
		name: "EML HTML only", contentType: "message/rfc822",
		data: makeEML(
			"From: a@example.org",
			"Subject: =?utf-8?B?"+"w5xiZXJibGljaw=="+"?=", // "Überblick"
			"MIME-Version: 1.0",
			"Content-Type: text/html; charset=utf-8",
			"",
			"<html><body><p>"+threat+"</p><script>MAILSCRIPTLEAK()</script></body></html>"),
		want: []string{"Subject: Überblick", threat},
		not:  []string{"MAILSCRIPTLEAK", "<p>"},
	}}

	// Nothing may be written to the temp directory, not even for a
	// moment: extraction keeps documents in memory, and pdftotext inherits
	// this TMPDIR. inotify sees files that were removed again (excelize
	// removes its spills on Close).
	tmp := t.TempDir()
	t.Setenv("TMPDIR", tmp)
	created := watchCreates(t, tmp)
	defer func() {
		if names := created(); len(names) > 0 {
			t.Errorf("extraction created files in TMPDIR: %v", names)
		}
		if entries, _ := os.ReadDir(tmp); len(entries) > 0 {
			t.Errorf("extraction left %d files in TMPDIR, among them %s", len(entries), entries[0].Name())
		}
	}()

	ctx := context.Background()
	x := extract.New(extract.Config{PDFToText: pdftotext})
	for _, fx := range fixtures {
		t.Run(fx.name, func(t *testing.T) {
			if fx.needs == "" && fx.contentType == "application/pdf" {
				t.Skip("pdftotext is not installed (scripts/pdftotext.sh installs it; make test does)")
			}
			start := time.Now()
			got, err := x.Extract(ctx, fx.contentType, bytes.NewReader(fx.data), int64(len(fx.data)))
			if err != nil {
				t.Fatalf("Extract: %v", err)
			}
			t.Logf("%d bytes → %d bytes of text in %v", len(fx.data), len(got), time.Since(start).Round(time.Millisecond))
			checkNormalised(t, got)
			if fx.exact != "" && got != fx.exact {
				t.Errorf("text = %q\nwant   %q", got, fx.exact)
			}
			for _, s := range fx.want {
				if !strings.Contains(got, s) {
					t.Errorf("text lacks %q:\n%s", s, got)
				}
			}
			for _, s := range fx.not {
				if strings.Contains(got, s) {
					t.Errorf("text holds %q:\n%s", s, got)
				}
			}
			// An unknown size reads the same.
			if again, err := x.Extract(ctx, fx.contentType, bytes.NewReader(fx.data), -1); err != nil || again != got {
				t.Errorf("with size -1: %q, %v", again, err)
			}
		})
	}

	t.Run("output cut at the limit on a rune boundary", func(t *testing.T) {
		// 3-byte runes: the limit (2 MiB) falls inside one.
		src := strings.Repeat("€", tma.MaxExtractText/3+1000)
		got, err := x.Extract(ctx, "text/plain", strings.NewReader(src), int64(len(src)))
		if err != nil {
			t.Fatal(err)
		}
		if len(got) > tma.MaxExtractText || len(got) < tma.MaxExtractText-3 || !utf8.ValidString(got) || !strings.HasPrefix(src, got) {
			t.Errorf("cut text: %d bytes (limit %d), valid %v, a prefix %v", len(got), tma.MaxExtractText, utf8.ValidString(got), strings.HasPrefix(src, got))
		}
		// The same in a DOCX, whose reader stops once the text is full.
		body := strings.Repeat("<w:p><w:r><w:t>"+threat+"</w:t></w:r></w:p>", tma.MaxExtractText/len(threat)+100)
		got, err = x.Extract(ctx, docxType, bytes.NewReader(makeDOCX(t, body)), -1)
		if err != nil || len(got) > tma.MaxExtractText || len(got) < tma.MaxExtractText-len(threat)-1 || !utf8.ValidString(got) {
			t.Errorf("cut DOCX text: %d bytes, valid %v, err %v", len(got), utf8.ValidString(got), err)
		}
	})

	t.Run("unsupported type gives no text and reads nothing", func(t *testing.T) {
		for _, ct := range []string{"image/png", "application/msword", "", "audio/mpeg"} {
			r := &countingReader{r: strings.NewReader("\x89PNG....")}
			got, err := x.Extract(ctx, ct, r, 8)
			if got != "" || err != nil || r.n != 0 {
				t.Errorf("%q: %q, %v, read %d bytes", ct, got, err, r.n)
			}
		}
	})

	t.Run("invalid files", func(t *testing.T) {
		docx := makeDOCX(t, "<w:p><w:r><w:t>x</w:t></w:r></w:p>")
		tests := []struct{ name, contentType, data string }{
			{"not a zip", docxType, "PK\x03\x04 this is not a zip archive at all"},
			{"truncated zip", docxType, string(docx[:len(docx)/2])},
			{"zip without document.xml", docxType, string(makeZip(t, zipFile{name: "other.xml", body: "<a/>"}))},
			{"malformed XML", docxType, string(makeDOCX(t, "<w:p><w:t>unclosed</w:p>"))},
			{"ODT without content.xml", odtType, string(makeZip(t, zipFile{name: "mimetype", body: odtType, store: true}))},
			{"corrupt XLSX", xlsxType, string(docx[:len(docx)-30])},
			{"corrupt PDF", "application/pdf", "%PDF-1.4\n this is not a PDF\n%%EOF"},
			{"unknown charset", "text/plain; charset=x-klingon", "Qapla'"},
		}
		for _, tc := range tests {
			t.Run(tc.name, func(t *testing.T) {
				if tc.contentType == "application/pdf" && pdftotext == "" {
					t.Skip("pdftotext is not installed")
				}
				got, err := x.Extract(ctx, tc.contentType, strings.NewReader(tc.data), int64(len(tc.data)))
				if tma.ErrorCode(err) != tma.EINVALID || got != "" {
					t.Fatalf("got %q, %v; want EINVALID", got, err)
				}
				t.Logf("message: %s", tma.ErrorMessage(err))
			})
		}
	})

	t.Run("zip bombs are refused quickly", func(t *testing.T) {
		const gib = 1 << 30
		many := make([]zipFile, 10_001)
		for i := range many {
			many[i] = zipFile{name: fmt.Sprintf("word/x%d.xml", i), store: true}
		}
		tests := []struct {
			name, contentType string
			data              []byte
			code              string
		}{
			{"DOCX body inflating to 1 GiB", docxType, makeBomb(t, "word/document.xml", gib, gib), tma.ETOOLARGE},
			{"DOCX body inflating to 1 GiB while declaring 1 KiB", docxType, makeBomb(t, "word/document.xml", gib, 1024), tma.EINVALID},
			{"ODT content inflating to 1 GiB", odtType, makeBomb(t, "content.xml", gib, gib), tma.ETOOLARGE},
			{"XLSX part inflating to 1 GiB", xlsxType, makeBomb(t, "xl/worksheets/sheet1.xml", gib, gib,
				zipFile{name: "[Content_Types].xml", body: "<Types/>"}), tma.ETOOLARGE},
			{"10,001 entries", docxType, makeZip(t, append(many, zipFile{name: "word/document.xml", body: "<w:document/>"})...), tma.ETOOLARGE},
		}
		for _, tc := range tests {
			t.Run(tc.name, func(t *testing.T) {
				start := time.Now()
				got, err := x.Extract(ctx, tc.contentType, bytes.NewReader(tc.data), int64(len(tc.data)))
				took := time.Since(start)
				if tma.ErrorCode(err) != tc.code || got != "" {
					t.Fatalf("%d-byte file: got %d bytes of text, %v; want %s", len(tc.data), len(got), err, tc.code)
				}
				if took > 2*time.Second {
					t.Errorf("took %v to refuse", took)
				}
				t.Logf("%d-byte file refused in %v: %v", len(tc.data), took.Round(time.Millisecond), err)
			})
		}
	})

	t.Run("input over the limit", func(t *testing.T) {
		got, err := x.Extract(ctx, "text/plain", strings.NewReader("x"), tma.MaxExtractInput+1)
		if tma.ErrorCode(err) != tma.ETOOLARGE || got != "" {
			t.Errorf("declared size: %q, %v; want ETOOLARGE", got, err)
		}
		r := io.LimitReader(zeroReader{}, tma.MaxExtractInput+1)
		if got, err := x.Extract(ctx, "text/plain", r, -1); tma.ErrorCode(err) != tma.ETOOLARGE || got != "" {
			t.Errorf("unknown size: %q, %v; want ETOOLARGE", got, err)
		}
	})

	t.Run("pdftotext is killed at its time limit", func(t *testing.T) {
		// A stand-in for a PDF that keeps pdftotext busy: the program
		// starts a child that outlives it unless the whole process group is
		// killed, and records the child's pid.
		pidFile := filepath.Join(scratch, "sleeper.pid")
		bin := fakeProgram(t, scratch, "cat >/dev/null\nsleep 60 &\necho $! >"+pidFile+"\nwait\n")
		const limit = 500 * time.Millisecond
		slow := extract.New(extract.Config{PDFToText: bin, PDFTimeout: limit})
		pdf := makePDF(t, []string{threat})
		start := time.Now()
		got, err := slow.Extract(ctx, "application/pdf", bytes.NewReader(pdf), int64(len(pdf)))
		took := time.Since(start)
		if tma.ErrorCode(err) != tma.ETOOLARGE || got != "" {
			t.Fatalf("got %q, %v; want ETOOLARGE", got, err)
		}
		if took < limit || took > limit+2*time.Second {
			t.Errorf("returned after %v; the limit is %v", took, limit)
		}
		t.Logf("killed after %v: %v", took.Round(time.Millisecond), err)
		raw, err := os.ReadFile(pidFile)
		if err != nil {
			t.Fatal(err)
		}
		pid := strings.TrimSpace(string(raw))
		deadline := time.Now().Add(2 * time.Second)
		for alive(pid) {
			if time.Now().After(deadline) {
				t.Fatalf("the fake pdftotext's child %s still runs: the process group was not killed", pid)
			}
			time.Sleep(20 * time.Millisecond)
		}
	})

	t.Run("pdftotext runs under a memory limit", func(t *testing.T) {
		const mem = 300 << 20
		bin := fakeProgram(t, scratch, "cat >/dev/null\nulimit -v\n")
		got, err := extract.New(extract.Config{PDFToText: bin, PDFMemory: mem}).Extract(ctx, "application/pdf", strings.NewReader("%PDF"), 4)
		if err != nil || got != strconv.Itoa(mem>>10) {
			t.Errorf("ulimit -v in pdftotext: %q, %v; want %d", got, err, mem>>10)
		}
	})

	t.Run("a cancelled context ends pdftotext", func(t *testing.T) {
		bin := fakeProgram(t, scratch, "exec sleep 60\n")
		cctx, cancel := context.WithTimeout(ctx, 200*time.Millisecond)
		defer cancel()
		start := time.Now()
		_, err := extract.New(extract.Config{PDFToText: bin}).Extract(cctx, "application/pdf", strings.NewReader("%PDF"), 4)
		if !errors.Is(err, context.DeadlineExceeded) || time.Since(start) > 3*time.Second {
			t.Errorf("after %v: %v; want the context's error", time.Since(start), err)
		}
	})
}

// TestExtractPDFUnavailable: without pdftotext, PDFs give EUNAVAILABLE,
// logged once, not per document.
func TestExtractPDFUnavailable(t *testing.T) {
	var log bytes.Buffer
	x := extract.New(extract.Config{
		PDFToText: filepath.Join(t.TempDir(), "no-pdftotext"),
		Logger:    slog.New(slog.NewTextHandler(&log, nil)),
	})
	for range 3 {
		got, err := x.Extract(context.Background(), "application/pdf", strings.NewReader("%PDF-1.4"), 8)
		if tma.ErrorCode(err) != tma.EUNAVAILABLE || got != "" {
			t.Fatalf("got %q, %v; want EUNAVAILABLE", got, err)
		}
	}
	if n := strings.Count(log.String(), "\n"); n != 1 {
		t.Errorf("logged %d lines, want 1:\n%s", n, log.String())
	}
	// Other types do not need it.
	if got, err := x.Extract(context.Background(), "text/plain", strings.NewReader("ok"), 2); got != "ok" || err != nil {
		t.Errorf("text: %q, %v", got, err)
	}
}

// watchCreates watches dir with inotify; the function it returns lists
// the names created in dir (files or directories) since.
func watchCreates(t *testing.T, dir string) func() []string {
	t.Helper()
	fd, err := unix.InotifyInit1(unix.IN_NONBLOCK | unix.IN_CLOEXEC)
	if err != nil {
		t.Fatalf("inotify: %v", err)
	}
	t.Cleanup(func() { unix.Close(fd) })
	if _, err := unix.InotifyAddWatch(fd, dir, unix.IN_CREATE|unix.IN_MOVED_TO); err != nil {
		t.Fatalf("inotify: %v", err)
	}
	return func() []string {
		var names []string
		buf := make([]byte, 64<<10)
		for {
			n, err := unix.Read(fd, buf)
			if n <= 0 || err != nil {
				return names
			}
			for off := 0; off+unix.SizeofInotifyEvent <= n; {
				ev := (*unix.InotifyEvent)(unsafe.Pointer(&buf[off]))
				name := buf[off+unix.SizeofInotifyEvent : off+unix.SizeofInotifyEvent+int(ev.Len)]
				names = append(names, string(bytes.TrimRight(name, "\x00")))
				off += unix.SizeofInotifyEvent + int(ev.Len)
			}
		}
	}
}

// alive reports whether the process pid exists and is not a zombie.
func alive(pid string) bool {
	stat, err := os.ReadFile("/proc/" + pid + "/stat")
	if err != nil {
		return false
	}
	// pid (comm) state ...
	i := bytes.LastIndexByte(stat, ')')
	return i < 0 || i+2 >= len(stat) || stat[i+2] != 'Z'
}

type countingReader struct {
	r io.Reader
	n int
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += n
	return n, err
}

// zeroReader is an endless source; what it "reads" is whatever p held
// (the extractor reads into fresh buffers, so zeros).
type zeroReader struct{}

func (zeroReader) Read(p []byte) (int, error) { return len(p), nil }

// TestExtractConcurrencyLimit: extractions beyond Config.Concurrency wait
// for a slot, and give up with their context.
func TestExtractConcurrencyLimit(t *testing.T) {
	bin := fakeProgram(t, t.TempDir(), "cat >/dev/null\nsleep 1\necho langsam\n")
	x := extract.New(extract.Config{PDFToText: bin, Concurrency: 1})
	done := make(chan string)
	go func() {
		got, _ := x.Extract(context.Background(), "application/pdf", strings.NewReader("%PDF"), 4)
		done <- got
	}()
	time.Sleep(200 * time.Millisecond) // the PDF holds the one slot
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	if got, err := x.Extract(ctx, "text/plain", strings.NewReader("wartet"), 6); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("second extraction: %q, %v; want to wait and time out", got, err)
	}
	if got := <-done; got != "langsam" {
		t.Errorf("first extraction: %q", got)
	}
	if got, err := x.Extract(context.Background(), "text/plain", strings.NewReader("frei"), 4); got != "frei" || err != nil {
		t.Errorf("after the slot is free: %q, %v", got, err)
	}
}
