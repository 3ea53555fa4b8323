package tma

import (
	"slices"
	"time"
)

// Approval is a four-eyes request: a change that one threat manager asked
// for and a second one, with manage rights on the case, must approve before
// it takes effect. Nobody decides their own request.
type Approval struct {
	ID            string
	Kind          ApprovalKind
	CaseID        string
	RequestedBy   string
	RequesterName string
	FromStatus    CaseStatus
	FromRisk      RiskLevel
	Status        CaseStatus // the state asked for
	Risk          RiskLevel
	// DocumentID and Version name the version that an
	// ApprovalDocumentDelete deletes.
	DocumentID string
	Version    int
	CreatedAt  time.Time
}

// ApprovalKind is what a four-eyes request asks for.
type ApprovalKind string

// The kinds of four-eyes requests.
const (
	// ApprovalState changes status and risk (Status, Risk).
	ApprovalState ApprovalKind = "state"
	// ApprovalHandover hands the case over: the requester, a lead, leaves
	// the case, and the approver, a threat manager who is a current
	// member of the case (any case role), becomes its lead. This is how
	// the last lead leaves; removing, demoting or excluding the last lead
	// directly stays refused.
	ApprovalHandover ApprovalKind = "handover"
	// ApprovalDocumentDelete deletes one version of a document
	// (DocumentID, Version): its content, name and digest go, and its blob
	// is left to blob GC. The row stays, marked deleted.
	ApprovalDocumentDelete ApprovalKind = "document_delete"
)

// NeedsApproval reports whether changing a case from status/risk to
// status/risk needs a second threat manager: closing it, or lowering its
// risk level.
func NeedsApproval(fromStatus CaseStatus, fromRisk RiskLevel, status CaseStatus, risk RiskLevel) bool {
	closing := status == StatusClosed && fromStatus != StatusClosed
	lowering := slices.Index(RiskLevels, risk) < slices.Index(RiskLevels, fromRisk)
	return closing || lowering
}

// Closed is the error of a change to a closed case.
func errCaseClosed() error {
	return Errorf(ECONFLICT, "This case is closed and can only be read. Reopen it first.")
}

// CheckOpen returns ECONFLICT if the case is closed: closed cases are
// read-only until their lead reopens them.
func (c *Case) CheckOpen() error {
	if c.Status == StatusClosed {
		return errCaseClosed()
	}
	return nil
}

// TimelineEvent is one event of a case's timeline, built from the tenant's
// audit events about the case. Details never hold case content.
type TimelineEvent struct {
	At         time.Time
	ActorLabel string
	Action     string
	Kind       string // one of TimelineKinds
	Detail     string
	NoteID     string // for note events: the note, to link to
}

// TimelineKinds are the filters of the timeline.
var TimelineKinds = []string{"notes", "actions", "documents", "members", "assessments", "state"}

// TimelineKind is the kind of an audit action on a case, "" for none.
func TimelineKind(action string) string {
	switch action {
	case AuditNoteAdded, AuditNoteEdited:
		return "notes"
	case AuditActionAdded, AuditActionChanged:
		return "actions"
	case AuditDocumentUploaded, AuditDocumentDeleted, AuditCaseExported:
		return "documents"
	case AuditCasePersonAdded, AuditCasePersonRemoved, AuditCaseMemberAdded, AuditCaseMemberChanged, AuditCaseMemberRemoved, AuditCaseUserExcluded, AuditCaseExclusionLifted:
		return "members"
	case AuditAssessmentStarted, AuditAssessmentSubmitted, AuditAssessmentApproved, AuditAssessmentRejected, AuditAssessmentDiscarded:
		return "assessments"
	case AuditCaseCreated, AuditCaseStateChanged, AuditApprovalRequested, AuditApprovalGranted, AuditApprovalRejected, AuditLegalHoldSet, AuditLegalHoldLifted:
		return "state"
	}
	return ""
}
