package instrument

import (
	"reflect"
	"testing"
)

// TestMarshalRoundTrip writes texts YAML would misread unless quoted or
// escaped, and reads them back.
func TestMarshalRoundTrip(t *testing.T) {
	texts := []string{
		"null", "~", "true", "no", "123", "0x1F", "1e3", ".inf", "-", "- item", "a: b", "# not a comment",
		"'single'", `"double"`, "  leading", "trailing  ", "tab\there", "two\nlines", "ends with newline\n",
		"\n\nleading newlines", "crlf\r\nline", "lone \r return", "trailing spaces  \nnext", "[x]", "{x}",
		"&anchor", "*alias", "!tag", "%percent", "@at", "`tick`", "|", ">", "? key", "Ünïcödé – ≥ 🙂",
		"\u2028 separator", "back\\slash", "\x7f del", "\u00a0nbsp", "\ufeffbom", "---", "...",
		"nan", "Inf", "Yes", "OFF", "NULL", "e3", "It's fine.", "Why? Because!", "a - b (c); d, e/f", "x\u0085y", "\U0001F642 first",
	}
	for _, text := range texts {
		in, _ := Parse([]byte(minimal))
		in.Sections[0].Items[0].Guidance = text
		in.Sections[0].Items[1].Restricted = true
		in.Rules[0].Message = text
		in.LicenseNote = "note " + text
		if ps := in.Validate(); len(ps) > 0 {
			t.Logf("%q is not valid guidance: %v", text, ps)
			continue
		}
		out, err := Marshal(in)
		if err != nil {
			t.Fatalf("%q: Marshal: %v", text, err)
		}
		again, err := Parse(out)
		if err != nil {
			t.Errorf("%q: Parse(Marshal(…)): %v\n%s", text, err, out)
			continue
		}
		if !again.Sections[0].Items[1].Restricted {
			t.Errorf("%q: restricted did not survive the round trip", text)
		}
		if !reflect.DeepEqual(in, again) {
			t.Errorf("%q came back as %q", text, again.Sections[0].Items[0].Guidance)
		}
	}
}
