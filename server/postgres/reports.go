package postgres

import (
	"context"
	"encoding/json"
	"time"

	"github.com/jackc/pgx/v5"
	"golang.org/x/crypto/argon2"

	"github.com/tma-portal/tma/server/tma"
)

// ReportService keeps reports (intake). Report text is sealed by sealer
// under the key of the report's case: at first its own intake case row
// (migration 0010), later the case it was opened as or merged into.
type ReportService struct {
	db       *DB
	sealer   tma.RecordSealer
	keys     tma.CaseKeyService // shreds an intake row's key after a merge
	throttle tma.ThrottlePolicy
}

var _ tma.ReportService = (*ReportService)(nil)

// NewReportService returns a ReportService on db. Anonymous reports and
// receipt codes are rate-limited with the window and lockout of policy.
func NewReportService(db *DB, sealer tma.RecordSealer, keys tma.CaseKeyService, policy tma.ThrottlePolicy) *ReportService {
	return &ReportService{db: db, sealer: sealer, keys: keys, throttle: policy}
}

const (
	msgNoReport   = "No such report."
	msgWrongCode  = "This receipt code is not valid. Check it and try again."
	msgNotPending = "A decision on this report was made already."

	// Anonymous reports per sender tag and per tenant within the window:
	// the tenant-wide bound also holds against many senders.
	anonReportsPerClient = 5
	anonReportsPerTenant = 100
	// Wrong receipt codes per sender tag and per tenant within the window.
	wrongCodesPerTenant = 50
)

// Sealed fields of reports and messages.
const (
	tableReports  = "reports"
	tableMessages = "report_messages"
)

// File stores a report of the actor.
func (s *ReportService) File(ctx context.Context, tenantID string, nr tma.NewReport) (*tma.Report, error) {
	actor := tma.ActorFromContext(ctx)
	if !tma.ValidID(tenantID) || actor.TenantID != tenantID || !tma.ValidID(actor.UserID) {
		return nil, tma.Errorf(tma.EFORBIDDEN, "You do not have permission to do this.")
	}
	return s.file(ctx, tenantID, nr, actor.UserID, nil)
}

// FileAnonymous stores an anonymous report and returns its receipt code.
func (s *ReportService) FileAnonymous(ctx context.Context, tenantID string, nr tma.NewReport, client string) (*tma.Report, string, error) {
	nr.Named = nil // the public page names nobody by id
	if err := nr.Validate(); err != nil {
		return nil, "", err
	}
	if !tma.ValidID(tenantID) {
		return nil, "", tma.Errorf(tma.ENOTFOUND, "This page does not exist.")
	}
	_, wait, err := s.db.reserveAttempt(ctx, s.throttle, tenantID, tma.AuditReportThrottled,
		throttleKey{"report:" + tenantID + ":" + client, anonReportsPerClient},
		throttleKey{"report:" + tenantID, anonReportsPerTenant})
	if err != nil {
		return nil, "", err
	}
	if wait > 0 {
		return nil, "", reportThrottled(wait)
	}
	code := tma.NewReceiptCode()
	r, err := s.file(ctx, tenantID, nr, "", receiptHash(tenantID, code))
	if err != nil {
		return nil, "", err
	}
	return r, code, nil
}

func reportThrottled(wait time.Duration) error {
	return tma.Errorf(tma.ETHROTTLED, "Too many attempts. Please try again in %d minute(s).", max(1, int((wait+time.Minute-1)/time.Minute)))
}

// receiptHash is argon2id of a normalised receipt code, salted with the
// tenant: a database dump alone cannot test guesses quickly (and 100 random
// bits leave nothing to enumerate anyway). It is deterministic, so that the
// code finds its report with one indexed lookup.
func receiptHash(tenantID, code string) []byte {
	return argon2.IDKey([]byte(tma.NormalizeReceiptCode(code)), []byte("tma receipt v1|"+tenantID), argonTime, argonMemory, argonThreads, argonKeyLen)
}

