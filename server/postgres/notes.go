package postgres

import (
	"context"
	"strconv"

	"github.com/jackc/pgx/v5"

	"github.com/tma-portal/tma/server/tma"
)

// NoteService keeps case notes: one case_notes row per note and one
// case_note_versions row per save, each with its title and body sealed
// under the case key and bound to "<note id>@<version>".
type NoteService struct {
	db     *DB
	sealer tma.RecordSealer
}

var _ tma.NoteService = (*NoteService)(nil)

// NewNoteService returns a NoteService on db that seals with sealer.
func NewNoteService(db *DB, sealer tma.RecordSealer) *NoteService {
	return &NoteService{db: db, sealer: sealer}
}

const (
	msgNoNote      = "No such note."
	msgNoteChanged = "Someone else saved this note meanwhile. Open it again to see their version, then make your change."
)

// versionRecords are where two fields of one version of a row are sealed,
// bound to "<id>@<version>": a sealing of one version never opens as
// another's.
func versionRecords(table, id string, version int, first, second string) (*tma.Record, *tma.Record) {
	row := id + "@" + strconv.Itoa(version)
	return &tma.Record{Table: table, RowID: row, Field: first}, &tma.Record{Table: table, RowID: row, Field: second}
}

// noteRecords are where a note version's title and body are sealed.
func noteRecords(noteID string, version int) (title, body *tma.Record) {
	return versionRecords("case_note_versions", noteID, version, "title", "body")
}

// sealNote seals title and body for one version, outside any transaction:
// the case key may have to be created, which must not wait for a lock the
// caller holds.
func (s *NoteService) sealNote(ctx context.Context, tenantID, caseID, noteID string, version int, in tma.NoteInput) (title, body []byte, err error) {
	t, b := noteRecords(noteID, version)
	t.Plain, b.Plain = []byte(in.Title), []byte(in.Body)
	if err := s.sealer.Seal(ctx, tenantID, caseID, []*tma.Record{t, b}); err != nil {
		return nil, nil, err
	}
	return t.Sealed, b.Sealed, nil
}

func noteDetail(noteID string, version int, restricted bool) string {
	d := "note " + noteID + " v" + strconv.Itoa(version)
	if restricted {
		d += " restricted"
	}
	return d
}

// AddNote seals and stores a new note and records it.
func (s *NoteService) AddNote(ctx context.Context, tenantID, caseID string, in tma.NoteInput) (*tma.Note, error) {
	if err := in.Validate(); err != nil {
		return nil, err
	}
	actor := tma.ActorFromContext(ctx)
	if !tma.ValidID(tenantID) || !tma.ValidID(caseID) || !tma.ValidID(actor.UserID) {
		return nil, tma.Errorf(tma.ENOTFOUND, msgNoCase)
	}
	id := tma.NewID()
	title, body, err := s.sealNote(ctx, tenantID, caseID, id, 1, in)
	if err != nil {
		return nil, err
	}
	now := s.db.now()
	err = s.db.inTx(ctx, "NoteService.AddNote", func(tx pgx.Tx) error {
		c, err := findCase(ctx, tx, `id = $2`, tenantID, caseID, true)
		if err != nil {
			return err
		}
		if err := c.CheckOpen(); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `INSERT INTO case_notes (tenant_id, id, case_id, version, restricted, created_by, created_at, updated_at)
			VALUES ($1, $2, $3, 1, $4, $5, $6, $6)`, tenantID, id, caseID, in.Restricted, actor.UserID, now); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `INSERT INTO case_note_versions (tenant_id, note_id, version, restricted, title, body, author_id, created_at)
			VALUES ($1, $2, 1, $3, $4, $5, $6, $7)`, tenantID, id, in.Restricted, title, body, actor.UserID, now); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `UPDATE cases SET updated_at = $3 WHERE tenant_id = $1 AND id = $2`, tenantID, caseID, now); err != nil {
			return err
		}
		return s.db.audit(ctx, tx, tenantID, tma.AuditNoteAdded, "case", caseID, noteDetail(id, 1, in.Restricted))
	})
	if err != nil {
		return nil, err
	}
	return &tma.Note{ID: id, CaseID: caseID, Version: 1, Versions: 1, Title: in.Title, Body: in.Body, Restricted: in.Restricted,
		AuthorID: actor.UserID, CreatedAt: now, SavedAt: now}, nil
}

