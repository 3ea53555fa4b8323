package tma

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// Case is a case folder. Its metadata (title, status, risk, labels) stays in
// clear for lists and filters; what the case is about (reports, notes, the
// persons involved) is sealed with the case key and comes with intake and
// notes. Titles should therefore not name people; the form says so.
type Case struct {
	ID        string
	TenantID  string
	Reference string // human reference shown in lists, e.g. "TM-2026-0042"
	Title     string
	Status    CaseStatus
	Risk      RiskLevel // set by hand for now, by assessments later
	Labels    []string
	LegalHold bool
	CreatedAt time.Time
	UpdatedAt time.Time
}

// CaseStatus is where a case stands in the three steps.
type CaseStatus string

// The statuses of a case, in their usual order.
const (
	StatusNew        CaseStatus = "new"
	StatusAssessing  CaseStatus = "assessing"
	StatusDefusing   CaseStatus = "defusing"
	StatusMonitoring CaseStatus = "monitoring"
	StatusClosed     CaseStatus = "closed"
)

// CaseStatuses lists every status in display order.
var CaseStatuses = []CaseStatus{StatusNew, StatusAssessing, StatusDefusing, StatusMonitoring, StatusClosed}

// Valid reports whether s is one of CaseStatuses.
func (s CaseStatus) Valid() bool { return slices.Contains(CaseStatuses, s) }

// RiskLevel is the team's summary judgment of a case. It is made by people,
// never computed.
type RiskLevel string

// The risk levels, lowest first; RiskUnrated until somebody judged.
const (
	RiskUnrated  RiskLevel = "unrated"
	RiskLow      RiskLevel = "low"
	RiskModerate RiskLevel = "moderate"
	RiskHigh     RiskLevel = "high"
	RiskImminent RiskLevel = "imminent"
)

// RiskLevels lists every risk level in display order.
var RiskLevels = []RiskLevel{RiskUnrated, RiskLow, RiskModerate, RiskHigh, RiskImminent}

// Valid reports whether r is one of RiskLevels.
func (r RiskLevel) Valid() bool { return slices.Contains(RiskLevels, r) }

// CaseRole is a member's role in one case. It limits what the member's
// tenant roles allow, on that case only.
type CaseRole string

// The case roles. CaseExcluded is not a role anyone is given: it stands for
// an exclusion (an ethical wall) in the case roles a request carries, and
// the policy denies it everything, which beats every allow.
const (
	CaseLead     CaseRole = "lead"
	CaseExpert   CaseRole = "expert"
	CaseReadOnly CaseRole = "read_only"
	CaseExcluded CaseRole = "excluded"
)

// CaseRoles lists the roles a member can be given, in display order.
var CaseRoles = []CaseRole{CaseLead, CaseExpert, CaseReadOnly}

// Valid reports whether r is a role a member can be given.
func (r CaseRole) Valid() bool { return slices.Contains(CaseRoles, r) }

// Case permissions: what a case role allows on its case. A case route needs
// one of these in addition to a tenant permission (PermCasesRead, …).
var (
	CasePermRead   = Permission{"case", "read"}   // open the case
	CasePermManage = Permission{"case", "manage"} // status, risk, members, exclusions
	// CasePermContribute writes notes and actions.
	CasePermContribute = Permission{"case", "contribute"}
	// CasePermRestricted reads restricted notes: the lead; see CanReadRestricted.
	CasePermRestricted = Permission{"case", "restricted"}
)

// CaseMember is a user's membership of a case.
type CaseMember struct {
	CaseID      string
	UserID      string
	DisplayName string
	Email       string
	Role        CaseRole
	ExpiresAt   time.Time // zero: no expiry
	AddedAt     time.Time
}

// Expired reports whether the membership has ended at now.
func (m *CaseMember) Expired(now time.Time) bool {
	return !m.ExpiresAt.IsZero() && !now.Before(m.ExpiresAt)
}

// CaseExclusion is an ethical wall: the user may not see the case, whatever
// roles they hold.
type CaseExclusion struct {
	CaseID      string
	UserID      string
	DisplayName string
	Email       string
	CreatedAt   time.Time
}

// CaseAccess is what one user may do on one case, loaded with the request
// for the case in its URL and handed to the enforcer. The zero value (no
// such case, or no membership) grants nothing.
type CaseAccess struct {
	Role      CaseRole  // "" without a membership
	ExpiresAt time.Time // zero: no expiry
	Excluded  bool
}

// Roles returns the case roles that count at now: the member's role unless
// it has expired, and CaseExcluded for an exclusion, which the policy turns
// into a deny that beats every role.
func (a CaseAccess) Roles(now time.Time) []CaseRole {
	var out []CaseRole
	if a.Role != "" && (a.ExpiresAt.IsZero() || now.Before(a.ExpiresAt)) {
		out = append(out, a.Role)
	}
	if a.Excluded {
		out = append(out, CaseExcluded)
	}
	return out
}

