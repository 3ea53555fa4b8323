package authz_test

import (
	"sync"
	"sync/atomic"
	"testing"

	"github.com/tma-portal/tma/server/authz"
	"github.com/tma-portal/tma/server/tma"
)

func TestCan(t *testing.T) {
	e, err := authz.New()
	if err != nil {
		t.Fatal(err)
	}
	user := func(id, tenant string, roles ...tma.Role) *tma.User {
		return &tma.User{ID: id, TenantID: tenant, Roles: roles}
	}
	tests := []struct {
		name string
		u    *tma.User
		p    tma.Permission
		want bool
	}{
		{"admin manages users", user("u1", "t1", tma.RoleAdmin), tma.PermUsersManage, true},
		{"admin may not read the audit log", user("u1", "t1", tma.RoleAdmin), tma.PermAuditRead, false},
		{"admin may not read cases", user("u1", "t1", tma.RoleAdmin), tma.PermCasesRead, false},
		{"deny beats allow", user("u2", "t1", tma.RoleAdmin, tma.RoleThreatManager), tma.PermCasesRead, false},
		{"auditor reads the audit log", user("u3", "t1", tma.RoleAuditor), tma.PermAuditRead, true},
		{"an admin who is also auditor still may not", user("u8", "t1", tma.RoleAdmin, tma.RoleAuditor), tma.PermAuditRead, false},
		{"auditor may not manage users", user("u3", "t1", tma.RoleAuditor), tma.PermUsersManage, false},
		{"threat manager writes cases", user("u4", "t1", tma.RoleThreatManager), tma.PermCasesWrite, true},
		{"legal reads but does not write cases", user("u5", "t1", tma.RoleLegal), tma.PermCasesWrite, false},
		{"no roles, no access", user("u6", "t1"), tma.PermDashboardView, false},
		{"unknown permission is denied", user("u1", "t1", tma.RoleAdmin), tma.Permission{Object: "users", Action: "*"}, false},
		{"disabled user", &tma.User{ID: "u7", TenantID: "t1", Roles: []tma.Role{tma.RoleAdmin}, Disabled: true}, tma.PermUsersRead, false},
		{"nil user", nil, tma.PermDashboardView, false},
		{"legal reads the wiki", user("u5", "t1", tma.RoleLegal), tma.PermWikiRead, true},
		{"auditor reads the wiki", user("u3", "t1", tma.RoleAuditor), tma.PermWikiRead, true},
		{"auditor never edits the wiki", user("u3", "t1", tma.RoleAuditor, tma.RoleLegal), tma.PermWikiEdit, false},
		{"admin manages wiki grants", user("u1", "t1", tma.RoleAdmin), tma.PermWikiManage, true},
		{"admin reads no wiki pages", user("u1", "t1", tma.RoleAdmin), tma.PermWikiRead, false},
		{"employee sees no wiki", user("u9", "t1", tma.RoleEmployee), tma.PermWikiRead, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := e.Can(tc.u, tc.p); got != tc.want {
				t.Fatalf("Can = %v, want %v", got, tc.want)
			}
		})
	}
}

func TestRolesFollowTheDatabase(t *testing.T) {
	e, err := authz.New()
	if err != nil {
		t.Fatal(err)
	}
	u := &tma.User{ID: "u1", TenantID: "t1", Roles: []tma.Role{tma.RoleAdmin}}
	if !e.Can(u, tma.PermUsersManage) {
		t.Fatal("admin refused")
	}
	u.Roles = []tma.Role{tma.RoleLegal} // an admin took the role away
	if e.Can(u, tma.PermUsersManage) {
		t.Fatal("revoked role still grants access")
	}
	// The same user id in another tenant has no roles there.
	other := &tma.User{ID: "u1", TenantID: "t2"}
	if e.Can(other, tma.PermDashboardView) {
		t.Fatal("roles leaked across tenants")
	}
}

