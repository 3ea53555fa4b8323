package tma_test

import (
	"reflect"
	"strings"
	"testing"

	"github.com/tma-portal/tma/server/tma"
)

// screenV1 is a small TRAP-18-shaped screen: a critical item, a scale with
// present and unknown values, a risk judgment with a required rationale, a
// second judgment without, and one rule of each condition.
func screenV1() *tma.Instrument {
	return &tma.Instrument{
		ID: "screen", Version: 1, Title: "Screen", LicenseNote: "Structure only.",
		Scales: []tma.Scale{
			{ID: "presence", Values: []tma.ScaleValue{
				{Code: "no", Label: "Absent"},
				{Code: "partial", Label: "Partially present", Present: true},
				{Code: "yes", Label: "Present", Present: true},
				{Code: "unknown", Label: "Unknown", Unknown: true},
			}},
			{ID: "concern", Values: []tma.ScaleValue{
				{Code: "low", Label: "Low"}, {Code: "moderate", Label: "Moderate"}, {Code: "high", Label: "High"}, {Code: "imminent", Label: "Imminent"},
			}},
			{ID: "priority", Values: []tma.ScaleValue{{Code: "routine", Label: "Routine"}, {Code: "urgent", Label: "Urgent"}}},
		},
		Sections: []tma.Section{
			{ID: "proximal", Title: "Proximal warning behaviours", Items: []tma.Item{
				{ID: "pathway", Name: "Pathway", Kind: tma.ItemDynamic, Critical: true, Scale: "presence"},
				{ID: "fixation", Name: "Fixation", Kind: tma.ItemDynamic, Scale: "presence"},
				{ID: "leakage", Name: "Leakage", Kind: tma.ItemDynamic, Scale: "presence"},
			}},
			{ID: "distal", Title: "Distal characteristics", Items: []tma.Item{
				{ID: "grievance", Name: "Personal grievance", Kind: tma.ItemStatic, Scale: "presence"},
				{ID: "ideology", Name: "Framed by an ideology", Kind: tma.ItemStatic, Scale: "presence"},
			}},
		},
		Judgments: []tma.SummaryJudgment{
			{ID: "concern", Title: "Level of concern", Scale: "concern", RationaleRequired: true, SetsRisk: true},
			{ID: "priority", Title: "Priority", Scale: "priority"},
		},
		Rules: []tma.Rule{
			{ID: "critical-below-high", When: tma.RuleCriticalPresentBelow, Then: tma.RuleSecondApprover, Judgment: "concern", Level: "high"},
			{ID: "many-unknown", When: tma.RuleUnknownMoreThan, Then: tma.RuleIncomplete, Count: 1},
			{ID: "imminent", When: tma.RuleJudgmentAtLeast, Then: tma.RuleSecondApprover, Judgment: "concern", Level: "imminent"},
		},
	}
}

// screenV2 adds "energy", drops "ideology", and rates "leakage" on a new
// two-value scale whose labels differ.
func screenV2() *tma.Instrument {
	in := screenV1()
	in.Version = 2
	in.Scales = append(in.Scales, tma.Scale{ID: "binary", Values: []tma.ScaleValue{
		{Code: "no", Label: "Not observed"}, {Code: "yes", Label: "Observed", Present: true},
	}})
	in.Sections = []tma.Section{
		{ID: "proximal", Title: "Proximal warning behaviours", Items: []tma.Item{
			{ID: "pathway", Name: "Pathway", Kind: tma.ItemDynamic, Critical: true, Scale: "presence"},
			{ID: "fixation", Name: "Fixation", Kind: tma.ItemDynamic, Scale: "presence"},
			{ID: "energy", Name: "Energy burst", Kind: tma.ItemDynamic, Scale: "presence"},
			{ID: "leakage", Name: "Leakage", Kind: tma.ItemDynamic, Scale: "binary"},
		}},
		{ID: "distal", Title: "Distal characteristics", Items: []tma.Item{
			{ID: "grievance", Name: "Personal grievance", Kind: tma.ItemStatic, Scale: "presence"},
		}},
	}
	return in
}

func TestScreensAreValid(t *testing.T) {
	for _, in := range []*tma.Instrument{screenV1(), screenV2()} {
		if ps := in.Validate(); len(ps) > 0 {
			t.Fatalf("v%d: %v", in.Version, ps)
		}
	}
}

