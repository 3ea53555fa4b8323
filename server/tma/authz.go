package tma

// Permission is an action on a kind of object, e.g. {"users", "manage"}.
type Permission struct {
	Object string
	Action string
}

func (p Permission) String() string { return p.Object + ":" + p.Action }

// Permissions of the portal. Case permissions are further limited by case
// membership.
var (
	PermDashboardView = Permission{"dashboard", "view"}
	PermAccountManage = Permission{"account", "manage"}
	PermUsersRead     = Permission{"users", "read"}
	PermUsersManage   = Permission{"users", "manage"}
	PermTenantManage  = Permission{"tenant", "manage"}
	PermAuditRead     = Permission{"audit", "read"}
	PermCasesRead     = Permission{"cases", "read"}
	PermCasesWrite    = Permission{"cases", "write"}
	PermCasesCreate   = Permission{"cases", "create"}
	PermReportsFile   = Permission{"reports", "file"}   // file reports, follow one's own
	PermReportsTriage = Permission{"reports", "triage"} // the intake queue and its decisions
	// PermCasesContribute writes notes and actions on cases one is a
	// member of (with CasePermContribute).
	PermCasesContribute = Permission{"cases", "contribute"}
	// PermRestrictedRead reads restricted (Art. 9/10) notes of cases one
	// can read: legal; see CanReadRestricted.
	PermRestrictedRead = Permission{"notes", "restricted"}
	// PermInstrumentsRead lists and reads the tenant's instruments;
	// PermInstrumentsManage imports new versions.
	PermInstrumentsRead   = Permission{"instruments", "read"}
	PermInstrumentsManage = Permission{"instruments", "manage"}
	// PermAssessmentsWrite starts, rates and submits assessments of cases
	// one contributes to (with CasePermContribute); PermAssessmentsApprove
	// is the second approver's (four-eyes), on such a case too.
	PermAssessmentsWrite   = Permission{"assessments", "write"}
	PermAssessmentsApprove = Permission{"assessments", "approve"}
)

// Authorizer decides whether a user may take an action. It is deny by
// default: an unknown permission or a user without roles is refused.
type Authorizer interface {
	Can(u *User, p Permission) bool
	// CanCase reports whether u may take p (a tenant permission such as
	// PermCasesWrite) and cp (a case permission such as CasePermManage) on
	// a case where u holds caseRoles (CaseAccess.Roles). Both must allow,
	// and CaseExcluded among caseRoles denies everything.
	CanCase(u *User, caseRoles []CaseRole, p, cp Permission) bool
}
