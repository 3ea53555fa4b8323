package chart_test

import (
	"bytes"
	"encoding/xml"
	"errors"
	"flag"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/tma-portal/tma/server/chart"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

// history is four assessments of a case with two sections: unrated at
// first (no risk judgment), then moderate, high, and low again.
func history() chart.Risk {
	return chart.Risk{
		ID:         "case-risk",
		Title:      "Risk history of TM-2026-0042",
		Desc:       "Four assessments: none, moderate, high, low. Present items: warning behaviours 0, 2, 5, 1; risk factors 1, 3, 4, 2.",
		XLabel:     "Assessment date",
		RiskLabel:  "Risk level",
		CountLabel: "Present items",
		Levels:     []string{"unrated", "low", "moderate", "high", "imminent"},
		Series:     []string{"Warning behaviours", "Risk factors & history"},
		Points: []chart.Point{
			{Label: "2026-01-05", Level: -1, Counts: []int{0, 1}},
			{Label: "2026-02-10", Level: 2, Counts: []int{2, 3}},
			{Label: "2026-03-01", Level: 3, Counts: []int{5, 4}},
			{Label: "2026-04-20", Level: 1, Counts: []int{1, 2}},
		},
	}
}

// texts decodes svg completely (failing the test if it is not
// well-formed XML) and returns the character data of its <text>
// elements, and the ids of its elements.
func texts(t *testing.T, svg []byte) (texts, ids []string) {
	t.Helper()
	d := xml.NewDecoder(bytes.NewReader(svg))
	var in []string // open elements
	var cur strings.Builder
	root := ""
	for {
		tok, err := d.Token()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("not well-formed XML: %v\n%s", err, svg)
		}
		switch tok := tok.(type) {
		case xml.StartElement:
			if root == "" {
				root = tok.Name.Local
				if tok.Name.Space != "http://www.w3.org/2000/svg" {
					t.Errorf("root namespace %q", tok.Name.Space)
				}
			}
			for _, a := range tok.Attr {
				if a.Name.Local == "id" {
					ids = append(ids, a.Value)
				}
				if a.Name.Local == "style" {
					t.Errorf("<%s> has a style attribute, which the CSP refuses", tok.Name.Local)
				}
			}
			if tok.Name.Local == "style" || tok.Name.Local == "script" || tok.Name.Local == "foreignObject" {
				t.Errorf("the chart has a <%s> element", tok.Name.Local)
			}
			in = append(in, tok.Name.Local)
			cur.Reset()
		case xml.CharData:
			cur.Write(tok)
		case xml.EndElement:
			if in[len(in)-1] == "text" {
				texts = append(texts, cur.String())
			}
			in = in[:len(in)-1]
			cur.Reset()
		}
	}
	if root != "svg" {
		t.Fatalf("root element %q, want svg", root)
	}
	return texts, ids
}