// rated is an assessment with the given values ("item=code"); judgments
// are "judgment=code" with a rationale.
func rated(values ...string) *tma.Assessment {
	a := &tma.Assessment{Ratings: map[string]tma.Rating{}, Judgments: map[string]tma.Judgment{}}
	for _, v := range values {
		k, code, _ := strings.Cut(v, "=")
		if k == "concern" || k == "priority" {
			a.Judgments[k] = tma.Judgment{Value: code, Rationale: "because"}
		} else {
			a.Ratings[k] = tma.Rating{Value: code}
		}
	}
	return a
}

var allAbsent = []string{"pathway=no", "fixation=no", "leakage=no", "grievance=no", "ideology=no"}

func with(base []string, more ...string) []string {
	return append(append([]string(nil), base...), more...)
}

func TestEvaluateRules(t *testing.T) {
	in := screenV1()
	tests := []struct {
		name       string
		a          *tma.Assessment
		caseRisk   tma.RiskLevel
		risk       tma.RiskLevel
		reasons    []string
		fired      []string
		incomplete bool
	}{
		{"nothing present, first judgment", rated(with(allAbsent, "concern=low", "priority=routine")...), tma.RiskUnrated, tma.RiskLow, nil, nil, false},
		{"empty case risk is unrated", rated(with(allAbsent, "concern=low")...), "", tma.RiskLow, nil, nil, false},
		{"critical present, judgment below high", rated(with(allAbsent, "pathway=yes", "concern=moderate")...), tma.RiskUnrated, tma.RiskModerate,
			[]string{"critical-below-high"}, []string{"critical-below-high"}, false},
		{"critical partially present counts as present", rated(with(allAbsent, "pathway=partial", "concern=low")...), tma.RiskUnrated, tma.RiskLow,
			[]string{"critical-below-high"}, []string{"critical-below-high"}, false},
		{"critical present, judgment at high", rated(with(allAbsent, "pathway=yes", "concern=high")...), tma.RiskUnrated, tma.RiskHigh, nil, nil, false},
		{"critical unknown is not present", rated(with(allAbsent, "pathway=unknown", "concern=low")...), tma.RiskUnrated, tma.RiskLow, nil, nil, false},
		{"non-critical present does not fire", rated(with(allAbsent, "fixation=yes", "leakage=yes", "concern=low")...), tma.RiskUnrated, tma.RiskLow, nil, nil, false},
		{"critical present, judgment missing counts as below", rated(with(allAbsent, "pathway=yes")...), tma.RiskUnrated, "",
			[]string{"critical-below-high"}, []string{"critical-below-high"}, false},
		{"one unknown is not more than one", rated(with(allAbsent, "fixation=unknown", "concern=moderate")...), tma.RiskModerate, tma.RiskModerate, nil, nil, false},
		{"two unknown is incomplete, no second approver", rated(with(allAbsent, "fixation=unknown", "grievance=unknown", "concern=moderate")...), tma.RiskModerate, tma.RiskModerate,
			nil, []string{"many-unknown"}, true},
		{"judgment at least imminent", rated(with(allAbsent, "concern=imminent")...), tma.RiskHigh, tma.RiskImminent,
			[]string{"imminent"}, []string{"imminent"}, false},
		{"lowering the case's risk", rated(with(allAbsent, "concern=moderate")...), tma.RiskHigh, tma.RiskModerate,
			[]string{tma.ReasonLowersRisk}, nil, false},
		{"keeping the case's risk", rated(with(allAbsent, "concern=high")...), tma.RiskHigh, tma.RiskHigh, nil, nil, false},
		{"every reason at once, in order", rated("pathway=yes", "fixation=unknown", "leakage=unknown", "grievance=no", "ideology=no", "concern=low"), tma.RiskImminent, tma.RiskLow,
			[]string{"critical-below-high", tma.ReasonLowersRisk}, []string{"critical-below-high", "many-unknown"}, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			out := in.Evaluate(tc.a, tc.caseRisk)
			var fired []string
			for _, r := range out.Fired {
				fired = append(fired, r.ID)
			}
			if out.Risk != tc.risk || !reflect.DeepEqual(out.Reasons, tc.reasons) || !reflect.DeepEqual(fired, tc.fired) ||
				out.Incomplete != tc.incomplete || out.SecondApprover != (len(tc.reasons) > 0) {
				t.Errorf("Evaluate = risk %q reasons %q fired %q incomplete %v second %v; want risk %q reasons %q fired %q incomplete %v",
					out.Risk, out.Reasons, fired, out.Incomplete, out.SecondApprover, tc.risk, tc.reasons, tc.fired, tc.incomplete)
			}
		})
	}
	// An instrument without a risk judgment sets no risk and never lowers.
	noRisk := screenV1()
	noRisk.Judgments[0].SetsRisk = false
	if out := noRisk.Evaluate(rated(with(allAbsent, "concern=low")...), tma.RiskImminent); out.Risk != "" || out.SecondApprover {
		t.Errorf("without a risk judgment: %+v", out)
	}
}

