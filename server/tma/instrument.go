package tma

import (
	"context"
	"fmt"
	"strings"
	"time"
)

// Instrument is one version of a structured professional judgment (SPJ)
// instrument, kept as data: its scales, sections, items, summary judgments
// and rules. It holds structure, item names and the team's own short
// guidance, never a manual's text. A tenant keeps every version it
// imported; an Assessment is pinned to the one it used, and a new version
// never changes an old assessment.
//
// The file format (YAML) is documented in server/instrument/README.md; the
// JSON tags here are how a stored version is kept in PostgreSQL.
type Instrument struct {
	ID          string            `json:"id"`      // a-z, 0-9 and '-', 2 to 64 characters
	Version     int               `json:"version"` // 1, 2, …
	Title       string            `json:"title"`
	Language    string            `json:"language,omitempty"` // "en" or "de"; the language of names and guidance
	LicenseNote string            `json:"license_note"`
	Scales      []Scale           `json:"scales"`
	Sections    []Section         `json:"sections"`
	Judgments   []SummaryJudgment `json:"summary_judgments"`
	Rules       []Rule            `json:"rules,omitempty"`
}

// Scale is a list of values an item or a judgment is rated on, lowest
// first. The order matters to rules that compare ("below high").
type Scale struct {
	ID     string       `json:"id"`
	Values []ScaleValue `json:"values"`
}

// ScaleValue is one value of a scale. Present marks values that count as
// the item being present (for rules and the risk chart); Unknown marks the
// value for "could not be judged".
type ScaleValue struct {
	Code    string `json:"code"`
	Label   string `json:"label"`
	Present bool   `json:"present,omitempty"`
	Unknown bool   `json:"unknown,omitempty"`
}

// Section groups items, e.g. TRAP-18's proximal warning behaviours.
type Section struct {
	ID    string `json:"id"`
	Title string `json:"title"`
	Items []Item `json:"items"`
}

// Item is one thing the team rates. A Restricted item asks for health or
// criminal-offence data (GDPR Art. 9/10): only readers with
// CanReadRestricted read and rate it; everyone else gets its rating Hidden
// (see HideRestricted) and cannot change it (KeepRestricted).
type Item struct {
	ID         string   `json:"id"` // unique in the instrument, across sections; kept across versions for the same item
	Name       string   `json:"name"`
	Kind       ItemKind `json:"kind"`
	Critical   bool     `json:"critical,omitempty"`
	Restricted bool     `json:"restricted,omitempty"`
	Scale      string   `json:"scale"`              // a Scale ID
	Guidance   string   `json:"guidance,omitempty"` // our own short text, never the manual's
}

// ItemKind says whether an item describes the past, the present, or
// something that lowers the risk.
type ItemKind string

// The item kinds.
const (
	ItemStatic     ItemKind = "static"
	ItemDynamic    ItemKind = "dynamic"
	ItemProtective ItemKind = "protective"
)

// ItemKinds lists the item kinds.
var ItemKinds = []ItemKind{ItemStatic, ItemDynamic, ItemProtective}

// SummaryJudgment is a judgment people make after rating the items, e.g.
// "level of concern". It is never computed from the ratings. The one
// judgment with SetsRisk becomes the case's risk level; its scale's codes
// must then be risk levels (low, moderate, high, imminent).
type SummaryJudgment struct {
	ID                string `json:"id"`
	Title             string `json:"title"`
	Scale             string `json:"scale"`
	RationaleRequired bool   `json:"rationale_required"`
	SetsRisk          bool   `json:"sets_risk,omitempty"`
}

// Rule is a check run on submission. When its condition holds, its effect
// applies, and Message (our text) tells the team why.
type Rule struct {
	ID       string        `json:"id"`
	When     RuleCondition `json:"when"`
	Then     RuleEffect    `json:"then"`
	Judgment string        `json:"judgment,omitempty"` // RuleCriticalPresentBelow, RuleJudgmentAtLeast: a SummaryJudgment ID
	Level    string        `json:"level,omitempty"`    // …and a code of that judgment's scale
	Count    int           `json:"count,omitempty"`    // RuleUnknownMoreThan
	Message  string        `json:"message,omitempty"`
}

// RuleCondition is what a rule checks.
type RuleCondition string

// The rule conditions.
const (
	// RuleCriticalPresentBelow holds when a critical item is rated a
	// Present value while Judgment is rated below Level.
	RuleCriticalPresentBelow RuleCondition = "critical_present_below"
	// RuleUnknownMoreThan holds when more than Count items are rated an
	// Unknown value.
	RuleUnknownMoreThan RuleCondition = "unknown_more_than"
	// RuleJudgmentAtLeast holds when Judgment is rated Level or higher.
	RuleJudgmentAtLeast RuleCondition = "judgment_at_least"
)

// RuleConditions lists the rule conditions.
var RuleConditions = []RuleCondition{RuleCriticalPresentBelow, RuleUnknownMoreThan, RuleJudgmentAtLeast}

// RuleEffect is what a rule does when its condition holds.
type RuleEffect string

// The rule effects.
const (
	// RuleSecondApprover: a second threat manager must approve the
	// assessment before the case's risk level changes.
	RuleSecondApprover RuleEffect = "second_approver"
	// RuleIncomplete: the assessment is marked incomplete.
	RuleIncomplete RuleEffect = "incomplete"
)

