// Package authz is the Casbin enforcer of TMA. Role assignments are rows in
// PostgreSQL, per tenant; the session loads the user's roles with every
// request and passes them to the enforcer with the request, so that the
// enforcer is stateless per user: concurrent requests cannot see each
// other's roles, and a revoked role takes effect at once in every server
// process.
package authz

import (
	"fmt"
	"strings"
	"sync"

	"github.com/casbin/casbin/v2"
	"github.com/casbin/casbin/v2/model"

	"github.com/tma-portal/tma/policies"
	"github.com/tma-portal/tma/server/tma"
)

// Enforcer implements tma.Authorizer with Casbin.
type Enforcer struct {
	e *casbin.SyncedEnforcer
	// decided memoizes decisions. The policy is fixed once New returns, so a
	// decision depends only on the request (roles, object, action), which is
	// also the key: still no per-user state. The keys are bounded by the
	// role sets (7 tenant roles, 4 case roles) times the permissions, which
	// come from code.
	decided sync.Map // "suffix\x00|roles|\x00object\x00action" → bool
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
	e.AddFunction("holds", holds)
	for n, line := range strings.Split(policies.Default, "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		f := strings.Split(line, ",")
		for i := range f {
			f[i] = strings.TrimSpace(f[i])
		}
		ok := len(f) == 5 && (f[4] == "allow" || f[4] == "deny") &&
			(f[0] == "p" && tma.Role(f[1]).Valid() ||
				f[0] == "p2" && (tma.CaseRole(f[1]).Valid() || tma.CaseRole(f[1]) == tma.CaseExcluded))
		if !ok {
			return nil, fmt.Errorf("authz: default.csv line %d: want \"p, role, object, action, allow|deny\" or \"p2, case role, …\"", n+1)
		}
		if _, err := e.AddNamedPolicy(f[0], f[1], f[2], f[3], f[4]); err != nil {
			return nil, fmt.Errorf("authz: default.csv line %d: %w", n+1, err)
		}
	}
	return &Enforcer{e: e}, nil
}

// holds is the matcher function holds(roles, role): whether the request's
// role list "|a|b|" contains role. A set test, not a pattern match.
func holds(args ...any) (any, error) {
	roles, _ := args[0].(string)
	role, _ := args[1].(string)
	return role != "" && strings.Contains(roles, "|"+role+"|"), nil
}

// Can reports whether u may take p in u's tenant, judged by the roles in u,
// which the caller loaded from the database for this request.
func (a *Enforcer) Can(u *tma.User, p tma.Permission) bool {
	if u == nil || u.Disabled || u.TenantID == "" || len(u.Roles) == 0 {
		return false
	}
	return a.decide("", roleList(u.Roles), p)
}

// CanCase reports whether u may take the tenant permission p and the case
// permission cp on a case where u holds caseRoles, which the caller loaded
// with the request for the case in its URL. Both must allow; an exclusion
// (tma.CaseExcluded) is a deny that beats every role.
func (a *Enforcer) CanCase(u *tma.User, caseRoles []tma.CaseRole, p, cp tma.Permission) bool {
	if !a.Can(u, p) || len(caseRoles) == 0 {
		return false
	}
	return a.decide("2", roleList(caseRoles), cp)
}

// roleList is the request's role list "|a|b|" for the matcher's holds.
func roleList[R ~string](roles []R) string {
	var b strings.Builder
	b.WriteByte('|')
	for _, r := range roles {
		b.WriteString(string(r))
		b.WriteByte('|')
	}
	return b.String()
}

// decide enforces the definitions of suffix ("" for tenant roles, "2" for
// case roles), memoized.
func (a *Enforcer) decide(suffix, roles string, p tma.Permission) bool {
	key := suffix + "\x00" + roles + "\x00" + p.Object + "\x00" + p.Action
	if ok, found := a.decided.Load(key); found {
		return ok.(bool)
	}
	var ok bool
	var err error
	if suffix == "" {
		ok, err = a.e.Enforce(roles, p.Object, p.Action)
	} else {
		ok, err = a.e.Enforce(casbin.NewEnforceContext(suffix), roles, p.Object, p.Action)
	}
	if err != nil {
		return false // not remembered: an error says nothing about the policy
	}
	a.decided.Store(key, ok)
	return ok
}
