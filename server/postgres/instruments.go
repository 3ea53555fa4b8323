package postgres

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"strconv"

	"github.com/jackc/pgx/v5"

	"github.com/tma-portal/tma/server/tma"
)

// InstrumentService keeps the tenant's instrument versions (instruments):
// each the validated definition as jsonb and the file it came from.
// Versions are only ever added.
type InstrumentService struct {
	db *DB
}

var _ tma.InstrumentService = (*InstrumentService)(nil)

// NewInstrumentService returns an InstrumentService on db.
func NewInstrumentService(db *DB) *InstrumentService { return &InstrumentService{db: db} }

const (
	msgNoInstrument      = "No such instrument version."
	msgInstrumentChanged = "Version %d of instrument %q exists already with other content. Give the changed instrument a higher version number."
)

// Import stores a version unless the same one is stored already.
func (s *InstrumentService) Import(ctx context.Context, tenantID string, inst *tma.Instrument, source []byte) (bool, error) {
	if ps := inst.Validate(); len(ps) > 0 {
		return false, tma.InvalidInstrument(ps)
	}
	if !tma.ValidID(tenantID) {
		return false, tma.Errorf(tma.ENOTFOUND, msgNoInstrument)
	}
	def, err := json.Marshal(inst)
	if err != nil {
		return false, tma.Wrap("InstrumentService.Import", err)
	}
	sum := sha256.Sum256(def)
	actor := tma.ActorFromContext(ctx)
	var importer *string
	if tma.ValidID(actor.UserID) {
		importer = &actor.UserID
	}
	created := false
	err = s.db.inTx(ctx, "InstrumentService.Import", func(tx pgx.Tx) error {
		// One import of a given instrument at a time, so that two equal
		// imports do not both try to insert.
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock(hashtext('instrument:' || $1 || ':' || $2))`, tenantID, inst.ID); err != nil {
			return err
		}
		var digest []byte
		err := tx.QueryRow(ctx, `SELECT digest FROM instruments WHERE tenant_id = $1 AND id = $2 AND version = $3`,
			tenantID, inst.ID, inst.Version).Scan(&digest)
		switch {
		case err == nil && bytes.Equal(digest, sum[:]):
			return nil
		case err == nil:
			return tma.Errorf(tma.ECONFLICT, msgInstrumentChanged, inst.Version, inst.ID)
		case err != pgx.ErrNoRows:
			return err
		}
		if _, err := tx.Exec(ctx, `INSERT INTO instruments (tenant_id, id, version, title, definition, source, digest, imported_by, imported_at)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)`, tenantID, inst.ID, inst.Version, inst.Title, def, source, sum[:], importer, s.db.now()); err != nil {
			return err
		}
		created = true
		return s.db.audit(ctx, tx, tenantID, tma.AuditInstrumentImported, "instrument", "", inst.ID+" v"+strconv.Itoa(inst.Version))
	})
	return created, err
}

// Instruments lists every version, newest version of each first. The
// assessments are counted in the cases the actor may see (a current
// membership without an exclusion, as MyCases): the count of another
// case's assessments, drafts included, would tell who sees the list that
// a case they may not see is being assessed. An operator (the CLI) counts
// every case; an actor without a user counts none.
func (s *InstrumentService) Instruments(ctx context.Context, tenantID string) ([]*tma.InstrumentInfo, error) {
	if !tma.ValidID(tenantID) {
		return nil, nil
	}
	actor := tma.ActorFromContext(ctx)
	viewer := "00000000-0000-0000-0000-000000000000" // no user: no case is visible
	if tma.ValidID(actor.UserID) {
		viewer = actor.UserID
	}
	rows, err := s.db.Pool.Query(ctx, `SELECT i.id, i.version, i.title, COALESCE(i.imported_by::text, ''), COALESCE(u.display_name, ''), i.imported_at,
		(SELECT count(*) FROM assessments a WHERE a.tenant_id = i.tenant_id AND a.instrument_id = i.id AND a.instrument_version = i.version
			AND ($2 OR EXISTS (SELECT 1 FROM case_members m WHERE m.tenant_id = a.tenant_id AND m.case_id = a.case_id AND m.user_id = $3
				AND (m.expires_at IS NULL OR m.expires_at > $4)
				AND NOT EXISTS (SELECT 1 FROM case_exclusions x WHERE x.tenant_id = m.tenant_id AND x.case_id = m.case_id AND x.user_id = m.user_id))))
		FROM instruments i LEFT JOIN users u ON u.tenant_id = i.tenant_id AND u.id = i.imported_by
		WHERE i.tenant_id = $1 ORDER BY i.id, i.version DESC`, tenantID, actor.Operator && actor.UserID == "", viewer, s.db.now())
	if err != nil {
		return nil, dbError("InstrumentService.Instruments", err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (*tma.InstrumentInfo, error) {
		var i tma.InstrumentInfo
		return &i, r.Scan(&i.ID, &i.Version, &i.Title, &i.ImportedBy, &i.ImporterName, &i.ImportedAt, &i.Assessments)
	})
	return out, dbError("InstrumentService.Instruments", err)
}

// Instrument returns one version, or the latest for version 0.
func (s *InstrumentService) Instrument(ctx context.Context, tenantID, id string, version int) (*tma.Instrument, error) {
	return instrumentFrom(ctx, s.db.Pool, tenantID, id, version)
}

// instrumentFrom reads one version through q: a transaction reads it on
// its own connection.
func instrumentFrom(ctx context.Context, q querier, tenantID, id string, version int) (*tma.Instrument, error) {
	var def []byte
	if err := instrumentRow(ctx, q, tenantID, id, version, "definition").Scan(&def); err != nil {
		return nil, notFound(err, msgNoInstrument)
	}
	var inst tma.Instrument
	if err := json.Unmarshal(def, &inst); err != nil {
		return nil, tma.Wrap("InstrumentService.Instrument", err)
	}
	return &inst, nil
}

// Source returns the file a version was imported from.
func (s *InstrumentService) Source(ctx context.Context, tenantID, id string, version int) ([]byte, error) {
	var src []byte
	if err := instrumentRow(ctx, s.db.Pool, tenantID, id, version, "source").Scan(&src); err != nil {
		return nil, notFound(err, msgNoInstrument)
	}
	return src, nil
}

// row selects column of one version (0: the latest). A version no table
// holds (negative, or beyond PostgreSQL's integer, from an address) selects
// nothing.
func instrumentRow(ctx context.Context, q querier, tenantID, id string, version int, column string) pgx.Row {
	if !tma.ValidID(tenantID) || version < 0 || version > tma.MaxInstrumentVersion {
		tenantID, version = "00000000-0000-0000-0000-000000000000", 0
	}
	return q.QueryRow(ctx, `SELECT `+column+` FROM instruments WHERE tenant_id = $1 AND id = $2 AND ($3 = 0 OR version = $3)
		ORDER BY version DESC LIMIT 1`, tenantID, id, version)
}