// file creates the intake case row (committed first: the key provider
// makes its key outside any transaction), seals the content under its key
// and stores the report with its named persons. If sealing or storing
// fails, the empty intake row is removed again.
func (s *ReportService) file(ctx context.Context, tenantID string, nr tma.NewReport, reporterID string, receipt []byte) (*tma.Report, error) {
	if err := nr.Validate(); err != nil {
		return nil, err
	}
	now := s.db.now()
	r := &tma.Report{ID: tma.NewID(), TenantID: tenantID, Anonymous: reporterID == "", ReporterID: reporterID,
		Urgency: nr.Urgency, Categories: nr.Categories, Status: tma.ReportPending, CreatedAt: now}
	ref := "R-" + r.ID[:8] + r.ID[9:13]
	if err := s.db.Pool.QueryRow(ctx, `INSERT INTO cases (tenant_id, reference, title, intake, created_at, updated_at)
		VALUES ($1, $2, '', true, $3, $3) RETURNING id::text`, tenantID, ref, now).Scan(&r.CaseID); err != nil {
		return nil, dbError("ReportService.File", err)
	}
	content, _ := json.Marshal(nr.Content)
	rec := &tma.Record{Table: tableReports, RowID: r.ID, Field: "content", Plain: content}
	err := s.sealer.Seal(ctx, tenantID, r.CaseID, []*tma.Record{rec})
	if err == nil {
		err = s.db.inTx(ctx, "ReportService.File", func(tx pgx.Tx) error {
			if _, err := tx.Exec(ctx, `INSERT INTO reports (id, tenant_id, case_id, intake_case_id, reporter_id, receipt_hash, urgency, categories, content, created_at)
				VALUES ($1, $2, $3, $3, NULLIF($4, '')::uuid, $5, $6, $7, $8, $9)`,
				r.ID, tenantID, r.CaseID, reporterID, receipt, r.Urgency, categoryStrings(r.Categories), rec.Sealed, now); err != nil {
				return err
			}
			for _, id := range nr.Named {
				_, err := tx.Exec(ctx, `INSERT INTO report_named (tenant_id, report_id, user_id)
					SELECT $1, $2, id FROM users WHERE tenant_id = $1 AND id = $3`, tenantID, r.ID, id)
				if err != nil {
					return err
				}
			}
			var named int
			if err := tx.QueryRow(ctx, `SELECT count(*) FROM report_named WHERE tenant_id = $1 AND report_id = $2`, tenantID, r.ID).Scan(&named); err != nil {
				return err
			}
			if named != len(nr.Named) {
				return tma.Errorf(tma.EINVALID, "A named person is not a user of your organisation.")
			}
			return s.db.audit(ctx, tx, tenantID, tma.AuditReportFiled, "report", r.ID, "urgency "+string(r.Urgency))
		})
	}
	if err != nil {
		// Best effort: the row holds nothing yet but its (unused) key.
		cctx := context.WithoutCancel(ctx)
		_, _ = s.db.Pool.Exec(cctx, `DELETE FROM case_keys WHERE tenant_id = $1 AND case_id = $2`, tenantID, r.CaseID)
		_, _ = s.db.Pool.Exec(cctx, `DELETE FROM cases WHERE tenant_id = $1 AND id = $2 AND intake`, tenantID, r.CaseID)
		return nil, err
	}
	return r, nil
}

func categoryStrings(cs []tma.Category) []string {
	out := make([]string, len(cs))
	for i, c := range cs {
		out[i] = string(c)
	}
	return out
}

// reportRow is a report as stored, its sealed fields still sealed.
type reportRow struct {
	tma.Report
	content  []byte
	intakeID string
}

const reportColumns = `r.id::text, r.tenant_id::text, r.case_id::text, r.intake_case_id::text, COALESCE(r.reporter_id::text, ''),
	r.urgency, r.categories, r.content, r.status, r.created_at, r.decided_at, CASE WHEN c.intake THEN '' ELSE c.reference END`

const reportFrom = ` FROM reports r JOIN cases c ON c.tenant_id = r.tenant_id AND c.id = r.case_id `

func scanReport(row pgx.Row) (*reportRow, error) {
	var r reportRow
	var cats []string
	var decided *time.Time
	err := row.Scan(&r.ID, &r.TenantID, &r.CaseID, &r.intakeID, &r.ReporterID, &r.Urgency, &cats, &r.content, &r.Status, &r.CreatedAt, &decided, &r.CaseRef)
	if err != nil {
		return nil, err
	}
	r.Anonymous = r.ReporterID == ""
	for _, c := range cats {
		r.Categories = append(r.Categories, tma.Category(c))
	}
	if decided != nil {
		r.DecidedAt = *decided
	}
	return &r, nil
}

