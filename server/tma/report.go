package tma

import (
	"context"
	"crypto/rand"
	"slices"
	"strings"
	"time"
	"unicode/utf8"
)

// Report is a report of warning behaviour (step 1, "recognize"), filed by a
// signed-in user or anonymously on the tenant's public report page. What it
// says (Content) is case content: it is sealed under the key of CaseID and
// never stored in clear. Before a decision CaseID is the report's own
// intake case row (a cases row with intake set, no members, invisible to
// every case route); opening a case promotes that row, merging re-seals the
// report under the target case's key.
type Report struct {
	ID         string
	TenantID   string
	CaseID     string // the case whose key seals the report
	Anonymous  bool
	ReporterID string // "" for an anonymous report
	Urgency    Urgency
	Categories []Category
	Content    ReportContent // empty unless the caller asked to read it
	Named      []NamedPerson
	Status     ReportStatus
	CaseRef    string // the case reference once opened or merged
	CreatedAt  time.Time
	DecidedAt  time.Time
}

// ReportContent is what a reporter tells: sealed as one record.
type ReportContent struct {
	What  string `json:"what"`
	When  string `json:"when"`
	Where string `json:"where"`
	Who   string `json:"who"` // who is involved, in the reporter's words
}

// NamedPerson is a user of the tenant named in a report. They are excluded
// from any case made of it, and never see the report in the intake queue.
type NamedPerson struct {
	UserID      string
	DisplayName string
}

// ReportStatus is where a report stands in the intake.
type ReportStatus string

// The statuses of a report.
const (
	ReportPending   ReportStatus = "pending"
	ReportOpened    ReportStatus = "opened"
	ReportMerged    ReportStatus = "merged"
	ReportDismissed ReportStatus = "dismissed"
)

// Urgency is how urgent the reporter thinks the matter is.
type Urgency string

// The urgencies, lowest first.
const (
	UrgencyLow       Urgency = "low"
	UrgencyMedium    Urgency = "medium"
	UrgencyHigh      Urgency = "high"
	UrgencyImmediate Urgency = "immediate"
)

// Urgencies lists every urgency in display order.
var Urgencies = []Urgency{UrgencyLow, UrgencyMedium, UrgencyHigh, UrgencyImmediate}

// Category is a kind of warning behaviour (DOMAIN.md): leaking, general
// crisis signs and violence-specific signs, a small fixed list.
type Category string

// The warning-behaviour categories.
const (
	CatDirectLeaking   Category = "direct_leaking"   // announces the act to the target or others
	CatIndirectLeaking Category = "indirect_leaking" // hints, fantasies, identification with attackers
	CatCrisis          Category = "crisis"           // despair, losses, suicidality, isolation
	CatViolence        Category = "violence"         // weapons interest, planning, fixation, threats
)

// Categories lists every category in display order.
var Categories = []Category{CatDirectLeaking, CatIndirectLeaking, CatCrisis, CatViolence}

// ReportMessage is one message of the two-way channel between the team and
// the reporter. Text is sealed with the report.
type ReportMessage struct {
	ID        string
	FromTeam  bool
	Text      string
	CreatedAt time.Time
}

// NewReport is the input to filing a report.
type NewReport struct {
	Content    ReportContent
	Urgency    Urgency
	Categories []Category
	Named      []string // user ids of the tenant; anonymous reports name nobody by id
}

// Limits of report text.
const (
	MaxReportText  = 10000 // characters of "what happened" and of a message
	MaxReportField = 500   // characters of when, where, who
	MaxNamed       = 20
)

// Validate normalises nr in place and checks it.
func (nr *NewReport) Validate() error {
	c := &nr.Content
	for _, f := range []struct {
		name string
		s    *string
		max  int
	}{{"what", &c.What, MaxReportText}, {"when", &c.When, MaxReportField}, {"where", &c.Where, MaxReportField}, {"who", &c.Who, MaxReportField}} {
		if err := CheckText(f.name, *f.s); err != nil {
			return err
		}
		*f.s = strings.TrimSpace(*f.s)
		if utf8.RuneCountInString(*f.s) > f.max {
			return Errorf(EINVALID, "The field %q is too long (at most %d characters).", f.name, f.max)
		}
	}
	if c.What == "" {
		return Errorf(EINVALID, "Describe what happened.")
	}
	if err := CheckText("urgency", string(nr.Urgency)); err != nil {
		return err
	}
	if !slices.Contains(Urgencies, nr.Urgency) {
		return Errorf(EINVALID, "Choose how urgent the matter is.")
	}
	var cats []Category
	for _, cat := range nr.Categories {
		if err := CheckText("categories", string(cat)); err != nil {
			return err
		}
		if !slices.Contains(Categories, cat) {
			return Errorf(EINVALID, "Unknown category %q.", CleanText(string(cat), 40))
		}
		if !slices.Contains(cats, cat) {
			cats = append(cats, cat)
		}
	}
	nr.Categories = cats
	var named []string
	for _, id := range nr.Named {
		if err := CheckText("named", id); err != nil {
			return err
		}
		if id == "" || slices.Contains(named, id) {
			continue
		}
		if !ValidID(id) {
			return Errorf(EINVALID, "A named person is not a user of your organisation.")
		}
		named = append(named, id)
	}
	if len(named) > MaxNamed {
		return Errorf(EINVALID, "A report can name at most %d persons.", MaxNamed)
	}
	nr.Named = named
	return nil
}

