package instrument

import (
	"reflect"
	"testing"

	"github.com/tma-portal/tma/server/tma"
)

// FuzzParse checks that Parse never panics, and that whatever it accepts
// is valid and survives Marshal and Parse unchanged.
func FuzzParse(f *testing.F) {
	for _, s := range Shipped() {
		f.Add(s.Source)
	}
	for _, tc := range validationCases {
		if len(tc.src) < 64<<10 { // the fuzzer mutates a megabyte slowly
			f.Add([]byte(tc.src))
		}
	}
	f.Add([]byte(minimal))
	f.Fuzz(func(t *testing.T, src []byte) {
		inst, err := Parse(src)
		if err != nil {
			if inst != nil {
				t.Fatal("Parse returned an instrument with an error")
			}
			return
		}
		if ps := inst.Validate(); len(ps) > 0 {
			t.Fatalf("Parse accepted an invalid instrument: %v", ps)
		}
		checkRoundTrip(t, inst)
	})
}

// checkRoundTrip fails the test unless inst survives Marshal and Parse
// unchanged.
func checkRoundTrip(t *testing.T, inst *tma.Instrument) {
	t.Helper()
	out, err := Marshal(inst)
	if err != nil {
		t.Fatalf("Marshal: %v", err)
	}
	again, err := Parse(out)
	if err != nil {
		t.Fatalf("Parse(Marshal(…)): %v\n%s", err, out)
	}
	if !reflect.DeepEqual(inst, again) {
		t.Fatalf("the round trip changed the instrument:\n%#v\n%#v\n%s", inst, again, out)
	}
}