// MyReports lists the actor's own reports.
func (s *ReportService) MyReports(ctx context.Context, tenantID string) ([]*tma.Report, error) {
	actor := tma.ActorFromContext(ctx)
	if !tma.ValidID(tenantID) || !tma.ValidID(actor.UserID) {
		return nil, nil
	}
	return s.list(ctx, `r.reporter_id = $2 ORDER BY r.created_at DESC LIMIT 200`, tenantID, actor.UserID)
}

// Queue lists pending reports that do not name the actor.
func (s *ReportService) Queue(ctx context.Context, tenantID string) ([]*tma.Report, error) {
	actor := tma.ActorFromContext(ctx)
	if !tma.ValidID(tenantID) || !tma.ValidID(actor.UserID) {
		return nil, nil
	}
	return s.list(ctx, `r.status = 'pending' AND NOT EXISTS (SELECT 1 FROM report_named n
		WHERE n.tenant_id = r.tenant_id AND n.report_id = r.id AND n.user_id = $2)
		ORDER BY r.created_at LIMIT 500`, tenantID, actor.UserID)
}

func (s *ReportService) list(ctx context.Context, where, tenantID, userID string) ([]*tma.Report, error) {
	rows, err := s.db.Pool.Query(ctx, `SELECT `+reportColumns+reportFrom+` WHERE r.tenant_id = $1 AND `+where, tenantID, userID)
	if err != nil {
		return nil, dbError("ReportService.list", err)
	}
	out, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (*tma.Report, error) {
		r, err := scanReport(row)
		if err != nil {
			return nil, err
		}
		return &r.Report, nil
	})
	return out, dbError("ReportService.list", err)
}

// find reads one report of the tenant selected by where ($1 tenant, $2 arg).
func (s *ReportService) find(ctx context.Context, q querier, where, tenantID string, arg any, lock bool) (*reportRow, error) {
	sql := `SELECT ` + reportColumns + reportFrom + ` WHERE r.tenant_id = $1 AND ` + where
	if lock {
		sql += ` FOR UPDATE OF r`
	}
	r, err := scanReport(q.QueryRow(ctx, sql, tenantID, arg))
	if err != nil {
		return nil, notFound(err, msgNoReport)
	}
	return r, nil
}