func TestCheckDraft(t *testing.T) {
	in := screenV1()
	id := tma.NewID()
	long := strings.Repeat("x", tma.MaxRatingText+1)
	tooMany := make([]string, tma.MaxRatingLinks+1)
	for i := range tooMany {
		tooMany[i] = tma.NewID()
	}
	tests := []struct {
		name    string
		d       tma.AssessmentInput
		message string // "" for valid
	}{
		{"empty", tma.AssessmentInput{}, ""},
		{"partial draft", tma.AssessmentInput{Ratings: map[string]tma.Rating{
			"pathway": {Value: "yes", Evidence: "Visited the site twice.", Links: []string{id}},
			"leakage": {Evidence: "Not rated yet, notes only."},
		}, Judgments: map[string]tma.Judgment{"concern": {Rationale: "thinking"}}}, ""},
		{"longest text", tma.AssessmentInput{Ratings: map[string]tma.Rating{"pathway": {Rationale: long[1:]}}}, ""},
		{"unknown item", tma.AssessmentInput{Ratings: map[string]tma.Rating{"energy": {Value: "yes"}}},
			`The item "energy" does not exist in version 1 of this instrument.`},
		{"value not on the scale", tma.AssessmentInput{Ratings: map[string]tma.Rating{"pathway": {Value: "high"}}},
			`The value given for the item "Pathway" is not on its scale.`},
		{"unknown judgment", tma.AssessmentInput{Judgments: map[string]tma.Judgment{"seriousness": {Value: "low"}}},
			`The summary judgment "seriousness" does not exist in version 1 of this instrument.`},
		{"judgment value not on its scale", tma.AssessmentInput{Judgments: map[string]tma.Judgment{"concern": {Value: "yes"}}},
			`The value given for the summary judgment "Level of concern" is not on its scale.`},
		{"evidence too long", tma.AssessmentInput{Ratings: map[string]tma.Rating{"fixation": {Evidence: long}}},
			`A text for "Fixation" must have at most 20000 bytes.`},
		{"judgment rationale too long", tma.AssessmentInput{Judgments: map[string]tma.Judgment{"priority": {Rationale: long}}},
			`A text for "Priority" must have at most 20000 bytes.`},
		{"NUL in a rationale", tma.AssessmentInput{Ratings: map[string]tma.Rating{"fixation": {Rationale: "a\x00b"}}},
			`The field "Fixation" contains characters that are not allowed (invalid UTF-8 or a NUL byte).`},
		{"invalid UTF-8 in evidence", tma.AssessmentInput{Ratings: map[string]tma.Rating{"fixation": {Evidence: "\xff"}}},
			`The field "Fixation" contains characters that are not allowed (invalid UTF-8 or a NUL byte).`},
		{"too many links", tma.AssessmentInput{Ratings: map[string]tma.Rating{"leakage": {Links: tooMany}}},
			`The item "Leakage" can have at most 20 links.`},
		{"malformed link", tma.AssessmentInput{Ratings: map[string]tma.Rating{"leakage": {Links: []string{id, "../notes/1"}}}},
			`A link of the item "Leakage" is not a note or document of this case.`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := in.CheckDraft(tc.d)
			if tc.message == "" {
				if err != nil {
					t.Fatalf("CheckDraft: %v", err)
				}
				return
			}
			if tma.ErrorCode(err) != tma.EINVALID || tma.ErrorMessage(err) != tc.message {
				t.Fatalf("CheckDraft = %v, want EINVALID %q", err, tc.message)
			}
		})
	}
}

