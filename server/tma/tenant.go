package tma

import (
	"context"
	"time"
)

// Tenant is a customer organisation. Every tenant-owned row carries its ID.
type Tenant struct {
	ID         string // random UUID
	Slug       string // short name typed at login, e.g. "acme"
	Name       string
	RequireMFA bool // users must enrol TOTP before they can use the portal
	// DocumentTypes is the allow-list of sniffed media types for case
	// documents; empty means DefaultDocumentTypes.
	DocumentTypes []string
	CreatedAt     time.Time
}

// TenantService manages tenants.
type TenantService interface {
	// CreateTenant stores t and fills in its ID. Returns ECONFLICT if the slug is taken.
	CreateTenant(ctx context.Context, t *Tenant) error
	// FindTenantBySlug returns ENOTFOUND if there is no such tenant.
	FindTenantBySlug(ctx context.Context, slug string) (*Tenant, error)
	// FindTenants lists every tenant, oldest first (operator commands).
	FindTenants(ctx context.Context) ([]*Tenant, error)
	// FindTenantByID returns ENOTFOUND if there is no such tenant.
	FindTenantByID(ctx context.Context, id string) (*Tenant, error)
	// SetRequireMFA switches the tenant's MFA enforcement. Audited.
	SetRequireMFA(ctx context.Context, tenantID string, on bool) error
}
