package instrument

import (
	"errors"
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/tma-portal/tma/server/tma"
)

// minimal is a small valid instrument file; the cases below change it. Its
// lines, for reading the expected messages:
//
//	 1 id: demo                    23       - id: a
//	 5 scales:                     25         kind: dynamic
//	13   - id: concern             27         scale: presence
//	15       - code: low           28       - id: b
//	17       - code: high          32 summary_judgments:
//	19 sections:                   35     scale: concern
//	20   - id: one                 37     sets_risk: true
//	22     items:                  38 rules:   40 when, 41 judgment, 42 level
const minimal = `id: demo
version: 1
title: Demo
license_note: Structure only; the manual is needed for professional use.
scales:
  - id: presence
    values:
      - code: absent
        label: Absent
      - code: present
        label: Present
        present: true
  - id: concern
    values:
      - code: low
        label: Low
      - code: high
        label: High
sections:
  - id: one
    title: One
    items:
      - id: a
        name: A
        kind: dynamic
        critical: true
        scale: presence
      - id: b
        name: B
        kind: static
        scale: presence
summary_judgments:
  - id: concern
    title: Concern
    scale: concern
    rationale_required: true
    sets_risk: true
rules:
  - id: second
    when: critical_present_below
    judgment: concern
    level: high
    then: second_approver
`

// with is minimal with each pair old → new replaced once; old must occur
// exactly once.
func with(pairs ...string) string {
	s := minimal
	for i := 0; i < len(pairs); i += 2 {
		if strings.Count(s, pairs[i]) != 1 {
			panic("with: not exactly once: " + pairs[i])
		}
		s = strings.Replace(s, pairs[i], pairs[i+1], 1)
	}
	return s
}