func TestCheckSubmit(t *testing.T) {
	in := screenV1()
	noRationale := rated(with(allAbsent, "concern=low", "priority=routine")...)
	noRationale.Judgments["concern"] = tma.Judgment{Value: "low", Rationale: " \n"}
	optionalRationale := rated(with(allAbsent, "concern=low")...)
	optionalRationale.Judgments["priority"] = tma.Judgment{Value: "urgent"}
	tests := []struct {
		name    string
		a       *tma.Assessment
		message string
	}{
		{"complete", rated(with(allAbsent, "concern=low", "priority=routine")...), ""},
		{"optional rationale left out", optionalRationale, ""},
		{"one item missing", rated("pathway=no", "fixation=no", "leakage=no", "grievance=no", "concern=low", "priority=routine"),
			`Rate every item before submitting: "Framed by an ideology" is not rated yet.`},
		{"three items missing, in the instrument's order", rated("fixation=no", "grievance=no", "concern=low", "priority=routine"),
			`Rate every item before submitting: 3 are not rated yet (Pathway, Leakage, Framed by an ideology).`},
		{"nothing rated", rated(),
			`Rate every item before submitting: 5 are not rated yet (Pathway, Fixation, Leakage, Personal grievance, Framed by an ideology).`},
		{"an item with texts but no value is not rated", func() *tma.Assessment {
			a := rated(with(allAbsent, "concern=low", "priority=routine")...)
			a.Ratings["leakage"] = tma.Rating{Evidence: "to do"}
			return a
		}(), `Rate every item before submitting: "Leakage" is not rated yet.`},
		{"judgment missing", rated(with(allAbsent, "concern=low")...), `Give the summary judgment "Priority" before submitting.`},
		{"rationale missing", noRationale, `The summary judgment "Level of concern" needs a rationale.`},
		{"invalid as a draft", rated(with(allAbsent, "concern=low", "priority=routine", "energy=yes")...),
			`The item "energy" does not exist in version 1 of this instrument.`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := in.CheckSubmit(tc.a, true)
			if tc.message == "" {
				if err != nil {
					t.Fatalf("CheckSubmit: %v", err)
				}
				return
			}
			if tma.ErrorCode(err) != tma.EINVALID || tma.ErrorMessage(err) != tc.message {
				t.Fatalf("CheckSubmit = %v, want EINVALID %q", err, tc.message)
			}
		})
	}
	// More than five missing: the first five are named.
	big := screenV1()
	for _, id := range []string{"a1", "a2"} {
		big.Sections[1].Items = append(big.Sections[1].Items, tma.Item{ID: id, Name: strings.ToUpper(id), Kind: tma.ItemStatic, Scale: "presence"})
	}
	err := big.CheckSubmit(rated("concern=low", "priority=routine"), true)
	if want := `Rate every item before submitting: 7 are not rated yet (Pathway, Fixation, Leakage, Personal grievance, Framed by an ideology, …).`; tma.ErrorMessage(err) != want {
		t.Fatalf("CheckSubmit = %v, want %q", err, want)
	}
}

func TestCarryOver(t *testing.T) {
	link := tma.NewID()
	prev := &tma.Assessment{
		Ratings: map[string]tma.Rating{
			"pathway":   {Value: "yes", Evidence: "Bought a ticket.", Rationale: "Planning.", Links: []string{link}},
			"fixation":  {Value: "partial", Evidence: "Talks of her daily."},
			"leakage":   {Value: "partial", Evidence: "Posted hints."}, // not on v2's binary scale
			"grievance": {Value: "unknown"},
			"ideology":  {Value: "no", Rationale: "None seen."}, // gone in v2
		},
		Judgments: map[string]tma.Judgment{"concern": {Value: "high", Rationale: "Planning."}},
	}
	got := tma.CarryOver(screenV1(), prev, screenV2())
	want := map[string]tma.Rating{
		"pathway":   {Value: "yes", Evidence: "Bought a ticket.", Rationale: "Planning.", Links: []string{link}},
		"fixation":  {Value: "partial", Evidence: "Talks of her daily."},
		"grievance": {Value: "unknown"},
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("CarryOver v1→v2 = %+v\nwant %+v", got, want)
	}
	got["pathway"].Links[0] = "changed"
	if prev.Ratings["pathway"].Links[0] != link {
		t.Fatal("CarryOver shares the links slice with the previous assessment")
	}
	// A value on the new scale carries over even when its scale changed.
	prev.Ratings["leakage"] = tma.Rating{Value: "yes", Evidence: "Posted a countdown."}
	if got := tma.CarryOver(screenV1(), prev, screenV2()); !reflect.DeepEqual(got["leakage"], tma.Rating{Value: "yes", Evidence: "Posted a countdown."}) {
		t.Fatalf("leakage = %+v", got["leakage"])
	}
	if got := tma.CarryOver(nil, nil, screenV2()); len(got) != 0 {
		t.Fatalf("CarryOver without a previous assessment = %v", got)
	}
}

