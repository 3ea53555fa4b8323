package postgres

import (
	"context"
	"errors"

	"github.com/jackc/pgx/v5"

	"github.com/tma-portal/tma/server/tma"
)

// PersonService keeps the persons involved in cases: one case_persons row
// each, name and note sealed under the case key and bound to the row id.
type PersonService struct {
	db     *DB
	sealer tma.RecordSealer
}

var _ tma.PersonService = (*PersonService)(nil)

// NewPersonService returns a PersonService on db that seals with sealer.
func NewPersonService(db *DB, sealer tma.RecordSealer) *PersonService {
	return &PersonService{db: db, sealer: sealer}
}

const msgNoPerson = "No such person on this case."

// personRecords are where a person's name and note are sealed.
func personRecords(personID string) (name, note *tma.Record) {
	return &tma.Record{Table: "case_persons", RowID: personID, Field: "name"},
		&tma.Record{Table: "case_persons", RowID: personID, Field: "note"}
}

// AddPerson seals name and note outside the transaction (see
// NoteService.sealNote), then stores the entry, walls a linked person of
// concern or affected person off the case, and records both.
func (s *PersonService) AddPerson(ctx context.Context, tenantID, caseID string, in tma.PersonInput) (*tma.Person, error) {
	if err := in.Validate(); err != nil {
		return nil, err
	}
	actor := tma.ActorFromContext(ctx)
	if !tma.ValidID(tenantID) || !tma.ValidID(caseID) || !tma.ValidID(actor.UserID) {
		return nil, tma.Errorf(tma.ENOTFOUND, msgNoCase)
	}
	p := &tma.Person{ID: tma.NewID(), CaseID: caseID, Kind: in.Kind, Name: in.Name, Note: in.Note, CreatedAt: s.db.now()}
	n, o := personRecords(p.ID)
	n.Plain, o.Plain = []byte(in.Name), []byte(in.Note)
	recs := []*tma.Record{n}
	if in.Note != "" {
		recs = append(recs, o)
	}
	if err := s.sealer.Seal(ctx, tenantID, caseID, recs); err != nil {
		return nil, err
	}
	cases := &CaseService{db: s.db}
	err := s.db.inTx(ctx, "PersonService.AddPerson", func(tx pgx.Tx) error {
		c, err := findCase(ctx, tx, `id = $2`, tenantID, caseID, true)
		if err != nil {
			return err
		}
		if err := c.CheckOpen(); err != nil {
			return err
		}
		var userID *string
		if in.Email != "" {
			var id, name string
			err := tx.QueryRow(ctx, `SELECT id::text, display_name FROM users WHERE tenant_id = $1 AND email = $2`, tenantID, in.Email).Scan(&id, &name)
			if errors.Is(err, pgx.ErrNoRows) {
				return tma.Errorf(tma.EINVALID, msgNoSuchUser)
			} else if err != nil {
				return err
			}
			userID, p.UserID, p.UserName = &id, id, name
		}
		if _, err := tx.Exec(ctx, `INSERT INTO case_persons (tenant_id, id, case_id, kind, name, note, user_id, created_by, created_at)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)`, tenantID, p.ID, caseID, p.Kind, n.Sealed, o.Sealed, userID, actor.UserID, p.CreatedAt); err != nil {
			return err
		}
		detail := c.Reference + " person " + p.ID + " kind " + string(p.Kind)
		if p.UserID != "" {
			detail += " user " + p.UserID
		}
		if err := cases.touchAndAuditDetail(ctx, tx, c, tma.AuditCasePersonAdded, detail); err != nil {
			return err
		}
		if p.UserID == "" || !p.Kind.Excludes() {
			return nil
		}
		if p.UserID == actor.UserID {
			return tma.Errorf(tma.ECONFLICT, "You cannot exclude yourself from a case.")
		}
		// Linking a user as person of concern or affected person walls them
		// off the case: that is managing its members, which only a lead may
		// do (an expert could otherwise push out a lead).
		lead, err := currentMember(ctx, tx, tenantID, caseID, actor.UserID, s.db.now(), true)
		if err != nil {
			return err
		}
		if !lead {
			return tma.Errorf(tma.EFORBIDDEN, "Only a lead of the case can link a user as person of concern or affected person, because that excludes them from the case. Add the person without the e-mail address, or ask a lead.")
		}
		if _, err := tx.Exec(ctx, `DELETE FROM case_members WHERE tenant_id = $1 AND case_id = $2 AND user_id = $3`, tenantID, caseID, p.UserID); err != nil {
			return err
		}
		if err := cases.checkLead(ctx, tx, tenantID, caseID); err != nil {
			return err
		}
		tag, err := tx.Exec(ctx, `INSERT INTO case_exclusions (tenant_id, case_id, user_id, created_at) VALUES ($1, $2, $3, $4)
			ON CONFLICT DO NOTHING`, tenantID, caseID, p.UserID, s.db.now())
		if err != nil || tag.RowsAffected() == 0 {
			return err
		}
		return s.db.audit(ctx, tx, tenantID, tma.AuditCaseUserExcluded, "case", caseID,
			c.Reference+" user "+p.UserID+" named as "+string(p.Kind)+" (person "+p.ID+")")
	})
	if err != nil {
		return nil, err
	}
	return p, nil
}

