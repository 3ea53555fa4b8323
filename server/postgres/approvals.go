package postgres

import (
	"context"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/tma-portal/tma/server/tma"
)

// Four-eyes requests (case_approvals): SetState files one instead of
// closing a case or lowering its risk; a second threat manager of the case
// approves it (the change is made then) or rejects it. The requester may
// withdraw (reject) their own request but never approve it; the table
// refuses it too (CHECK decided_by <> requested_by).

const (
	msgApprovalPending = "A change of this case is waiting for approval already. Decide or withdraw it first."
	msgNoApproval      = "No such pending request."
	msgOwnApproval     = "You cannot approve your own request. Another threat manager of the case must decide it."
	msgApprovalStale   = "The case changed since this request was made. Reject it and ask again."
)

// requestApproval files a pending request for the locked case c.
func (s *CaseService) requestApproval(ctx context.Context, tx pgx.Tx, c *tma.Case, status tma.CaseStatus, risk tma.RiskLevel) (*tma.Approval, error) {
	actor := tma.ActorFromContext(ctx)
	if !tma.ValidID(actor.UserID) {
		return nil, tma.Errorf(tma.EFORBIDDEN, "You do not have permission to do this.")
	}
	a := &tma.Approval{ID: tma.NewID(), Kind: tma.ApprovalState, CaseID: c.ID, RequestedBy: actor.UserID, FromStatus: c.Status, FromRisk: c.Risk,
		Status: status, Risk: risk, CreatedAt: s.db.now()}
	_, err := tx.Exec(ctx, `INSERT INTO case_approvals (tenant_id, id, case_id, requested_by, from_status, from_risk, status, risk, created_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)`, c.TenantID, a.ID, c.ID, a.RequestedBy, a.FromStatus, a.FromRisk, a.Status, a.Risk, a.CreatedAt)
	if isUniqueViolation(err) {
		return nil, tma.Errorf(tma.ECONFLICT, msgApprovalPending)
	} else if err != nil {
		return nil, err
	}
	detail := "request " + a.ID + " " + stateDetail(c.Status, c.Risk, status, risk)
	return a, s.db.audit(ctx, tx, c.TenantID, tma.AuditApprovalRequested, "case", c.ID, detail)
}

