package pdf_test

import (
	"bytes"
	"crypto/sha256"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	lpdf "github.com/ledongthuc/pdf"

	"github.com/tma-portal/tma/server/pdf"
	"github.com/tma-portal/tma/server/tma"
)

// labels is a small catalog: enough to see that the renderer asks for
// its labels by key.
var labels = map[string]string{
	"export.title":          "Fallakte",
	"export.page":           "Seite %d von %s",
	"export.notes.withheld": "%d Notizen mit besonderen Daten fehlen.",
	"notes.heading":         "Notizen",
	"status.assessing":      "Einschätzung",
	"note.version":          "Version %d",

	"export.assessments":                   "Einschätzungen",
	"export.assessment.instrument":         "%s (%s, Version %d)",
	"export.assessment.status.pending":     "Eingereicht, Freigabe ausstehend",
	"export.assessment.status.final":       "Abgeschlossen",
	"export.assessment.approved":           "Freigegeben von",
	"export.assessment.approval.pending":   "Freigabe ausstehend",
	"export.assessment.reason.lowers_risk": "Senkt die Risikostufe des Falls",
	"risk.high":                            "Hoch",
	"risk.moderate":                        "Mittel",
}

func testFile(notes int) *tma.CaseFile {
	at := time.Date(2026, 3, 4, 5, 6, 7, 0, time.UTC)
	f := &tma.CaseFile{
		Case: &tma.Case{ID: tma.NewID(), Reference: "TM-2026-0042", Title: "Drohungen am Standort Süd", Status: tma.StatusAssessing,
			Risk: tma.RiskHigh, Labels: []string{"stalking", "Süd"}, CreatedAt: at, UpdatedAt: at},
		Members:    []*tma.CaseMember{{DisplayName: "Jürgen Müller-Lüdenscheidt", Email: "jm@acme.example", Role: tma.CaseLead}},
		Persons:    []*tma.Person{{Kind: tma.PersonConcern, Name: "Ölaf Ärger", Note: "Größe 1,90 m"}},
		Actions:    []*tma.Action{{Title: "Hausverbot prüfen", OwnerName: "Jürgen", Status: tma.ActionOpen, Outcome: strings.Repeat("lang ", 400)}},
		Timeline:   []*tma.TimelineEvent{{At: at, ActorLabel: "jm@acme.example", Action: tma.AuditNoteAdded, Detail: "note x v1"}},
		Watermark:  "Exported by Jürgen Müller-Lüdenscheidt <jm@acme.example> at 2026-03-04 05:06 UTC",
		ExportedAt: at,
		Locale:     "de",
		Restricted: false,
		T: func(k string) string {
			if s, ok := labels[k]; ok {
				return s
			}
			return k
		},
	}
	sum := sha256.Sum256([]byte("content"))
	f.Documents = []*tma.Document{{ID: tma.NewID(), Versions: []*tma.DocumentVersion{
		{Version: 2, Name: "Brief an Frau Öztürk.pdf", ContentType: "application/pdf", Size: 123456, SHA256: sum[:], UploaderName: "Jürgen", UploadedAt: at},
		{Version: 1, Deleted: true, UploaderName: "Jürgen", UploadedAt: at},
	}}}
	for i := range notes {
		f.AddNote(&tma.Note{Title: fmt.Sprintf("Gespräch %d", i), Body: strings.Repeat(fmt.Sprintf("Absatz %d mit Umlauten äöü ß. ", i), 60), AuthorName: "Jürgen", Version: 1, SavedAt: at})
	}
	f.AddNote(&tma.Note{Title: "Befund Zebrafink", Body: "Quokka-7", Restricted: true})
	f.AddNote(&tma.Note{Hidden: true, Restricted: true})
	return f
}

// pages returns the text of every page of a PDF.
func pages(t *testing.T, b []byte) []string {
	t.Helper()
	if !bytes.HasPrefix(b, []byte("%PDF-")) {
		t.Fatalf("not a PDF: %.20q", b)
	}
	r, err := lpdf.NewReader(bytes.NewReader(b), int64(len(b)))
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for i := 1; i <= r.NumPage(); i++ {
		s, err := r.Page(i).GetPlainText(nil)
		if err != nil {
			t.Fatalf("page %d: %v", i, err)
		}
		out = append(out, s)
	}
	return out
}