// RuleEffects lists the rule effects.
var RuleEffects = []RuleEffect{RuleSecondApprover, RuleIncomplete}

// Limits of an instrument file.
const (
	MaxInstrumentFile    = 1 << 20 // bytes
	MaxInstrumentItems   = 500
	MaxInstrumentVersion = 1<<31 - 1 // what PostgreSQL's integer holds
)

// Problem is one thing wrong with an instrument file. Field is the path of
// the value in the file, as in "sections[1].items[0].scale" (indexes from
// 0); Line is its line in the file, 0 if unknown. Format and Args are the
// message before formatting, for the catalogs, like Error's.
type Problem struct {
	Line   int
	Field  string
	Format string
	Args   []any
}

// Message is the problem in English.
func (p Problem) Message() string { return fmt.Sprintf(p.Format, p.Args...) }

func (p Problem) String() string {
	var b strings.Builder
	if p.Line > 0 {
		fmt.Fprintf(&b, "line %d: ", p.Line)
	}
	if p.Field != "" {
		b.WriteString(p.Field + ": ")
	}
	b.WriteString(p.Message())
	return b.String()
}

// Problems are every problem found in an instrument file. As an error it
// is wrapped in an EINVALID *Error (InvalidInstrument), so that callers can
// list each problem (errors.As).
type Problems []Problem

func (ps Problems) Error() string {
	lines := make([]string, len(ps))
	for i, p := range ps {
		lines[i] = p.String()
	}
	return strings.Join(lines, "\n")
}

// InvalidInstrument is the EINVALID error for an instrument file with
// problems: nothing of it is imported.
func InvalidInstrument(ps Problems) error {
	e := Errorf(EINVALID, "The instrument file has a problem; nothing was imported.")
	if len(ps) > 1 {
		e = Errorf(EINVALID, "The instrument file has %d problems; nothing was imported.", len(ps))
	}
	e.Err = ps
	return e
}

// InstrumentInfo describes one stored version of an instrument.
type InstrumentInfo struct {
	ID           string
	Version      int
	Title        string
	ImportedBy   string // user id; "" for the versions shipped with TMA
	ImporterName string
	ImportedAt   time.Time
	Assessments  int // how many assessments of cases the reader may see are pinned to this version
}

// InstrumentService keeps a tenant's instruments. Every method acts for the
// Actor in ctx.
type InstrumentService interface {
	// Import stores inst, which must be valid (Instrument.Validate), with
	// its source file as uploaded, and audits it. Importing the same
	// version with the same content again changes nothing and returns
	// false; the same version with other content is ECONFLICT ("raise the
	// version").
	Import(ctx context.Context, tenantID string, inst *Instrument, source []byte) (created bool, err error)
	// Instruments lists every stored version, by instrument id, newest
	// version first. InstrumentInfo.Assessments counts only the assessments
	// of cases the actor may see (current membership, no exclusion); an
	// operator's count is the tenant's.
	Instruments(ctx context.Context, tenantID string) ([]*InstrumentInfo, error)
	// Instrument returns one version (0: the latest). ENOTFOUND if there
	// is none.
	Instrument(ctx context.Context, tenantID, id string, version int) (*Instrument, error)
	// Source returns the file a version was imported from.
	Source(ctx context.Context, tenantID, id string, version int) ([]byte, error)
}

// Item returns the item with id and its section, or nil.
func (in *Instrument) Item(id string) (*Item, *Section) {
	for si := range in.Sections {
		s := &in.Sections[si]
		for ii := range s.Items {
			if s.Items[ii].ID == id {
				return &s.Items[ii], s
			}
		}
	}
	return nil, nil
}

// Scale returns the scale with id, or nil.
func (in *Instrument) Scale(id string) *Scale {
	for i := range in.Scales {
		if in.Scales[i].ID == id {
			return &in.Scales[i]
		}
	}
	return nil
}

// Judgment returns the summary judgment with id, or nil.
func (in *Instrument) Judgment(id string) *SummaryJudgment {
	for i := range in.Judgments {
		if in.Judgments[i].ID == id {
			return &in.Judgments[i]
		}
	}
	return nil
}

// RiskJudgment returns the summary judgment that sets the case's risk
// level, or nil if the instrument has none.
func (in *Instrument) RiskJudgment() *SummaryJudgment {
	for i := range in.Judgments {
		if in.Judgments[i].SetsRisk {
			return &in.Judgments[i]
		}
	}
	return nil
}

// ItemCount is the number of items in all sections.
func (in *Instrument) ItemCount() int {
	n := 0
	for _, s := range in.Sections {
		n += len(s.Items)
	}
	return n
}

// Value returns the value with code, or nil.
func (s *Scale) Value(code string) *ScaleValue {
	for i := range s.Values {
		if s.Values[i].Code == code {
			return &s.Values[i]
		}
	}
	return nil
}

// Rank is the position of code on the scale, lowest first; -1 if it is not
// on it.
func (s *Scale) Rank(code string) int {
	for i := range s.Values {
		if s.Values[i].Code == code {
			return i
		}
	}
	return -1
}