// forTeam finds a report for the team: ENOTFOUND if it names the actor.
func (s *ReportService) forTeam(ctx context.Context, q querier, tenantID, reportID string, lock bool) (*reportRow, error) {
	actor := tma.ActorFromContext(ctx)
	if !tma.ValidID(tenantID) || !tma.ValidID(reportID) || !tma.ValidID(actor.UserID) {
		return nil, tma.Errorf(tma.ENOTFOUND, msgNoReport)
	}
	r, err := s.find(ctx, q, `r.id = $2`, tenantID, reportID, lock)
	if err != nil {
		return nil, err
	}
	var named bool
	if err := q.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM report_named WHERE tenant_id = $1 AND report_id = $2 AND user_id = $3)`,
		tenantID, reportID, actor.UserID).Scan(&named); err != nil {
		return nil, err
	}
	if named {
		return nil, tma.Errorf(tma.ENOTFOUND, msgNoReport)
	}
	// Once a report is part of a case, it is case content: only current,
	// unexcluded members of that case see it (as authorizeCase decides for
	// the case's own pages), whatever they saw in the queue before.
	if r.Status == tma.ReportOpened || r.Status == tma.ReportMerged {
		member, err := currentMember(ctx, q, tenantID, r.CaseID, actor.UserID, s.db.now(), false)
		if err != nil {
			return nil, err
		}
		if !member {
			return nil, tma.Errorf(tma.ENOTFOUND, msgNoReport)
		}
	}
	return r, nil
}

// messageRow is a message as stored.
type messageRow struct {
	tma.ReportMessage
	sealed []byte
}

func (s *ReportService) messages(ctx context.Context, q pgx.Tx, tenantID, reportID string) ([]*messageRow, error) {
	var rows pgx.Rows
	var err error
	sql := `SELECT id::text, from_team, text, created_at FROM report_messages WHERE tenant_id = $1 AND report_id = $2 ORDER BY created_at, id`
	if q != nil {
		rows, err = q.Query(ctx, sql, tenantID, reportID)
	} else {
		rows, err = s.db.Pool.Query(ctx, sql, tenantID, reportID)
	}
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, func(row pgx.CollectableRow) (*messageRow, error) {
		var m messageRow
		return &m, row.Scan(&m.ID, &m.FromTeam, &m.sealed, &m.CreatedAt)
	})
}

// open decrypts a report, its named persons and its messages.
func (s *ReportService) open(ctx context.Context, r *reportRow) (*tma.Report, []*tma.ReportMessage, error) {
	msgs, err := s.messages(ctx, nil, r.TenantID, r.ID)
	if err != nil {
		return nil, nil, dbError("ReportService.open", err)
	}
	recs := []*tma.Record{{Table: tableReports, RowID: r.ID, Field: "content", Sealed: r.content}}
	for _, m := range msgs {
		recs = append(recs, &tma.Record{Table: tableMessages, RowID: m.ID, Field: "text", Sealed: m.sealed})
	}
	if err := s.sealer.Open(ctx, r.TenantID, r.CaseID, recs); err != nil {
		return nil, nil, err
	}
	if err := json.Unmarshal(recs[0].Plain, &r.Content); err != nil {
		return nil, nil, tma.Errorf(tma.ECORRUPT, "report %s: content is not JSON", r.ID)
	}
	out := make([]*tma.ReportMessage, len(msgs))
	for i, m := range msgs {
		m.Text = string(recs[i+1].Plain)
		out[i] = &m.ReportMessage
	}
	rows, err := s.db.Pool.Query(ctx, `SELECT u.id::text, u.display_name FROM report_named n
		JOIN users u ON u.tenant_id = n.tenant_id AND u.id = n.user_id
		WHERE n.tenant_id = $1 AND n.report_id = $2 ORDER BY lower(u.display_name)`, r.TenantID, r.ID)
	if err != nil {
		return nil, nil, dbError("ReportService.open", err)
	}
	r.Named, err = pgx.CollectRows(rows, func(row pgx.CollectableRow) (tma.NamedPerson, error) {
		var n tma.NamedPerson
		return n, row.Scan(&n.UserID, &n.DisplayName)
	})
	if err != nil {
		return nil, nil, dbError("ReportService.open", err)
	}
	return &r.Report, out, nil
}

// MyReport returns one of the actor's own reports.
func (s *ReportService) MyReport(ctx context.Context, tenantID, reportID string) (*tma.Report, []*tma.ReportMessage, error) {
	r, err := s.own(ctx, tenantID, reportID)
	if err != nil {
		return nil, nil, err
	}
	rep, msgs, err := s.open(ctx, r)
	if err != nil {
		return nil, nil, err
	}
	rep.Named = nil // the reporter knows whom they named; the page shows their words
	return rep, msgs, nil
}

func (s *ReportService) own(ctx context.Context, tenantID, reportID string) (*reportRow, error) {
	actor := tma.ActorFromContext(ctx)
	if !tma.ValidID(tenantID) || !tma.ValidID(reportID) || !tma.ValidID(actor.UserID) {
		return nil, tma.Errorf(tma.ENOTFOUND, msgNoReport)
	}
	r, err := s.find(ctx, s.db.Pool, `r.id = $2`, tenantID, reportID, false)
	if err != nil {
		return nil, dbError("ReportService.own", err)
	}
	if r.ReporterID != actor.UserID {
		return nil, tma.Errorf(tma.ENOTFOUND, msgNoReport)
	}
	return r, nil
}

// AddToMyReport adds the reporter's message to their own report.
func (s *ReportService) AddToMyReport(ctx context.Context, tenantID, reportID, text string) error {
	text, err := tma.CheckMessage("text", text)
	if err != nil {
		return err
	}
	r, err := s.own(ctx, tenantID, reportID)
	if err != nil {
		return err
	}
	return s.addMessage(ctx, r, false, text)
}

// Triage returns a report for the team.
func (s *ReportService) Triage(ctx context.Context, tenantID, reportID string) (*tma.Report, []*tma.ReportMessage, error) {
	r, err := s.forTeam(ctx, s.db.Pool, tenantID, reportID, false)
	if err != nil {
		return nil, nil, dbError("ReportService.Triage", err)
	}
	return s.open(ctx, r)
}

// Ask sends the team's question to the reporter.
func (s *ReportService) Ask(ctx context.Context, tenantID, reportID, text string) error {
	text, err := tma.CheckMessage("text", text)
	if err != nil {
		return err
	}
	r, err := s.forTeam(ctx, s.db.Pool, tenantID, reportID, false)
	if err != nil {
		return dbError("ReportService.Ask", err)
	}
	return s.addMessage(ctx, r, true, text)
}

// addMessage seals text under the report's key and stores it. The report
// row is locked and its case checked again, so that a merge that re-seals
// the report meanwhile cannot leave this message under the old key.
func (s *ReportService) addMessage(ctx context.Context, r *reportRow, fromTeam bool, text string) error {
	id := tma.NewID()
	rec := &tma.Record{Table: tableMessages, RowID: id, Field: "text", Plain: []byte(text)}
	if err := s.sealer.Seal(ctx, r.TenantID, r.CaseID, []*tma.Record{rec}); err != nil {
		return err
	}
	actor := tma.ActorFromContext(ctx)
	author := ""
	if fromTeam {
		author = actor.UserID
	}
	return s.db.inTx(ctx, "ReportService.addMessage", func(tx pgx.Tx) error {
		var caseID string
		if err := tx.QueryRow(ctx, `SELECT case_id::text FROM reports WHERE tenant_id = $1 AND id = $2 FOR UPDATE`, r.TenantID, r.ID).Scan(&caseID); err != nil {
			return notFound(err, msgNoReport)
		}
		if caseID != r.CaseID {
			return tma.Errorf(tma.ECONFLICT, "The report changed meanwhile. Please send your message again.")
		}
		if _, err := tx.Exec(ctx, `INSERT INTO report_messages (id, tenant_id, report_id, from_team, author_id, text, created_at)
			VALUES ($1, $2, $3, $4, NULLIF($5, '')::uuid, $6, $7)`, id, r.TenantID, r.ID, fromTeam, author, rec.Sealed, s.db.now()); err != nil {
			return err
		}
		detail := "from reporter"
		if fromTeam {
			detail = "from team"
		}
		return s.db.audit(ctx, tx, r.TenantID, tma.AuditReportMessage, "report", r.ID, detail)
	})
}

// mailbox finds the anonymous report with the receipt code, throttled:
// every check counts against the sender's tag and the tenant before the
// (slow) hash is computed; a right code gives its attempt back, a wrong one
// is audited and locks the keys whose limit it reached.
func (s *ReportService) mailbox(ctx context.Context, tenantID, code, client string) (*reportRow, error) {
	if !tma.ValidID(tenantID) {
		return nil, tma.Errorf(tma.ENOTFOUND, "This page does not exist.")
	}
	if err := tma.CheckText("code", code); err != nil {
		return nil, err
	}
	norm := tma.NormalizeReceiptCode(code)
	if norm == "" {
		// Not even the shape of a code: no report can match, and no hash
		// is computed, so it costs no attempt.
		return nil, tma.Errorf(tma.EINVALID, "Enter the receipt code you were given: 20 letters and digits.")
	}
	keys := []throttleKey{
		{"receipt:" + tenantID + ":" + client, s.throttle.AccountFailures},
		{"receipt:" + tenantID, wrongCodesPerTenant},
	}
	res, wait, err := s.db.reserveAttempt(ctx, s.throttle, tenantID, tma.AuditReportThrottled, keys...)
	if err != nil {
		return nil, err
	}
	if wait > 0 {
		return nil, reportThrottled(wait)
	}
	r, err := s.find(ctx, s.db.Pool, `r.receipt_hash = $2`, tenantID, receiptHash(tenantID, norm), false)
	if err != nil && tma.ErrorCode(err) != tma.ENOTFOUND {
		return nil, dbError("ReportService.Mailbox", err)
	}
	var locked bool
	err = s.db.inTx(ctx, "ReportService.Mailbox", func(tx pgx.Tx) error {
		for i, k := range res.keys {
			var err error
			switch {
			case r != nil:
				_, err = tx.Exec(ctx, `UPDATE login_throttle SET failures = GREATEST(failures - 1, 0) WHERE key = $1`, k.key)
			case res.counts[i] >= k.limit:
				locked = true
				_, err = tx.Exec(ctx, `UPDATE login_throttle SET failures = 0, window_start = $2, locked_until = GREATEST(locked_until, $2)
					WHERE key = $1`, k.key, s.db.now().Add(s.throttle.Lockout))
			}
			if err != nil {
				return err
			}
		}
		if r != nil {
			return nil
		}
		return s.db.audit(ctx, tx, tenantID, tma.AuditReportCodeRefused, "", "", "")
	})
	switch {
	case err != nil:
		return nil, err
	case locked:
		return nil, reportThrottled(s.throttle.Lockout)
	case r == nil:
		return nil, tma.Errorf(tma.EUNAUTHORIZED, msgWrongCode)
	}
	return r, nil
}

// Mailbox returns the anonymous report with the receipt code.
func (s *ReportService) Mailbox(ctx context.Context, tenantID, code, client string) (*tma.Report, []*tma.ReportMessage, error) {
	r, err := s.mailbox(ctx, tenantID, code, client)
	if err != nil {
		return nil, nil, err
	}
	rep, msgs, err := s.open(ctx, r)
	if err != nil {
		return nil, nil, err
	}
	rep.Named = nil
	return rep, msgs, nil
}

// AnswerMailbox adds the anonymous reporter's message.
func (s *ReportService) AnswerMailbox(ctx context.Context, tenantID, code, client, text string) error {
	text, err := tma.CheckMessage("text", text)
	if err != nil {
		return err
	}
	r, err := s.mailbox(ctx, tenantID, code, client)
	if err != nil {
		return err
	}
	return s.addMessage(ctx, r, false, text)
}

// pending locks a report for a decision: it exists, does not name the
// actor, and is still pending.
func (s *ReportService) pending(ctx context.Context, tx pgx.Tx, tenantID, reportID string) (*reportRow, error) {
	r, err := s.forTeam(ctx, tx, tenantID, reportID, true)
	if err != nil {
		return nil, err
	}
	if r.Status != tma.ReportPending {
		return nil, tma.Errorf(tma.ECONFLICT, msgNotPending)
	}
	return r, nil
}

// excludeNamed walls every person named in the report off the case: their
// membership ends and an exclusion beats any role they hold or get later.
func (s *ReportService) excludeNamed(ctx context.Context, tx pgx.Tx, c *tma.Case, reportID string) error {
	rows, err := tx.Query(ctx, `SELECT user_id::text FROM report_named WHERE tenant_id = $1 AND report_id = $2`, c.TenantID, reportID)
	if err != nil {
		return err
	}
	ids, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return err
	}
	for _, id := range ids {
		if id == tma.ActorFromContext(ctx).UserID {
			return tma.Errorf(tma.ENOTFOUND, msgNoReport) // cannot happen: forTeam hides it
		}
		if _, err := tx.Exec(ctx, `DELETE FROM case_members WHERE tenant_id = $1 AND case_id = $2 AND user_id = $3`, c.TenantID, c.ID, id); err != nil {
			return err
		}
		tag, err := tx.Exec(ctx, `INSERT INTO case_exclusions (tenant_id, case_id, user_id, created_at) VALUES ($1, $2, $3, $4)
			ON CONFLICT DO NOTHING`, c.TenantID, c.ID, id, s.db.now())
		if err != nil {
			return err
		}
		if tag.RowsAffected() > 0 {
			if err := s.db.audit(ctx, tx, c.TenantID, tma.AuditCaseUserExcluded, "case", c.ID, c.Reference+" user "+id+" named in report"); err != nil {
				return err
			}
		}
	}
	return nil
}

// Open promotes the report's intake row to a case led by the actor.
func (s *ReportService) Open(ctx context.Context, tenantID, reportID string, nc tma.NewCase) (*tma.Case, error) {
	if err := nc.Validate(); err != nil {
		return nil, err
	}
	actor := tma.ActorFromContext(ctx)
	var c *tma.Case
	err := s.db.inTx(ctx, "ReportService.Open", func(tx pgx.Tx) error {
		r, err := s.pending(ctx, tx, tenantID, reportID)
		if err != nil {
			return err
		}
		now := s.db.now()
		c, err = allocateCase(ctx, tx, tenantID, now, func(sp pgx.Tx, ref string) (*tma.Case, error) {
			return scanCase(sp.QueryRow(ctx, `UPDATE cases AS c SET reference = $3, title = $4, risk = $5, labels = $6, intake = false,
				status = 'new', created_at = $7, updated_at = $7 WHERE c.tenant_id = $1 AND c.id = $2 AND c.intake RETURNING `+caseColumns,
				tenantID, r.intakeID, ref, nc.Title, nc.Risk, nc.Labels, now))
		})
		if err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `INSERT INTO case_members (tenant_id, case_id, user_id, role, added_at) VALUES ($1, $2, $3, 'lead', $4)`,
			tenantID, c.ID, actor.UserID, now); err != nil {
			return err
		}
		if err := s.db.audit(ctx, tx, tenantID, tma.AuditCaseCreated, "case", c.ID, c.Reference+" from report "+r.ID); err != nil {
			return err
		}
		if err := s.excludeNamed(ctx, tx, c, r.ID); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `UPDATE reports SET status = 'opened', decided_at = $3, decided_by = $4 WHERE tenant_id = $1 AND id = $2`,
			tenantID, r.ID, now, actor.UserID); err != nil {
			return err
		}
		return s.db.audit(ctx, tx, tenantID, tma.AuditReportOpened, "report", r.ID, c.Reference)
	})
	if err != nil {
		return nil, err
	}
	return c, nil
}

// Merge re-seals the report and its messages under the target case's key
// and attaches it there; then the intake row's key is shredded.
func (s *ReportService) Merge(ctx context.Context, tenantID, reportID, caseID string) (*tma.Case, error) {
	actor := tma.ActorFromContext(ctx)
	if !tma.ValidID(caseID) {
		return nil, tma.Errorf(tma.ENOTFOUND, msgNoCase)
	}
	if ok, err := s.leads(ctx, s.db.Pool, tenantID, caseID, actor.UserID); err != nil {
		return nil, dbError("ReportService.Merge", err)
	} else if !ok {
		return nil, tma.Errorf(tma.ENOTFOUND, msgNoCase)
	}
	r, err := s.forTeam(ctx, s.db.Pool, tenantID, reportID, false)
	if err != nil {
		return nil, dbError("ReportService.Merge", err)
	}
	if r.Status != tma.ReportPending {
		return nil, tma.Errorf(tma.ECONFLICT, msgNotPending)
	}
	// Open under the intake key, seal under the case key, outside the
	// transaction (keys may come from KMS).
	msgs, err := s.messages(ctx, nil, tenantID, r.ID)
	if err != nil {
		return nil, dbError("ReportService.Merge", err)
	}
	recs := []*tma.Record{{Table: tableReports, RowID: r.ID, Field: "content", Sealed: r.content}}
	for _, m := range msgs {
		recs = append(recs, &tma.Record{Table: tableMessages, RowID: m.ID, Field: "text", Sealed: m.sealed})
	}
	if err := s.sealer.Open(ctx, tenantID, r.CaseID, recs); err != nil {
		return nil, err
	}
	if err := s.sealer.Seal(ctx, tenantID, caseID, recs); err != nil {
		return nil, err
	}
	for _, rec := range recs {
		clear(rec.Plain)
	}
	var c *tma.Case
	err = s.db.inTx(ctx, "ReportService.Merge", func(tx pgx.Tx) error {
		locked, err := s.pending(ctx, tx, tenantID, reportID)
		if err != nil {
			return err
		}
		if c, err = findCase(ctx, tx, `id = $2`, tenantID, caseID, true); err != nil {
			return err
		}
		if ok, err := s.leads(ctx, tx, tenantID, caseID, actor.UserID); err != nil {
			return err
		} else if !ok {
			return tma.Errorf(tma.ENOTFOUND, msgNoCase)
		}
		var n int
		if err := tx.QueryRow(ctx, `SELECT count(*) FROM report_messages WHERE tenant_id = $1 AND report_id = $2`, tenantID, r.ID).Scan(&n); err != nil {
			return err
		}
		if locked.CaseID != r.CaseID || n != len(msgs) {
			return tma.Errorf(tma.ECONFLICT, "The report changed meanwhile. Please try again.")
		}
		now := s.db.now()
		if _, err := tx.Exec(ctx, `UPDATE reports SET case_id = $3, content = $4, status = 'merged', decided_at = $5, decided_by = $6
			WHERE tenant_id = $1 AND id = $2`, tenantID, r.ID, caseID, recs[0].Sealed, now, actor.UserID); err != nil {
			return err
		}
		for i, m := range msgs {
			if _, err := tx.Exec(ctx, `UPDATE report_messages SET text = $3 WHERE tenant_id = $1 AND id = $2`, tenantID, m.ID, recs[i+1].Sealed); err != nil {
				return err
			}
		}
		if _, err := tx.Exec(ctx, `UPDATE cases SET status = 'closed', updated_at = $3 WHERE tenant_id = $1 AND id = $2 AND intake`,
			tenantID, r.intakeID, now); err != nil {
			return err
		}
		if err := s.excludeNamed(ctx, tx, c, r.ID); err != nil {
			return err
		}
		if err := s.checkLead(ctx, tx, tenantID, caseID); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `UPDATE cases SET updated_at = $3 WHERE tenant_id = $1 AND id = $2`, tenantID, caseID, now); err != nil {
			return err
		}
		return s.db.audit(ctx, tx, tenantID, tma.AuditReportMerged, "report", r.ID, c.Reference)
	})
	if err != nil {
		return nil, err
	}
	// The intake key seals nothing any more: destroy it, so that no copy
	// of the report stays readable under it. A failure leaves an unused
	// key that `tma keys shred` can destroy; the merge stands.
	_ = s.keys.ShredCase(context.WithoutCancel(ctx), tenantID, r.intakeID)
	return c, nil
}

// leads reports whether the user is a current lead of the case and not
// excluded from it: who may manage a case (policies: p2 lead case manage).
func (s *ReportService) leads(ctx context.Context, q querier, tenantID, caseID, userID string) (bool, error) {
	var ok bool
	err := q.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM case_members m JOIN cases c ON c.tenant_id = m.tenant_id AND c.id = m.case_id
		WHERE m.tenant_id = $1 AND m.case_id = $2 AND m.user_id = $3 AND m.role = 'lead' AND NOT c.intake
		AND (m.expires_at IS NULL OR m.expires_at > $4)
		AND NOT EXISTS (SELECT 1 FROM case_exclusions x WHERE x.tenant_id = m.tenant_id AND x.case_id = m.case_id AND x.user_id = m.user_id))`,
		tenantID, caseID, userID, s.db.now()).Scan(&ok)
	return ok, err
}