// EditNote saves a new version of a note, if nobody saved one since
// in.Version.
func (s *NoteService) EditNote(ctx context.Context, tenantID, caseID, noteID string, in tma.NoteInput, restricted bool) (*tma.Note, error) {
	if err := in.Validate(); err != nil {
		return nil, err
	}
	actor := tma.ActorFromContext(ctx)
	if !tma.ValidID(tenantID) || !tma.ValidID(caseID) || !tma.ValidID(noteID) || !tma.ValidID(actor.UserID) {
		return nil, tma.Errorf(tma.ENOTFOUND, msgNoNote)
	}
	if in.Version < 1 {
		return nil, tma.Errorf(tma.ECONFLICT, msgNoteChanged)
	}
	version := in.Version + 1
	title, body, err := s.sealNote(ctx, tenantID, caseID, noteID, version, in)
	if err != nil {
		return nil, err
	}
	now := s.db.now()
	err = s.db.inTx(ctx, "NoteService.EditNote", func(tx pgx.Tx) error {
		c, err := findCase(ctx, tx, `id = $2`, tenantID, caseID, true)
		if err != nil {
			return err
		}
		var current int
		var wasRestricted bool
		err = tx.QueryRow(ctx, `SELECT version, restricted FROM case_notes WHERE tenant_id = $1 AND case_id = $2 AND id = $3 FOR UPDATE`,
			tenantID, caseID, noteID).Scan(&current, &wasRestricted)
		if err != nil {
			return notFound(err, msgNoNote)
		}
		if wasRestricted && !restricted {
			return tma.Errorf(tma.ENOTFOUND, msgNoNote) // as if it were not there: no content to edit
		}
		if err := c.CheckOpen(); err != nil {
			return err
		}
		if current != in.Version {
			return tma.Errorf(tma.ECONFLICT, msgNoteChanged)
		}
		if _, err := tx.Exec(ctx, `UPDATE case_notes SET version = $4, restricted = $5, updated_at = $6 WHERE tenant_id = $1 AND case_id = $2 AND id = $3`,
			tenantID, caseID, noteID, version, in.Restricted, now); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `INSERT INTO case_note_versions (tenant_id, note_id, version, restricted, title, body, author_id, created_at)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`, tenantID, noteID, version, in.Restricted, title, body, actor.UserID, now); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `UPDATE cases SET updated_at = $3 WHERE tenant_id = $1 AND id = $2`, tenantID, caseID, now); err != nil {
			return err
		}
		return s.db.audit(ctx, tx, tenantID, tma.AuditNoteEdited, "case", caseID, noteDetail(noteID, version, in.Restricted))
	})
	if err != nil {
		return nil, err
	}
	return &tma.Note{ID: noteID, CaseID: caseID, Version: version, Versions: version, Title: in.Title, Body: in.Body,
		Restricted: in.Restricted, AuthorID: actor.UserID, SavedAt: now}, nil
}

// noteSQL reads notes of a case with one version each, joined per row
// to the version chosen by the query's condition.
const noteSQL = `SELECT n.id::text, n.case_id::text, v.version, n.version, n.restricted OR v.restricted, v.title, v.body,
	v.author_id::text, COALESCE(u.display_name, ''), n.created_at, v.created_at
	FROM case_notes n
	JOIN case_note_versions v ON v.tenant_id = n.tenant_id AND v.note_id = n.id
	LEFT JOIN users u ON u.tenant_id = v.tenant_id AND u.id = v.author_id
	WHERE n.tenant_id = $1 AND n.case_id = $2 `

// sealedNote is a noteSQL row before its fields are opened.
type sealedNote struct {
	tma.Note
	title, body []byte
}

func scanSealedNote(r pgx.CollectableRow) (*sealedNote, error) {
	var n sealedNote
	err := r.Scan(&n.ID, &n.CaseID, &n.Version, &n.Versions, &n.Restricted, &n.title, &n.body, &n.AuthorID, &n.AuthorName, &n.CreatedAt, &n.SavedAt)
	return &n, err
}

// open opens title (and body, if withBody) unless the note is restricted
// and the reader may not see it: then it comes back Hidden, without either.
func (s *NoteService) open(ctx context.Context, tenantID string, sn *sealedNote, withBody, restricted bool) (*tma.Note, error) {
	n := sn.Note
	if n.Restricted && !restricted {
		n.Hidden = true
		return &n, nil
	}
	t, b := noteRecords(n.ID, n.Version)
	t.Sealed, b.Sealed = sn.title, sn.body
	recs := []*tma.Record{t}
	if withBody {
		recs = append(recs, b)
	}
	if err := s.sealer.Open(ctx, tenantID, n.CaseID, recs); err != nil {
		return nil, err
	}
	n.Title, n.Body = string(t.Plain), string(b.Plain)
	return &n, nil
}

// Notes lists a case's notes at their latest version, bodies left out.
func (s *NoteService) Notes(ctx context.Context, tenantID, caseID string, restricted bool) ([]*tma.Note, error) {
	if !tma.ValidID(tenantID) || !tma.ValidID(caseID) {
		return nil, tma.Errorf(tma.ENOTFOUND, msgNoCase)
	}
	rows, err := s.db.Pool.Query(ctx, noteSQL+`AND v.version = n.version ORDER BY n.updated_at DESC, n.id LIMIT 500`, tenantID, caseID)
	if err != nil {
		return nil, dbError("NoteService.Notes", err)
	}
	sealed, err := pgx.CollectRows(rows, scanSealedNote)
	if err != nil {
		return nil, dbError("NoteService.Notes", err)
	}
	out := make([]*tma.Note, 0, len(sealed))
	for _, sn := range sealed {
		n, err := s.open(ctx, tenantID, sn, false, restricted)
		if err != nil {
			return nil, dbError("NoteService.Notes", err)
		}
		out = append(out, n)
	}
	return out, nil
}

// Note returns one version of a note; a restricted one comes back Hidden
// to a reader who may not see it.
func (s *NoteService) Note(ctx context.Context, tenantID, caseID, noteID string, version int, restricted bool) (*tma.Note, error) {
	if !tma.ValidID(tenantID) || !tma.ValidID(caseID) || !tma.ValidID(noteID) || version < 0 {
		return nil, tma.Errorf(tma.ENOTFOUND, msgNoNote)
	}
	rows, err := s.db.Pool.Query(ctx, noteSQL+`AND n.id = $3 AND v.version = CASE WHEN $4::int = 0 THEN n.version ELSE $4::int END`,
		tenantID, caseID, noteID, version)
	if err != nil {
		return nil, dbError("NoteService.Note", err)
	}
	sn, err := pgx.CollectExactlyOneRow(rows, scanSealedNote)
	if err != nil {
		return nil, dbError("NoteService.Note", notFound(err, msgNoNote))
	}
	n, err := s.open(ctx, tenantID, sn, true, restricted)
	return n, dbError("NoteService.Note", err)
}
