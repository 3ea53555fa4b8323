package postgres

import (
	"context"
	"strings"
	"unicode"

	"github.com/jackc/pgx/v5"

	"github.com/tma-portal/tma/server/tma"
)

// Cases: the minimal case rows that keys and legal holds need (methods of
// CaseKeyService, used by the CLI and the key tests). Case folders with
// members and exclusions are CaseService (casefolders.go).

// CreateCase creates a case with a reference unique in the tenant. It is the
// minimal case the key operations need; the case capability extends it.
func (s *CaseKeyService) CreateCase(ctx context.Context, tenantID, reference string) (*tma.Case, error) {
	reference = strings.TrimSpace(reference)
	if reference == "" || len(reference) > 100 || strings.IndexFunc(reference, unicode.IsControl) >= 0 {
		return nil, tma.Errorf(tma.EINVALID, "The case reference must have 1 to 100 characters and no control characters.")
	}
	if !tma.ValidID(tenantID) {
		return nil, tma.Errorf(tma.ENOTFOUND, "No such tenant.")
	}
	c := &tma.Case{TenantID: tenantID, Reference: reference}
	err := s.db.inTx(ctx, "CaseKeyService.CreateCase", func(tx pgx.Tx) error {
		err := tx.QueryRow(ctx, `INSERT INTO cases (tenant_id, reference, created_at) VALUES ($1, $2, $3) RETURNING id::text`,
			tenantID, reference, s.db.now()).Scan(&c.ID)
		switch {
		case isUniqueViolation(err):
			return tma.Errorf(tma.ECONFLICT, "A case with the reference %q exists already.", reference)
		case isForeignKeyViolation(err):
			return tma.Errorf(tma.ENOTFOUND, "No such tenant.")
		case err != nil:
			return err
		}
		return s.db.audit(ctx, tx, tenantID, tma.AuditCaseCreated, "case", c.ID, reference)
	})
	if err != nil {
		return nil, err
	}
	return c, nil
}

// SetLegalHold sets or lifts the legal hold of a case. Setting a hold that
// is set already (or lifting one that is not) changes nothing and records
// nothing.
func (s *CaseKeyService) SetLegalHold(ctx context.Context, tenantID, caseID string, on bool) error {
	if !tma.ValidID(tenantID) || !tma.ValidID(caseID) {
		return tma.Errorf(tma.ENOTFOUND, msgNoCase)
	}
	return s.db.inTx(ctx, "CaseKeyService.SetLegalHold", func(tx pgx.Tx) error {
		c, err := findCase(ctx, tx, `id = $2`, tenantID, caseID, true)
		if err != nil || c.LegalHold == on {
			return err
		}
		if _, err := tx.Exec(ctx, `UPDATE cases SET legal_hold = $3 WHERE tenant_id = $1 AND id = $2`, tenantID, caseID, on); err != nil {
			return err
		}
		action := tma.AuditLegalHoldLifted
		if on {
			action = tma.AuditLegalHoldSet
		}
		return s.db.audit(ctx, tx, tenantID, action, "case", caseID, c.Reference)
	})
}

// FindCaseByID returns ENOTFOUND if the case does not exist in the tenant.
func (s *CaseKeyService) FindCaseByID(ctx context.Context, tenantID, caseID string) (*tma.Case, error) {
	if !tma.ValidID(tenantID) || !tma.ValidID(caseID) {
		return nil, tma.Errorf(tma.ENOTFOUND, msgNoCase)
	}
	c, err := findCase(ctx, s.db.Pool, `id = $2`, tenantID, caseID, false)
	return c, dbError("CaseKeyService.FindCaseByID", err)
}

// FindCaseByReference returns ENOTFOUND if the tenant has no case with the
// reference.
func (s *CaseKeyService) FindCaseByReference(ctx context.Context, tenantID, reference string) (*tma.Case, error) {
	if !tma.ValidID(tenantID) {
		return nil, tma.Errorf(tma.ENOTFOUND, msgNoCase)
	}
	c, err := findCase(ctx, s.db.Pool, `reference = $2`, tenantID, strings.TrimSpace(reference), false)
	return c, dbError("CaseKeyService.FindCaseByReference", err)
}

// caseColumns are the columns scanCase reads, in its order.
const caseColumns = `c.id::text, c.tenant_id::text, c.reference, c.title, c.status, c.risk, c.labels, c.legal_hold, c.created_at, c.updated_at`

func scanCase(row pgx.Row) (*tma.Case, error) {
	var c tma.Case
	err := row.Scan(&c.ID, &c.TenantID, &c.Reference, &c.Title, &c.Status, &c.Risk, &c.Labels, &c.LegalHold, &c.CreatedAt, &c.UpdatedAt)
	if err != nil {
		return nil, err
	}
	return &c, nil
}

// findCase reads one case of the tenant, selected by where (with the tenant
// as $1 and arg as $2); lock takes a row lock for the rest of tx.
func findCase(ctx context.Context, q querier, where, tenantID, arg string, lock bool) (*tma.Case, error) {
	sql := `SELECT ` + caseColumns + ` FROM cases c WHERE c.tenant_id = $1 AND c.` + where
	if lock {
		sql += ` FOR UPDATE`
	}
	c, err := scanCase(q.QueryRow(ctx, sql, tenantID, arg))
	if err != nil {
		return nil, notFound(err, msgNoCase)
	}
	return c, nil
}
