package tma

import (
	"maps"
	"slices"
	"strings"
)

// The rules of an assessment live here, on the instrument it is pinned to:
// what a draft may hold (CheckDraft), what a submission needs
// (CheckSubmit), what the instrument's rules say about it (Evaluate), what
// carries over into the next assessment (CarryOver) and what changed since
// the last one (DiffAssessments). None of them computes a judgment: the
// summary judgments are made by people (GDPR Art. 22), and the rules only
// decide who else must look at them.

// maxMissingNames is how many unrated items CheckSubmit names.
const maxMissingNames = 5

// BadAssessmentLink is the error for a link of an item that is not the id
// of a note or document of the assessment's case. A malformed id, an id
// that does not exist and one of another case read the same, so the
// message never tells whether an id exists elsewhere.
func BadAssessmentLink(itemName string) error {
	return Errorf(EINVALID, "A link of the item %q is not a note or document of this case.", itemName)
}

// CheckDraft checks what a save sends against the instrument version: every
// rated item and judgment must exist in it, every value must be on its
// scale, texts must fit and links must be well-formed ids. Items and
// judgments without a value are allowed: a draft is work in progress.
// Errors name items and judgments by their names in the instrument, never
// the rating's texts.
func (in *Instrument) CheckDraft(d AssessmentInput) error {
	for _, id := range slices.Sorted(maps.Keys(d.Ratings)) {
		r := d.Ratings[id]
		it, _ := in.Item(id)
		if it == nil {
			return Errorf(EINVALID, "The item %q does not exist in version %d of this instrument.", CleanText(id, 80), in.Version)
		}
		if r.Value != "" && !in.onScale(it.Scale, r.Value) {
			return Errorf(EINVALID, "The value given for the item %q is not on its scale.", it.Name)
		}
		if err := checkRatingText(it.Name, r.Evidence, r.Rationale); err != nil {
			return err
		}
		if len(r.Links) > MaxRatingLinks {
			return Errorf(EINVALID, "The item %q can have at most %d links.", it.Name, MaxRatingLinks)
		}
		for _, l := range r.Links {
			if !ValidID(l) {
				return BadAssessmentLink(it.Name)
			}
		}
	}
	for _, id := range slices.Sorted(maps.Keys(d.Judgments)) {
		j := d.Judgments[id]
		sj := in.Judgment(id)
		if sj == nil {
			return Errorf(EINVALID, "The summary judgment %q does not exist in version %d of this instrument.", CleanText(id, 80), in.Version)
		}
		if j.Value != "" && !in.onScale(sj.Scale, j.Value) {
			return Errorf(EINVALID, "The value given for the summary judgment %q is not on its scale.", sj.Title)
		}
		if err := checkRatingText(sj.Title, j.Rationale); err != nil {
			return err
		}
	}
	return nil
}

// checkRatingText checks the texts given for the item or judgment named
// name.
func checkRatingText(name string, texts ...string) error {
	for _, s := range texts {
		if err := CheckText(name, s); err != nil {
			return err
		}
		if len(s) > MaxRatingText {
			return Errorf(EINVALID, "A text for %q must have at most %d bytes.", name, MaxRatingText)
		}
	}
	return nil
}

// onScale reports whether code is a value of the scale with id scale.
func (in *Instrument) onScale(scale, code string) bool {
	s := in.Scale(scale)
	return s != nil && s.Value(code) != nil
}

