// Package chart draws the charts of TMA as SVG on the server: no script,
// no external service, nothing the page's Content-Security-Policy would
// refuse. It imports only the standard library and knows nothing of
// cases: callers hand in data and labels already translated.
//
// The SVG is meant to be put inline into a page (it carries no XML
// declaration), where the classes in assets/static/app.css colour it.
// Every mark also carries presentation attributes in currentColor (the
// page's text colour), dash patterns and hatchings, so that the chart
// stays readable without the style sheet, on a dark background, in forced
// colours and printed in greyscale: colour is never the only difference
// between two series. It uses no style attribute and no <style> element
// (style-src 'self').
//
// The output is deterministic: the same input gives the same bytes
// (coordinates with at most one decimal, no maps).
package chart

import (
	"bytes"
	"encoding/xml"
	"fmt"
	"math"
	"strconv"
	"strings"
	"unicode/utf8"
)

// Risk is a case's risk history: one Point per assessment, in the order
// they were made. The summary judgment (the risk level) is drawn as a step
// line with diamond markers on a categorical axis on the left, the number
// of present items per section as grouped, hatched bars on a count axis on
// the right. Every text is shown as given (escaped), so it must already be
// translated.
type Risk struct {
	// ID prefixes the ids of the chart's elements (title, description,
	// hatch patterns); it must be unique on the page. Letters, digits,
	// '-' and '_' are kept; "" is "risk-chart".
	ID string
	// Title is the chart's accessible name, Desc its description (say in
	// words what the chart shows; the marks are hidden from screen
	// readers, role="img").
	Title, Desc string
	// XLabel, RiskLabel and CountLabel title the axes: the assessments'
	// dates, the risk level (left) and the count of present items (right).
	XLabel, RiskLabel, CountLabel string
	// Levels are the risk levels' labels, lowest first; Point.Level
	// indexes them.
	Levels []string
	Points []Point
	// Series are the sections' names; Point.Counts is indexed alike.
	Series []string
}

// Point is one assessment.
type Point struct {
	Label string // its date, formatted
	// Level indexes Risk.Levels; -1 (or any index out of range) means no
	// risk judgment, and the line breaks there.
	Level int
	// Counts are the present items per Risk.Series. Missing counts draw
	// no bar, extra ones are ignored, negative ones count as 0.
	Counts []int
}

// Geometry, in SVG user units (px at 100 %).
const (
	width      = 720.0
	plotHeight = 220.0
	pad        = 8.0
	fontSize   = 12.0
	titleSize  = 13.0
	charWidth  = 7.0 // an estimate of a character at fontSize, for layout only
	legendRowH = 22.0
	swatchW    = 26.0
	maxLabel   = 28 // runes of a tick label or legend entry before it is cut
	maxCount   = 1 << 30
	hatches    = 6 // hatchings and colour classes, repeated beyond
)

// RiskSVG draws r as an SVG document. It never fails: odd input (no
// points, no levels, counts that do not match the series) gives a chart
// with what can be drawn.
func RiskSVG(r Risk) []byte {
	c := newRiskChart(r)
	c.draw()
	return c.buf.Bytes()
}

type riskChart struct {
	r     Risk
	id    string
	buf   bytes.Buffer
	top   float64 // of the plot area
	left  float64
	right float64
	bot   float64
	h     float64 // of the whole chart
	slot  float64 // the width of one point's column
	// count axis
	countTop  int // the count at the top of the plot
	countStep int
	rotate    bool // x labels at an angle
	every     int  // label every n-th point
	legend    []legendEntry
}

type legendEntry struct {
	x, y   float64
	label  string
	series int // -1: the risk line
}