// TestRiskChartSVG: a fixed history draws the golden chart, which is
// well-formed SVG with its axis titles and every legend entry as text, an
// accessible name and description, and escaped labels.
func TestRiskChartSVG(t *testing.T) {
	got := chart.RiskSVG(history())
	golden := filepath.Join("testdata", "risk_chart.golden.svg")
	if *update {
		if err := os.WriteFile(golden, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatalf("%v (run with -update to write it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("the chart differs from %s (run with -update and look at it):\n%s", golden, got)
	}
	if again := chart.RiskSVG(history()); !bytes.Equal(got, again) {
		t.Errorf("two charts of the same history differ")
	}

	ts, ids := texts(t, got)
	h := history()
	for _, want := range append([]string{h.XLabel, h.RiskLabel, h.CountLabel, "2026-01-05", "2026-04-20", "imminent"}, h.Series...) {
		if !slices.Contains(ts, want) {
			t.Errorf("no <text> %q in %q", want, ts)
		}
	}
	// The risk label titles the left axis and names the line in the
	// legend.
	if n := strings.Count(strings.Join(ts, "\n")+"\n", h.RiskLabel+"\n"); n != 2 {
		t.Errorf("the risk label is %d texts, want 2 (axis and legend)", n)
	}
	for _, want := range []string{`role="img"`, `aria-labelledby="case-risk-title"`, `aria-describedby="case-risk-desc"`,
		`<title id="case-risk-title">Risk history of TM-2026-0042</title>`, `<desc id="case-risk-desc">Four assessments`,
		"Risk factors &amp; history"} {
		if !bytes.Contains(got, []byte(want)) {
			t.Errorf("the chart lacks %s", want)
		}
	}
	seen := map[string]bool{}
	for _, id := range ids {
		if seen[id] {
			t.Errorf("id %q twice", id)
		}
		seen[id] = true
		if !strings.HasPrefix(id, "case-risk-") {
			t.Errorf("id %q lacks the chart's prefix", id)
		}
	}

	// Labels are text, never markup.
	evil := history()
	evil.Title = `</title><script>alert(1)</script>`
	evil.Desc = `"'&<>`
	evil.XLabel = `x <b>&amp; "y"`
	evil.Levels[3] = `<script>high</script>`
	evil.Series[0] = `A & B <i>`
	evil.Points[2].Label = `"><script>`
	evil.ID = `"><script>`
	svg := chart.RiskSVG(evil)
	ts, _ = texts(t, svg)
	for _, want := range []string{evil.XLabel, evil.Levels[3], evil.Series[0], evil.Points[2].Label} {
		if !slices.Contains(ts, want) {
			t.Errorf("no <text> %q in %q", want, ts)
		}
	}
	if bytes.Contains(svg, []byte("<script")) || bytes.Contains(svg, []byte("<b>")) || bytes.Contains(svg, []byte("<i>")) {
		t.Errorf("a label came out as markup:\n%s", svg)
	}
	if !bytes.Contains(svg, []byte("A &amp; B &lt;i&gt;")) || !bytes.Contains(svg, []byte("&amp;amp;")) {
		t.Errorf("labels are not escaped:\n%s", svg)
	}
}

// TestRiskChartOddInput: whatever the history, the chart is well-formed
// SVG and never panics.
func TestRiskChartOddInput(t *testing.T) {
	long := strings.Repeat("Überlänge ", 40)
	many := make([]chart.Point, 60)
	for i := range many {
		many[i] = chart.Point{Label: "2026-01-01", Level: i % 5, Counts: []int{i, 60 - i}}
	}
	for _, tc := range []struct {
		name string
		r    chart.Risk
		want []string // texts the chart must have
	}{
		{"empty", chart.Risk{}, nil},
		{"no points", chart.Risk{XLabel: "Date", RiskLabel: "Risk", CountLabel: "Items", Levels: []string{"low", "high"}, Series: []string{"A"}},
			[]string{"Date", "Risk", "Items", "low", "high", "A"}},
		{"one point", chart.Risk{Levels: []string{"low", "high"}, Series: []string{"A", "B"}, Points: []chart.Point{{Label: "d1", Level: 1, Counts: []int{3, 0}}}},
			[]string{"d1", "A", "B", "3"}},
		{"one point without level", chart.Risk{Levels: []string{"low"}, Points: []chart.Point{{Label: "d1", Level: -1}}}, []string{"d1"}},
		{"levels out of range", chart.Risk{Levels: []string{"low"}, Points: []chart.Point{{Label: "a", Level: 7}, {Label: "b", Level: -5}, {Label: "c", Level: 0}}}, []string{"a", "b", "c"}},
		{"no levels", chart.Risk{Series: []string{"A"}, Points: []chart.Point{{Label: "a", Level: 2, Counts: []int{1}}}}, []string{"a"}},
		{"counts longer and shorter than series", chart.Risk{Levels: []string{"low"}, Series: []string{"A", "B"},
			Points: []chart.Point{{Label: "a", Level: 0, Counts: []int{1, 2, 99, 4}}, {Label: "b", Level: 0}, {Label: "c", Level: 0, Counts: []int{7}}}},
			[]string{"A", "B"}},
		{"negative and huge counts", chart.Risk{Series: []string{"A", "B"}, Points: []chart.Point{{Label: "a", Level: 0, Counts: []int{-3, 1 << 62}}}}, nil},
		{"long labels", chart.Risk{XLabel: long, Levels: []string{long}, Series: []string{long, long, long, long, long, long, long, long},
			Points: []chart.Point{{Label: long, Level: 0, Counts: []int{1, 2, 3, 4, 5, 6, 7, 8}}}}, []string{long}},
		{"many points", chart.Risk{Levels: []string{"a", "b", "c", "d", "e"}, Series: []string{"S", "T"}, Points: many}, nil},
		{"odd characters", chart.Risk{Title: "\x00\x1b\xff\ufffe", XLabel: "\x00\x1b\xff end", Levels: []string{"\u202e"}, Points: []chart.Point{{Label: "\x01", Level: 0}}}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			svg := chart.RiskSVG(tc.r)
			ts, _ := texts(t, svg)
			for _, want := range tc.want {
				if !slices.Contains(ts, want) {
					t.Errorf("no <text> %q in %q", want, ts)
				}
			}
			if bytes.Contains(svg, []byte("NaN")) || bytes.Contains(svg, []byte("Inf")) || bytes.Contains(svg, []byte("e+")) {
				t.Errorf("a number is not a plain decimal:\n%s", svg)
			}
		})
	}
}

// FuzzRiskSVG: any labels, levels and counts give well-formed SVG.
func FuzzRiskSVG(f *testing.F) {
	f.Add("low", "2026-01-01", 0, 3, -1, 2, "A")
	f.Add("<&>", "\x00", -1, -7, 99, 1<<40, "")
	f.Fuzz(func(t *testing.T, label, date string, l1, c1, l2, c2 int, series string) {
		r := chart.Risk{ID: label, Title: label, Desc: date, XLabel: label, RiskLabel: series, CountLabel: date,
			Levels: []string{label, "x"}, Series: []string{series},
			Points: []chart.Point{{Label: date, Level: l1, Counts: []int{c1}}, {Label: label, Level: l2, Counts: []int{c2, c1}}}}
		svg := chart.RiskSVG(r)
		d := xml.NewDecoder(bytes.NewReader(svg))
		for {
			_, err := d.Token()
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				t.Fatalf("not well-formed: %v\n%s", err, svg)
			}
		}
	})
}