// CheckSubmit checks that a (every stored rating, restricted ones
// included) is ready to submit: valid as a draft, every item rated, every
// summary judgment given, and a rationale wherever the instrument requires
// one. The message lists the first unrated items by name, in the
// instrument's order. For a submitter who may not read restricted content
// (restricted false), unrated restricted items are counted apart: when
// only they are missing, the message says that the case lead or legal
// must rate them.
func (in *Instrument) CheckSubmit(a *Assessment, restricted bool) error {
	if err := in.CheckDraft(AssessmentInput{Ratings: a.Ratings, Judgments: a.Judgments}); err != nil {
		return err
	}
	var missing []string
	othersMissing := 0 // restricted items the submitter may not rate
	for _, s := range in.Sections {
		for _, it := range s.Items {
			if a.Ratings[it.ID].Value != "" {
				continue
			}
			if it.Restricted && !restricted {
				othersMissing++
				continue
			}
			missing = append(missing, it.Name)
		}
	}
	switch {
	case len(missing) == 0 && othersMissing == 1:
		return Errorf(EINVALID, "An item that only the case lead or legal may rate is not rated yet. Ask them to rate it before submitting.")
	case len(missing) == 0 && othersMissing > 1:
		return Errorf(EINVALID, "%d items that only the case lead or legal may rate are not rated yet. Ask them to rate them before submitting.", othersMissing)
	case len(missing) == 1:
		return Errorf(EINVALID, "Rate every item before submitting: %q is not rated yet.", missing[0])
	case len(missing) > maxMissingNames:
		return Errorf(EINVALID, "Rate every item before submitting: %d are not rated yet (%s, …).", len(missing), strings.Join(missing[:maxMissingNames], ", "))
	case len(missing) > 1:
		return Errorf(EINVALID, "Rate every item before submitting: %d are not rated yet (%s).", len(missing), strings.Join(missing, ", "))
	}
	for _, sj := range in.Judgments {
		j := a.Judgments[sj.ID]
		if j.Value == "" {
			return Errorf(EINVALID, "Give the summary judgment %q before submitting.", sj.Title)
		}
		if sj.RationaleRequired && strings.TrimSpace(j.Rationale) == "" {
			return Errorf(EINVALID, "The summary judgment %q needs a rationale.", sj.Title)
		}
	}
	return nil
}

// Evaluate runs the instrument's rules on a (submitted, so complete)
// assessment of a case whose risk level is caseRisk. The risk is the value
// of the judgment that sets it, as people gave it. Rules fire as their
// conditions say (see RuleCondition); a judgment that was not given counts
// as below every level and at least none, so a rule guarding a low
// judgment errs towards a second approver. Lowering the case's risk level
// always needs a second approver (NeedsApproval), whatever the rules say;
// from unrated, no level is lower.
func (in *Instrument) Evaluate(a *Assessment, caseRisk RiskLevel) Outcome {
	var out Outcome
	if rj := in.RiskJudgment(); rj != nil {
		out.Risk = RiskLevel(a.Judgments[rj.ID].Value)
	}
	for _, r := range in.Rules {
		if !in.holds(r, a) {
			continue
		}
		out.Fired = append(out.Fired, r)
		switch r.Then {
		case RuleSecondApprover:
			out.Reasons = appendReason(out.Reasons, r.ID)
		case RuleIncomplete:
			out.Incomplete = true
		}
	}
	if out.Risk != "" && NeedsApproval(StatusAssessing, caseRisk, StatusAssessing, out.Risk) {
		out.Reasons = appendReason(out.Reasons, ReasonLowersRisk)
	}
	out.SecondApprover = len(out.Reasons) > 0
	return out
}

func appendReason(reasons []string, r string) []string {
	if slices.Contains(reasons, r) {
		return reasons
	}
	return append(reasons, r)
}

// holds reports whether the condition of rule r holds for a.
func (in *Instrument) holds(r Rule, a *Assessment) bool {
	switch r.When {
	case RuleCriticalPresentBelow:
		rank, level := in.judgmentRank(r, a)
		if level < 0 || rank >= level {
			return false
		}
		for _, s := range in.Sections {
			for _, it := range s.Items {
				if it.Critical && in.ratedAs(&it, a).Present {
					return true
				}
			}
		}
		return false
	case RuleUnknownMoreThan:
		n := 0
		for _, s := range in.Sections {
			for _, it := range s.Items {
				if in.ratedAs(&it, a).Unknown {
					n++
				}
			}
		}
		return n > r.Count
	case RuleJudgmentAtLeast:
		rank, level := in.judgmentRank(r, a)
		return level >= 0 && rank >= level
	}
	return false
}

// judgmentRank returns the rank of the value a gives r's judgment (-1 if
// none) and the rank of r's level (-1 if the instrument lacks it, which a
// valid instrument never does).
func (in *Instrument) judgmentRank(r Rule, a *Assessment) (rank, level int) {
	sj := in.Judgment(r.Judgment)
	if sj == nil {
		return -1, -1
	}
	s := in.Scale(sj.Scale)
	if s == nil {
		return -1, -1
	}
	return s.Rank(a.Judgments[sj.ID].Value), s.Rank(r.Level)
}