// Approvals lists the case's pending requests.
func (s *CaseService) Approvals(ctx context.Context, tenantID, caseID string) ([]*tma.Approval, error) {
	if !tma.ValidID(tenantID) || !tma.ValidID(caseID) {
		return nil, tma.Errorf(tma.ENOTFOUND, msgNoCase)
	}
	rows, err := s.db.Pool.Query(ctx, `SELECT a.id::text, a.kind, a.case_id::text, a.requested_by::text, COALESCE(u.display_name, ''),
		a.from_status, a.from_risk, a.status, a.risk, COALESCE(a.document_id::text, ''), COALESCE(a.doc_version, 0), a.created_at
		FROM case_approvals a LEFT JOIN users u ON u.tenant_id = a.tenant_id AND u.id = a.requested_by
		WHERE a.tenant_id = $1 AND a.case_id = $2 AND a.decided_at IS NULL ORDER BY a.created_at`, tenantID, caseID)
	if err != nil {
		return nil, dbError("CaseService.Approvals", err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (*tma.Approval, error) {
		var a tma.Approval
		return &a, r.Scan(&a.ID, &a.Kind, &a.CaseID, &a.RequestedBy, &a.RequesterName, &a.FromStatus, &a.FromRisk, &a.Status, &a.Risk,
			&a.DocumentID, &a.Version, &a.CreatedAt)
	})
	return out, dbError("CaseService.Approvals", err)
}

// DecideApproval approves or rejects a pending request, under the case's
// row lock, so that the change and the decision are one.
func (s *CaseService) DecideApproval(ctx context.Context, tenantID, caseID, approvalID string, approve bool) error {
	actor := tma.ActorFromContext(ctx)
	if !tma.ValidID(tenantID) || !tma.ValidID(caseID) || !tma.ValidID(approvalID) || !tma.ValidID(actor.UserID) {
		return tma.Errorf(tma.ENOTFOUND, msgNoApproval)
	}
	return s.db.inTx(ctx, "CaseService.DecideApproval", func(tx pgx.Tx) error {
		c, err := findCase(ctx, tx, `id = $2`, tenantID, caseID, true)
		if err != nil {
			return err
		}
		var a tma.Approval
		err = tx.QueryRow(ctx, `SELECT id::text, kind, requested_by::text, from_status, from_risk, status, risk,
			COALESCE(document_id::text, ''), COALESCE(doc_version, 0) FROM case_approvals
			WHERE tenant_id = $1 AND case_id = $2 AND id = $3 AND decided_at IS NULL FOR UPDATE`, tenantID, caseID, approvalID).
			Scan(&a.ID, &a.Kind, &a.RequestedBy, &a.FromStatus, &a.FromRisk, &a.Status, &a.Risk, &a.DocumentID, &a.Version)
		if err != nil {
			return notFound(err, msgNoApproval)
		}
		own := a.RequestedBy == actor.UserID
		if approve && own {
			return tma.Errorf(tma.EFORBIDDEN, msgOwnApproval)
		}
		if approve && a.Kind == tma.ApprovalHandover {
			if err := s.checkHandover(ctx, tx, c, &a, actor.UserID); err != nil {
				return err
			}
		} else if approve {
			// The route lets only threat managers with manage rights on the
			// case through; the service checks the case half again, so a
			// weakened route rule cannot let an expert approve.
			lead, err := currentMember(ctx, tx, tenantID, caseID, actor.UserID, s.db.now(), true)
			if err != nil {
				return err
			}
			if !lead {
				return tma.Errorf(tma.EFORBIDDEN, "You do not have permission to do this.")
			}
		}
		if approve && a.Kind == tma.ApprovalState && (c.Status != a.FromStatus || c.Risk != a.FromRisk) {
			return tma.Errorf(tma.ECONFLICT, msgApprovalStale)
		}
		if approve && a.Kind == tma.ApprovalDocumentDelete {
			if err := c.CheckOpen(); err != nil {
				return err
			}
		}
		// The requester withdrawing their own request leaves decided_by
		// empty: the CHECK keeps decider and requester apart.
		var decidedBy *string
		if !own {
			decidedBy = &actor.UserID
		}
		if _, err := tx.Exec(ctx, `UPDATE case_approvals SET decided_by = $4, decided_at = $5, approved = $6
			WHERE tenant_id = $1 AND case_id = $2 AND id = $3`, tenantID, caseID, approvalID, decidedBy, s.db.now(), approve); err != nil {
			return err
		}
		detail := "request " + a.ID + " of user " + a.RequestedBy + " " + stateDetail(a.FromStatus, a.FromRisk, a.Status, a.Risk)
		if a.Kind == tma.ApprovalHandover {
			detail = "request " + a.ID + " of user " + a.RequestedBy + " handover"
			if approve {
				detail += " to user " + actor.UserID
			}
		}
		if a.Kind == tma.ApprovalDocumentDelete {
			detail = "request " + a.ID + " of user " + a.RequestedBy + " delete " + documentDetail(a.DocumentID, a.Version)
		}
		if !approve {
			if own {
				detail += " withdrawn"
			}
			return s.db.audit(ctx, tx, tenantID, tma.AuditApprovalRejected, "case", caseID, detail)
		}
		if err := s.db.audit(ctx, tx, tenantID, tma.AuditApprovalGranted, "case", caseID, detail); err != nil {
			return err
		}
		if a.Kind == tma.ApprovalHandover {
			return s.applyHandover(ctx, tx, c, a.RequestedBy, actor.UserID)
		}
		if a.Kind == tma.ApprovalDocumentDelete {
			return s.applyDocumentDelete(ctx, tx, c, &a, actor.UserID)
		}
		return s.applyState(ctx, tx, c, a.Status, a.Risk)
	})
}

const (
	msgHandoverNotLead = "Only a current lead of the case can hand it over."
	msgHandoverPending = "A hand-over of this case is waiting for approval already."
	msgHandoverTaker   = "Only a threat manager who is a current member of the case can take it over."
	msgNotHandover     = "This request is not a hand-over."
	msgHandoverStale   = "The requester is no longer a lead of this case. Reject the request."
)

// currentMember reports whether user is a current (not expired), unexcluded
// member of the case at now, and a lead if leadOnly: the membership that
// every service decision about a case rests on.
func currentMember(ctx context.Context, q querier, tenantID, caseID, userID string, now time.Time, leadOnly bool) (bool, error) {
	var ok bool
	err := q.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM case_members m WHERE m.tenant_id = $1 AND m.case_id = $2 AND m.user_id = $3
		AND (m.role = 'lead' OR NOT $5) AND (m.expires_at IS NULL OR m.expires_at > $4)
		AND NOT EXISTS (SELECT 1 FROM case_exclusions x WHERE x.tenant_id = m.tenant_id AND x.case_id = m.case_id AND x.user_id = m.user_id))`,
		tenantID, caseID, userID, now, leadOnly).Scan(&ok)
	return ok, err
}

// RequestHandover files a hand-over request of the actor, a current lead.
func (s *CaseService) RequestHandover(ctx context.Context, tenantID, caseID string) (*tma.Approval, error) {
	actor := tma.ActorFromContext(ctx)
	if !tma.ValidID(tenantID) || !tma.ValidID(caseID) {
		return nil, tma.Errorf(tma.ENOTFOUND, msgNoCase)
	}
	if !tma.ValidID(actor.UserID) {
		return nil, tma.Errorf(tma.EFORBIDDEN, "You do not have permission to do this.")
	}
	var a *tma.Approval
	err := s.db.inTx(ctx, "CaseService.RequestHandover", func(tx pgx.Tx) error {
		c, err := findCase(ctx, tx, `id = $2`, tenantID, caseID, true)
		if err != nil {
			return err
		}
		if err := c.CheckOpen(); err != nil {
			return err
		}
		lead, err := currentMember(ctx, tx, tenantID, caseID, actor.UserID, s.db.now(), true)
		if err != nil {
			return err
		}
		if !lead {
			return tma.Errorf(tma.ECONFLICT, msgHandoverNotLead)
		}
		a = &tma.Approval{ID: tma.NewID(), Kind: tma.ApprovalHandover, CaseID: caseID, RequestedBy: actor.UserID,
			FromStatus: c.Status, FromRisk: c.Risk, Status: c.Status, Risk: c.Risk, CreatedAt: s.db.now()}
		_, err = tx.Exec(ctx, `INSERT INTO case_approvals (tenant_id, id, kind, case_id, requested_by, from_status, from_risk, status, risk, created_at)
			VALUES ($1, $2, 'handover', $3, $4, $5, $6, $5, $6, $7)`, tenantID, a.ID, caseID, a.RequestedBy, c.Status, c.Risk, a.CreatedAt)
		if isUniqueViolation(err) {
			return tma.Errorf(tma.ECONFLICT, msgHandoverPending)
		} else if err != nil {
			return err
		}
		return s.db.audit(ctx, tx, tenantID, tma.AuditApprovalRequested, "case", caseID, "request "+a.ID+" handover")
	})
	if err != nil {
		return nil, err
	}
	return a, nil
}

// AcceptHandover approves a pending hand-over request, and nothing else: the
// route that leads here lets members who may not approve state changes
// through. Any other request, pending or decided, is EINVALID.
func (s *CaseService) AcceptHandover(ctx context.Context, tenantID, caseID, approvalID string) error {
	if !tma.ValidID(tenantID) || !tma.ValidID(caseID) || !tma.ValidID(approvalID) {
		return tma.Errorf(tma.ENOTFOUND, msgNoApproval)
	}
	var kind string
	err := s.db.Pool.QueryRow(ctx, `SELECT kind FROM case_approvals WHERE tenant_id = $1 AND case_id = $2 AND id = $3`,
		tenantID, caseID, approvalID).Scan(&kind)
	if err != nil {
		return dbError("CaseService.AcceptHandover", notFound(err, msgNoApproval))
	}
	if tma.ApprovalKind(kind) != tma.ApprovalHandover {
		return tma.Errorf(tma.EINVALID, msgNotHandover)
	}
	return s.DecideApproval(ctx, tenantID, caseID, approvalID, true)
}

// checkHandover checks the approval of a hand-over by taker on the locked
// case: the case is open, the requester still a current lead, and the
// taker a threat manager and a current member. The service checks the
// tenant role itself, so a weakened route rule cannot let an expert of
// another profession take the lead.
func (s *CaseService) checkHandover(ctx context.Context, tx pgx.Tx, c *tma.Case, a *tma.Approval, taker string) error {
	if err := c.CheckOpen(); err != nil {
		return err
	}
	var tm bool
	if err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM user_roles WHERE tenant_id = $1 AND user_id = $2 AND role = $3)`,
		c.TenantID, taker, tma.RoleThreatManager).Scan(&tm); err != nil {
		return err
	}
	member, err := currentMember(ctx, tx, c.TenantID, c.ID, taker, s.db.now(), false)
	if err != nil {
		return err
	}
	if !tm || !member {
		return tma.Errorf(tma.EFORBIDDEN, msgHandoverTaker)
	}
	lead, err := currentMember(ctx, tx, c.TenantID, c.ID, a.RequestedBy, s.db.now(), true)
	if err != nil {
		return err
	}
	if !lead {
		return tma.Errorf(tma.ECONFLICT, msgHandoverStale)
	}
	return nil
}

// applyHandover makes taker lead (no expiry) and removes the requester.
func (s *CaseService) applyHandover(ctx context.Context, tx pgx.Tx, c *tma.Case, requester, taker string) error {
	if _, err := tx.Exec(ctx, `UPDATE case_members SET role = 'lead', expires_at = NULL WHERE tenant_id = $1 AND case_id = $2 AND user_id = $3`,
		c.TenantID, c.ID, taker); err != nil {
		return err
	}
	if err := s.touchAndAudit(ctx, tx, c, tma.AuditCaseMemberChanged, taker, "role lead (handover)"); err != nil {
		return err
	}
	if _, err := tx.Exec(ctx, `DELETE FROM case_members WHERE tenant_id = $1 AND case_id = $2 AND user_id = $3`, c.TenantID, c.ID, requester); err != nil {
		return err
	}
	if err := s.checkLead(ctx, tx, c.TenantID, c.ID); err != nil {
		return err
	}
	return s.touchAndAudit(ctx, tx, c, tma.AuditCaseMemberRemoved, requester, "(handover)")
}