// TestRenderCaseFileWatermarkOnEveryPage: a case file of several pages
// carries the watermark and its page number on each of them, and leaves
// out the restricted notes the viewer may not read.
func TestRenderCaseFileWatermarkOnEveryPage(t *testing.T) {
	f := testFile(12)
	if len(f.Notes) != 12 || f.WithheldNotes != 2 {
		t.Fatalf("AddNote kept %d notes and withheld %d, want 12 and 2", len(f.Notes), f.WithheldNotes)
	}
	var buf bytes.Buffer
	if err := pdf.New().RenderCaseFile(&buf, f); err != nil {
		t.Fatal(err)
	}
	ps := pages(t, buf.Bytes())
	if len(ps) < 3 {
		t.Fatalf("%d pages, want several", len(ps))
	}
	all := strings.Join(ps, "\n")
	for i, text := range ps {
		if strings.Count(text, "Jürgen Müller-Lüdenscheidt <jm@acme.example>") < 2 {
			t.Errorf("page %d lacks the watermark twice (footer and diagonal): %.300q", i+1, text)
		}
		if want := fmt.Sprintf("Seite %d von %d", i+1, len(ps)); !strings.Contains(text, want) {
			t.Errorf("page %d lacks %q", i+1, want)
		}
		if !strings.Contains(text, "TM-2026-0042") {
			t.Errorf("page %d lacks the reference in its header", i+1)
		}
	}
	for _, want := range []string{"Fallakte TM-2026-0042", "Drohungen am Standort Süd", "Ölaf Ärger", "Einschätzung", "Brief an Frau Öztürk.pdf",
		"2 Notizen mit besonderen Daten fehlen.", "Gespräch 11"} {
		if !strings.Contains(all, want) {
			t.Errorf("the PDF lacks %q", want)
		}
	}
	for _, secret := range []string{"Zebrafink", "Quokka"} {
		if strings.Contains(all, secret) {
			t.Errorf("the PDF shows the restricted note (%q)", secret)
		}
	}
	// The digest, in two lines of 32.
	sum := sha256.Sum256([]byte("content"))
	h := fmt.Sprintf("%x", sum)
	if !strings.Contains(all, h[:32]) || !strings.Contains(all, h[32:]) {
		t.Errorf("the PDF lacks the digest %s", h)
	}
	// The metadata names the case, never a person.
	if !bytes.Contains(buf.Bytes(), []byte("/Title")) || bytes.Contains(buf.Bytes(), []byte("/Author")) || bytes.Contains(buf.Bytes(), []byte("/Keywords")) {
		t.Errorf("metadata: want a title and neither author nor keywords")
	}
	// The same case file gives the same pages. (Not the same bytes: fpdf
	// builds its font subsets in map order.)
	var again bytes.Buffer
	if err := pdf.New().RenderCaseFile(&again, testFile(12)); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(ps, pages(t, again.Bytes())) {
		t.Errorf("two renderings of the same case file differ")
	}
}

// TestRenderCaseFileOddText: text that the fonts cannot draw or that fpdf
// chokes on renders as a PDF, with what can be drawn kept.
func TestRenderCaseFileOddText(t *testing.T) {
	odd := []string{"emoji 😀🔥 end", "RTL שלום مرحبا end", "ctl \x00\x01\x1b[31m\u202e\u200d end", "bad \xff\xfe utf8 end",
		"CJK 漢字 end", "tab\tand\r\nnewline end", strings.Repeat("x", 5000), "\uffff\ufffd\U0010ffff end", ""}
	for i, s := range odd {
		t.Run(fmt.Sprint(i), func(t *testing.T) {
			f := testFile(1)
			f.Case.Title, f.Case.Reference, f.Watermark = s, s, s
			f.Persons[0].Name = s
			f.AddNote(&tma.Note{Title: s, Body: s, AuthorName: s})
			f.Documents[0].Versions[0].Name = s
			var buf bytes.Buffer
			if err := pdf.New().RenderCaseFile(&buf, f); err != nil {
				t.Fatal(err)
			}
			all := strings.Join(pages(t, buf.Bytes()), "\n")
			if strings.HasSuffix(s, " end") && !strings.Contains(all, "end") {
				t.Errorf("the text around %q is lost", s)
			}
		})
	}
}

