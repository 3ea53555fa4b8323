package tma

import (
	"context"
	"slices"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// Person is someone involved in a case: the person of concern, an affected
// person, the reporter or a witness. Name and note are personal data and
// sealed with the case key (RecordSealer), bound to the person's row, so a
// database copy shows neither. A person may be linked to a user of the
// tenant; a linked person of concern or affected person is excluded from
// the case (an ethical wall), as the persons named in a report are.
type Person struct {
	ID        string
	CaseID    string
	Kind      PersonKind
	Name      string
	Note      string
	UserID    string // "" when not linked to a user
	UserName  string // the linked user's display name
	CreatedAt time.Time
}

// PersonKind is how a person is involved in a case.
type PersonKind string

// The kinds of persons involved.
const (
	PersonConcern  PersonKind = "concern"  // the person of concern
	PersonAffected PersonKind = "affected" // an affected person
	PersonReporter PersonKind = "reporter"
	PersonWitness  PersonKind = "witness"
)

// PersonKinds lists the kinds in display order.
var PersonKinds = []PersonKind{PersonConcern, PersonAffected, PersonReporter, PersonWitness}

// Valid reports whether k is one of PersonKinds.
func (k PersonKind) Valid() bool { return slices.Contains(PersonKinds, k) }

// Excludes reports whether a linked user of this kind is walled off the
// case: the person of concern and affected persons never see it.
func (k PersonKind) Excludes() bool { return k == PersonConcern || k == PersonAffected }

// PersonInput is a person to add.
type PersonInput struct {
	Kind  PersonKind
	Name  string
	Note  string
	Email string // optional: links the tenant's user with this e-mail
}

// Limits of a person entry.
const (
	MaxPersonName = 200 // characters
	MaxPersonNote = 500 // characters
)

// Validate normalises p in place and checks it.
func (p *PersonInput) Validate() error {
	for _, f := range [][2]string{{"kind", string(p.Kind)}, {"name", p.Name}, {"note", p.Note}, {"email", p.Email}} {
		if err := CheckText(f[0], f[1]); err != nil {
			return err
		}
	}
	if !p.Kind.Valid() {
		return Errorf(EINVALID, "Unknown kind of person %q.", CleanText(string(p.Kind), 40))
	}
	p.Name, p.Note = strings.TrimSpace(p.Name), strings.TrimSpace(p.Note)
	if p.Name == "" || utf8.RuneCountInString(p.Name) > MaxPersonName || strings.IndexFunc(p.Name, unicode.IsControl) >= 0 {
		return Errorf(EINVALID, "The name must have 1 to %d characters and no line breaks.", MaxPersonName)
	}
	if utf8.RuneCountInString(p.Note) > MaxPersonNote || strings.IndexFunc(p.Note, unicode.IsControl) >= 0 {
		return Errorf(EINVALID, "The note on a person must have at most %d characters and no line breaks.", MaxPersonNote)
	}
	if strings.TrimSpace(p.Email) != "" {
		email, err := NormalizeEmail(p.Email)
		if err != nil {
			return err
		}
		p.Email = email
	} else {
		p.Email = ""
	}
	return nil
}

// PersonService keeps the persons involved in cases. Every method acts for
// the Actor in ctx; changes run in one transaction with their audit event,
// whose detail names the entry, its kind and a linked user's id, never the
// name or note.
type PersonService interface {
	// Persons lists the case's persons, in PersonKinds order.
	Persons(ctx context.Context, tenantID, caseID string) ([]*Person, error)
	// AddPerson seals and stores a person. A linked user (in.Email) of a
	// kind that Excludes loses any membership and is excluded from the
	// case. EINVALID for bad input or no such user; ECONFLICT on a closed
	// case, for the actor themselves and for the last current lead.
	AddPerson(ctx context.Context, tenantID, caseID string, in PersonInput) (*Person, error)
	// RemovePerson deletes an entry; an exclusion it caused stays until
	// lifted by hand. EINVALID for no such entry, ECONFLICT on a closed case.
	RemovePerson(ctx context.Context, tenantID, caseID, personID string) error
}