// CheckMessage normalises and checks the text of a message or a reason.
func CheckMessage(field, s string) (string, error) {
	if err := CheckText(field, s); err != nil {
		return "", err
	}
	s = strings.TrimSpace(s)
	if s == "" || utf8.RuneCountInString(s) > MaxReportText {
		return "", Errorf(EINVALID, "The text must have 1 to %d characters.", MaxReportText)
	}
	return s, nil
}

// Receipt codes: 20 characters of a 32-letter alphabet without look-alikes
// (100 bits), shown once in groups of four. Only a slow hash is stored.
const (
	receiptAlphabet = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"
	ReceiptLength   = 20
)

// NewReceiptCode returns a fresh random receipt code, e.g.
// "K7QM-2XPA-9RTD-HW4C-NB3E".
func NewReceiptCode() string {
	var b [ReceiptLength]byte
	_, _ = rand.Read(b[:])
	var sb strings.Builder
	for i, v := range b {
		if i > 0 && i%4 == 0 {
			sb.WriteByte('-')
		}
		sb.WriteByte(receiptAlphabet[int(v)%len(receiptAlphabet)]) // 256 is a multiple of 32: no bias
	}
	return sb.String()
}

// NormalizeReceiptCode turns a code as typed (spaces, dashes, lower case)
// into its canonical 20 letters, or "" if it cannot be a code.
func NormalizeReceiptCode(s string) string {
	var sb strings.Builder
	for _, r := range strings.ToUpper(s) {
		switch {
		case r == '-' || r == ' ':
		case r < 128 && strings.ContainsRune(receiptAlphabet, r):
			sb.WriteRune(r)
		default:
			return ""
		}
	}
	if sb.Len() != ReceiptLength {
		return ""
	}
	return sb.String()
}

// Record is one sealed field of case content: where it lives (bound into
// the ciphertext) and its plaintext or sealed bytes.
type Record struct {
	Table, RowID, Field string
	Plain, Sealed       []byte
}

// RecordSealer seals case content under the key of its case, bound to tenant,
// case, table, row and field (crypt.SealRecord). Seal uses the checked
// sealing key (CaseKeyService.SealingKey), Open the cached reading key.
type RecordSealer interface {
	// Seal fills Sealed of every record from Plain.
	Seal(ctx context.Context, tenantID, caseID string, recs []*Record) error
	// Open fills Plain of every record from Sealed. EGONE if the case was
	// shredded, ECORRUPT if a record was altered or moved.
	Open(ctx context.Context, tenantID, caseID string, recs []*Record) error
}

// ReportService keeps reports, their two-way channel and the intake
// decisions. Every method acts for the Actor in ctx and audits in its own
// transaction. Methods for the team return ENOTFOUND for a report that
// does not exist in the tenant or that names the actor: the people named
// in a report never see it.
type ReportService interface {
	// File stores a report of the actor, a signed-in user.
	File(ctx context.Context, tenantID string, nr NewReport) (*Report, error)
	// FileAnonymous stores an anonymous report and returns its receipt
	// code, which is stored only as a slow hash. client is an opaque,
	// short-lived tag of the sender for rate limiting, never an address.
	// ETHROTTLED when too many reports arrive.
	FileAnonymous(ctx context.Context, tenantID string, nr NewReport, client string) (*Report, string, error)
	// MyReports lists the actor's own reports, newest first.
	MyReports(ctx context.Context, tenantID string) ([]*Report, error)
	// MyReport returns one of the actor's own reports with its content and
	// messages; ENOTFOUND for anyone else's.
	MyReport(ctx context.Context, tenantID, reportID string) (*Report, []*ReportMessage, error)
	// AddToMyReport adds a message (an answer or more information) to one
	// of the actor's own reports.
	AddToMyReport(ctx context.Context, tenantID, reportID, text string) error
	// Mailbox returns the anonymous report with the receipt code, with its
	// content and messages. EUNAUTHORIZED for a wrong code, ETHROTTLED
	// after too many wrong codes.
	Mailbox(ctx context.Context, tenantID, code, client string) (*Report, []*ReportMessage, error)
	// AnswerMailbox adds the reporter's message to the report with the
	// receipt code; errors as Mailbox.
	AnswerMailbox(ctx context.Context, tenantID, code, client, text string) error
	// Queue lists the pending reports the actor may triage, oldest first,
	// without their content.
	Queue(ctx context.Context, tenantID string) ([]*Report, error)
	// Triage returns a report with its content and messages for the team.
	Triage(ctx context.Context, tenantID, reportID string) (*Report, []*ReportMessage, error)
	// Ask sends the team's question to the reporter.
	Ask(ctx context.Context, tenantID, reportID, text string) error
	// Open makes a case of a pending report: the report's intake row becomes
	// the case (next reference, the actor its lead), and every named person
	// is excluded from it.
	Open(ctx context.Context, tenantID, reportID string, nc NewCase) (*Case, error)
	// Merge attaches a pending report to an existing case of which the actor
	// is a current lead: the report is re-sealed under that case's key and
	// the named persons are excluded from it. ENOTFOUND if the actor may not
	// manage the case; ECONFLICT if a named person is its last lead.
	Merge(ctx context.Context, tenantID, reportID, caseID string) (*Case, error)
	// Dismiss closes a pending report without a case; the reason is sealed.
	Dismiss(ctx context.Context, tenantID, reportID, reason string) error
}