// FuzzRenderCaseFile: any text in any field renders or fails with an
// error, never a panic.
func FuzzRenderCaseFile(f *testing.F) {
	for _, s := range []string{"", "Jürgen", "😀", "\x00", "\u202e", "שלום", "\xff", "a\nb\tc", strings.Repeat("W", 300)} {
		f.Add(s, s)
	}
	f.Fuzz(func(t *testing.T, a, b string) {
		cf := testFile(1)
		cf.Case.Title, cf.Case.Reference, cf.Watermark, cf.Case.Labels = a, b, a+b, []string{a, b}
		cf.Members[0].DisplayName, cf.Persons[0].Note = b, a
		cf.AddNote(&tma.Note{Title: a, Body: b, AuthorName: a})
		cf.Actions[0].Outcome = b
		cf.Timeline[0].Detail = a
		in := testInstrument()
		in.Title, in.Sections[0].Items[0].Name = a, b
		cf.AddAssessment(&tma.Assessment{InstrumentID: in.ID, InstrumentVersion: in.Version, Status: tma.AssessmentPending, Reasons: []string{a, tma.ReasonLowersRisk},
			Ratings:   map[string]tma.Rating{"fixation": {Value: a, Evidence: b, Rationale: a}, b: {Value: b}},
			Judgments: map[string]tma.Judgment{"concern": {Value: b, Rationale: a}}, AuthorName: a, SubmitterName: b}, in)
		cf.T = func(k string) string { return k + a }
		var buf bytes.Buffer
		if err := pdf.New().RenderCaseFile(&buf, cf); err == nil && !bytes.HasPrefix(buf.Bytes(), []byte("%PDF-")) {
			t.Fatalf("no error, and no PDF")
		}
	})
}

// testInstrument is version 2 of a small instrument with two sections.
func testInstrument() *tma.Instrument {
	return &tma.Instrument{ID: "wb-screen", Version: 2, Title: "Warnverhalten-Screening", Language: "de",
		Scales: []tma.Scale{
			{ID: "pna", Values: []tma.ScaleValue{{Code: "absent", Label: "Nicht vorhanden"}, {Code: "partial", Label: "Teilweise vorhanden", Present: true}, {Code: "present", Label: "Vorhanden", Present: true}}},
			{ID: "risk", Values: []tma.ScaleValue{{Code: "low", Label: "Gering"}, {Code: "moderate", Label: "Mittel"}, {Code: "high", Label: "Hoch"}, {Code: "imminent", Label: "Akut"}}},
		},
		Sections: []tma.Section{
			{ID: "prox", Title: "Proximales Warnverhalten", Items: []tma.Item{{ID: "fixation", Name: "Fixierung", Kind: tma.ItemDynamic, Scale: "pna", Critical: true}}},
			{ID: "dist", Title: "Distale Merkmale", Items: []tma.Item{{ID: "grievance", Name: "Kränkung", Kind: tma.ItemStatic, Scale: "pna"}, {ID: "unrated", Name: "Unbewertetes Item", Kind: tma.ItemStatic, Scale: "pna"}}},
		},
		Judgments: []tma.SummaryJudgment{{ID: "concern", Title: "Grad der Besorgnis", Scale: "risk", SetsRisk: true, RationaleRequired: true}},
		Rules:     []tma.Rule{{ID: "crit", When: tma.RuleCriticalPresentBelow, Then: tma.RuleSecondApprover, Judgment: "concern", Level: "high", Message: "Kritisches Item bei niedriger Besorgnis"}},
	}
}

