package tma

import (
	"context"
	"time"
)

// Assessment is one rating of a case with one version of an instrument: a
// rating per item with evidence and rationale, and the summary judgments
// people made with their rationale. Ratings and judgments (values and
// texts) are sealed with the case key; what stays in clear is the
// instrument version, the status, the risk level it set, and who did what
// when.
//
// An assessment starts as a draft, which saves as the team works
// (Revision counts the saves and detects concurrent edits). Submitting it
// runs the instrument's rules: if a second approver is required, it waits
// (AssessmentPending) until another threat manager approves it; then, or at
// once, it is final and its risk judgment becomes the case's risk level.
// A final assessment never changes.
type Assessment struct {
	ID                string
	CaseID            string
	InstrumentID      string
	InstrumentVersion int
	// PreviousID is the final assessment this one started from (its
	// ratings carried over by item id), "" for a first assessment.
	PreviousID string
	Status     AssessmentStatus
	Revision   int                 // 1 when started, one more for each save
	Ratings    map[string]Rating   // by item id; items not rated yet are absent
	Judgments  map[string]Judgment // by summary judgment id
	// Set on submission:
	Risk       RiskLevel // the risk judgment's value; "" without one
	FromRisk   RiskLevel // the case's risk level when it was submitted
	Incomplete bool      // a RuleIncomplete rule fired
	// Reasons are why a second approver is (or was) required: the IDs of
	// the RuleSecondApprover rules that fired, and ReasonLowersRisk.
	Reasons []string

	AuthorID      string // who started it
	AuthorName    string
	CreatedAt     time.Time
	SavedAt       time.Time
	SubmittedBy   string
	SubmitterName string
	SubmittedAt   time.Time
	DecidedBy     string // the second approver, once approved
	DeciderName   string
	DecidedAt     time.Time
}

// ReasonLowersRisk is the reason for a second approver when an assessment
// would lower the case's risk level: lowering a risk level is always
// four-eyes (NeedsApproval).
const ReasonLowersRisk = "lowers_risk"

// AssessmentStatus is where an assessment stands.
type AssessmentStatus string

// The assessment statuses.
const (
	AssessmentDraft   AssessmentStatus = "draft"
	AssessmentPending AssessmentStatus = "pending" // submitted, waiting for a second approver
	AssessmentFinal   AssessmentStatus = "final"
)

// Rating is the team's rating of one item. Hidden marks the rating of a
// restricted item (Item.Restricted) handed to a reader who may not read
// it: Value, Evidence, Rationale and Links are then empty, whatever is
// stored. Hidden is never sealed.
type Rating struct {
	Value     string   `json:"value"` // a code of the item's scale
	Evidence  string   `json:"evidence,omitempty"`
	Rationale string   `json:"rationale,omitempty"`
	Links     []string `json:"links,omitempty"` // ids of notes and documents of the case
	Hidden    bool     `json:"-"`
}

// Judgment is one summary judgment and why.
type Judgment struct {
	Value     string `json:"value"` // a code of the judgment's scale
	Rationale string `json:"rationale,omitempty"`
}

// AssessmentInput is what a save sends: the whole state of the form.
// Revision is the revision the edit started from; a save on a draft that
// was saved meanwhile is ECONFLICT.
type AssessmentInput struct {
	Revision  int
	Ratings   map[string]Rating
	Judgments map[string]Judgment
}

// Limits of an assessment.
const (
	MaxRatingText  = 20000 // bytes of evidence or rationale per item or judgment
	MaxRatingLinks = 20
)

// Outcome is what the rules say about a submitted assessment.
type Outcome struct {
	Risk           RiskLevel // the risk judgment's value, "" without one
	Incomplete     bool
	SecondApprover bool
	// Fired are the rules whose condition held, in the instrument's
	// order; Reasons are the IDs of those that require a second approver,
	// plus ReasonLowersRisk.
	Fired   []Rule
	Reasons []string
}

