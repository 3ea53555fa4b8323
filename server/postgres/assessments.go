package postgres

import (
	"context"
	"encoding/json"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/tma-portal/tma/server/tma"
)

// AssessmentService keeps the assessments of cases (assessments). An
// assessment's ratings and judgments are one JSON record sealed with the
// case key, bound to "<id>@<revision>" (table "assessments", field
// "content"); every save is a new revision and a new sealing, so an older
// sealing never opens as the current one. The rules come from the
// instrument version the assessment is pinned to (tma.Instrument's
// CheckDraft, CheckSubmit and Evaluate).
//
// Locks are taken in one order, the case row first and then the
// assessment row, as every case service does. Sealing happens before the
// transaction: the case key may have to be created, which must not wait
// for a lock we hold.
type AssessmentService struct {
	db          *DB
	sealer      tma.RecordSealer
	instruments *InstrumentService
}

var _ tma.AssessmentService = (*AssessmentService)(nil)

// NewAssessmentService returns an AssessmentService on db that seals with
// sealer.
func NewAssessmentService(db *DB, sealer tma.RecordSealer) *AssessmentService {
	return &AssessmentService{db: db, sealer: sealer, instruments: NewInstrumentService(db)}
}

const (
	msgNoAssessment         = "No such assessment."
	msgAssessmentChanged    = "Someone else saved this assessment meanwhile. Open it again to see their changes, then make yours."
	msgAssessmentNotDraft   = "This assessment was submitted and can no longer be changed."
	msgAssessmentOpen       = "This case has an assessment in progress already. Finish or discard it first."
	msgAssessmentNotPending = "This assessment is not waiting for approval."
	msgOwnAssessment        = "You cannot approve your own assessment. Another threat manager must approve it."
	msgAssessmentStale      = "The case's risk level changed since this assessment was submitted. Reject it and submit again."
	msgAssessmentRestarted  = "Another assessment of this case was approved meanwhile. Start again to carry over its ratings."
	msgNotAllowed           = "You do not have permission to do this."
	msgRestrictedApprover   = "This assessment rates items that only the case lead and legal may read, so only one of them can approve it (not whoever wrote it)."
)

// assessmentContent is what is sealed: the ratings and the judgments.
type assessmentContent struct {
	Ratings   map[string]tma.Rating   `json:"ratings"`
	Judgments map[string]tma.Judgment `json:"judgments"`
}

// contentRecord is where an assessment's content is sealed at revision.
func contentRecord(id string, revision int) *tma.Record {
	return &tma.Record{Table: "assessments", RowID: id + "@" + strconv.Itoa(revision), Field: "content"}
}

// seal seals ratings and judgments for one revision, outside any
// transaction.
func (s *AssessmentService) seal(ctx context.Context, tenantID, caseID, id string, revision int, ratings map[string]tma.Rating, judgments map[string]tma.Judgment) ([]byte, error) {
	if ratings == nil {
		ratings = map[string]tma.Rating{}
	}
	if judgments == nil {
		judgments = map[string]tma.Judgment{}
	}
	plain, err := json.Marshal(assessmentContent{Ratings: ratings, Judgments: judgments})
	if err != nil {
		return nil, tma.Wrap("AssessmentService.seal", err)
	}
	r := contentRecord(id, revision)
	r.Plain = plain
	if err := s.sealer.Seal(ctx, tenantID, caseID, []*tma.Record{r}); err != nil {
		return nil, err
	}
	return r.Sealed, nil
}

// open fills a's ratings and judgments from its sealed content.
func (s *AssessmentService) open(ctx context.Context, tenantID string, a *tma.Assessment, sealed []byte) error {
	r := contentRecord(a.ID, a.Revision)
	r.Sealed = sealed
	if err := s.sealer.Open(ctx, tenantID, a.CaseID, []*tma.Record{r}); err != nil {
		return err
	}
	var c assessmentContent
	if err := json.Unmarshal(r.Plain, &c); err != nil {
		return tma.Wrap("AssessmentService.open", err)
	}
	a.Ratings, a.Judgments = c.Ratings, c.Judgments
	if a.Ratings == nil {
		a.Ratings = map[string]tma.Rating{}
	}
	if a.Judgments == nil {
		a.Judgments = map[string]tma.Judgment{}
	}
	return nil
}

