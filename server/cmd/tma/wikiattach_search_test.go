package main

import (
	"archive/zip"
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"html"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/go-pdf/fpdf"

	"github.com/tma-portal/tma/server/crypt"
	"github.com/tma-portal/tma/server/postgres"
	"github.com/tma-portal/tma/server/postgres/pgtest"
	"github.com/tma-portal/tma/server/tma"
	"github.com/tma-portal/tma/server/web"
)

// testDOCX is the smallest Word document the extractor reads, with one
// paragraph of text (the fixtures of server/extract, written by hand).
func testDOCX(t *testing.T, text string) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	for _, f := range []struct{ name, body string }{
		{"[Content_Types].xml", `<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types"><Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/><Default Extension="xml" ContentType="application/xml"/><Override PartName="/word/document.xml" ContentType="application/vnd.openxmlformats-officedocument.wordprocessingml.document.main+xml"/></Types>`},
		{"_rels/.rels", `<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships"><Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/officeDocument" Target="word/document.xml"/></Relationships>`},
		{"word/document.xml", `<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<w:document xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main"><w:body><w:p><w:r><w:t>` + text + `</w:t></w:r></w:p></w:body></w:document>`},
	} {
		w, err := zw.Create(f.name)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := w.Write([]byte(f.body)); err != nil {
			t.Fatal(err)
		}
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// testPDF is a one-page PDF with text, made by fpdf.
func testPDF(t *testing.T, text string) []byte {
	t.Helper()
	pdf := fpdf.New("P", "mm", "A4", "")
	pdf.AddPage()
	pdf.SetFont("Helvetica", "", 12)
	pdf.Cell(120, 10, text)
	var buf bytes.Buffer
	if err := pdf.Output(&buf); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// searchAs asks s's index as u, with u's scope computed now: the whole
// answer, with total and facets.
func (s *testServer) searchAs(t *testing.T, u *tma.User, text string) *tma.SearchResult {
	t.Helper()
	ctx := context.Background()
	scope, err := s.SearchSource.Scope(ctx, u)
	if err != nil {
		t.Fatal(err)
	}
	res, err := s.Indexer.Index().Search(ctx, scope, tma.SearchQuery{Text: text, PerPage: tma.MaxSearchPerPage})
	if err != nil {
		t.Fatalf("search %q: %v", text, err)
	}
	return res
}

// mustUploadAttachment uploads a file to the page and returns its id.
func mustUploadAttachment(t *testing.T, c *client, pagePath, name string, content []byte) string {
	t.Helper()
	status, body := uploadAttachment(t, c, pagePath, name, content)
	if status != http.StatusCreated {
		t.Fatalf("upload %s: %d %.300s", name, status, body)
	}
	var u uploaded
	if err := json.Unmarshal([]byte(body), &u); err != nil || u.ID == "" {
		t.Fatalf("upload %s: answer %.300s: %v", name, body, err)
	}
	return u.ID
}

// TestWikiAttachmentTextIsSearchable: the text of a DOCX, a plain text and
// a PDF attached to a wiki page is found through search, as type
// "wikifile", by the page's readers; the search page links each hit to the
// attachment and names its page. Narrowing the page to threat managers
// re-enqueues its attachments: legal then finds nothing, in total and
// facets too. A file replaced under the same name leaves the index (its
// text row and its terms, after the compaction, go too) and its successor
// is found instead.
func TestWikiAttachmentTextIsSearchable(t *testing.T) {
	ctx := context.Background()
	srv := startServer(t, map[string]string{"TMA_PDFTOTEXT": os.Getenv("TMA_PDFTOTEXT")})
	w := newCaseWorld(t, srv, map[string]tma.Role{"tm": tma.RoleThreatManager, "legal": tma.RoleLegal})
	clients := w.signIn(t)
	tm, legal := clients["tm"], clients["legal"]
	tmUser, legalUser := w.users["tm"], w.users["legal"]

	const docxWord, txtWord, pdfWord, newWord = "vorplatzkranich", "wombatquorum", "kormoranfibel", "reiherfalzung"
	path := createWikiPage(t, tm, "Site plan", "", "")
	docxID := mustUploadAttachment(t, tm, path, "Lageplan.docx", testDOCX(t, "Der Sammelpunkt heißt "+docxWord+"."))
	txtID := mustUploadAttachment(t, tm, path, "notes.txt", []byte("Notes: the "+txtWord+" meets at nine.\n"))
	pdfID := ""
	if _, err := exec.LookPath(cmp.Or(os.Getenv("TMA_PDFTOTEXT"), "pdftotext")); err == nil {
		pdfID = mustUploadAttachment(t, tm, path, "Formular.pdf", testPDF(t, "Formular "+pdfWord+" 2026"))
	}
	waitOutboxApplied(t, srv)

	want := map[string]string{docxWord: "wikifile:" + docxID, txtWord: "wikifile:" + txtID}
	if pdfID != "" {
		want[pdfWord] = "wikifile:" + pdfID
	} else {
		t.Log("no pdftotext: the PDF is left out")
	}
	for word, key := range want {
		for _, u := range []*tma.User{tmUser, legalUser} {
			if got := srv.searchKeys(t, u, word); !slices.Equal(got, []string{key}) {
				t.Errorf("%s searching %q: %v, want [%s]", u.Email, word, got, key)
			}
		}
	}
	if got := srv.searchKeys(t, tmUser, "type:wikifile"); len(got) != len(want) {
		t.Errorf("type:wikifile finds %v, want %d attachments", got, len(want))
	}
	// The name is the title (one token with its extension, as a
	// document's name).
	if got := srv.searchKeys(t, legalUser, "Lageplan.docx"); !slices.Equal(got, []string{"wikifile:" + docxID}) {
		t.Errorf("the file name finds %v", got)
	}

	// The search page: label, link to the attachment, the page's title, a
	// snippet from the decrypted text.
	page := review11SearchPage(t, legal, docxWord)
	for _, s := range []string{`href="` + path + `/attachments/Lageplan.docx"`, ">Lageplan.docx</a>", "Wiki file",
		html.EscapeString(`on the page “Site plan”`), "<mark>" + docxWord + "</mark>"} {
		if !strings.Contains(page, s) {
			t.Errorf("the search page lacks %s: %.4000s", s, page)
		}
	}
	if status, body := legal.get(path + "/attachments/Lageplan.docx"); status != http.StatusOK || !strings.HasPrefix(body, "PK") {
		t.Errorf("the hit's link: %d", status)
	}

	// Narrowed to threat managers: legal no longer reads the page, and the
	// index (re-enqueued by the access change) no longer counts its files.
	if status, b := tm.post(path+"/access", url.Values{"narrow": {"on"}, "read": {"threat_manager"}}); status != http.StatusOK {
		t.Fatalf("narrow: %d %.300s", status, b)
	}
	waitOutboxApplied(t, srv)
	for word, key := range want {
		res := srv.searchAs(t, legalUser, word)
		if res.Total != 0 || len(res.Hits) != 0 {
			t.Errorf("legal, after the narrowing, finds %q: total %d %v", word, res.Total, res.Hits)
		}
		for name, values := range res.Facets {
			for _, v := range values {
				if v.Count > 0 {
					t.Errorf("legal, after the narrowing, %q: facet %s %s = %d", word, name, v.Value, v.Count)
				}
			}
		}
		if got := srv.searchKeys(t, tmUser, word); !slices.Equal(got, []string{key}) {
			t.Errorf("tm after the narrowing, %q: %v", word, got)
		}
	}
	if page := review11SearchPage(t, legal, docxWord); strings.Contains(page, "Lageplan") {
		t.Errorf("legal's search page shows the narrowed page's file")
	}

	// Replaced: the old text leaves the index, the new one is found.
	newID := mustUploadAttachment(t, tm, path, "Lageplan.docx", testDOCX(t, "Neuer Sammelpunkt: "+newWord+"."))
	waitOutboxApplied(t, srv)
	if got := srv.searchKeys(t, tmUser, docxWord); len(got) != 0 {
		t.Errorf("the replaced file's word still finds %v", got)
	}
	if got := srv.searchKeys(t, tmUser, newWord); !slices.Equal(got, []string{"wikifile:" + newID}) {
		t.Errorf("the new file's word finds %v, want [wikifile:%s]", got, newID)
	}
	if got := srv.searchKeys(t, tmUser, "Lageplan.docx"); !slices.Equal(got, []string{"wikifile:" + newID}) {
		t.Errorf("the name finds %v, want the new file only", got)
	}
	var texts int
	if err := srv.DB.Pool.QueryRow(ctx, `SELECT count(*) FROM wiki_attachment_texts WHERE attachment_id = $1`, docxID).Scan(&texts); err != nil || texts != 0 {
		t.Errorf("the replaced file keeps %d text rows (%v)", texts, err)
	}
	// The server compacts after a batch that deleted items: the old word
	// leaves the term dictionaries and the files.
	var terms []string
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		var err error
		if terms, err = srv.Indexer.Index().TermsWithPrefix(docxWord[:7]); err != nil {
			t.Fatal(err)
		}
		if len(terms) == 0 || time.Now().After(deadline) {
			break
		}
	}
	if len(terms) != 0 {
		t.Errorf("after the replacement and a compaction, the dictionaries hold %v", terms)
	}
	if files, found := filesHolding(t, srv.Config.SearchDir, docxWord); found {
		t.Errorf("after the replacement and a compaction, %s is still in %v", docxWord, files)
	}
}

// TestWikiAttachmentTextSealed: the extracted text of an attachment is
// stored, sealed: its unique word is in no column of any table in clear,
// and the text row opens only for its own attachment (a sealed text
// copied to another attachment's row does not open, and that attachment
// is left out of the index rather than indexed with the text).
func TestWikiAttachmentTextSealed(t *testing.T) {
	ctx := context.Background()
	srv := startServer(t, nil)
	w := newCaseWorld(t, srv, map[string]tma.Role{"tm": tma.RoleThreatManager})
	tm := w.signIn(t)["tm"]
	const word = "quokkasiegelwort"
	path := createWikiPage(t, tm, "Sealed text", "", "")
	id := mustUploadAttachment(t, tm, path, "secret.txt", []byte("The word is "+word+".\n"))
	other := mustUploadAttachment(t, tm, path, "other.txt", []byte("Nothing to see.\n"))
	waitOutboxApplied(t, srv)
	if got := srv.searchKeys(t, w.users["tm"], word); !slices.Equal(got, []string{"wikifile:" + id}) {
		t.Fatalf("the word finds %v", got)
	}
	var sealed []byte
	var reason *string
	if err := srv.DB.Pool.QueryRow(ctx, `SELECT text, reason FROM wiki_attachment_texts WHERE attachment_id = $1`, id).Scan(&sealed, &reason); err != nil {
		t.Fatal(err)
	}
	if sealed == nil || reason != nil || bytes.Contains(sealed, []byte(word)) {
		t.Fatalf("text row: %d bytes, reason %v", len(sealed), reason)
	}
	assertNotInClear(t, srv, []string{word}, "public.wiki_attachment_texts", "public.wiki_attachments", "public.search_outbox")

	// The sealed text moved to the other attachment's row does not open
	// there: that item is left out, and the word finds nothing.
	if _, err := srv.DB.Pool.Exec(ctx, `UPDATE wiki_attachment_texts SET text = $2 WHERE attachment_id = $1`, other, sealed); err != nil {
		t.Fatal(err)
	}
	docs, err := srv.SearchSource.Load(ctx, w.tenant.ID, []string{"wikifile:" + id, "wikifile:" + other})
	if err != nil {
		t.Fatal(err)
	}
	if len(docs) != 1 || docs[0].Key != "wikifile:"+id || !strings.Contains(docs[0].Text, word) {
		t.Fatalf("Load after the move: %+v", docs)
	}
}

// TestWikiAttachmentSearchFollowsSpaceAndRebuild: a change of the space's
// grants re-enqueues the attachments of its pages (legal, no longer a
// reader of the space, stops finding them), an edit of the page's text
// does not; and a rebuilt index (SearchSource.All) holds the attachments'
// text under the same permission.
func TestWikiAttachmentSearchFollowsSpaceAndRebuild(t *testing.T) {
	ctx := context.Background()
	dbURL, data := pgtest.URL(t), t.TempDir()
	env := map[string]string{"TMA_DATABASE_URL": dbURL, "TMA_DATA_DIR": data}
	srv, stop := startStoppable(t, env)
	w := newCaseWorld(t, srv, map[string]tma.Role{"tm": tma.RoleThreatManager, "legal": tma.RoleLegal})
	tm := w.signIn(t)["tm"]
	tmUser, legalUser := w.users["tm"], w.users["legal"]
	const word = "pelikanordnung"
	path := createWikiPage(t, tm, "Evacuation", "", "")
	id := mustUploadAttachment(t, tm, path, "route.txt", []byte("Follow the "+word+" to the exit.\n"))
	key := "wikifile:" + id
	waitOutboxApplied(t, srv)
	if got := srv.searchKeys(t, legalUser, word); !slices.Equal(got, []string{key}) {
		t.Fatalf("legal finds %v, want [%s]", got, key)
	}

	// An edit of the page's text enqueues the page, not its files.
	_, last := srv.outboxKeys(t, 0)
	base := editBase(t, tm, path)
	if status, b := tm.post(path, url.Values{"title": {"Evacuation"}, "body": {"See [the route](attachment:route.txt)."}, "base": {base}}); status != http.StatusSeeOther {
		t.Fatalf("save: %d %.300s", status, b)
	}
	if keys, _ := srv.outboxKeys(t, last); slices.Contains(keys, key) || len(keys) == 0 {
		t.Errorf("a page edit enqueued %v", keys)
	}

	_, last = srv.outboxKeys(t, 0)
	wiki := postgres.NewWikiService(srv.DB, crypt.NewCaseRecords(srv.CaseKeys), web.NewWikiMarkup())
	if err := wiki.SetSpaceGrants(userCtx(tmUser), w.tenant.ID, "process", tma.WikiGrantsInput{
		ReadRoles: []tma.Role{tma.RoleThreatManager}, EditRoles: []tma.Role{tma.RoleThreatManager}}); err != nil {
		t.Fatal(err)
	}
	if keys, _ := srv.outboxKeys(t, last); !slices.Contains(keys, key) {
		t.Errorf("the space's new grants did not enqueue the attachment: %v", keys)
	}
	waitOutboxApplied(t, srv)
	if res := srv.searchAs(t, legalUser, word); res.Total != 0 {
		t.Errorf("legal, no longer a reader of the space, finds %d", res.Total)
	}
	if got := srv.searchKeys(t, tmUser, word); !slices.Equal(got, []string{key}) {
		t.Errorf("tm finds %v", got)
	}
	dir := srv.Config.SearchDir
	stop()

	if err := os.RemoveAll(dir); err != nil {
		t.Fatal(err)
	}
	s2, _ := startStoppable(t, env)
	if got := s2.searchKeys(t, tmUser, word); !slices.Equal(got, []string{key}) {
		t.Errorf("after a rebuild, tm finds %v", got)
	}
	if got := s2.searchKeys(t, legalUser, word); len(got) != 0 {
		t.Errorf("after a rebuild, legal finds %v", got)
	}
	if n, err := s2.SearchSource.Count(ctx); err != nil || n < 2 {
		t.Errorf("Count = %d, %v", n, err)
	}
}

// outboxKeys returns the keys of the outbox rows after seq, and the last
// seq.
func (s *testServer) outboxKeys(t *testing.T, after int64) ([]string, int64) {
	t.Helper()
	changes, err := s.SearchSource.Changes(context.Background(), after, 10000)
	if err != nil {
		t.Fatal(err)
	}
	var keys []string
	for _, c := range changes {
		keys = append(keys, c.Key)
		after = c.Seq
	}
	return keys, after
}
