package tma_test

import (
	"reflect"
	"testing"

	"github.com/tma-portal/tma/server/tma"
)

// restrictedScreen is screenV1 with "grievance" and "ideology" restricted
// (as TRAP-18's mental disorder and criminal violence are).
func restrictedScreen() *tma.Instrument {
	in := screenV1()
	for i := range in.Sections[1].Items {
		in.Sections[1].Items[i].Restricted = true
	}
	return in
}

func TestHideRestricted(t *testing.T) {
	in := restrictedScreen()
	ratings := map[string]tma.Rating{
		"pathway":   {Value: "yes", Evidence: "Bought a ticket."},
		"grievance": {Value: "yes", Evidence: "Diagnosed in 2024.", Rationale: "Doctor's letter.", Links: []string{tma.NewID()}},
	}
	got := in.HideRestricted(ratings)
	want := map[string]tma.Rating{
		"pathway":   ratings["pathway"],
		"grievance": {Hidden: true},
		"ideology":  {Hidden: true}, // not rated: hidden all the same, so rated or not does not show
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("HideRestricted = %+v, want %+v", got, want)
	}
	if ratings["grievance"].Value != "yes" {
		t.Fatal("HideRestricted changed its input")
	}
	if screenV1().HasRestricted() || !in.HasRestricted() {
		t.Fatal("HasRestricted is wrong")
	}
}

func TestKeepRestricted(t *testing.T) {
	in := restrictedScreen()
	stored := map[string]tma.Rating{
		"pathway":   {Value: "no"},
		"grievance": {Value: "yes", Evidence: "Diagnosed in 2024."},
	}
	input := map[string]tma.Rating{
		"pathway":   {Value: "yes", Evidence: "Bought a ticket."},
		"grievance": {Hidden: true},     // wiped by a form that never showed it
		"ideology":  {Value: "unknown"}, // rated by someone who may not
	}
	got := in.KeepRestricted(input, stored)
	want := map[string]tma.Rating{
		"pathway":   {Value: "yes", Evidence: "Bought a ticket."},
		"grievance": {Value: "yes", Evidence: "Diagnosed in 2024."},
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("KeepRestricted = %+v, want %+v", got, want)
	}
}

func TestCheckSubmitRestricted(t *testing.T) {
	in := restrictedScreen()
	tests := []struct {
		name       string
		a          *tma.Assessment
		restricted bool
		message    string
	}{
		{"lead: restricted items are named like others", rated("pathway=no", "fixation=no", "leakage=no", "grievance=no", "concern=low", "priority=routine"), true,
			`Rate every item before submitting: "Framed by an ideology" is not rated yet.`},
		{"others: one restricted item missing", rated("pathway=no", "fixation=no", "leakage=no", "grievance=no", "concern=low", "priority=routine"), false,
			`An item that only the case lead or legal may rate is not rated yet. Ask them to rate it before submitting.`},
		{"others: two restricted items missing", rated("pathway=no", "fixation=no", "leakage=no", "concern=low", "priority=routine"), false,
			`2 items that only the case lead or legal may rate are not rated yet. Ask them to rate them before submitting.`},
		{"others: their own items first", rated("fixation=no", "leakage=no", "concern=low", "priority=routine"), false,
			`Rate every item before submitting: "Pathway" is not rated yet.`},
		{"others: complete", rated(with(allAbsent, "concern=low", "priority=routine")...), false, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := in.CheckSubmit(tc.a, tc.restricted)
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
}

// TestDiffHidden: a rating hidden on either side is neither compared nor
// shown.
func TestDiffHidden(t *testing.T) {
	in := restrictedScreen()
	prev := rated("pathway=no", "grievance=no", "ideology=yes")
	cur := rated("pathway=yes", "grievance=yes", "ideology=yes")
	hiddenPrev := &tma.Assessment{Ratings: in.HideRestricted(prev.Ratings)}
	hiddenCur := &tma.Assessment{Ratings: in.HideRestricted(cur.Ratings)}
	for name, pair := range map[string][2]*tma.Assessment{
		"both hidden": {hiddenPrev, hiddenCur}, "previous hidden": {hiddenPrev, cur}, "current hidden": {prev, hiddenCur},
	} {
		t.Run(name, func(t *testing.T) {
			for _, c := range tma.DiffAssessments(in, pair[0], in, pair[1]) {
				switch c.ItemID {
				case "grievance", "ideology":
					if c.Change != tma.ChangeHidden || c.From != "" || c.To != "" || c.FromLabel != "" || c.ToLabel != "" {
						t.Errorf("%s: %+v, want hidden without values", c.ItemID, c)
					}
				case "pathway":
					if c.Change != tma.ChangeValue {
						t.Errorf("pathway: %+v, want a changed value", c)
					}
				}
			}
		})
	}
}

// TestCarryOverNeverLiftsRestriction: a new version of an instrument that
// no longer marks an item restricted must not carry over the rating the
// lead gave it under the restriction, or every member would read it in the
// new draft. A rating of an item restricted in both versions, and one that
// only the new version restricts, carry over as before.
func TestCarryOverNeverLiftsRestriction(t *testing.T) {
	prevInst := restrictedScreen() // grievance and ideology restricted
	inst := restrictedScreen()
	inst.Version = 2
	inst.Sections[1].Items[1].Restricted = false // ideology no longer restricted
	inst.Sections[0].Items[1].Restricted = true  // fixation restricted from now on
	prev := &tma.Assessment{Ratings: map[string]tma.Rating{
		"pathway":   {Value: "no"},
		"fixation":  {Value: "partial", Evidence: "Talks of her daily."},
		"grievance": {Value: "yes", Evidence: "Diagnosed in 2024."},
		"ideology":  {Value: "yes", Evidence: "Convicted in 2019.", Rationale: "Court record."},
	}}
	got := tma.CarryOver(prevInst, prev, inst)
	want := map[string]tma.Rating{
		"pathway":   {Value: "no"},
		"fixation":  {Value: "partial", Evidence: "Talks of her daily."},
		"grievance": {Value: "yes", Evidence: "Diagnosed in 2024."},
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("CarryOver = %+v\nwant %+v", got, want)
	}
}