// RemovePerson deletes an entry and its sealed name and note.
func (s *PersonService) RemovePerson(ctx context.Context, tenantID, caseID, personID string) error {
	if !tma.ValidID(tenantID) || !tma.ValidID(caseID) {
		return tma.Errorf(tma.ENOTFOUND, msgNoCase)
	}
	if !tma.ValidID(personID) {
		return tma.Errorf(tma.EINVALID, msgNoPerson)
	}
	return s.db.inTx(ctx, "PersonService.RemovePerson", func(tx pgx.Tx) error {
		c, err := findCase(ctx, tx, `id = $2`, tenantID, caseID, true)
		if err != nil {
			return err
		}
		if err := c.CheckOpen(); err != nil {
			return err
		}
		var kind string
		err = tx.QueryRow(ctx, `DELETE FROM case_persons WHERE tenant_id = $1 AND case_id = $2 AND id = $3 RETURNING kind`,
			tenantID, caseID, personID).Scan(&kind)
		if errors.Is(err, pgx.ErrNoRows) {
			return tma.Errorf(tma.EINVALID, msgNoPerson)
		} else if err != nil {
			return err
		}
		return (&CaseService{db: s.db}).touchAndAuditDetail(ctx, tx, c, tma.AuditCasePersonRemoved, c.Reference+" person "+personID+" kind "+kind)
	})
}

// Persons lists the case's persons and opens their names and notes in one
// batch.
func (s *PersonService) Persons(ctx context.Context, tenantID, caseID string) ([]*tma.Person, error) {
	if !tma.ValidID(tenantID) || !tma.ValidID(caseID) {
		return nil, tma.Errorf(tma.ENOTFOUND, msgNoCase)
	}
	rows, err := s.db.Pool.Query(ctx, `SELECT p.id::text, p.case_id::text, p.kind, p.name, p.note, COALESCE(p.user_id::text, ''),
		COALESCE(u.display_name, ''), p.created_at
		FROM case_persons p LEFT JOIN users u ON u.tenant_id = p.tenant_id AND u.id = p.user_id
		WHERE p.tenant_id = $1 AND p.case_id = $2
		ORDER BY array_position(ARRAY['concern','affected','reporter','witness'], p.kind), p.created_at, p.id LIMIT 500`, tenantID, caseID)
	if err != nil {
		return nil, dbError("PersonService.Persons", err)
	}
	type sealedPerson struct {
		tma.Person
		name, note []byte
	}
	sealed, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (*sealedPerson, error) {
		var p sealedPerson
		err := r.Scan(&p.ID, &p.CaseID, &p.Kind, &p.name, &p.note, &p.UserID, &p.UserName, &p.CreatedAt)
		return &p, err
	})
	if err != nil {
		return nil, dbError("PersonService.Persons", err)
	}
	var recs []*tma.Record
	out := make([]*tma.Person, len(sealed))
	names := make([]*tma.Record, len(sealed))
	notes := make([]*tma.Record, len(sealed))
	for i, sp := range sealed {
		p := sp.Person
		out[i] = &p
		names[i], notes[i] = personRecords(p.ID)
		names[i].Sealed = sp.name
		recs = append(recs, names[i])
		if sp.note != nil {
			notes[i].Sealed = sp.note
			recs = append(recs, notes[i])
		}
	}
	if len(recs) > 0 {
		if err := s.sealer.Open(ctx, tenantID, caseID, recs); err != nil {
			return nil, dbError("PersonService.Persons", err)
		}
	}
	for i, p := range out {
		p.Name, p.Note = string(names[i].Plain), string(notes[i].Plain)
	}
	return out, nil
}
