package postgres

import (
	"context"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/tma-portal/tma/server/tma"
)

// ActionService keeps the action plans of cases. Title and outcome are
// sealed under the case key, bound to "<action id>@<revision>"; each
// change seals both afresh under the next revision.
type ActionService struct {
	db     *DB
	sealer tma.RecordSealer
}

var _ tma.ActionService = (*ActionService)(nil)

// NewActionService returns an ActionService on db that seals with sealer.
func NewActionService(db *DB, sealer tma.RecordSealer) *ActionService {
	return &ActionService{db: db, sealer: sealer}
}

const (
	msgNoAction      = "No such action."
	msgActionChanged = "Someone else changed this action meanwhile. Look at it again, then make your change."
	msgNotOwner      = "Choose an owner among the members of the case."
)

// actionRecords are where an action revision's title and outcome are sealed.
func actionRecords(actionID string, revision int) (title, outcome *tma.Record) {
	return versionRecords("case_actions", actionID, revision, "title", "outcome")
}

// seal seals title and outcome (nil for none) for one revision, outside any
// transaction (see NoteService.sealNote).
func (s *ActionService) seal(ctx context.Context, tenantID, caseID, actionID string, revision int, in tma.ActionInput) (title, outcome []byte, err error) {
	t, o := actionRecords(actionID, revision)
	t.Plain, o.Plain = []byte(in.Title), []byte(in.Outcome)
	recs := []*tma.Record{t}
	if in.Outcome != "" {
		recs = append(recs, o)
	}
	if err := s.sealer.Seal(ctx, tenantID, caseID, recs); err != nil {
		return nil, nil, err
	}
	return t.Sealed, o.Sealed, nil
}

// checkOwner refuses an owner who is not a current, unexcluded member.
func checkOwner(ctx context.Context, tx pgx.Tx, tenantID, caseID, userID string, now time.Time) error {
	ok, err := currentMember(ctx, tx, tenantID, caseID, userID, now, false)
	if err == nil && !ok {
		return tma.Errorf(tma.EINVALID, msgNotOwner)
	}
	return err
}

func actionDetail(id string, in tma.ActionInput) string {
	d := "action " + id + " owner " + in.OwnerID + " status " + string(in.Status)
	if !in.Due.IsZero() {
		d += " due " + in.Due.Format(time.DateOnly)
	}
	return d
}

func nullDay(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	return &t
}

// AddAction seals and stores a countermeasure.
func (s *ActionService) AddAction(ctx context.Context, tenantID, caseID string, in tma.ActionInput) (*tma.Action, error) {
	if err := in.Validate(); err != nil {
		return nil, err
	}
	actor := tma.ActorFromContext(ctx)
	if !tma.ValidID(tenantID) || !tma.ValidID(caseID) || !tma.ValidID(actor.UserID) {
		return nil, tma.Errorf(tma.ENOTFOUND, msgNoCase)
	}
	id := tma.NewID()
	title, outcome, err := s.seal(ctx, tenantID, caseID, id, 1, in)
	if err != nil {
		return nil, err
	}
	now := s.db.now()
	err = s.db.inTx(ctx, "ActionService.AddAction", func(tx pgx.Tx) error {
		c, err := findCase(ctx, tx, `id = $2`, tenantID, caseID, true)
		if err != nil {
			return err
		}
		if err := c.CheckOpen(); err != nil {
			return err
		}
		if err := checkOwner(ctx, tx, tenantID, caseID, in.OwnerID, now); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `INSERT INTO case_actions (tenant_id, id, case_id, revision, title, outcome, owner_id, due_on, status, created_by, created_at, updated_at)
			VALUES ($1, $2, $3, 1, $4, $5, $6, $7, $8, $9, $10, $10)`,
			tenantID, id, caseID, title, outcome, in.OwnerID, nullDay(in.Due), in.Status, actor.UserID, now); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `UPDATE cases SET updated_at = $3 WHERE tenant_id = $1 AND id = $2`, tenantID, caseID, now); err != nil {
			return err
		}
		return s.db.audit(ctx, tx, tenantID, tma.AuditActionAdded, "case", caseID, actionDetail(id, in))
	})
	if err != nil {
		return nil, err
	}
	return &tma.Action{ID: id, CaseID: caseID, Title: in.Title, OwnerID: in.OwnerID, Due: in.Due, Status: in.Status, Outcome: in.Outcome,
		CreatedAt: now, UpdatedAt: now}, nil
}