// TestRenderCaseFileAssessments: the case file prints each submitted
// assessment with its instrument version, outcome, approver (or that the
// approval is pending), its judgments and every item's rating, evidence
// and rationale; a draft is left out.
func TestRenderCaseFileAssessments(t *testing.T) {
	at := time.Date(2026, 3, 4, 5, 6, 7, 0, time.UTC)
	f := testFile(1)
	in := testInstrument()
	final := &tma.Assessment{ID: tma.NewID(), InstrumentID: in.ID, InstrumentVersion: 2, Status: tma.AssessmentFinal,
		Risk: tma.RiskHigh, FromRisk: tma.RiskModerate, Reasons: []string{"crit"},
		Ratings: map[string]tma.Rating{
			"fixation":  {Value: "present", Evidence: "Beleg Kalenderfoto", Rationale: "Begründung Fixierung"},
			"grievance": {Value: "partial", Evidence: "Beleg Abmahnung", Rationale: "Begründung Kränkung"},
		},
		Judgments:  map[string]tma.Judgment{"concern": {Value: "high", Rationale: "Begründung Gesamturteil"}},
		AuthorName: "Anna Autorin", CreatedAt: at, SubmitterName: "Anna Autorin", SubmittedAt: at,
		DecidedBy: tma.NewID(), DeciderName: "Zora Zweitfreigabe", DecidedAt: at}
	pending := &tma.Assessment{ID: tma.NewID(), InstrumentID: in.ID, InstrumentVersion: 2, Status: tma.AssessmentPending,
		Risk: tma.RiskModerate, FromRisk: tma.RiskHigh, Reasons: []string{tma.ReasonLowersRisk},
		Ratings:    map[string]tma.Rating{"fixation": {Value: "absent", Evidence: "Beleg Kontaktabbruch"}},
		Judgments:  map[string]tma.Judgment{"concern": {Value: "moderate", Rationale: "Begründung Entspannung"}},
		AuthorName: "Bernd Bearbeiter", CreatedAt: at, SubmitterName: "Bernd Bearbeiter", SubmittedAt: at}
	draft := &tma.Assessment{ID: tma.NewID(), InstrumentID: in.ID, InstrumentVersion: 2, Status: tma.AssessmentDraft,
		Ratings: map[string]tma.Rating{"fixation": {Value: "present", Evidence: "Entwurfsgeheimnis"}}}
	f.AddAssessment(final, in)
	f.AddAssessment(pending, in)
	f.AddAssessment(draft, in)
	if len(f.Assessments) != 2 {
		t.Fatalf("AddAssessment kept %d assessments, want 2 (no draft)", len(f.Assessments))
	}
	var buf bytes.Buffer
	if err := pdf.New().RenderCaseFile(&buf, f); err != nil {
		t.Fatal(err)
	}
	all := strings.Join(pages(t, buf.Bytes()), "\n")
	// Text extraction joins cells without spaces; compare without them.
	flat := strings.Join(strings.Fields(all), "")
	for _, want := range []string{"Einschätzungen", "Warnverhalten-Screening (wb-screen, Version 2)", "Abgeschlossen", "Hoch", "Mittel",
		"Zora Zweitfreigabe", "Eingereicht, Freigabe ausstehend", "Freigabe ausstehend", "Kritisches Item bei niedriger Besorgnis", "Senkt die Risikostufe des Falls",
		"Anna Autorin", "Bernd Bearbeiter", "Grad der Besorgnis", "Begründung Gesamturteil", "Begründung Entspannung",
		"Proximales Warnverhalten", "Fixierung", "Distale Merkmale", "Kränkung", "Unbewertetes Item", "Vorhanden", "Teilweise vorhanden", "Nicht vorhanden",
		"Beleg Kalenderfoto", "Begründung Fixierung", "Beleg Abmahnung", "Begründung Kränkung", "Beleg Kontaktabbruch"} {
		if !strings.Contains(flat, strings.Join(strings.Fields(want), "")) {
			t.Errorf("the PDF lacks %q", want)
		}
	}
	if strings.Contains(all, "Entwurfsgeheimnis") {
		t.Errorf("the PDF shows a draft assessment")
	}

	// Without its instrument version, an assessment still shows its
	// codes and texts.
	f = testFile(1)
	f.AddAssessment(final, &tma.Instrument{ID: in.ID, Version: 1, Title: "Falsche Version"})
	buf.Reset()
	if err := pdf.New().RenderCaseFile(&buf, f); err != nil {
		t.Fatal(err)
	}
	flat = strings.Join(strings.Fields(strings.Join(pages(t, buf.Bytes()), "\n")), "")
	if strings.Contains(flat, "FalscheVersion") {
		t.Errorf("the PDF labels an assessment with another instrument version")
	}
	for _, want := range []string{"wb-screen(wb-screen,Version2)", "fixation", "BelegKalenderfoto", "Zora"} {
		if !strings.Contains(flat, want) {
			t.Errorf("without its instrument, the PDF lacks %q", want)
		}
	}
}
