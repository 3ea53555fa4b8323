package tma

import (
	"fmt"
	"regexp"
	"slices"
	"strings"
	"unicode"
	"unicode/utf8"
)

var (
	instrumentIDPattern = regexp.MustCompile(`^[a-z0-9][a-z0-9-]{1,63}$`)
	// keyPattern is the form of scale, section, item, judgment and rule
	// ids, and of scale value codes.
	keyPattern = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]{0,63}$`)
)

// Limits of instrument texts, in characters.
const (
	maxInstrumentName     = 200  // titles, names, labels
	maxInstrumentGuidance = 2000 // guidance, licence note, rule messages
)

// problemf is a Problem at field.
func problemf(field, format string, args ...any) Problem {
	return Problem{Field: field, Format: format, Args: args}
}

// Validate checks an instrument as a whole and returns every problem it
// finds, each at the path of its field ("sections[0].items[2].scale"), in
// the order of the file. Nil means valid.
func (in *Instrument) Validate() Problems {
	v := &instrumentCheck{}
	if !instrumentIDPattern.MatchString(in.ID) {
		v.add(problemf("id", "The instrument id must be 2 to 64 characters: lower-case letters, digits and '-'."))
	}
	if in.Version < 1 {
		v.add(problemf("version", "The version must be a whole number of 1 or more."))
	} else if in.Version > MaxInstrumentVersion {
		v.add(problemf("version", "The version must be at most %d.", MaxInstrumentVersion))
	}
	v.text("title", in.Title, maxInstrumentName, true)
	if in.Language != "" && !slices.Contains(Locales, in.Language) {
		v.add(problemf("language", "Unknown language %q; use one of: %s.", in.Language, strings.Join(Locales, ", ")))
	}
	v.text("license_note", in.LicenseNote, maxInstrumentGuidance, true)

	scales := map[string]*Scale{}
	if len(in.Scales) == 0 {
		v.add(problemf("scales", "An instrument needs at least one scale."))
	}
	for i := range in.Scales {
		s := &in.Scales[i]
		f := fmt.Sprintf("scales[%d]", i)
		if v.key(f+".id", s.ID) && scales[s.ID] != nil {
			v.add(problemf(f+".id", "Duplicate scale id %q.", s.ID))
		}
		scales[s.ID] = s
		if len(s.Values) < 2 {
			v.add(problemf(f+".values", "A scale needs at least two values."))
		}
		codes := map[string]bool{}
		for j, val := range s.Values {
			vf := fmt.Sprintf("%s.values[%d]", f, j)
			if v.key(vf+".code", val.Code) && codes[val.Code] {
				v.add(problemf(vf+".code", "Duplicate value code %q in scale %q.", val.Code, s.ID))
			}
			codes[val.Code] = true
			v.text(vf+".label", val.Label, maxInstrumentName, true)
			if val.Present && val.Unknown {
				v.add(problemf(vf, "A value cannot be both present and unknown."))
			}
		}
	}

	items, sections := map[string]bool{}, map[string]bool{}
	if len(in.Sections) == 0 {
		v.add(problemf("sections", "An instrument needs at least one section."))
	}
	for i := range in.Sections {
		s := &in.Sections[i]
		f := fmt.Sprintf("sections[%d]", i)
		if v.key(f+".id", s.ID) && sections[s.ID] {
			v.add(problemf(f+".id", "Duplicate section id %q.", s.ID))
		}
		sections[s.ID] = true
		v.text(f+".title", s.Title, maxInstrumentName, true)
		if len(s.Items) == 0 {
			v.add(problemf(f+".items", "A section needs at least one item."))
		}
		for j := range s.Items {
			it := &s.Items[j]
			itf := fmt.Sprintf("%s.items[%d]", f, j)
			if v.key(itf+".id", it.ID) && items[it.ID] {
				v.add(problemf(itf+".id", "Duplicate item id %q: item ids must be unique in the whole instrument.", it.ID))
			}
			items[it.ID] = true
			v.text(itf+".name", it.Name, maxInstrumentName, true)
			if !slices.Contains(ItemKinds, it.Kind) {
				v.add(problemf(itf+".kind", "Unknown item kind %q; use static, dynamic or protective.", it.Kind))
			}
			v.scale(itf+".scale", it.Scale, scales)
			v.text(itf+".guidance", it.Guidance, maxInstrumentGuidance, false)
		}
	}
	if len(items) > MaxInstrumentItems {
		v.add(problemf("sections", "An instrument may have at most %d items.", MaxInstrumentItems))
	}

	judgments := map[string]*SummaryJudgment{}
	risk := 0
	if len(in.Judgments) == 0 {
		v.add(problemf("summary_judgments", "An instrument needs at least one summary judgment."))
	}
	for i := range in.Judgments {
		j := &in.Judgments[i]
		f := fmt.Sprintf("summary_judgments[%d]", i)
		if v.key(f+".id", j.ID) && judgments[j.ID] != nil {
			v.add(problemf(f+".id", "Duplicate summary judgment id %q.", j.ID))
		}
		judgments[j.ID] = j
		v.text(f+".title", j.Title, maxInstrumentName, true)
		s := v.scale(f+".scale", j.Scale, scales)
		if !j.SetsRisk {
			continue
		}
		if risk++; risk == 2 {
			v.add(problemf(f+".sets_risk", "Only one summary judgment can set the case's risk level."))
		}
		if !j.RationaleRequired {
			v.add(problemf(f+".rationale_required", "The judgment that sets the risk level must require a rationale."))
		}
		if s != nil {
			for _, val := range s.Values {
				if r := RiskLevel(val.Code); !r.Valid() || r == RiskUnrated {
					v.add(problemf(f+".scale", "The judgment sets the risk level, so every code of scale %q must be a risk level (low, moderate, high, imminent); %q is not.", s.ID, val.Code))
					break
				}
			}
		}
	}

	rules := map[string]bool{}
	for i := range in.Rules {
		r := &in.Rules[i]
		f := fmt.Sprintf("rules[%d]", i)
		if v.key(f+".id", r.ID) && rules[r.ID] {
			v.add(problemf(f+".id", "Duplicate rule id %q.", r.ID))
		}
		rules[r.ID] = true
		if !slices.Contains(RuleEffects, r.Then) {
			v.add(problemf(f+".then", "Unknown rule effect %q; use second_approver or incomplete.", r.Then))
		}
		v.text(f+".message", r.Message, maxInstrumentGuidance, false)
		switch r.When {
		case RuleCriticalPresentBelow, RuleJudgmentAtLeast:
			j := judgments[r.Judgment]
			if j == nil {
				v.add(problemf(f+".judgment", "Unknown summary judgment %q.", r.Judgment))
				continue
			}
			if s := scales[j.Scale]; s != nil && s.Rank(r.Level) < 0 {
				v.add(problemf(f+".level", "%q is not a value of scale %q of judgment %q.", r.Level, s.ID, j.ID))
			}
		case RuleUnknownMoreThan:
			if r.Count < 0 {
				v.add(problemf(f+".count", "The count must be 0 or more."))
			}
		default:
			v.add(problemf(f+".when", "Unknown rule condition %q; use critical_present_below, unknown_more_than or judgment_at_least.", r.When))
		}
	}
	return v.problems
}

type instrumentCheck struct{ problems Problems }

func (v *instrumentCheck) add(p Problem) { v.problems = append(v.problems, p) }

// key checks an id or code, which field names; false if it is malformed
// (a problem is added).
func (v *instrumentCheck) key(field, s string) bool {
	if keyPattern.MatchString(s) {
		return true
	}
	if s == "" {
		v.add(problemf(field, "This id is missing."))
	} else {
		v.add(problemf(field, "The id %q must be 1 to 64 characters: lower-case letters, digits, '-' and '_'.", CleanText(s, 80)))
	}
	return false
}

// text checks a text of at most max characters, one line unless max is
// the guidance limit.
func (v *instrumentCheck) text(field, s string, max int, required bool) {
	switch {
	case !utf8.ValidString(s) || strings.IndexByte(s, 0) >= 0:
		v.add(problemf(field, "The text contains characters that are not allowed (invalid UTF-8 or a NUL byte)."))
	case required && strings.TrimSpace(s) == "":
		v.add(problemf(field, "This text is required."))
	case utf8.RuneCountInString(s) > max:
		v.add(problemf(field, "The text must have at most %d characters.", max))
	case max == maxInstrumentName && strings.IndexFunc(s, unicode.IsControl) >= 0:
		v.add(problemf(field, "The text must be one line."))
	}
}

// scale checks a reference to a scale and returns it, nil if unknown.
func (v *instrumentCheck) scale(field, id string, scales map[string]*Scale) *Scale {
	s := scales[id]
	if s == nil {
		v.add(problemf(field, "Unknown scale %q.", CleanText(id, 80)))
	}
	return s
}