// ChangeAction seals the action afresh under its next revision, if nobody
// changed it since it was read here.
func (s *ActionService) ChangeAction(ctx context.Context, tenantID, caseID, actionID string, in tma.ActionInput) error {
	if err := in.Validate(); err != nil {
		return err
	}
	if !tma.ValidID(tenantID) || !tma.ValidID(caseID) || !tma.ValidID(actionID) {
		return tma.Errorf(tma.ENOTFOUND, msgNoAction)
	}
	var revision int
	err := s.db.Pool.QueryRow(ctx, `SELECT revision FROM case_actions WHERE tenant_id = $1 AND case_id = $2 AND id = $3`,
		tenantID, caseID, actionID).Scan(&revision)
	if err != nil {
		return dbError("ActionService.ChangeAction", notFound(err, msgNoAction))
	}
	title, outcome, err := s.seal(ctx, tenantID, caseID, actionID, revision+1, in)
	if err != nil {
		return err
	}
	now := s.db.now()
	return s.db.inTx(ctx, "ActionService.ChangeAction", func(tx pgx.Tx) error {
		c, err := findCase(ctx, tx, `id = $2`, tenantID, caseID, true)
		if err != nil {
			return err
		}
		if err := c.CheckOpen(); err != nil {
			return err
		}
		if err := checkOwner(ctx, tx, tenantID, caseID, in.OwnerID, now); err != nil {
			return err
		}
		tag, err := tx.Exec(ctx, `UPDATE case_actions SET revision = $5, title = $6, outcome = $7, owner_id = $8, due_on = $9, status = $10, updated_at = $11
			WHERE tenant_id = $1 AND case_id = $2 AND id = $3 AND revision = $4`,
			tenantID, caseID, actionID, revision, revision+1, title, outcome, in.OwnerID, nullDay(in.Due), in.Status, now)
		if err != nil {
			return err
		}
		if tag.RowsAffected() == 0 {
			return tma.Errorf(tma.ECONFLICT, msgActionChanged)
		}
		if _, err := tx.Exec(ctx, `UPDATE cases SET updated_at = $3 WHERE tenant_id = $1 AND id = $2`, tenantID, caseID, now); err != nil {
			return err
		}
		return s.db.audit(ctx, tx, tenantID, tma.AuditActionChanged, "case", caseID, actionDetail(actionID, in))
	})
}

const actionColumns = `a.id::text, a.case_id::text, c.reference, a.revision, a.title, a.outcome, a.owner_id::text,
	COALESCE(u.display_name, ''), a.due_on, a.status, a.created_at, a.updated_at,
	COALESCE(a.wiki_page_id::text, ''), COALESCE(a.wiki_revision, 0)`

const actionFrom = ` FROM case_actions a
	JOIN cases c ON c.tenant_id = a.tenant_id AND c.id = a.case_id
	LEFT JOIN users u ON u.tenant_id = a.tenant_id AND u.id = a.owner_id `

type sealedAction struct {
	tma.Action
	revision       int
	title, outcome []byte
}

func scanSealedAction(r pgx.CollectableRow) (*sealedAction, error) {
	var a sealedAction
	var due *time.Time
	err := r.Scan(&a.ID, &a.CaseID, &a.Reference, &a.revision, &a.title, &a.outcome, &a.OwnerID, &a.OwnerName, &due, &a.Status, &a.CreatedAt, &a.UpdatedAt,
		&a.WikiPageID, &a.WikiRevision)
	if due != nil {
		a.Due = due.UTC()
	}
	return &a, err
}

// collect reads sealed actions and opens their fields after the rows are
// closed.
func (s *ActionService) collect(ctx context.Context, op, tenantID string, rows pgx.Rows, err error) ([]*tma.Action, error) {
	if err != nil {
		return nil, dbError(op, err)
	}
	sealed, err := pgx.CollectRows(rows, scanSealedAction)
	if err != nil {
		return nil, dbError(op, err)
	}
	out := make([]*tma.Action, 0, len(sealed))
	for _, sa := range sealed {
		a := sa.Action
		t, o := actionRecords(a.ID, sa.revision)
		t.Sealed, o.Sealed = sa.title, sa.outcome
		recs := []*tma.Record{t}
		if sa.outcome != nil {
			recs = append(recs, o)
		}
		if err := s.sealer.Open(ctx, tenantID, a.CaseID, recs); err != nil {
			return nil, dbError(op, err)
		}
		a.Title, a.Outcome = string(t.Plain), string(o.Plain)
		out = append(out, &a)
	}
	return out, nil
}

// Actions lists the case's actions by due date, undated last.
func (s *ActionService) Actions(ctx context.Context, tenantID, caseID string) ([]*tma.Action, error) {
	if !tma.ValidID(tenantID) || !tma.ValidID(caseID) {
		return nil, tma.Errorf(tma.ENOTFOUND, msgNoCase)
	}
	rows, err := s.db.Pool.Query(ctx, `SELECT `+actionColumns+actionFrom+`WHERE a.tenant_id = $1 AND a.case_id = $2
		ORDER BY a.due_on NULLS LAST, a.created_at LIMIT 500`, tenantID, caseID)
	return s.collect(ctx, "ActionService.Actions", tenantID, rows, err)
}

// MyTasks lists the open actions the user owns on open cases where they are
// a current member and not excluded.
func (s *ActionService) MyTasks(ctx context.Context, tenantID, userID string) ([]*tma.Action, error) {
	if !tma.ValidID(tenantID) || !tma.ValidID(userID) {
		return nil, nil
	}
	rows, err := s.db.Pool.Query(ctx, `SELECT `+actionColumns+actionFrom+`
		JOIN case_members m ON m.tenant_id = a.tenant_id AND m.case_id = a.case_id AND m.user_id = $2
		WHERE a.tenant_id = $1 AND a.owner_id = $2 AND a.status IN ('open', 'in_progress') AND c.status <> 'closed'
		  AND (m.expires_at IS NULL OR m.expires_at > $3)
		  AND NOT EXISTS (SELECT 1 FROM case_exclusions x WHERE x.tenant_id = m.tenant_id AND x.case_id = m.case_id AND x.user_id = m.user_id)
		ORDER BY a.due_on NULLS LAST, c.reference, a.created_at LIMIT 500`, tenantID, userID, s.db.now())
	return s.collect(ctx, "ActionService.MyTasks", tenantID, rows, err)
}
