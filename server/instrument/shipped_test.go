package instrument

import (
	"reflect"
	"testing"
)

// TestShippedInstrumentsValid checks that the instruments every tenant gets
// parse, validate, have their items, and survive a round trip.
func TestShippedInstrumentsValid(t *testing.T) {
	want := map[string]struct {
		id       string
		sections []int // items per section
		critical int
		// restricted are the items with health or criminal-offence data
		// (GDPR Art. 9/10).
		restricted []string
	}{
		"trap18-screen.yaml":    {"trap18-screen", []int{8, 10}, 4, []string{"mental-disorder", "criminal-violence"}},
		"workplace-triage.yaml": {"workplace-triage", []int{3, 3, 3, 3, 2}, 5, []string{"suicide-threat", "earlier-violence"}},
	}
	files := Shipped()
	if len(files) != len(want) {
		t.Fatalf("%d shipped files, want %d", len(files), len(want))
	}
	for _, f := range files {
		t.Run(f.Name, func(t *testing.T) {
			w, ok := want[f.Name]
			if !ok {
				t.Fatalf("unexpected shipped file %s", f.Name)
			}
			inst, err := Parse(f.Source)
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			if ps := inst.Validate(); len(ps) > 0 {
				t.Fatalf("Validate: %v", ps)
			}
			if inst.ID != w.id || inst.Version != 1 {
				t.Errorf("id %q version %d, want %q version 1", inst.ID, inst.Version, w.id)
			}
			var counts []int
			critical := 0
			var restricted []string
			for _, s := range inst.Sections {
				counts = append(counts, len(s.Items))
				for _, it := range s.Items {
					if it.Critical {
						critical++
					}
					if it.Restricted {
						restricted = append(restricted, it.ID)
					}
				}
			}
			if !reflect.DeepEqual(restricted, w.restricted) {
				t.Errorf("restricted items %v, want %v", restricted, w.restricted)
			}
			if !reflect.DeepEqual(counts, w.sections) {
				t.Errorf("items per section %v, want %v", counts, w.sections)
			}
			if critical != w.critical {
				t.Errorf("%d critical items, want %d", critical, w.critical)
			}
			if r := inst.RiskJudgment(); r == nil || !r.RationaleRequired {
				t.Errorf("risk judgment %+v, want one that requires a rationale", r)
			}
			checkRoundTrip(t, inst)
		})
	}
}