// assessmentSQL reads assessments of a case with the names of the people
// involved.
const assessmentSQL = `SELECT a.id::text, a.case_id::text, a.instrument_id, a.instrument_version, COALESCE(a.previous_id::text, ''),
	a.status, a.revision, a.content, COALESCE(a.risk, ''), COALESCE(a.from_risk, ''), a.incomplete, a.reasons,
	a.created_by::text, COALESCE(cu.display_name, ''), a.created_at, a.saved_at,
	COALESCE(a.submitted_by::text, ''), COALESCE(su.display_name, ''), a.submitted_at,
	COALESCE(a.decided_by::text, ''), COALESCE(du.display_name, ''), a.decided_at
	FROM assessments a
	LEFT JOIN users cu ON cu.tenant_id = a.tenant_id AND cu.id = a.created_by
	LEFT JOIN users su ON su.tenant_id = a.tenant_id AND su.id = a.submitted_by
	LEFT JOIN users du ON du.tenant_id = a.tenant_id AND du.id = a.decided_by
	WHERE a.tenant_id = $1 AND a.case_id = $2 `

// sealedAssessment is an assessmentSQL row before its content is opened.
type sealedAssessment struct {
	tma.Assessment
	content []byte
}

func scanSealedAssessment(r pgx.CollectableRow) (*sealedAssessment, error) {
	var a sealedAssessment
	var submittedAt, decidedAt *time.Time
	err := r.Scan(&a.ID, &a.CaseID, &a.InstrumentID, &a.InstrumentVersion, &a.PreviousID,
		&a.Status, &a.Revision, &a.content, &a.Risk, &a.FromRisk, &a.Incomplete, &a.Reasons,
		&a.AuthorID, &a.AuthorName, &a.CreatedAt, &a.SavedAt,
		&a.SubmittedBy, &a.SubmitterName, &submittedAt,
		&a.DecidedBy, &a.DeciderName, &decidedAt)
	if submittedAt != nil {
		a.SubmittedAt = *submittedAt
	}
	if decidedAt != nil {
		a.DecidedAt = *decidedAt
	}
	return &a, err
}

// hide hides the ratings of restricted items from a reader who may not
// read them (restricted false), by each assessment's own instrument
// version (tma.Instrument.HideRestricted). An assessment whose version
// cannot be found has every rating hidden: without the version, which
// items are restricted is unknown.
func (s *AssessmentService) hide(ctx context.Context, tenantID string, as []*tma.Assessment, restricted bool) error {
	if restricted {
		return nil
	}
	insts := map[string]*tma.Instrument{}
	for _, a := range as {
		key := a.InstrumentID + "@" + strconv.Itoa(a.InstrumentVersion)
		inst, ok := insts[key]
		if !ok {
			var err error
			inst, err = s.instruments.Instrument(ctx, tenantID, a.InstrumentID, a.InstrumentVersion)
			if err != nil && tma.ErrorCode(err) != tma.ENOTFOUND {
				return err
			}
			insts[key] = inst
		}
		if inst == nil {
			for id := range a.Ratings {
				a.Ratings[id] = tma.Rating{Hidden: true}
			}
			continue
		}
		a.Ratings = inst.HideRestricted(a.Ratings)
	}
	return nil
}

