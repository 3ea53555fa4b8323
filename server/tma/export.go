package tma

import (
	"io"
	"strings"
	"time"
)

// CaseFile is what a case-file export prints: a case's metadata, members,
// persons, notes, actions, timeline and documents, already cut to what the
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
