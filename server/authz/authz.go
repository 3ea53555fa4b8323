// Package authz is the Casbin enforcer of TMA: RBAC with the tenant as the
// domain. Role assignments come from PostgreSQL with every request (the
// session loads the user's roles), and the enforcer's grouping policy is
// kept in step with them, so a revoked role takes effect at once in every
// server process.
package authz

import (
	"fmt"
	"slices"
	"strings"

	"github.com/casbin/casbin/v2"
	"github.com/casbin/casbin/v2/model"

	"github.com/tma-portal/tma/policies"
	"github.com/tma-portal/tma/server/tma"
)

// Enforcer implements tma.Authorizer with Casbin.
type Enforcer struct {
	e *casbin.SyncedEnforcer
}

var _ tma.Authorizer = (*Enforcer)(nil)

// New returns an enforcer with the embedded model and default policy.
func New() (*Enforcer, error) {
	m, err := model.NewModelFromString(policies.Model)
	if err != nil {
		return nil, fmt.Errorf("authz: model: %w", err)
	}
	e, err := casbin.NewSyncedEnforcer(m)
	if err != nil {
		return nil, fmt.Errorf("authz: %w", err)
	}
	for n, line := range strings.Split(policies.Default, "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		f := strings.Split(line, ",")
		for i := range f {
			f[i] = strings.TrimSpace(f[i])
		}
		if len(f) != 5 || f[0] != "p" || (f[4] != "allow" && f[4] != "deny") || !tma.Role(f[1]).Valid() {
			return nil, fmt.Errorf("authz: default.csv line %d: want \"p, role, object, action, allow|deny\"", n+1)
		}
		if _, err := e.AddPolicy(f[1], f[2], f[3], f[4]); err != nil {
			return nil, fmt.Errorf("authz: default.csv line %d: %w", n+1, err)
		}
	}
	return &Enforcer{e: e}, nil
}

// Can reports whether u may take p in u's tenant.
func (a *Enforcer) Can(u *tma.User, p tma.Permission) bool {
	if u == nil || u.Disabled || u.TenantID == "" {
		return false
	}
	if err := a.sync(u); err != nil {
		return false
	}
	ok, err := a.e.Enforce(u.ID, u.TenantID, p.Object, p.Action)
	return err == nil && ok
}

// sync makes the enforcer's roles for u equal to u.Roles, which the caller
// loaded from the database.
func (a *Enforcer) sync(u *tma.User) error {
	want := make([]string, 0, len(u.Roles))
	for _, r := range u.Roles {
		want = append(want, string(r))
	}
	slices.Sort(want)
	have := a.e.GetRolesForUserInDomain(u.ID, u.TenantID)
	slices.Sort(have)
	if slices.Equal(have, want) {
		return nil
	}
	if _, err := a.e.DeleteRolesForUserInDomain(u.ID, u.TenantID); err != nil && len(have) > 0 {
		return err
	}
	for _, r := range want {
		if _, err := a.e.AddRoleForUserInDomain(u.ID, r, u.TenantID); err != nil {
			return err
		}
	}
	return nil
}