// validationCases are broken files and every problem Parse must report,
// written out by hand.
var validationCases = []struct {
	name string
	src  string
	want []string
}{
	{"YAML syntax error", with("    title: One\n", "    title: \"One\n"),
		[]string{`line 21: YAML syntax error: could not find end character of double-quoted text`}},
	{"duplicate key", with("        name: B\n", "        name: B\n        name: C\n"),
		[]string{`line 30: YAML syntax error: mapping key "name" already defined at [29:9]`}},
	{"unknown field", with("        critical: true\n", "        critcal: true\n"),
		[]string{`line 26: sections[0].items[0].critcal: Unknown field "critcal"; the fields here are: id, name, kind, critical, restricted, scale, guidance.`}},
	{"unknown top-level field", with("title: Demo\n", "title: Demo\nauthor: Someone\n"),
		[]string{`line 4: author: Unknown field "author"; the fields here are: id, version, title, language, license_note, scales, sections, summary_judgments, rules.`}},
	{"wrong type: text for a number", with("version: 1\n", "version: one\n"),
		[]string{`line 2: version: Expected a whole number.`}},
	{"wrong type: quoted number", with("version: 1\n", "version: \"2\"\n"),
		[]string{`line 2: version: Expected a whole number.`}},
	{"wrong type: text for true or false", with("        critical: true\n", "        critical: \"yes\"\n"),
		[]string{`line 26: sections[0].items[0].critical: Expected true or false.`}},
	{"wrong type: text for restricted", with("        kind: static\n", "        kind: static\n        restricted: yes\n"),
		[]string{`line 31: sections[0].items[1].restricted: Expected true or false.`}},
	{"wrong type: mapping for a list", with("sections:\n", "sections:\n  first:\n    id: x\nignored:\n"),
		[]string{
			`line 20: sections: Expected a list (lines starting with "- ").`,
			`line 22: ignored: Unknown field "ignored"; the fields here are: id, version, title, language, license_note, scales, sections, summary_judgments, rules.`,
		}},
	{"wrong type: list for text", with("title: Demo\n", "title: [Demo]\n"),
		[]string{`line 3: title: Expected text, not a list or mapping.`}},
	{"wrong type: number too large", with("version: 1\n", "version: 18446744073709551615\n"),
		[]string{`line 2: version: The number is too large.`}},
	{"missing id", strings.Replace(minimal, "id: demo\n", "", 1),
		[]string{`line 1: id: The instrument id must be 2 to 64 characters: lower-case letters, digits and '-'.`}},
	{"bad version", with("version: 1\n", "version: 0\n"),
		[]string{`line 2: version: The version must be a whole number of 1 or more.`}},
	{"version beyond what the table stores", with("version: 1\n", "version: 3000000000\n"),
		[]string{`line 2: version: The version must be at most 2147483647.`}},
	{"duplicate item id across sections", with("summary_judgments:\n", "  - id: two\n    title: Two\n    items:\n      - id: a\n        name: A again\n        kind: static\n        scale: presence\nsummary_judgments:\n"),
		[]string{`line 35: sections[1].items[0].id: Duplicate item id "a": item ids must be unique in the whole instrument.`}},
	{"duplicate scale id", with("  - id: concern\n    values:\n", "  - id: presence\n    values:\n"),
		[]string{
			`line 13: scales[1].id: Duplicate scale id "presence".`,
			`line 35: summary_judgments[0].scale: Unknown scale "concern".`,
		}},
	{"unknown scale on an item", with("        critical: true\n        scale: presence\n", "        critical: true\n        scale: presense\n"),
		[]string{`line 27: sections[0].items[0].scale: Unknown scale "presense".`}},
	{"missing scale falls back to the item's line", with("        kind: static\n        scale: presence\n", "        kind: static\n"),
		[]string{`line 28: sections[0].items[1].scale: Unknown scale "".`}},
	{"unknown scale on a judgment", with("    scale: concern\n", "    scale: concen\n"),
		[]string{`line 35: summary_judgments[0].scale: Unknown scale "concen".`}},
	{"unknown item kind", with("        kind: dynamic\n", "        kind: proximal\n"),
		[]string{`line 25: sections[0].items[0].kind: Unknown item kind "proximal"; use static, dynamic or protective.`}},
	{"rule with an unknown judgment", with("    judgment: concern\n", "    judgment: worry\n"),
		[]string{`line 41: rules[0].judgment: Unknown summary judgment "worry".`}},
	{"rule level not on the scale", with("    level: high\n", "    level: severe\n"),
		[]string{`line 42: rules[0].level: "severe" is not a value of scale "concern" of judgment "concern".`}},
	{"unknown rule condition", with("    when: critical_present_below\n", "    when: always\n"),
		[]string{`line 40: rules[0].when: Unknown rule condition "always"; use critical_present_below, unknown_more_than or judgment_at_least.`}},
	{"risk judgment with codes that are no risk levels", with("      - code: low\n", "      - code: minor\n"),
		[]string{`line 35: summary_judgments[0].scale: The judgment sets the risk level, so every code of scale "concern" must be a risk level (low, moderate, high, imminent); "minor" is not.`}},
	{"two judgments set the risk", with("rules:\n", "  - id: urgency\n    title: Urgency\n    scale: concern\n    rationale_required: true\n    sets_risk: true\nrules:\n"),
		[]string{`line 42: summary_judgments[1].sets_risk: Only one summary judgment can set the case's risk level.`}},
	{"empty sections", with("sections:\n  - id: one\n    title: One\n    items:\n      - id: a\n        name: A\n        kind: dynamic\n        critical: true\n        scale: presence\n      - id: b\n        name: B\n        kind: static\n        scale: presence\n", "sections: []\n"),
		[]string{`line 19: sections: An instrument needs at least one section.`}},
	{"file too large", minimal + "# " + strings.Repeat("x", tma.MaxInstrumentFile) + "\n",
		[]string{`The file is larger than 1048576 bytes.`}},
	{"several problems, all listed by line", with(
		"version: 1\n", "version: 0\n",
		"        critical: true\n        scale: presence\n", "        critical: yes\n        scale: presense\n",
		"        name: B\n", "        name: B\n        colour: red\n",
		"    level: high\n", "    level: severe\n"),
		[]string{
			`line 2: version: The version must be a whole number of 1 or more.`,
			`line 26: sections[0].items[0].critical: Expected true or false.`,
			`line 27: sections[0].items[0].scale: Unknown scale "presense".`,
			`line 30: sections[0].items[1].colour: Unknown field "colour"; the fields here are: id, name, kind, critical, restricted, scale, guidance.`,
			`line 43: rules[0].level: "severe" is not a value of scale "concern" of judgment "concern".`,
		}},
	{"anchors and aliases (billion laughs)", "a: &a [x, x]\nb: &b [*a, *a]\nc: [*b, *b]\n",
		[]string{
			`line 1: Anchors (&name) and aliases (*name) are not allowed in an instrument file; write each value out.`,
			`line 2: Anchors (&name) and aliases (*name) are not allowed in an instrument file; write each value out.`,
			`line 2: Anchors (&name) and aliases (*name) are not allowed in an instrument file; write each value out.`,
			`line 2: Anchors (&name) and aliases (*name) are not allowed in an instrument file; write each value out.`,
			`line 3: Anchors (&name) and aliases (*name) are not allowed in an instrument file; write each value out.`,
			`line 3: Anchors (&name) and aliases (*name) are not allowed in an instrument file; write each value out.`,
		}},
	{"tag", with("title: Demo\n", "title: !!str Demo\n"),
		[]string{`line 3: Tags such as "!!str" are not allowed in an instrument file.`}},
	{"nested too deeply", "id: " + strings.Repeat("[", 30) + strings.Repeat("]", 30) + "\n",
		[]string{`line 1: The file is nested more than 24 levels deep.`}},
	{"nested too deeply in blocks", "id:\n" + strings.Repeat("- ", 30) + "x\n",
		[]string{`line 2: The file is nested more than 24 levels deep.`}},
	{"empty file", "# nothing here\n",
		[]string{`line 1: The file is empty.`}},
	{"two documents", minimal + "---\nid: other\n",
		[]string{`line 45: The file must hold one YAML document, not 2.`}},
	{"not UTF-8", with("title: Demo\n", "title: D\xe9mo\n"),
		[]string{`line 3: The file is not UTF-8 text.`}},
	{"at most 100 problems", "sections:\n" + strings.Repeat("  - {}\n", 200),
		manyProblems()},
	{"not a mapping", "- id: demo\n",
		[]string{`line 1: Expected a mapping (lines of the form "key: value").`}},
}

