package postgres

import (
	"context"
	"strings"

	"github.com/jackc/pgx/v5"

	"github.com/tma-portal/tma/server/tma"
)

// TenantService stores tenants.
type TenantService struct{ db *DB }

var _ tma.TenantService = (*TenantService)(nil)

// NewTenantService returns a TenantService on db.
func NewTenantService(db *DB) *TenantService { return &TenantService{db: db} }

// CreateTenant stores t and starts its audit chain.
func (s *TenantService) CreateTenant(ctx context.Context, t *tma.Tenant) error {
	if err := t.Validate(); err != nil {
		return err
	}
	return s.db.inTx(ctx, "TenantService.CreateTenant", func(tx pgx.Tx) error {
		return s.db.createTenant(ctx, tx, t)
	})
}

// CreateTenantWithAdmin creates a tenant and its first admin in one
// transaction, so that a crash never leaves a tenant nobody can manage.
func (s *TenantService) CreateTenantWithAdmin(ctx context.Context, t *tma.Tenant, admin tma.NewUser) (*tma.User, error) {
	if err := t.Validate(); err != nil {
		return nil, err
	}
	admin.Roles = []tma.Role{tma.RoleAdmin}
	nu, err := prepareUser(admin)
	if err != nil {
		return nil, err
	}
	var u *tma.User
	err = s.db.inTx(ctx, "TenantService.CreateTenantWithAdmin", func(tx pgx.Tx) error {
		if err := s.db.createTenant(ctx, tx, t); err != nil {
			return err
		}
		a := tma.ActorFromContext(ctx)
		a.TenantID = t.ID
		u, err = s.db.createUser(tma.NewContextWithActor(ctx, a), tx, t.ID, nu)
		return err
	})
	return u, err
}

func (db *DB) createTenant(ctx context.Context, tx pgx.Tx, t *tma.Tenant) error {
	err := tx.QueryRow(ctx, `INSERT INTO tenants (slug, name, require_mfa) VALUES ($1, $2, $3) RETURNING id, created_at`,
		t.Slug, t.Name, t.RequireMFA).Scan(&t.ID, &t.CreatedAt)
	if isUniqueViolation(err) {
		return tma.Errorf(tma.ECONFLICT, "A tenant with the slug %q exists already.", t.Slug)
	} else if err != nil {
		return err
	}
	if err := createDefaultWikiSpace(ctx, tx, t.ID); err != nil {
		return err
	}
	return db.audit(ctx, tx, t.ID, tma.AuditTenantCreated, "tenant", t.ID, t.Slug)
}

const tenantColumns = `id, slug, name, require_mfa, document_types, created_at`

func scanTenant(row pgx.Row) (*tma.Tenant, error) {
	var t tma.Tenant
	err := row.Scan(&t.ID, &t.Slug, &t.Name, &t.RequireMFA, &t.DocumentTypes, &t.CreatedAt)
	return &t, notFound(err, "No such tenant.")
}

// FindTenantBySlug returns ENOTFOUND for an unknown slug.
func (s *TenantService) FindTenantBySlug(ctx context.Context, slug string) (*tma.Tenant, error) {
	t, err := scanTenant(s.db.Pool.QueryRow(ctx, `SELECT `+tenantColumns+` FROM tenants WHERE slug = $1`, strings.ToLower(slug)))
	return t, dbError("TenantService.FindTenantBySlug", err)
}

// FindTenantByID returns ENOTFOUND for an unknown id.
func (s *TenantService) FindTenantByID(ctx context.Context, id string) (*tma.Tenant, error) {
	if !tma.ValidID(id) {
		return nil, tma.Errorf(tma.ENOTFOUND, "No such tenant.")
	}
	t, err := scanTenant(s.db.Pool.QueryRow(ctx, `SELECT `+tenantColumns+` FROM tenants WHERE id = $1`, id))
	return t, dbError("TenantService.FindTenantByID", err)
}

// SetRequireMFA switches MFA enforcement for the tenant.
func (s *TenantService) SetRequireMFA(ctx context.Context, tenantID string, on bool) error {
	return s.db.inTx(ctx, "TenantService.SetRequireMFA", func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `UPDATE tenants SET require_mfa = $2 WHERE id = $1`, tenantID, on)
		if err != nil {
			return err
		}
		if tag.RowsAffected() == 0 {
			return tma.Errorf(tma.ENOTFOUND, "No such tenant.")
		}
		detail := "require_mfa=off"
		if on {
			detail = "require_mfa=on"
		}
		return s.db.audit(ctx, tx, tenantID, tma.AuditTenantSettings, "tenant", tenantID, detail)
	})
}

// SetDocumentTypes sets the tenant's allow-list of document types; an
// empty list is stored as NULL, the default.
func (s *TenantService) SetDocumentTypes(ctx context.Context, tenantID string, types []string) error {
	clean, err := tma.CleanDocumentTypes(types)
	if err != nil {
		return err
	}
	if !tma.ValidID(tenantID) {
		return tma.Errorf(tma.ENOTFOUND, "No such tenant.")
	}
	var stored []string // NULL: the default
	detail := "document_types=default"
	if len(clean) > 0 {
		stored, detail = clean, "document_types="+strings.Join(clean, ",")
	}
	if len(detail) > 1000 {
		detail = detail[:1000] + "…"
	}
	return s.db.inTx(ctx, "TenantService.SetDocumentTypes", func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `UPDATE tenants SET document_types = $2 WHERE id = $1`, tenantID, stored)
		if err != nil {
			return err
		}
		if tag.RowsAffected() == 0 {
			return tma.Errorf(tma.ENOTFOUND, "No such tenant.")
		}
		return s.db.audit(ctx, tx, tenantID, tma.AuditTenantSettings, "tenant", tenantID, detail)
	})
}

// FindTenants lists every tenant, oldest first, for operations that walk
// all of them (audit verification, first-start checks).
func (s *TenantService) FindTenants(ctx context.Context) ([]*tma.Tenant, error) {
	rows, err := s.db.Pool.Query(ctx, `SELECT `+tenantColumns+` FROM tenants ORDER BY created_at`)
	if err != nil {
		return nil, dbError("TenantService.FindTenants", err)
	}
	list, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (*tma.Tenant, error) { return scanTenant(r) })
	return list, dbError("TenantService.FindTenants", err)
}