// ItemChange is how one item changed from one assessment to the next.
type ItemChange struct {
	SectionTitle string
	ItemID       string
	Name         string
	Change       ChangeKind
	From, To     string // value codes; "" for not rated
	FromLabel    string // their labels on their own versions' scales
	ToLabel      string
}

// ChangeKind is the kind of an ItemChange.
type ChangeKind string

// The change kinds.
const (
	ChangeSame    ChangeKind = "same"    // same value, same texts
	ChangeText    ChangeKind = "text"    // same value, other evidence, rationale or links
	ChangeValue   ChangeKind = "value"   // another value
	ChangeAdded   ChangeKind = "added"   // the item is new in this version
	ChangeRemoved ChangeKind = "removed" // the item is gone from this version
	ChangeHidden  ChangeKind = "hidden"  // a rating on either side is Hidden from the reader: not compared
)

// AssessmentService keeps the assessments of a case. Every method acts for
// the Actor in ctx; changes run in one transaction with their audit event,
// whose detail names the assessment and instrument version, never a rating
// or text. ENOTFOUND for an assessment that is not on the case. Changes to
// a closed case are ECONFLICT.
//
// restricted says whether the caller may read restricted (GDPR Art. 9/10)
// content (CanReadRestricted), as for NoteService. Without it, the rating
// of every restricted item (Item.Restricted) comes back Hidden, with its
// value and texts left empty (HideRestricted), and a save or submission
// ignores what it sends for restricted items and keeps their stored
// ratings as they are (KeepRestricted): such a caller can neither read
// nor change nor wipe them. Start and Decide return the assessment with
// restricted ratings hidden; read it with Assessment to see them.
type AssessmentService interface {
	// Assessments lists the case's assessments, oldest first, opened.
	Assessments(ctx context.Context, tenantID, caseID string, restricted bool) ([]*Assessment, error)
	// Assessment returns one assessment, opened.
	Assessment(ctx context.Context, tenantID, caseID, id string, restricted bool) (*Assessment, error)
	// Start begins a draft with a version of an instrument (0: the
	// latest). Ratings carry over by item id from the case's latest final
	// assessment (see CarryOver), restricted ones included. ECONFLICT if
	// the case has a draft or pending assessment already; ENOTFOUND for no
	// such instrument.
	Start(ctx context.Context, tenantID, caseID, instrumentID string, version int) (*Assessment, error)
	// Save stores a draft (CheckDraft). ECONFLICT if it is no draft any
	// more or was saved since d.Revision; EINVALID for an item, value or
	// link that does not exist.
	Save(ctx context.Context, tenantID, caseID, id string, d AssessmentInput, restricted bool) (*Assessment, error)
	// Submit saves d and submits the draft (CheckSubmit), runs the rules
	// (Evaluate) on every stored rating, restricted ones included, and
	// either makes it final, setting the case's risk level, or leaves it
	// pending for a second approver.
	Submit(ctx context.Context, tenantID, caseID, id string, d AssessmentInput, restricted bool) (*Assessment, error)
	// Decide approves a pending assessment (it becomes final and sets the
	// case's risk level) or rejects it (it goes back to draft, at the same
	// revision). Approving is EFORBIDDEN for whoever started, saved or
	// submitted it (whoever wrote any of it), and for anyone who is not a
	// current member of the case; they may
	// reject (withdraw) it. ECONFLICT if it is not pending, and for an
	// approval after the case's risk level changed since the submission
	// (the rules ran against the old one: reject and submit again).
	// restricted says whether the actor may read restricted items
	// (CanReadRestricted): the second approver of an assessment whose
	// instrument has restricted items must see everything the judgment
	// rests on, so approving is EFORBIDDEN without it.
	Decide(ctx context.Context, tenantID, caseID, id string, approve, restricted bool) (*Assessment, error)
	// Discard deletes a draft. ECONFLICT for one that is not a draft.
	Discard(ctx context.Context, tenantID, caseID, id string) error
}
