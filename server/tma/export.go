package tma

import (
	"io"
	"strings"
	"time"
)

// CaseFile is what a case-file export prints: a case's metadata, members,
// persons, notes, actions, assessments, timeline and documents, already cut to what the
// exporting user may see. It is built for one viewer and never reused.
//
// A restricted note that the viewer may not read is left out entirely,
// title, body and author alike (AddNote), and only counted in
// WithheldNotes: a PDF travels further than a page, so it does not even
// say who wrote what, only that the file is incomplete.
type CaseFile struct {
	Case    *Case
	Members []*CaseMember
	Persons []*Person
	// Notes are at their latest version, with their Markdown bodies, shown
	// as plain text. Fill them through AddNote.
	Notes []*Note
	// WithheldNotes counts the restricted notes left out of Notes.
	WithheldNotes int
	// Restricted says whether the viewer may read restricted notes
	// (CanReadRestricted); AddNote refuses them otherwise.
	Restricted bool
	Actions    []*Action
	Timeline   []*TimelineEvent
	// Documents have all their versions (DocumentService.Document), with
	// names and digests; deleted versions keep only number and uploader.
	Documents []*Document
	// Assessments are the case's submitted assessments, oldest first, each
	// with the instrument version it was made with. Fill them through
	// AddAssessment, which leaves drafts out.
	Assessments []*CaseFileAssessment
	// Watermark names the exporting user and the time; it is printed on
	// every page.
	Watermark  string
	ExportedAt time.Time
	// Locale is the language of the labels, e.g. "de".
	Locale string
	// T translates a catalog key into Locale, and returns the key itself
	// if there is no text: the renderer needs no catalog of its own.
	T func(key string) string
	// Date formats a time for Locale.
	Date func(time.Time) string
}

// MayRead reports whether the viewer may read n: not a Hidden note, and
// not a restricted one for a viewer without the right, whatever the note
// service handed out.
func (f *CaseFile) MayRead(n *Note) bool {
	return !n.Hidden && (!n.Restricted || f.Restricted)
}

// AddNote appends a note that the viewer may read (MayRead), and only
// counts one they may not.
func (f *CaseFile) AddNote(n *Note) {
	if !f.MayRead(n) {
		f.WithheldNotes++
		return
	}
	f.Notes = append(f.Notes, n)
}

// CaseFileAssessment is one assessment in a case file. Instrument is the
// version the assessment was made with (Assessment.InstrumentVersion),
// for the titles and labels of its items and judgments; nil if it could
// not be loaded, and the file then shows the codes.
type CaseFileAssessment struct {
	Assessment *Assessment
	Instrument *Instrument
}

// AddAssessment appends a pending or final assessment, and leaves a draft
// out: a draft is work in progress that its authors may still change or
// discard, while a case file records what the team submitted. A pending
// assessment is in, marked as waiting for its second approver, because it
// is the team's submitted judgment even before the approval. For a viewer
// without Restricted, the ratings of restricted items are hidden
// (HideRestricted) whatever the assessment service handed out, as MayRead
// does for notes.
func (f *CaseFile) AddAssessment(a *Assessment, in *Instrument) {
	if a == nil || a.Status == AssessmentDraft {
		return
	}
	if in != nil && (in.ID != a.InstrumentID || in.Version != a.InstrumentVersion) {
		in = nil // not the version it was made with: its labels could mislead
	}
	if !f.Restricted && in != nil {
		hidden := *a
		hidden.Ratings = in.HideRestricted(a.Ratings)
		a = &hidden
	}
	f.Assessments = append(f.Assessments, &CaseFileAssessment{Assessment: a, Instrument: in})
}

// Text translates key with T, or returns key if there is no T.
func (f *CaseFile) Text(key string) string {
	if f.T == nil {
		return key
	}
	return f.T(key)
}

// Label translates a code of a kind ("status", "risk", "caserole", …) as
// the pages do, or returns the code itself if the catalog lacks it.
func (f *CaseFile) Label(kind, code string) string {
	key := kind + "." + code
	if s := f.Text(key); s != key {
		return s
	}
	return code
}

// FormatDate formats t with Date, or as RFC 3339 in UTC without it; "—"
// for the zero time.
func (f *CaseFile) FormatDate(t time.Time) string {
	if t.IsZero() {
		return "—"
	}
	if f.Date == nil {
		return t.UTC().Format(time.RFC3339)
	}
	return f.Date(t)
}

// FileName is the name the export is saved under: the case reference with
// anything but letters, digits and dashes replaced, and ".pdf".
func (f *CaseFile) FileName() string {
	ref := "case"
	if f.Case != nil && f.Case.Reference != "" {
		ref = f.Case.Reference
	}
	ref = strings.Map(func(r rune) rune {
		if r == '-' || r >= '0' && r <= '9' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' {
			return r
		}
		return '_'
	}, ref)
	if len(ref) > 64 {
		ref = ref[:64]
	}
	return ref + ".pdf"
}

// CaseFileRenderer writes a CaseFile as a document, e.g. a PDF.
type CaseFileRenderer interface {
	// RenderCaseFile writes f to w. Any text, however odd (control
	// characters, scripts the fonts lack), renders or fails with an error;
	// it never panics.
	RenderCaseFile(w io.Writer, f *CaseFile) error
}
