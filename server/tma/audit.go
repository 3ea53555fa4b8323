package tma

import (
	"context"
	"fmt"
	"time"
)

// Audit actions.
const (
	AuditLoginSucceeded      = "login.succeeded"
	AuditLoginFailed         = "login.failed"
	AuditLoginThrottled      = "login.throttled"
	AuditLogout              = "logout"
	AuditLogoutEverywhere    = "logout.everywhere"
	AuditMFAEnrolled         = "mfa.enrolled"
	AuditMFARemoved          = "mfa.removed"
	AuditMFAFailed           = "mfa.failed"
	AuditPasswordChanged     = "password.changed"
	AuditPasswordReset       = "password.reset"
	AuditUserCreated         = "user.created"
	AuditUserDisabled        = "user.disabled"
	AuditUserEnabled         = "user.enabled"
	AuditUserLocale          = "user.locale_changed"
	AuditRolesChanged        = "user.roles_changed"
	AuditSessionsRevoked     = "sessions.revoked"
	AuditTenantCreated       = "tenant.created"
	AuditTenantSettings      = "tenant.settings_changed"
	AuditAccessDenied        = "access.denied"
	AuditCSRFRejected        = "csrf.rejected"
	AuditKeyRotated          = "key.rotated"
	AuditKeyRetired          = "key.retired"
	AuditKeyRetireRefused    = "key.retire_refused"
	AuditCaseShredded        = "case.shredded"
	AuditCaseCreated         = "case.created"
	AuditLegalHoldSet        = "case.legal_hold_set"
	AuditLegalHoldLifted     = "case.legal_hold_lifted"
	AuditCaseStateChanged    = "case.state_changed"
	AuditCaseMemberAdded     = "case.member_added"
	AuditCaseMemberChanged   = "case.member_changed"
	AuditCaseMemberRemoved   = "case.member_removed"
	AuditCaseUserExcluded    = "case.user_excluded"
	AuditCaseExclusionLifted = "case.exclusion_lifted"
	AuditNoteAdded           = "case.note_added"
	AuditNoteEdited          = "case.note_edited"
	AuditActionAdded         = "case.action_added"
	AuditActionChanged       = "case.action_changed"
	AuditApprovalRequested   = "case.approval_requested"
	AuditApprovalGranted     = "case.approval_granted"
	AuditApprovalRejected    = "case.approval_rejected"
	AuditCasePersonAdded     = "case.person_added"
	AuditCasePersonRemoved   = "case.person_removed"
	AuditIntegrityFailure    = "integrity.failure"
	AuditChangeRefused       = "user.change_refused"
	AuditLockoutLifted       = "user.lockout_lifted"
	AuditReportFiled         = "report.filed"
	AuditReportMessage       = "report.message"
	AuditReportOpened        = "report.opened"
	AuditReportMerged        = "report.merged"
	AuditReportDismissed     = "report.dismissed"
	AuditReportCodeRefused   = "report.code_refused"
	AuditReportThrottled     = "report.throttled"
	AuditDocumentUploaded    = "case.document_uploaded"
	AuditDocumentRead        = "case.document_read" // detail: download or preview
	AuditDocumentDeleted     = "case.document_deleted"
	AuditCaseExported        = "case.exported"
	AuditWikiPageCreated     = "wiki.page_created"
	AuditWikiPageSaved       = "wiki.page_saved"
	AuditWikiPageRestored    = "wiki.page_restored"
	AuditWikiPageAccess      = "wiki.page_access_changed"
	AuditWikiGrants          = "wiki.grants_changed"
	AuditWikiImported        = "wiki.imported" // detail: source and counts
	AuditWikiChecklist       = "case.checklist_applied"
	AuditCaseWikiLinked      = "case.wiki_linked"
	AuditCaseWikiUnlinked    = "case.wiki_unlinked"
	AuditWikiAttachmentAdded = "wiki.attachment_uploaded"
	AuditWikiAttachmentRead  = "wiki.attachment_read" // detail: download or preview
	AuditInstrumentImported  = "instrument.imported"  // detail: instrument id and version
	AuditAssessmentStarted   = "case.assessment_started"
	AuditAssessmentSubmitted = "case.assessment_submitted" // detail: final or pending, and why
	AuditAssessmentApproved  = "case.assessment_approved"
	AuditAssessmentRejected  = "case.assessment_rejected"
	AuditAssessmentDiscarded = "case.assessment_discarded"
)