// manyProblems is what a file of 200 empty sections gets: six problems of
// the instrument at line 1, three for each section at its line, cut at 100,
// and the count of the rest (6 + 3×200 − 100).
func manyProblems() []string {
	want := []string{
		`line 1: id: The instrument id must be 2 to 64 characters: lower-case letters, digits and '-'.`,
		`line 1: version: The version must be a whole number of 1 or more.`,
		`line 1: title: This text is required.`,
		`line 1: license_note: This text is required.`,
		`line 1: scales: An instrument needs at least one scale.`,
		`line 1: summary_judgments: An instrument needs at least one summary judgment.`,
	}
	for i := 0; len(want) < 100; i++ {
		for _, p := range []string{"id: This id is missing.", "title: This text is required.", "items: A section needs at least one item."} {
			if len(want) < 100 {
				want = append(want, fmt.Sprintf("line %d: sections[%d].%s", i+2, i, p))
			}
		}
	}
	return append(want, "506 more problems are not listed.")
}

// TestInstrumentValidation checks that every broken file is refused as a
// whole, as EINVALID, with every problem at its line.
func TestInstrumentValidation(t *testing.T) {
	if inst, err := Parse([]byte(minimal)); err != nil || inst.ID != "demo" || len(inst.Rules) != 1 {
		t.Fatalf("the minimal file: %v", err)
	}
	for _, tc := range validationCases {
		t.Run(tc.name, func(t *testing.T) {
			inst, err := Parse([]byte(tc.src))
			if inst != nil {
				t.Errorf("Parse returned an instrument")
			}
			if code := tma.ErrorCode(err); code != tma.EINVALID {
				t.Fatalf("error code %q (%v), want EINVALID", code, err)
			}
			var e *tma.Error
			var ps tma.Problems
			if !errors.As(err, &e) || !errors.As(err, &ps) {
				t.Fatalf("%T: not a *tma.Error wrapping tma.Problems", err)
			}
			got := make([]string, len(ps))
			for i, p := range ps {
				got[i] = p.String()
			}
			if strings.Join(got, "\n") != strings.Join(tc.want, "\n") {
				t.Errorf("problems:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(tc.want, "\n"))
			}
		})
	}
}

// TestReadmeExample keeps the example of README.md valid.
func TestReadmeExample(t *testing.T) {
	b, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	_, rest, ok := strings.Cut(string(b), "```yaml\n")
	example, _, ok2 := strings.Cut(rest, "```")
	if !ok || !ok2 {
		t.Fatal("README.md has no YAML example")
	}
	if _, err := Parse([]byte(example)); err != nil {
		t.Fatalf("the example of README.md: %v", err)
	}
}