// NewCase is the input to CaseService.CreateCase.
type NewCase struct {
	Title  string
	Risk   RiskLevel // "" means RiskUnrated
	Labels []string
}

// Limits of case metadata.
const (
	MaxCaseTitle = 200 // characters
	MaxLabels    = 10
	MaxLabel     = 40 // characters
)

// Validate normalises nc in place and checks it.
func (nc *NewCase) Validate() error {
	title, err := normalizeTitle(nc.Title)
	if err != nil {
		return err
	}
	if nc.Risk == "" {
		nc.Risk = RiskUnrated
	}
	if !nc.Risk.Valid() {
		return riskError(nc.Risk)
	}
	labels, err := NormalizeLabels(nc.Labels)
	if err != nil {
		return err
	}
	nc.Title, nc.Labels = title, labels
	return nil
}

// Validate checks a whole case as stored.
func (c *Case) Validate() error {
	if _, err := normalizeTitle(c.Title); err != nil {
		return err
	}
	if !c.Status.Valid() {
		return statusError(c.Status)
	}
	if !c.Risk.Valid() {
		return riskError(c.Risk)
	}
	_, err := NormalizeLabels(c.Labels)
	return err
}

func normalizeTitle(s string) (string, error) {
	if err := CheckText("title", s); err != nil {
		return "", err
	}
	s = strings.TrimSpace(s)
	if s == "" || utf8.RuneCountInString(s) > MaxCaseTitle || strings.IndexFunc(s, unicode.IsControl) >= 0 {
		return "", Errorf(EINVALID, "The title must have 1 to %d characters and no line breaks.", MaxCaseTitle)
	}
	return s, nil
}

func statusError(s CaseStatus) error {
	if err := CheckText("status", string(s)); err != nil {
		return err
	}
	return Errorf(EINVALID, "Unknown case status %q.", CleanText(string(s), 40))
}

func riskError(r RiskLevel) error {
	if err := CheckText("risk", string(r)); err != nil {
		return err
	}
	return Errorf(EINVALID, "Unknown risk level %q.", CleanText(string(r), 40))
}

// ValidateCaseState checks a status and risk level set by hand.
func ValidateCaseState(status CaseStatus, risk RiskLevel) error {
	if !status.Valid() {
		return statusError(status)
	}
	if !risk.Valid() {
		return riskError(risk)
	}
	return nil
}

// NormalizeLabels trims, de-duplicates (ignoring case) and checks labels,
// keeping their order. Empty entries are dropped.
func NormalizeLabels(labels []string) ([]string, error) {
	out := []string{}
	seen := map[string]bool{}
	for _, l := range labels {
		if err := CheckText("labels", l); err != nil {
			return nil, err
		}
		l = strings.TrimSpace(l)
		if l == "" || seen[strings.ToLower(l)] {
			continue
		}
		if utf8.RuneCountInString(l) > MaxLabel || strings.IndexFunc(l, unicode.IsControl) >= 0 {
			return nil, Errorf(EINVALID, "A label must have at most %d characters and no line breaks.", MaxLabel)
		}
		seen[strings.ToLower(l)] = true
		out = append(out, l)
	}
	if len(out) > MaxLabels {
		return nil, Errorf(EINVALID, "A case can have at most %d labels.", MaxLabels)
	}
	return out, nil
}

// ParseLabels splits a comma-separated list of labels as typed in a form.
func ParseLabels(s string) []string { return strings.Split(s, ",") }

// NewMember is the input to CaseService.AddMember and ChangeMember.
type NewMember struct {
	Email     string // AddMember finds the user by e-mail in the tenant
	UserID    string // ChangeMember names the member
	Role      CaseRole
	ExpiresAt time.Time // zero: no expiry
}

// Validate normalises m in place and checks it; now is the present, which an
// expiry must lie after.
func (m *NewMember) Validate(now time.Time) error {
	if m.UserID == "" {
		email, err := NormalizeEmail(m.Email)
		if err != nil {
			return err
		}
		m.Email = email
	}
	if err := CheckText("role", string(m.Role)); err != nil {
		return err
	}
	if !m.Role.Valid() {
		return Errorf(EINVALID, "Unknown case role %q.", CleanText(string(m.Role), 40))
	}
	if !m.ExpiresAt.IsZero() && !m.ExpiresAt.After(now) {
		return Errorf(EINVALID, "The expiry date must lie in the future.")
	}
	return nil
}