func newRiskChart(r Risk) *riskChart {
	c := &riskChart{r: r, id: cleanID(r.ID)}

	// Left: axis title, then the level labels right-aligned.
	levelW := 0.0
	for _, l := range r.Levels {
		levelW = max(levelW, textWidth(cut(l)))
	}
	c.left = pad + titleSize + 10 + levelW + 8
	// Right: the count labels left-aligned, then the axis title.
	c.right = width - pad
	if len(r.Series) > 0 {
		c.countTop, c.countStep = countAxis(c.maxCount())
		c.right = width - (pad + titleSize + 10 + textWidth(strconv.Itoa(c.countTop)) + 8)
	}

	// Legend rows on top, wrapped to the width.
	entries := []legendEntry{{label: cut(r.RiskLabel), series: -1}}
	for i, s := range r.Series {
		entries = append(entries, legendEntry{label: cut(s), series: i})
	}
	x, y := pad, pad
	for _, e := range entries {
		w := swatchW + 6 + textWidth(e.label) + 18
		if x > pad && x+w > width-pad {
			x, y = pad, y+legendRowH
		}
		e.x, e.y = x, y
		c.legend = append(c.legend, e)
		x += w
	}
	c.top = y + legendRowH + 12
	c.bot = c.top + plotHeight

	// Bottom: the point labels, at an angle if they do not fit, then the
	// axis title.
	n := len(r.Points)
	c.every = 1
	if n > 0 {
		c.slot = (c.right - c.left) / float64(n)
		c.every = max(1, int(math.Ceil(float64(n)/20)))
	}
	labelW := 0.0
	for _, p := range r.Points {
		labelW = max(labelW, textWidth(cut(p.Label)))
	}
	below := fontSize + 8
	if labelW > c.slot*float64(c.every)-6 {
		c.rotate = true
		below = labelW*math.Sin(math.Pi/4) + fontSize + 8
	}
	c.h = c.bot + below + titleSize + 14
	return c
}

func (c *riskChart) maxCount() int {
	m := 0
	for _, p := range c.r.Points {
		for i, n := range p.Counts {
			if i < len(c.r.Series) {
				m = max(m, clampCount(n))
			}
		}
	}
	return m
}

func (c *riskChart) draw() {
	r, id := c.r, c.id
	c.printf(`<svg xmlns="http://www.w3.org/2000/svg" class="chart chart-risk" viewBox="0 0 %s %s" width="%s" height="%s" role="img" aria-labelledby="%s-title" aria-describedby="%s-desc" font-size="%s">`+"\n",
		num(width), num(c.h), num(width), num(c.h), id, id, num(fontSize))
	c.printf(`<title id="%s-title">`, id)
	c.text(r.Title)
	c.printf("</title>\n")
	c.printf(`<desc id="%s-desc">`, id)
	c.text(r.Desc)
	c.printf("</desc>\n")
	c.patterns()
	c.drawLegend()
	c.grid()
	c.bars()
	c.riskLine()
	c.axes()
	c.printf("</svg>\n")
}

// patterns defines one hatching per series class. Their lines are drawn
// in currentColor of the pattern element, which its class colours.
func (c *riskChart) patterns() {
	if len(c.r.Series) == 0 {
		return
	}
	c.printf("<defs>\n")
	hatch := [hatches]string{
		"M0 8L8 0M-2 2L2 -2M6 10L10 6", // /
		"M0 0L8 8M-2 6L2 10M6 -2L10 2", // \
		"M0 2H8M0 6H8",                 // —
		"M2 0V8M6 0V8",                 // |
		"M0 4H8M4 0V8",                 // +
		"",                             // dots
	}
	for i := range min(len(c.r.Series), hatches) {
		c.printf(`<pattern id="%s-p%d" class="chart-s%d" patternUnits="userSpaceOnUse" width="8" height="8">`, c.id, i, i)
		c.printf(`<rect width="8" height="8" fill="currentColor" fill-opacity="0.18"/>`)
		if hatch[i] == "" {
			c.printf(`<circle cx="2" cy="2" r="1.4" fill="currentColor"/><circle cx="6" cy="6" r="1.4" fill="currentColor"/>`)
		} else {
			c.printf(`<path d="%s" stroke="currentColor" stroke-width="1.3"/>`, hatch[i])
		}
		c.printf("</pattern>\n")
	}
	c.printf("</defs>\n")
}

func (c *riskChart) drawLegend() {
	c.printf(`<g class="chart-legend">` + "\n")
	for _, e := range c.legend {
		cy := e.y + legendRowH/2
		if e.series < 0 {
			c.printf(`<g class="chart-risk-series"><path d="M%s %sH%s" fill="none" stroke="currentColor" stroke-width="2.5"/>`, num(e.x), num(cy), num(e.x+swatchW))
			c.diamond(e.x+swatchW/2, cy)
			c.printf("</g>")
		} else {
			c.printf(`<rect class="chart-bar chart-s%d" x="%s" y="%s" width="%s" height="12" fill="url(#%s-p%d)" stroke="currentColor"/>`,
				e.series%hatches, num(e.x+3), num(cy-6), num(swatchW-6), c.id, e.series%hatches)
		}
		c.printf(`<text x="%s" y="%s" dominant-baseline="central" fill="currentColor">`, num(e.x+swatchW+6), num(cy))
		c.text(e.label)
		c.printf("</text>\n")
	}
	c.printf("</g>\n")
}

