package tma

import (
	"context"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// Note is one version of a Markdown note on a case. Title and body are
// sealed with the case key (RecordSealer), bound to the note's version row,
// so a database copy shows neither. A Restricted note holds health or
// criminal-offence data (GDPR Art. 9/10): only readers with
// CanReadRestricted get its title and body; everyone else gets the note
// with Hidden set and both left empty, so they see that it exists.
type Note struct {
	ID         string
	CaseID     string
	Version    int // 1 for the first save, one more for each edit
	Versions   int // how many versions the note has
	Title      string
	Body       string // Markdown
	Restricted bool
	Hidden     bool // restricted and not readable by the viewer
	AuthorID   string
	AuthorName string
	CreatedAt  time.Time // of the note
	SavedAt    time.Time // of this version
}

// NoteInput is what a user writes: AddNote and EditNote take it.
type NoteInput struct {
	Title      string
	Body       string
	Restricted bool
	Version    int // EditNote: the version the edit started from
}

// Limits of a note.
const (
	MaxNoteTitle = 200    // characters
	MaxNoteBody  = 100000 // bytes of Markdown
)

// Validate normalises n in place and checks it.
func (n *NoteInput) Validate() error {
	if err := CheckText("title", n.Title); err != nil {
		return err
	}
	if err := CheckText("body", n.Body); err != nil {
		return err
	}
	n.Title = strings.TrimSpace(n.Title)
	if n.Title == "" || utf8.RuneCountInString(n.Title) > MaxNoteTitle || strings.IndexFunc(n.Title, unicode.IsControl) >= 0 {
		return Errorf(EINVALID, "The note title must have 1 to %d characters and no line breaks.", MaxNoteTitle)
	}
	if strings.TrimSpace(n.Body) == "" || len(n.Body) > MaxNoteBody {
		return Errorf(EINVALID, "The note text must have 1 to %d bytes.", MaxNoteBody)
	}
	return nil
}

// CanReadRestricted reports whether u, holding caseRoles on a case, may read
// its restricted (Art. 9/10) notes: the case lead, and members with the
// tenant role legal. It is the one place that rule lives; the policy says
// who holds CasePermRestricted (leads) and PermRestrictedRead (legal).
func CanReadRestricted(a Authorizer, u *User, caseRoles []CaseRole) bool {
	return a.CanCase(u, caseRoles, PermCasesRead, CasePermRestricted) ||
		a.CanCase(u, caseRoles, PermRestrictedRead, CasePermRead)
}

// NoteService keeps the notes of a case. Every method acts for the Actor in
// ctx; changes run in one transaction with their audit event, whose detail
// names the note and version, never its title or text. restricted says
// whether the caller may read restricted notes (CanReadRestricted).
// ENOTFOUND for a note that does not exist on the case, and for a
// restricted note that the caller may not read when it asks for content.
type NoteService interface {
	// Notes lists the case's notes, newest change first, at their latest
	// version, with the body left empty.
	Notes(ctx context.Context, tenantID, caseID string, restricted bool) ([]*Note, error)
	// Note returns one version of a note (0: the latest).
	Note(ctx context.Context, tenantID, caseID, noteID string, version int, restricted bool) (*Note, error)
	// AddNote writes a new note. ECONFLICT on a closed case.
	AddNote(ctx context.Context, tenantID, caseID string, in NoteInput) (*Note, error)
	// EditNote saves a new version. ECONFLICT if the note changed since
	// in.Version or the case is closed.
	EditNote(ctx context.Context, tenantID, caseID, noteID string, in NoteInput, restricted bool) (*Note, error)
}