// Assessments lists the case's assessments, oldest first, opened, with
// restricted ratings hidden unless restricted.
func (s *AssessmentService) Assessments(ctx context.Context, tenantID, caseID string, restricted bool) ([]*tma.Assessment, error) {
	const op = "AssessmentService.Assessments"
	if !tma.ValidID(tenantID) || !tma.ValidID(caseID) {
		return nil, tma.Errorf(tma.ENOTFOUND, msgNoCase)
	}
	rows, err := s.db.Pool.Query(ctx, assessmentSQL+`ORDER BY a.created_at, a.id`, tenantID, caseID)
	if err != nil {
		return nil, dbError(op, err)
	}
	sealed, err := pgx.CollectRows(rows, scanSealedAssessment)
	if err != nil {
		return nil, dbError(op, err)
	}
	out := make([]*tma.Assessment, 0, len(sealed))
	for _, sa := range sealed {
		a := sa.Assessment
		if err := s.open(ctx, tenantID, &a, sa.content); err != nil {
			return nil, dbError(op, err)
		}
		out = append(out, &a)
	}
	if err := s.hide(ctx, tenantID, out, restricted); err != nil {
		return nil, dbError(op, err)
	}
	return out, nil
}

// Assessment returns one assessment of the case, opened, with restricted
// ratings hidden unless restricted.
func (s *AssessmentService) Assessment(ctx context.Context, tenantID, caseID, id string, restricted bool) (*tma.Assessment, error) {
	const op = "AssessmentService.Assessment"
	if !tma.ValidID(tenantID) || !tma.ValidID(caseID) || !tma.ValidID(id) {
		return nil, tma.Errorf(tma.ENOTFOUND, msgNoAssessment)
	}
	rows, err := s.db.Pool.Query(ctx, assessmentSQL+`AND a.id = $3`, tenantID, caseID, id)
	if err != nil {
		return nil, dbError(op, err)
	}
	sa, err := pgx.CollectExactlyOneRow(rows, scanSealedAssessment)
	if err != nil {
		return nil, dbError(op, notFound(err, msgNoAssessment))
	}
	a := sa.Assessment
	if err := s.open(ctx, tenantID, &a, sa.content); err != nil {
		return nil, dbError(op, err)
	}
	if err := s.hide(ctx, tenantID, []*tma.Assessment{&a}, restricted); err != nil {
		return nil, dbError(op, err)
	}
	return &a, nil
}

func assessmentDetail(id, instrumentID string, version int) string {
	return "assessment " + id + " " + instrumentID + " v" + strconv.Itoa(version)
}

