package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"net/url"
	"strings"
	"testing"

	lpdf "github.com/ledongthuc/pdf"

	"github.com/tma-portal/tma/server/crypt"
	"github.com/tma-portal/tma/server/postgres"
	"github.com/tma-portal/tma/server/tma"
)

// pdfText returns the text of every page of a PDF, joined.
func pdfText(t *testing.T, body string) string {
	t.Helper()
	if !strings.HasPrefix(body, "%PDF-") {
		t.Fatalf("not a PDF: %.80q", body)
	}
	r, err := lpdf.NewReader(bytes.NewReader([]byte(body)), int64(len(body)))
	if err != nil {
		t.Fatalf("the PDF does not parse: %v", err)
	}
	var b strings.Builder
	for i := 1; i <= r.NumPage(); i++ {
		s, err := r.Page(i).GetPlainText(nil)
		if err != nil {
			t.Fatalf("page %d: %v", i, err)
		}
		b.WriteString(s)
		b.WriteByte('\n')
	}
	return b.String()
}

// TestCaseExportPDF: the case file as a PDF holds what the exporting user
// may see, in their language, watermarked with their name and e-mail
// address. A member who may not read restricted notes gets none of their
// text; the lead and a legal member get it. Whoever may not see the case
// gets the answer of a missing case. Every export is audited; HEAD
// exports nothing.
func TestCaseExportPDF(t *testing.T) {
	srv := startServer(t, nil)
	w := newCaseWorld(t, srv, map[string]tma.Role{
		"lead": tma.RoleThreatManager, "tm expert": tma.RoleThreatManager, "legal": tma.RoleLegal, "non-member": tma.RoleThreatManager,
	})
	lead := w.users["lead"]
	w.kase = w.createCase(t, lead)
	w.member(t, w.users["tm expert"], tma.CaseExpert, nil)
	w.member(t, w.users["legal"], tma.CaseExpert, nil)
	ctx := tma.NewContextWithActor(context.Background(), tma.Actor{UserID: lead.ID, TenantID: w.tenant.ID, Label: lead.Email})
	sealer := crypt.NewCaseRecords(srv.CaseKeys)
	const person = "Jürgen Müller-Lüdenscheidt"
	if _, err := postgres.NewPersonService(srv.DB, sealer).AddPerson(ctx, w.tenant.ID, w.kase.ID, tma.PersonInput{Kind: tma.PersonConcern, Name: person, Note: "Größe 1,90 m"}); err != nil {
		t.Fatal(err)
	}
	notes := postgres.NewNoteService(srv.DB, sealer)
	if _, err := notes.AddNote(ctx, w.tenant.ID, w.kase.ID, tma.NoteInput{Title: "First talk Hummingbird", Body: "Calm, **no** threats. Okapi-3"}); err != nil {
		t.Fatal(err)
	}
	if _, err := notes.AddNote(ctx, w.tenant.ID, w.kase.ID, tma.NoteInput{Title: "Diagnosis Axolotl", Body: "Treated since 2019. Narwhal-5", Restricted: true}); err != nil {
		t.Fatal(err)
	}
	// A document: its name and the SHA-256 of its bytes (printed in two
	// halves) belong in the case file.
	docBytes := []byte("%PDF-1.4\nStatement of the witness\n%%EOF\n")
	docs := postgres.NewDocumentService(srv.DB, sealer, crypt.NewDocuments(srv.CaseKeys), srv.Blobs, srv.Extractor)
	if _, err := docs.Upload(ctx, w.tenant.ID, w.kase.ID, tma.Upload{Name: "Aussage Zeugin Böhm.pdf", ContentType: "application/pdf", Body: bytes.NewReader(docBytes)}); err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(docBytes)
	digest := hex.EncodeToString(sum[:])
	clients := w.signIn(t)
	export := "/cases/" + w.kase.ID + "/export.pdf"

	readers := map[string]bool{"lead": true, "legal": true, "tm expert": false}
	for _, persona := range []string{"tm expert", "lead", "legal"} {
		u := w.users[persona]
		status, body, h := clients[persona].do(http.MethodGet, export, nil, nil)
		if status != http.StatusOK {
			t.Fatalf("%s: status %d: %.300q", persona, status, body)
		}
		if h.Get("Content-Type") != "application/pdf" || h.Get("Cache-Control") != "no-store" ||
			h.Get("Content-Disposition") != `attachment; filename="`+w.kase.Reference+`.pdf"` {
			t.Errorf("%s: headers %q, %q, %q", persona, h.Get("Content-Type"), h.Get("Cache-Control"), h.Get("Content-Disposition"))
		}
		text := pdfText(t, body)
		for _, want := range []string{"Exported by " + u.DisplayName + " <" + u.Email + ">", w.kase.Reference, w.kase.Title, person, "Größe 1,90 m",
			"First talk Hummingbird", "Okapi-3", "Case file", "Notes", "Aussage Zeugin Böhm.pdf", digest[:32], digest[32:]} {
			if !strings.Contains(text, want) {
				t.Errorf("%s: the PDF lacks %q", persona, want)
			}
		}
		for _, secret := range []string{"Axolotl", "Narwhal-5"} {
			if got := strings.Contains(text, secret); got != readers[persona] {
				t.Errorf("%s: the restricted note's %q in the PDF: %v, want %v", persona, secret, got, readers[persona])
			}
		}
		if !readers[persona] && !strings.Contains(text, "1 restricted note(s)") {
			t.Errorf("%s: the PDF does not say that a restricted note is left out", persona)
		}
	}

	// Who may not see the case gets what a missing case gives.
	missing := "/cases/" + tma.NewID() + "/export.pdf"
	for _, persona := range []string{"non-member", "other tenant"} {
		c := clients[persona]
		status, body, h := c.do(http.MethodGet, export, nil, map[string]string{"Accept": "text/html"})
		ms, mbody, mh := c.do(http.MethodGet, missing, nil, map[string]string{"Accept": "text/html"})
		if status != http.StatusNotFound || ms != http.StatusNotFound || normalize(body, h) != normalize(mbody, mh) {
			t.Errorf("%s: status %d, a missing case %d; bodies equal: %v", persona, status, ms, normalize(body, h) == normalize(mbody, mh))
		}
		if strings.HasPrefix(body, "%PDF") {
			t.Errorf("%s got a PDF", persona)
		}
	}

	// HEAD answers like GET and exports nothing.
	if status, body, h := clients["lead"].do(http.MethodHead, export, nil, nil); status != http.StatusOK || body != "" || h.Get("Content-Type") != "application/pdf" {
		t.Errorf("HEAD: status %d, type %q, body %.40q", status, h.Get("Content-Type"), body)
	}

	// One audit event per export, naming the case and nothing of its content.
	events, err := postgres.NewAuditService(srv.DB).FindAuditEvents(context.Background(), w.tenant.ID, tma.AuditFilter{Action: tma.AuditCaseExported, Limit: 50})
	if err != nil {
		t.Fatal(err)
	}
	exporters := map[string]bool{}
	for _, e := range events {
		exporters[e.ActorLabel] = true
		if e.TargetType != "case" || e.TargetID != w.kase.ID || e.Detail != "case "+w.kase.ID+" pdf" {
			t.Errorf("audit event %+v", e)
		}
	}
	if len(events) != 3 || !exporters[w.users["lead"].Email] || !exporters[w.users["tm expert"].Email] || !exporters[w.users["legal"].Email] {
		t.Errorf("%d export events by %v, want one each by the lead, the expert and legal", len(events), exporters)
	}
	// The export shows on the case's timeline.
	if _, b := clients["lead"].get("/cases/" + w.kase.ID + "/timeline"); !strings.Contains(b, "Case file exported") {
		t.Errorf("the timeline does not show the export")
	}
	// The case page links to the export.
	if _, b := clients["tm expert"].get("/cases/" + w.kase.ID); !strings.Contains(b, `href="`+export+`"`) {
		t.Errorf("the case page has no export link")
	}

	// A German user gets German labels.
	lc := clients["lead"]
	lc.get("/account")
	if status, b := lc.post("/account/language", url.Values{"locale": {"de"}}); status != http.StatusOK {
		t.Fatalf("language: status %d: %.200q", status, b)
	}
	status, body, _ := lc.do(http.MethodGet, export, nil, nil)
	if status != http.StatusOK {
		t.Fatalf("German export: status %d", status)
	}
	text := pdfText(t, body)
	for _, want := range []string{"Fallakte " + w.kase.Reference, "Notizen", "Beteiligte Personen", "Exportiert von " + lead.DisplayName, person, "Narwhal-5"} {
		if !strings.Contains(text, want) {
			t.Errorf("German PDF lacks %q", want)
		}
	}
}