// levelY is the centre of level i's band.
func (c *riskChart) levelY(i int) float64 {
	band := plotHeight / float64(len(c.r.Levels))
	return c.bot - (float64(i)+0.5)*band
}

func (c *riskChart) countY(n int) float64 {
	if c.countTop == 0 {
		return c.bot
	}
	return c.bot - float64(n)/float64(c.countTop)*plotHeight
}

func (c *riskChart) pointX(i int) float64 { return c.left + (float64(i)+0.5)*c.slot }

// grid draws a faint line through each level's band.
func (c *riskChart) grid() {
	if len(c.r.Levels) == 0 {
		return
	}
	c.printf(`<g class="chart-grid" stroke="currentColor" stroke-opacity="0.2" stroke-dasharray="2 3">`)
	for i := range c.r.Levels {
		y := c.levelY(i)
		c.printf(`<path d="M%s %sH%s"/>`, num(c.left), num(y), num(c.right))
	}
	c.printf("</g>\n")
}

// bars draws each point's counts as a group of bars, one per series.
func (c *riskChart) bars() {
	k := len(c.r.Series)
	if k == 0 || len(c.r.Points) == 0 {
		return
	}
	group := min(c.slot*0.7, float64(k)*22)
	bw := group / float64(k)
	c.printf(`<g class="chart-bars">` + "\n")
	for i, p := range c.r.Points {
		x0 := c.pointX(i) - group/2
		for s := 0; s < k && s < len(p.Counts); s++ {
			n := clampCount(p.Counts[s])
			if n == 0 {
				continue
			}
			y := c.countY(n)
			c.printf(`<rect class="chart-bar chart-s%d" x="%s" y="%s" width="%s" height="%s" fill="url(#%s-p%d)" stroke="currentColor">`,
				s%hatches, num(x0+float64(s)*bw), num(y), num(bw), num(c.bot-y), c.id, s%hatches)
			c.printf("<title>")
			c.text(cut(p.Label) + ": " + cut(c.r.Series[s]) + " " + strconv.Itoa(n))
			c.printf("</title></rect>\n")
		}
	}
	c.printf("</g>\n")
}

// level returns p's level, or -1.
func (c *riskChart) level(p Point) int {
	if p.Level < 0 || p.Level >= len(c.r.Levels) {
		return -1
	}
	return p.Level
}

// riskLine draws the levels as a step line: a level holds until the next
// assessment. A point without a level breaks the line.
func (c *riskChart) riskLine() {
	if len(c.r.Points) == 0 || len(c.r.Levels) == 0 {
		return
	}
	var d strings.Builder
	prev := -1
	for i, p := range c.r.Points {
		l := c.level(p)
		switch {
		case l < 0:
		case prev < 0:
			d.WriteString("M" + num(c.pointX(i)) + " " + num(c.levelY(l)))
		default:
			d.WriteString("H" + num(c.pointX(i)) + "V" + num(c.levelY(l)))
		}
		prev = l
	}
	c.printf(`<g class="chart-risk-series">` + "\n")
	if d.Len() > 0 {
		// A halo in the page's background (from the style sheet; none
		// without it) lifts the line off the hatched bars.
		c.printf(`<path class="chart-halo" d="%s" fill="none" stroke="none" stroke-width="6" stroke-linejoin="round"/>`+"\n", d.String())
		c.printf(`<path class="chart-risk-line" d="%s" fill="none" stroke="currentColor" stroke-width="2.5" stroke-linejoin="round"/>`+"\n", d.String())
	}
	for i, p := range c.r.Points {
		l := c.level(p)
		if l < 0 {
			continue
		}
		c.printf("<g>")
		c.diamond(c.pointX(i), c.levelY(l))
		c.printf("<title>")
		c.text(cut(p.Label) + ": " + cut(c.r.RiskLabel) + " " + cut(c.r.Levels[l]))
		c.printf("</title></g>\n")
	}
	c.printf("</g>\n")
}

// diamond is the risk line's marker.
func (c *riskChart) diamond(x, y float64) {
	const s = 5.5
	c.printf(`<path class="chart-marker" d="M%s %sL%s %sL%s %sL%s %sZ" fill="currentColor" stroke="currentColor"/>`,
		num(x), num(y-s), num(x+s), num(y), num(x), num(y+s), num(x-s), num(y))
}