// Start begins a draft, its ratings carried over from the case's latest
// final assessment.
func (s *AssessmentService) Start(ctx context.Context, tenantID, caseID, instrumentID string, version int) (*tma.Assessment, error) {
	const op = "AssessmentService.Start"
	actor := tma.ActorFromContext(ctx)
	if !tma.ValidID(tenantID) || !tma.ValidID(caseID) {
		return nil, tma.Errorf(tma.ENOTFOUND, msgNoCase)
	}
	if !tma.ValidID(actor.UserID) {
		return nil, tma.Errorf(tma.EFORBIDDEN, msgNotAllowed)
	}
	if version < 0 {
		return nil, tma.Errorf(tma.ENOTFOUND, msgNoInstrument)
	}
	if _, err := findCase(ctx, s.db.Pool, `id = $2`, tenantID, caseID, false); err != nil {
		return nil, dbError(op, err)
	}
	inst, err := s.instruments.Instrument(ctx, tenantID, instrumentID, version)
	if err != nil {
		return nil, dbError(op, err)
	}
	prev, err := s.latestFinal(ctx, tenantID, caseID)
	if err != nil {
		return nil, dbError(op, err)
	}
	var ratings map[string]tma.Rating
	if prev != nil {
		prevInst, err := s.instruments.Instrument(ctx, tenantID, prev.InstrumentID, prev.InstrumentVersion)
		if err != nil {
			return nil, dbError(op, err)
		}
		ratings = tma.CarryOver(prevInst, prev, inst)
	}
	a := &tma.Assessment{ID: tma.NewID(), CaseID: caseID, InstrumentID: inst.ID, InstrumentVersion: inst.Version,
		Status: tma.AssessmentDraft, Revision: 1, Ratings: ratings, Judgments: map[string]tma.Judgment{}, AuthorID: actor.UserID}
	if a.Ratings == nil {
		a.Ratings = map[string]tma.Rating{}
	}
	var prevID *string
	if prev != nil {
		a.PreviousID = prev.ID
		prevID = &prev.ID
	}
	content, err := s.seal(ctx, tenantID, caseID, a.ID, 1, a.Ratings, a.Judgments)
	if err != nil {
		return nil, dbError(op, err)
	}
	now := s.db.now()
	a.CreatedAt, a.SavedAt = now, now
	err = s.db.inTx(ctx, op, func(tx pgx.Tx) error {
		c, err := findCase(ctx, tx, `id = $2`, tenantID, caseID, true)
		if err != nil {
			return err
		}
		if err := c.CheckOpen(); err != nil {
			return err
		}
		var open bool
		var latest string
		if err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM assessments WHERE tenant_id = $1 AND case_id = $2 AND status <> 'final'),
			COALESCE((SELECT a.id::text FROM assessments a WHERE a.tenant_id = $1 AND a.case_id = $2 AND a.status = 'final' `+finalOrder+` LIMIT 1), '')`,
			tenantID, caseID).Scan(&open, &latest); err != nil {
			return err
		}
		if open {
			return tma.Errorf(tma.ECONFLICT, msgAssessmentOpen)
		}
		if latest != a.PreviousID {
			return tma.Errorf(tma.ECONFLICT, msgAssessmentRestarted)
		}
		_, err = tx.Exec(ctx, `INSERT INTO assessments (tenant_id, id, case_id, instrument_id, instrument_version, previous_id, status, revision,
			content, created_by, edited_by, created_at, saved_at) VALUES ($1, $2, $3, $4, $5, $6, 'draft', 1, $7, $8, ARRAY[$8::uuid], $9, $9)`,
			tenantID, a.ID, caseID, a.InstrumentID, a.InstrumentVersion, prevID, content, actor.UserID, now)
		if isUniqueViolation(err) {
			return tma.Errorf(tma.ECONFLICT, msgAssessmentOpen)
		} else if err != nil {
			return err
		}
		return s.db.audit(ctx, tx, tenantID, tma.AuditAssessmentStarted, "case", caseID, assessmentDetail(a.ID, a.InstrumentID, a.InstrumentVersion))
	})
	if err != nil {
		return nil, err
	}
	return s.Assessment(ctx, tenantID, caseID, a.ID, false)
}

// finalOrder is the order of final assessments, latest first: by when
// they became final (approved, or submitted without a second approver).
const finalOrder = `ORDER BY COALESCE(a.decided_at, a.submitted_at) DESC, a.id`

// latestFinal returns the case's latest final assessment, opened, or nil.
func (s *AssessmentService) latestFinal(ctx context.Context, tenantID, caseID string) (*tma.Assessment, error) {
	rows, err := s.db.Pool.Query(ctx, assessmentSQL+`AND a.status = 'final' `+finalOrder+` LIMIT 1`, tenantID, caseID)
	if err != nil {
		return nil, err
	}
	sealed, err := pgx.CollectRows(rows, scanSealedAssessment)
	if err != nil || len(sealed) == 0 {
		return nil, err
	}
	a := sealed[0].Assessment
	if err := s.open(ctx, tenantID, &a, sealed[0].content); err != nil {
		return nil, err
	}
	return &a, nil
}

// draftOf reads what a save needs before sealing: the draft's instrument
// version. ECONFLICT if it is no draft any more.
func (s *AssessmentService) draftOf(ctx context.Context, tenantID, caseID, id string) (*tma.Instrument, error) {
	var instID string
	var version int
	var status tma.AssessmentStatus
	err := s.db.Pool.QueryRow(ctx, `SELECT instrument_id, instrument_version, status FROM assessments WHERE tenant_id = $1 AND case_id = $2 AND id = $3`,
		tenantID, caseID, id).Scan(&instID, &version, &status)
	if err != nil {
		return nil, notFound(err, msgNoAssessment)
	}
	if status != tma.AssessmentDraft {
		return nil, tma.Errorf(tma.ECONFLICT, msgAssessmentNotDraft)
	}
	return s.instruments.Instrument(ctx, tenantID, instID, version)
}

// Save stores a new revision of a draft.
func (s *AssessmentService) Save(ctx context.Context, tenantID, caseID, id string, d tma.AssessmentInput, restricted bool) (*tma.Assessment, error) {
	return s.save(ctx, tenantID, caseID, id, d, false, restricted)
}

// Submit stores a new revision of a draft and submits it.
func (s *AssessmentService) Submit(ctx context.Context, tenantID, caseID, id string, d tma.AssessmentInput, restricted bool) (*tma.Assessment, error) {
	return s.save(ctx, tenantID, caseID, id, d, true, restricted)
}

// save is Save, and Submit if submit: the checks and the sealing first,
// then, under the locks of the case and the draft, the revision check, the
// links and, for a submission, the rules against the case's current risk
// level.
//
// For a caller who may not read restricted content, the ratings of
// restricted items come from the stored draft at d.Revision, not from d
// (tma.Instrument.KeepRestricted), so that what is sealed is the whole
// assessment: the revision check under the lock makes sure that the
// stored draft they were taken from is still the current one.
func (s *AssessmentService) save(ctx context.Context, tenantID, caseID, id string, d tma.AssessmentInput, submit, restricted bool) (*tma.Assessment, error) {
	op := "AssessmentService.Save"
	if submit {
		op = "AssessmentService.Submit"
	}
	actor := tma.ActorFromContext(ctx)
	if !tma.ValidID(tenantID) || !tma.ValidID(caseID) || !tma.ValidID(id) {
		return nil, tma.Errorf(tma.ENOTFOUND, msgNoAssessment)
	}
	if !tma.ValidID(actor.UserID) {
		return nil, tma.Errorf(tma.EFORBIDDEN, msgNotAllowed)
	}
	if d.Revision < 1 {
		return nil, tma.Errorf(tma.ECONFLICT, msgAssessmentChanged)
	}
	inst, err := s.draftOf(ctx, tenantID, caseID, id)
	if err != nil {
		return nil, dbError(op, err)
	}
	if !restricted && inst.HasRestricted() {
		stored, err := s.Assessment(ctx, tenantID, caseID, id, true)
		if err != nil {
			return nil, err
		}
		if stored.Status != tma.AssessmentDraft {
			return nil, tma.Errorf(tma.ECONFLICT, msgAssessmentNotDraft)
		}
		if stored.Revision != d.Revision {
			return nil, tma.Errorf(tma.ECONFLICT, msgAssessmentChanged)
		}
		d.Ratings = inst.KeepRestricted(d.Ratings, stored.Ratings)
	}
	draft := &tma.Assessment{Ratings: d.Ratings, Judgments: d.Judgments}
	if submit {
		err = inst.CheckSubmit(draft, restricted)
	} else {
		err = inst.CheckDraft(d)
	}
	if err != nil {
		return nil, err
	}
	revision := d.Revision + 1
	content, err := s.seal(ctx, tenantID, caseID, id, revision, d.Ratings, d.Judgments)
	if err != nil {
		return nil, dbError(op, err)
	}
	now := s.db.now()
	err = s.db.inTx(ctx, op, func(tx pgx.Tx) error {
		c, err := findCase(ctx, tx, `id = $2`, tenantID, caseID, true)
		if err != nil {
			return err
		}
		var status tma.AssessmentStatus
		var current int
		var instID string
		var instVersion int
		err = tx.QueryRow(ctx, `SELECT status, revision, instrument_id, instrument_version FROM assessments
			WHERE tenant_id = $1 AND case_id = $2 AND id = $3 FOR UPDATE`, tenantID, caseID, id).Scan(&status, &current, &instID, &instVersion)
		if err != nil {
			return notFound(err, msgNoAssessment)
		}
		if err := c.CheckOpen(); err != nil {
			return err
		}
		if status != tma.AssessmentDraft || current != d.Revision || instID != inst.ID || instVersion != inst.Version {
			return tma.Errorf(tma.ECONFLICT, msgAssessmentChanged)
		}
		if err := checkLinks(ctx, tx, tenantID, caseID, inst, d.Ratings); err != nil {
			return err
		}
		if !submit {
			if _, err := tx.Exec(ctx, `UPDATE assessments SET revision = $4, content = $5, saved_at = $6, `+addEditor("$7")+`
				WHERE tenant_id = $1 AND case_id = $2 AND id = $3`, tenantID, caseID, id, revision, content, now, actor.UserID); err != nil {
				return err
			}
			return nil // a save of a draft is not audited: starting, submitting and deciding are
		}
		out := inst.Evaluate(draft, c.Risk)
		status = tma.AssessmentFinal
		if out.SecondApprover {
			status = tma.AssessmentPending
		}
		var risk *tma.RiskLevel
		if out.Risk != "" {
			risk = &out.Risk
		}
		reasons := out.Reasons
		if reasons == nil {
			reasons = []string{}
		}
		if _, err := tx.Exec(ctx, `UPDATE assessments SET status = $4, revision = $5, content = $6, saved_at = $7,
			risk = $8, from_risk = $9, incomplete = $10, reasons = $11, submitted_by = $12, submitted_at = $7, `+addEditor("$12")+`
			WHERE tenant_id = $1 AND case_id = $2 AND id = $3`,
			tenantID, caseID, id, status, revision, content, now, risk, c.Risk, out.Incomplete, reasons, actor.UserID); err != nil {
			return err
		}
		detail := assessmentDetail(id, inst.ID, inst.Version)
		if status == tma.AssessmentPending {
			detail += " pending " + strings.Join(out.Reasons, ",")
		} else {
			detail += " final"
			if out.Risk != "" {
				detail += ", risk " + string(c.Risk) + "→" + string(out.Risk)
			}
		}
		if out.Incomplete {
			detail += ", incomplete"
		}
		if err := s.db.audit(ctx, tx, tenantID, tma.AuditAssessmentSubmitted, "case", caseID, detail); err != nil {
			return err
		}
		if status == tma.AssessmentFinal {
			return setCaseRisk(ctx, tx, c, out.Risk, now)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return s.Assessment(ctx, tenantID, caseID, id, restricted)
}

// addEditor is the SET clause that adds the user in param ("$7") to an
// assessment's editors (edited_by): whoever saved ratings or judgments
// into it may not approve it.
func addEditor(param string) string {
	return `edited_by = CASE WHEN ` + param + `::uuid = ANY (edited_by) THEN edited_by ELSE array_append(edited_by, ` + param + `::uuid) END`
}

// setCaseRisk makes risk the case's risk level; "" (an instrument without
// a risk judgment) leaves it as it is.
func setCaseRisk(ctx context.Context, tx pgx.Tx, c *tma.Case, risk tma.RiskLevel, now time.Time) error {
	if risk == "" {
		return nil
	}
	_, err := tx.Exec(ctx, `UPDATE cases SET risk = $3, updated_at = $4 WHERE tenant_id = $1 AND id = $2`, c.TenantID, c.ID, risk, now)
	return err
}

// checkLinks checks that every link of every rating is a note or a
// document of this case. The answer for an id of another case, another
// tenant or no row at all is the same.
func checkLinks(ctx context.Context, tx pgx.Tx, tenantID, caseID string, inst *tma.Instrument, ratings map[string]tma.Rating) error {
	var ids []string
	for _, r := range ratings {
		ids = append(ids, r.Links...)
	}
	if len(ids) == 0 {
		return nil
	}
	slices.Sort(ids)
	ids = slices.Compact(ids)
	rows, err := tx.Query(ctx, `SELECT id::text FROM case_notes WHERE tenant_id = $1 AND case_id = $2 AND id = ANY($3::uuid[])
		UNION SELECT id::text FROM documents WHERE tenant_id = $1 AND case_id = $2 AND id = ANY($3::uuid[])`, tenantID, caseID, ids)
	if err != nil {
		return err
	}
	found, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return err
	}
	// Name the first item, in the instrument's order, with a link not found.
	for _, sec := range inst.Sections {
		for _, it := range sec.Items {
			for _, l := range ratings[it.ID].Links {
				if !slices.Contains(found, l) {
					return tma.BadAssessmentLink(it.Name)
				}
			}
		}
	}
	return nil
}

// Decide approves or rejects a pending assessment under the case's row
// lock. Approving makes it final and sets the case's risk level to its
// risk judgment; it is refused to whoever started, saved or submitted it
// (edited_by: a rejecter who then edits the draft wrote part of it), to
// anyone who is not a current member of the case, and when the case's risk
// level changed since the submission (the rules ran against the old one,
// so their verdict may no longer hold: reject and submit again). Rejecting
// (anyone's right, the author's withdrawal included) returns it to draft
// at the same revision: its sealed content is unchanged, so its binding
// "<id>@<revision>" stays right, and a form opened before the submission
// stays stale.
func (s *AssessmentService) Decide(ctx context.Context, tenantID, caseID, id string, approve, restricted bool) (*tma.Assessment, error) {
	const op = "AssessmentService.Decide"
	actor := tma.ActorFromContext(ctx)
	if !tma.ValidID(tenantID) || !tma.ValidID(caseID) || !tma.ValidID(id) {
		return nil, tma.Errorf(tma.ENOTFOUND, msgNoAssessment)
	}
	if !tma.ValidID(actor.UserID) {
		return nil, tma.Errorf(tma.EFORBIDDEN, msgNotAllowed)
	}
	err := s.db.inTx(ctx, op, func(tx pgx.Tx) error {
		c, err := findCase(ctx, tx, `id = $2`, tenantID, caseID, true)
		if err != nil {
			return err
		}
		var a tma.Assessment
		var edited bool
		err = tx.QueryRow(ctx, `SELECT instrument_id, instrument_version, status, COALESCE(risk, ''), COALESCE(from_risk, ''), reasons,
			created_by::text, COALESCE(submitted_by::text, ''), $4::uuid = ANY (edited_by)
			FROM assessments WHERE tenant_id = $1 AND case_id = $2 AND id = $3 FOR UPDATE`,
			tenantID, caseID, id, actor.UserID).Scan(&a.InstrumentID, &a.InstrumentVersion, &a.Status, &a.Risk, &a.FromRisk, &a.Reasons, &a.AuthorID, &a.SubmittedBy, &edited)
		if err != nil {
			return notFound(err, msgNoAssessment)
		}
		if a.Status != tma.AssessmentPending {
			return tma.Errorf(tma.ECONFLICT, msgAssessmentNotPending)
		}
		if err := c.CheckOpen(); err != nil {
			return err
		}
		detail := assessmentDetail(id, a.InstrumentID, a.InstrumentVersion)
		if !approve {
			if _, err := tx.Exec(ctx, `UPDATE assessments SET status = 'draft', risk = NULL, from_risk = NULL, incomplete = false, reasons = '{}',
				submitted_by = NULL, submitted_at = NULL WHERE tenant_id = $1 AND case_id = $2 AND id = $3`, tenantID, caseID, id); err != nil {
				return err
			}
			if actor.UserID == a.AuthorID || actor.UserID == a.SubmittedBy {
				detail += " withdrawn"
			}
			return s.db.audit(ctx, tx, tenantID, tma.AuditAssessmentRejected, "case", caseID, detail)
		}
		if actor.UserID == a.AuthorID || actor.UserID == a.SubmittedBy || edited {
			return tma.Errorf(tma.EFORBIDDEN, msgOwnAssessment)
		}
		// The route admits threat managers who contribute to the case; the
		// service checks the case half again, so that a weakened route rule
		// cannot let a former or excluded member approve.
		member, err := currentMember(ctx, tx, tenantID, caseID, actor.UserID, s.db.now(), false)
		if err != nil {
			return err
		}
		if !member {
			return tma.Errorf(tma.EFORBIDDEN, msgNotAllowed)
		}
		if !restricted {
			inst, err := instrumentFrom(ctx, tx, tenantID, a.InstrumentID, a.InstrumentVersion)
			if err != nil {
				return err
			}
			if inst.HasRestricted() {
				return tma.Errorf(tma.EFORBIDDEN, msgRestrictedApprover)
			}
		}
		if a.Risk != "" && c.Risk != a.FromRisk {
			return tma.Errorf(tma.ECONFLICT, msgAssessmentStale)
		}
		now := s.db.now()
		if _, err := tx.Exec(ctx, `UPDATE assessments SET status = 'final', decided_by = $4, decided_at = $5
			WHERE tenant_id = $1 AND case_id = $2 AND id = $3`, tenantID, caseID, id, actor.UserID, now); err != nil {
			return err
		}
		detail += " " + strings.Join(a.Reasons, ",")
		if a.Risk != "" {
			detail += ", risk " + string(c.Risk) + "→" + string(a.Risk)
		}
		if err := s.db.audit(ctx, tx, tenantID, tma.AuditAssessmentApproved, "case", caseID, detail); err != nil {
			return err
		}
		return setCaseRisk(ctx, tx, c, a.Risk, now)
	})
	if err != nil {
		return nil, err
	}
	return s.Assessment(ctx, tenantID, caseID, id, false)
}

// Discard deletes a draft.
func (s *AssessmentService) Discard(ctx context.Context, tenantID, caseID, id string) error {
	const op = "AssessmentService.Discard"
	actor := tma.ActorFromContext(ctx)
	if !tma.ValidID(tenantID) || !tma.ValidID(caseID) || !tma.ValidID(id) {
		return tma.Errorf(tma.ENOTFOUND, msgNoAssessment)
	}
	if !tma.ValidID(actor.UserID) {
		return tma.Errorf(tma.EFORBIDDEN, msgNotAllowed)
	}
	return s.db.inTx(ctx, op, func(tx pgx.Tx) error {
		c, err := findCase(ctx, tx, `id = $2`, tenantID, caseID, true)
		if err != nil {
			return err
		}
		var instID string
		var version int
		var status tma.AssessmentStatus
		err = tx.QueryRow(ctx, `SELECT instrument_id, instrument_version, status FROM assessments WHERE tenant_id = $1 AND case_id = $2 AND id = $3 FOR UPDATE`,
			tenantID, caseID, id).Scan(&instID, &version, &status)
		if err != nil {
			return notFound(err, msgNoAssessment)
		}
		if err := c.CheckOpen(); err != nil {
			return err
		}
		if status != tma.AssessmentDraft {
			return tma.Errorf(tma.ECONFLICT, msgAssessmentNotDraft)
		}
		if _, err := tx.Exec(ctx, `DELETE FROM assessments WHERE tenant_id = $1 AND case_id = $2 AND id = $3`, tenantID, caseID, id); err != nil {
			return err
		}
		return s.db.audit(ctx, tx, tenantID, tma.AuditAssessmentDiscarded, "case", caseID, assessmentDetail(id, instID, version))
	})
}