func (s *ReportService) checkLead(ctx context.Context, tx pgx.Tx, tenantID, caseID string) error {
	return (&CaseService{db: s.db}).checkLead(ctx, tx, tenantID, caseID)
}

// Dismiss closes a pending report without a case.
func (s *ReportService) Dismiss(ctx context.Context, tenantID, reportID, reason string) error {
	reason, err := tma.CheckMessage("reason", reason)
	if err != nil {
		return err
	}
	r, err := s.forTeam(ctx, s.db.Pool, tenantID, reportID, false)
	if err != nil {
		return dbError("ReportService.Dismiss", err)
	}
	rec := &tma.Record{Table: tableReports, RowID: r.ID, Field: "dismiss_reason", Plain: []byte(reason)}
	if err := s.sealer.Seal(ctx, tenantID, r.CaseID, []*tma.Record{rec}); err != nil {
		return err
	}
	return s.db.inTx(ctx, "ReportService.Dismiss", func(tx pgx.Tx) error {
		locked, err := s.pending(ctx, tx, tenantID, reportID)
		if err != nil {
			return err
		}
		if locked.CaseID != r.CaseID {
			return tma.Errorf(tma.ECONFLICT, "The report changed meanwhile. Please try again.")
		}
		if _, err := tx.Exec(ctx, `UPDATE reports SET status = 'dismissed', dismiss_reason = $3, decided_at = $4, decided_by = $5
			WHERE tenant_id = $1 AND id = $2`, tenantID, r.ID, rec.Sealed, s.db.now(), tma.ActorFromContext(ctx).UserID); err != nil {
			return err
		}
		return s.db.audit(ctx, tx, tenantID, tma.AuditReportDismissed, "report", r.ID, "")
	})
}