// TestConcurrentSnapshots: requests of one user with different role
// snapshots (just before and after an admin changed them) are each judged
// by their own roles.
func TestConcurrentSnapshots(t *testing.T) {
	e, err := authz.New()
	if err != nil {
		t.Fatal(err)
	}
	admin := &tma.User{ID: "u1", TenantID: "t1", Roles: []tma.Role{tma.RoleAdmin}}
	legal := &tma.User{ID: "u1", TenantID: "t1", Roles: []tma.Role{tma.RoleLegal}}
	var wg sync.WaitGroup
	var wrong atomic.Int64
	for i := range 8 {
		wg.Go(func() {
			for range 2000 {
				u, want := admin, true
				if i%2 == 1 {
					u, want = legal, false
				}
				if e.Can(u, tma.PermUsersManage) != want || !e.Can(u, tma.PermAccountManage) {
					wrong.Add(1)
				}
			}
		})
	}
	wg.Wait()
	if n := wrong.Load(); n > 0 {
		t.Fatalf("%d decisions used another request's roles", n)
	}
}

// TestCanCase: case content needs a tenant role that allows the action and
// a case role that allows it; an exclusion beats every role.
func TestCanCase(t *testing.T) {
	e, err := authz.New()
	if err != nil {
		t.Fatal(err)
	}
	user := func(roles ...tma.Role) *tma.User { return &tma.User{ID: "u1", TenantID: "t1", Roles: roles} }
	cr := func(roles ...tma.CaseRole) []tma.CaseRole { return roles }
	tm, legal, admin, auditor, employee := user(tma.RoleThreatManager), user(tma.RoleLegal), user(tma.RoleAdmin), user(tma.RoleAuditor), user(tma.RoleEmployee)
	tests := []struct {
		name  string
		u     *tma.User
		roles []tma.CaseRole
		p, cp tma.Permission
		want  bool
	}{
		{"lead threat manager reads", tm, cr(tma.CaseLead), tma.PermCasesRead, tma.CasePermRead, true},
		{"lead threat manager manages", tm, cr(tma.CaseLead), tma.PermCasesWrite, tma.CasePermManage, true},
		{"expert threat manager does not manage", tm, cr(tma.CaseExpert), tma.PermCasesWrite, tma.CasePermManage, false},
		{"read-only reads", legal, cr(tma.CaseReadOnly), tma.PermCasesRead, tma.CasePermRead, true},
		{"legal lead may not write: tenant role", legal, cr(tma.CaseLead), tma.PermCasesWrite, tma.CasePermManage, false},
		{"threat manager without membership", tm, nil, tma.PermCasesRead, tma.CasePermRead, false},
		{"excluded lead", tm, cr(tma.CaseLead, tma.CaseExcluded), tma.PermCasesRead, tma.CasePermRead, false},
		{"excluded alone", tm, cr(tma.CaseExcluded), tma.PermCasesRead, tma.CasePermRead, false},
		{"admin lead reads nothing", admin, cr(tma.CaseLead), tma.PermCasesRead, tma.CasePermRead, false},
		{"auditor lead reads nothing", auditor, cr(tma.CaseLead), tma.PermCasesRead, tma.CasePermRead, false},
		{"threat manager and admin reads nothing", user(tma.RoleThreatManager, tma.RoleAdmin), cr(tma.CaseLead), tma.PermCasesRead, tma.CasePermRead, false},
		{"employee member reads nothing", employee, cr(tma.CaseExpert), tma.PermCasesRead, tma.CasePermRead, false},
		{"unknown case permission", tm, cr(tma.CaseLead), tma.PermCasesRead, tma.Permission{Object: "case", Action: "*"}, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := e.CanCase(tc.u, tc.roles, tc.p, tc.cp); got != tc.want {
				t.Fatalf("CanCase = %v, want %v", got, tc.want)
			}
		})
	}
	if !e.Can(employee, tma.PermDashboardView) || e.Can(employee, tma.PermCasesRead) || e.Can(employee, tma.PermCasesCreate) {
		t.Fatal("employee: dashboard only")
	}
}