// axes draws the frame, the ticks and their labels, and the axis titles.
func (c *riskChart) axes() {
	r := c.r
	c.printf(`<g class="chart-axes" fill="currentColor">` + "\n")
	c.printf(`<path d="M%s %sV%sH%s" fill="none" stroke="currentColor"/>`+"\n", num(c.left), num(c.top), num(c.bot), num(c.right))
	// Left: the levels.
	for i, l := range r.Levels {
		c.printf(`<text class="chart-tick" x="%s" y="%s" text-anchor="end" dominant-baseline="central">`, num(c.left-8), num(c.levelY(i)))
		c.text(cut(l))
		c.printf("</text>\n")
	}
	c.axisTitle(pad+titleSize, (c.top+c.bot)/2, -90, r.RiskLabel)
	// Right: the counts.
	if len(r.Series) > 0 {
		c.printf(`<path d="M%s %sV%s" fill="none" stroke="currentColor"/>`+"\n", num(c.right), num(c.top), num(c.bot))
		for n := 0; n <= c.countTop; n += c.countStep {
			y := c.countY(n)
			c.printf(`<path d="M%s %sh5" stroke="currentColor"/><text class="chart-tick" x="%s" y="%s" dominant-baseline="central">%d</text>`+"\n",
				num(c.right), num(y), num(c.right+8), num(y), n)
		}
		c.axisTitle(width-pad-4, (c.top+c.bot)/2, 90, r.CountLabel)
	}
	// Bottom: the points.
	for i, p := range r.Points {
		x := c.pointX(i)
		c.printf(`<path d="M%s %sv5" stroke="currentColor"/>`, num(x), num(c.bot))
		if i%c.every != 0 && i != len(r.Points)-1 {
			c.printf("\n")
			continue
		}
		y := c.bot + 8 + fontSize
		if c.rotate {
			c.printf(`<text class="chart-tick" x="%s" y="%s" text-anchor="end" transform="rotate(-45 %s %s)">`, num(x), num(y), num(x), num(y))
		} else {
			c.printf(`<text class="chart-tick" x="%s" y="%s" text-anchor="middle">`, num(x), num(y))
		}
		c.text(cut(p.Label))
		c.printf("</text>\n")
	}
	c.axisTitle((c.left+c.right)/2, c.h-pad-2, 0, r.XLabel)
	c.printf("</g>\n")
}

func (c *riskChart) axisTitle(x, y float64, angle int, s string) {
	c.printf(`<text class="chart-axis-title" x="%s" y="%s" text-anchor="middle" font-size="%s" font-weight="600"`, num(x), num(y), num(titleSize))
	if angle != 0 {
		c.printf(` transform="rotate(%d %s %s)"`, angle, num(x), num(y))
	}
	c.printf(">")
	c.text(s)
	c.printf("</text>\n")
}

// printf writes markup; only numbers and the chart's own id go into its
// arguments, never a label (text escapes those).
func (c *riskChart) printf(format string, args ...any) {
	fmt.Fprintf(&c.buf, format, args...)
}

// text writes s as character data, escaped; characters XML cannot hold
// become U+FFFD.
func (c *riskChart) text(s string) {
	_ = xml.EscapeText(&c.buf, []byte(s)) // a bytes.Buffer does not fail
}

// cut shortens a label to maxLabel runes, ending in "…".
func cut(s string) string {
	if utf8.RuneCountInString(s) <= maxLabel {
		return s
	}
	r := []rune(s)
	return string(r[:maxLabel-1]) + "…"
}

func textWidth(s string) float64 { return float64(utf8.RuneCountInString(s)) * charWidth }

func clampCount(n int) int { return min(max(n, 0), maxCount) }

// countAxis returns the top of the count axis and its tick step: a step
// of 1, 2 or 5 times a power of ten, about five ticks, the top a multiple
// of the step and at least 1.
func countAxis(m int) (top, step int) {
	m = max(m, 1)
	for p := 1; ; p *= 10 {
		for _, f := range []int{1, 2, 5} {
			if step = f * p; m <= 5*step {
				return (m + step - 1) / step * step, step
			}
		}
	}
}

// cleanID keeps letters, digits, '-' and '_' of id.
func cleanID(id string) string {
	id = strings.Map(func(r rune) rune {
		if r == '-' || r == '_' || r >= '0' && r <= '9' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' {
			return r
		}
		return -1
	}, id)
	if id == "" || id[0] >= '0' && id[0] <= '9' || id[0] == '-' {
		id = "risk-chart" + id
	}
	return id
}

// num formats a coordinate with at most one decimal.
func num(f float64) string {
	f = math.Round(f*10) / 10
	if f == 0 || math.IsNaN(f) || math.IsInf(f, 0) {
		return "0"
	}
	return strconv.FormatFloat(f, 'f', -1, 64)
}