func TestReassessmentDiff(t *testing.T) {
	n1, n2 := tma.NewID(), tma.NewID()
	prev := &tma.Assessment{Ratings: map[string]tma.Rating{
		"pathway":   {Value: "yes", Evidence: "Bought a ticket.", Links: []string{n1}},
		"fixation":  {Value: "partial", Evidence: "Talks of her daily."},
		"leakage":   {Value: "partial"},
		"grievance": {Value: "no"},
		"ideology":  {Value: "unknown"},
	}}
	cur := &tma.Assessment{Ratings: map[string]tma.Rating{
		"pathway":   {Value: "yes", Evidence: "Bought a ticket.", Links: []string{n1}},
		"fixation":  {Value: "partial", Evidence: "Talks of her daily.", Rationale: "Now also at work."},
		"energy":    {Value: "yes"},
		"leakage":   {Value: "yes"},
		"grievance": {}, // texts only, not rated
	}}
	curLinks := &tma.Assessment{Ratings: map[string]tma.Rating{
		"pathway":   {Value: "yes", Evidence: "Bought a ticket.", Links: []string{n1, n2}},
		"fixation":  {Value: "partial", Evidence: "Talks of her daily."},
		"leakage":   {Value: "no"},
		"grievance": {Value: "no"},
		"ideology":  {Value: "unknown"},
	}}
	tests := []struct {
		name           string
		prevInst, inst *tma.Instrument
		prev, cur      *tma.Assessment
		want           []tma.ItemChange
	}{
		{"v1 to v2: added, removed, changed scale", screenV1(), screenV2(), prev, cur, []tma.ItemChange{
			{SectionTitle: "Proximal warning behaviours", ItemID: "pathway", Name: "Pathway", Change: tma.ChangeSame,
				From: "yes", To: "yes", FromLabel: "Present", ToLabel: "Present"},
			{SectionTitle: "Proximal warning behaviours", ItemID: "fixation", Name: "Fixation", Change: tma.ChangeText,
				From: "partial", To: "partial", FromLabel: "Partially present", ToLabel: "Partially present"},
			{SectionTitle: "Proximal warning behaviours", ItemID: "energy", Name: "Energy burst", Change: tma.ChangeAdded,
				From: "", To: "yes", FromLabel: "", ToLabel: "Present"},
			{SectionTitle: "Proximal warning behaviours", ItemID: "leakage", Name: "Leakage", Change: tma.ChangeValue,
				From: "partial", To: "yes", FromLabel: "Partially present", ToLabel: "Observed"},
			{SectionTitle: "Distal characteristics", ItemID: "grievance", Name: "Personal grievance", Change: tma.ChangeValue,
				From: "no", To: "", FromLabel: "Absent", ToLabel: ""},
			{SectionTitle: "Distal characteristics", ItemID: "ideology", Name: "Framed by an ideology", Change: tma.ChangeRemoved,
				From: "unknown", To: "", FromLabel: "Unknown", ToLabel: ""},
		}},
		{"same version: links and values", screenV1(), screenV1(), prev, curLinks, []tma.ItemChange{
			{SectionTitle: "Proximal warning behaviours", ItemID: "pathway", Name: "Pathway", Change: tma.ChangeText,
				From: "yes", To: "yes", FromLabel: "Present", ToLabel: "Present"},
			{SectionTitle: "Proximal warning behaviours", ItemID: "fixation", Name: "Fixation", Change: tma.ChangeSame,
				From: "partial", To: "partial", FromLabel: "Partially present", ToLabel: "Partially present"},
			{SectionTitle: "Proximal warning behaviours", ItemID: "leakage", Name: "Leakage", Change: tma.ChangeValue,
				From: "partial", To: "no", FromLabel: "Partially present", ToLabel: "Absent"},
			{SectionTitle: "Distal characteristics", ItemID: "grievance", Name: "Personal grievance", Change: tma.ChangeSame,
				From: "no", To: "no", FromLabel: "Absent", ToLabel: "Absent"},
			{SectionTitle: "Distal characteristics", ItemID: "ideology", Name: "Framed by an ideology", Change: tma.ChangeSame,
				From: "unknown", To: "unknown", FromLabel: "Unknown", ToLabel: "Unknown"},
		}},
		{"first assessment: no diff", nil, screenV2(), nil, cur, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := tma.DiffAssessments(tc.prevInst, tc.prev, tc.inst, tc.cur)
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("DiffAssessments =\n%+v\nwant\n%+v", got, tc.want)
			}
		})
	}
}

func TestPresentBySection(t *testing.T) {
	in := screenV2()
	tests := []struct {
		name string
		a    *tma.Assessment
		want []int
	}{
		{"nothing rated", rated(), []int{0, 0}},
		{"present and partial count, unknown and absent do not", rated("pathway=yes", "fixation=partial", "energy=unknown", "leakage=yes", "grievance=no"), []int{3, 0}},
		{"a value off the scale counts for nothing", rated("leakage=partial", "grievance=yes"), []int{0, 1}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := in.PresentBySection(tc.a); !reflect.DeepEqual(got, tc.want) {
				t.Errorf("PresentBySection = %v, want %v", got, tc.want)
			}
		})
	}
}