// AuditActions lists every action, for filters and their labels.
var AuditActions = []string{
	AuditLoginSucceeded,
	AuditLoginFailed,
	AuditLoginThrottled,
	AuditLogout,
	AuditLogoutEverywhere,
	AuditMFAEnrolled,
	AuditMFARemoved,
	AuditMFAFailed,
	AuditPasswordChanged,
	AuditPasswordReset,
	AuditUserCreated,
	AuditUserDisabled,
	AuditUserEnabled,
	AuditUserLocale,
	AuditRolesChanged,
	AuditSessionsRevoked,
	AuditTenantCreated,
	AuditTenantSettings,
	AuditAccessDenied,
	AuditCSRFRejected,
	AuditKeyRotated,
	AuditKeyRetired,
	AuditKeyRetireRefused,
	AuditCaseShredded,
	AuditCaseCreated,
	AuditLegalHoldSet,
	AuditLegalHoldLifted,
	AuditCaseStateChanged,
	AuditCaseMemberAdded,
	AuditCaseMemberChanged,
	AuditCaseMemberRemoved,
	AuditCaseUserExcluded,
	AuditCaseExclusionLifted,
	AuditNoteAdded,
	AuditNoteEdited,
	AuditActionAdded,
	AuditActionChanged,
	AuditApprovalRequested,
	AuditApprovalGranted,
	AuditApprovalRejected,
	AuditCasePersonAdded,
	AuditCasePersonRemoved,
	AuditIntegrityFailure,
	AuditChangeRefused,
	AuditLockoutLifted,
	AuditReportFiled,
	AuditReportMessage,
	AuditReportOpened,
	AuditReportMerged,
	AuditReportDismissed,
	AuditReportCodeRefused,
	AuditReportThrottled,
	AuditDocumentUploaded,
	AuditDocumentRead,
	AuditDocumentDeleted,
	AuditCaseExported,
	AuditWikiPageCreated,
	AuditWikiPageSaved,
	AuditWikiPageRestored,
	AuditWikiPageAccess,
	AuditWikiGrants,
	AuditWikiImported,
	AuditWikiChecklist,
	AuditCaseWikiLinked,
	AuditCaseWikiUnlinked,
	AuditWikiAttachmentAdded,
	AuditWikiAttachmentRead,
	AuditInstrumentImported,
	AuditAssessmentStarted,
	AuditAssessmentSubmitted,
	AuditAssessmentApproved,
	AuditAssessmentRejected,
	AuditAssessmentDiscarded,
}

// AuditEvent is one row of a tenant's append-only, hash-chained audit log.
// Hash = SHA-256(PrevHash || canonical encoding of the other fields).
type AuditEvent struct {
	ID         int64
	TenantID   string
	Seq        int64 // 1, 2, 3, ... per tenant
	At         time.Time
	ActorID    string // empty for the system or an anonymous caller
	ActorLabel string // e-mail or "system" at the time of the event
	Action     string
	TargetType string
	TargetID   string
	IP         string
	Detail     string // short, never case content
	PrevHash   []byte
	Hash       []byte
	// TargetLabel names the target for people (a user's e-mail address
	// now). It is looked up when read, so it is not part of the hash.
	TargetLabel string
}

// AuditFilter selects audit events.
type AuditFilter struct {
	Action string
	Before int64 // Seq; 0 for the newest
	Limit  int
}

// AuditService reads and checks the audit log. Writes happen inside the
// services whose changes they record.
type AuditService interface {
	// Record appends an event of the Actor in ctx, in the actor's tenant,
	// in a transaction of its own: for events that go with no other change,
	// such as a denied request. Changes record their own events.
	Record(ctx context.Context, action, targetType, targetID, detail string) error
	// FindAuditEvents lists the tenant's events newest first.
	FindAuditEvents(ctx context.Context, tenantID string, f AuditFilter) ([]*AuditEvent, error)
	// VerifyChain walks the tenant's chain and returns how many rows it
	// checked. The error is nil if the chain is intact, and otherwise a
	// *ChainError naming the first broken event; the finding is then itself
	// recorded (AuditIntegrityFailure) for the actor in ctx.
	VerifyChain(ctx context.Context, tenantID string) (checked int, err error)
}

// ChainError reports the first row at which an audit chain breaks.
// Events are named by their Seq everywhere (page, CLI, API): it is the
// number people see in the "#" column.
type ChainError struct {
	TenantID string
	Seq      int64 // the first broken event, or the missing head if the tail was cut
	Reason   string
}

func (e *ChainError) Error() string {
	return fmt.Sprintf("audit chain broken at #%d: %s", e.Seq, e.Reason)
}