// ratedAs returns the scale value a gives the item, or the zero value if
// it is not rated (or not on the scale).
func (in *Instrument) ratedAs(it *Item, a *Assessment) ScaleValue {
	if s := in.Scale(it.Scale); s != nil {
		if v := s.Value(a.Ratings[it.ID].Value); v != nil {
			return *v
		}
	}
	return ScaleValue{}
}

// PresentBySection counts, per section in the instrument's order, the
// items a rates a Present value: the risk chart's data.
func (in *Instrument) PresentBySection(a *Assessment) []int {
	out := make([]int, len(in.Sections))
	for i, s := range in.Sections {
		for _, it := range s.Items {
			if in.ratedAs(&it, a).Present {
				out[i]++
			}
		}
	}
	return out
}

// CarryOver returns the ratings a new assessment with inst starts from:
// each rating of prev (made with prevInst) whose item exists in both
// versions and whose value is on the item's scale in inst, with its
// evidence, rationale and links. Nothing else carries over: not a rating
// whose value the new scale lacks (people rate it afresh), and not the
// summary judgments, which people make anew each time, and not the rating
// of an item restricted in prevInst that inst no longer restricts: it was
// given as restricted (GDPR Art. 9/10) data, and carried over it would be
// read by everyone. A nil prev gives no ratings.
func CarryOver(prevInst *Instrument, prev *Assessment, inst *Instrument) map[string]Rating {
	out := map[string]Rating{}
	if prevInst == nil || prev == nil || inst == nil {
		return out
	}
	for id, r := range prev.Ratings {
		old, _ := prevInst.Item(id)
		if old == nil {
			continue
		}
		it, _ := inst.Item(id)
		if it == nil || r.Value == "" || !inst.onScale(it.Scale, r.Value) || old.Restricted && !it.Restricted {
			continue
		}
		r.Links = slices.Clone(r.Links)
		out[id] = r
	}
	return out
}

// DiffAssessments tells how cur (made with inst) differs from prev (made
// with prevInst), item by item: one ItemChange per item of inst in its
// order, then one ChangeRemoved per item of prevInst that inst lacks, in
// prevInst's order. Labels come from each version's own scale; an item
// not rated has "" for its code and label. An item whose rating is Hidden
// (HideRestricted) on either side is ChangeHidden, with no codes or
// labels: neither a value nor whether it changed shows. A nil prev (a first
// assessment) has no changes: nil.
func DiffAssessments(prevInst *Instrument, prev *Assessment, inst *Instrument, cur *Assessment) []ItemChange {
	if prev == nil || prevInst == nil || inst == nil {
		return nil
	}
	if cur == nil {
		cur = &Assessment{}
	}
	var out []ItemChange
	for _, s := range inst.Sections {
		for _, it := range s.Items {
			to := cur.Ratings[it.ID]
			c := ItemChange{SectionTitle: s.Title, ItemID: it.ID, Name: it.Name, To: to.Value, ToLabel: inst.label(&it, to.Value)}
			old, _ := prevInst.Item(it.ID)
			if old == nil {
				c.Change = ChangeAdded
				out = append(out, c)
				continue
			}
			from := prev.Ratings[it.ID]
			c.From, c.FromLabel = from.Value, prevInst.label(old, from.Value)
			switch {
			case from.Hidden || to.Hidden:
				// Hidden from the reader on either side: comparing would
				// tell them something about the value they may not read.
				c.Change, c.From, c.FromLabel, c.To, c.ToLabel = ChangeHidden, "", "", "", ""
			case from.Value != to.Value:
				c.Change = ChangeValue
			case from.Evidence != to.Evidence || from.Rationale != to.Rationale || !slices.Equal(from.Links, to.Links):
				c.Change = ChangeText
			default:
				c.Change = ChangeSame
			}
			out = append(out, c)
		}
	}
	for _, s := range prevInst.Sections {
		for _, it := range s.Items {
			if now, _ := inst.Item(it.ID); now != nil {
				continue
			}
			from := prev.Ratings[it.ID]
			out = append(out, ItemChange{SectionTitle: s.Title, ItemID: it.ID, Name: it.Name, Change: ChangeRemoved,
				From: from.Value, FromLabel: prevInst.label(&it, from.Value)})
		}
	}
	return out
}

// label is the label of code on the item's scale, "" if not rated.
func (in *Instrument) label(it *Item, code string) string {
	if s := in.Scale(it.Scale); s != nil && code != "" {
		if v := s.Value(code); v != nil {
			return v.Label
		}
	}
	return ""
}
