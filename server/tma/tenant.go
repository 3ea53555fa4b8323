package tma

import (
	"context"
	"mime"
	"slices"
	"strings"
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
	// SetDocumentTypes sets the allow-list of media types for case
	// documents; nil or empty returns to DefaultDocumentTypes. EINVALID for
	// anything that is not a "type/subtype" media type (CleanDocumentTypes).
	// Audited (AuditTenantSettings).
	SetDocumentTypes(ctx context.Context, tenantID string, types []string) error
}

// MaxDocumentTypes bounds a tenant's allow-list of document types.
const MaxDocumentTypes = 200

// CleanDocumentTypes returns types in lower case, sorted, without
// duplicates or empty entries, or EINVALID if one is not a "type/subtype"
// media type without parameters or wildcards.
func CleanDocumentTypes(types []string) ([]string, error) {
	out := make([]string, 0, len(types))
	for _, t := range types {
		t = strings.ToLower(strings.TrimSpace(t))
		if t == "" {
			continue
		}
		mt, params, err := mime.ParseMediaType(t)
		major, minor, ok := strings.Cut(mt, "/")
		if err != nil || len(params) > 0 || mt != t || !ok || major == "" || minor == "" || strings.Contains(mt, "*") || len(t) > 127 {
			return nil, Errorf(EINVALID, "%q is not a media type of the form type/subtype.", CleanText(t, 80))
		}
		out = append(out, t)
	}
	slices.Sort(out)
	out = slices.Compact(out)
	if len(out) > MaxDocumentTypes {
		return nil, Errorf(EINVALID, "At most %d document types can be allowed.", MaxDocumentTypes)
	}
	return out, nil
}