// ParseExpiry reads an expiry date as a date input sends it (2026-12-31):
// the membership ends at the end of that day, UTC. "" is no expiry.
func ParseExpiry(s string) (time.Time, error) {
	if err := CheckText("expires", s); err != nil {
		return time.Time{}, err
	}
	s = strings.TrimSpace(s)
	if s == "" {
		return time.Time{}, nil
	}
	d, err := time.Parse(time.DateOnly, s)
	if err != nil {
		return time.Time{}, Errorf(EINVALID, "Enter the expiry date as YYYY-MM-DD.")
	}
	return d.AddDate(0, 0, 1), nil
}

// FormatReference is the reference of the n-th case of a tenant in year.
func FormatReference(year, n int) string { return fmt.Sprintf("TM-%d-%04d", year, n) }

// CaseService keeps the case folders of a tenant. Every method acts for the
// Actor in ctx, in one transaction, and writes its audit event in that
// transaction. Methods that take a case id return ENOTFOUND for a case that
// does not exist in the tenant; authorization (membership) is the caller's
// request path, which asks Access first.
type CaseService interface {
	// CreateCase creates a case with the next reference of the tenant and
	// year, and makes the actor its lead. EINVALID for bad input.
	CreateCase(ctx context.Context, tenantID string, nc NewCase) (*Case, error)
	// FindCase returns ENOTFOUND if the case does not exist in the tenant.
	FindCase(ctx context.Context, tenantID, caseID string) (*Case, error)
	// MyCases lists the cases the user is a member of, membership current
	// and not excluded, most recently changed first.
	MyCases(ctx context.Context, tenantID, userID string) ([]*Case, error)
	// MyRiskCounts counts the open (not closed) cases of MyCases by risk
	// level, all of them: MyCases lists at most 500, and a count that
	// left out an old imminent case would hide it.
	MyRiskCounts(ctx context.Context, tenantID, userID string) (map[RiskLevel]int, error)
	// Access returns the user's access to the case; the zero CaseAccess if
	// the case does not exist or the user is no member. It never fails
	// with ENOTFOUND, so that both look the same to the caller.
	Access(ctx context.Context, tenantID, userID, caseID string) (CaseAccess, error)
	// SetState changes status and risk level. It is the one place that
	// does. A change that NeedsApproval is not made: it becomes a pending
	// Approval, which SetState returns (nil when the change was made).
	// ECONFLICT if such a request is pending already, and for a change to
	// a closed case other than reopening it.
	SetState(ctx context.Context, tenantID, caseID string, status CaseStatus, risk RiskLevel) (*Approval, error)
	// Approvals lists the case's pending four-eyes requests.
	Approvals(ctx context.Context, tenantID, caseID string) ([]*Approval, error)
	// DecideApproval approves (the change is made) or rejects a pending
	// request. EFORBIDDEN for the requester's own request; ECONFLICT if the
	// case changed since the request; ENOTFOUND for no such pending request.
	DecideApproval(ctx context.Context, tenantID, caseID, approvalID string, approve bool) error
	// RequestHandover files a pending ApprovalHandover for the actor, a
	// current lead of the case. Approving it (DecideApproval) needs a
	// threat manager other than the requester who is a current member of
	// the case; the approver becomes lead and the requester is removed
	// from the case. ECONFLICT on a closed case, if such a request is
	// pending already, and for an actor who is not a current lead.
	RequestHandover(ctx context.Context, tenantID, caseID string) (*Approval, error)
	// AcceptHandover is DecideApproval(approve) for a hand-over request
	// only: EINVALID for a request of another kind.
	AcceptHandover(ctx context.Context, tenantID, caseID, approvalID string) error
	// Timeline lists the case's events, oldest first, of kind (one of
	// TimelineKinds, "" for all).
	Timeline(ctx context.Context, tenantID, caseID, kind string) ([]*TimelineEvent, error)
	// Members lists the members, expired ones included, leads first.
	Members(ctx context.Context, tenantID, caseID string) ([]*CaseMember, error)
	// AddMember adds the tenant's user with m.Email. EINVALID if there is
	// no such user, ECONFLICT if they are a member already or excluded.
	AddMember(ctx context.Context, tenantID, caseID string, m NewMember) error
	// ChangeMember changes role and expiry of member m.UserID. ECONFLICT if
	// that would leave the case without a current lead.
	ChangeMember(ctx context.Context, tenantID, caseID string, m NewMember) error
	// RemoveMember removes a member. ECONFLICT for the last current lead.
	RemoveMember(ctx context.Context, tenantID, caseID, userID string) error
	// Exclusions lists the users excluded from the case.
	Exclusions(ctx context.Context, tenantID, caseID string) ([]*CaseExclusion, error)
	// Exclude puts up an ethical wall for the tenant's user with email: any
	// membership ends, and no role lets them see the case. ECONFLICT for
	// the last current lead and for the actor themselves.
	Exclude(ctx context.Context, tenantID, caseID, email string) error
	// LiftExclusion takes an exclusion down.
	LiftExclusion(ctx context.Context, tenantID, caseID, userID string) error
}
