package web

import (
	"html/template"
	"slices"
	"strconv"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/tma-portal/tma/server/chart"
	"github.com/tma-portal/tma/server/tma"
)

// riskChart draws the risk over time of the case's final assessments
// (as, newest first): the risk level each set, and the items rated present
// per section (by section title, across instrument versions) among the
// ratings the viewer may read. It is ""
// without a final assessment. The SVG comes from server/chart, which
// escapes every text it is given.
func (s *Server) riskChart(c *fiber.Ctx, as []*tma.Assessment) (template.HTML, error) {
	var finals []*tma.Assessment
	for _, a := range as {
		if a.Status == tma.AssessmentFinal {
			finals = append(finals, a)
		}
	}
	if len(finals) == 0 {
		return "", nil
	}
	slices.Reverse(finals) // oldest first
	loc := localeOf(c)
	v := &view{Locale: loc, catalog: s.pages.catalog}
	r := chart.Risk{ID: "risk-chart", Title: v.T("chart.risk.title"), XLabel: v.T("chart.risk.x"), RiskLabel: v.T("chart.risk.level"),
		CountLabel: v.T("chart.risk.count")}
	levels := tma.RiskLevels // unrated first, as the case page lists them
	for _, l := range levels {
		r.Levels = append(r.Levels, v.Label("risk", string(l)))
	}
	insts := map[string]*tma.Instrument{}
	series := map[string]int{}
	type counts map[string]int
	perPoint := make([]counts, len(finals))
	for i, a := range finals {
		key := a.InstrumentID + "@" + strconv.Itoa(a.InstrumentVersion)
		inst := insts[key]
		if inst == nil {
			var err error
			if inst, err = s.deps.Instruments.Instrument(c.UserContext(), principal(c).Tenant.ID, a.InstrumentID, a.InstrumentVersion); err != nil {
				return "", err
			}
			insts[key] = inst
		}
		perPoint[i] = counts{}
		// The counts are of the ratings the viewer may read: as come from
		// the service with restricted ratings Hidden (no value) for a
		// viewer without tma.CanReadRestricted, so a restricted item rated
		// present is not counted for them, and the chart cannot tell them
		// what its rating is.
		for si, n := range inst.PresentBySection(a) {
			title := inst.Sections[si].Title
			if _, ok := series[title]; !ok {
				series[title] = len(r.Series)
				r.Series = append(r.Series, title)
			}
			perPoint[i][title] += n
		}
	}
	last := "—"
	for i, a := range finals {
		at := a.DecidedAt
		if at.IsZero() {
			at = a.SubmittedAt
		}
		p := chart.Point{Label: shortDate(loc, at), Level: slices.Index(levels, a.Risk), Counts: make([]int, len(r.Series))}
		for title, n := range perPoint[i] {
			p.Counts[series[title]] = n
		}
		r.Points = append(r.Points, p)
		if a.Risk != "" {
			last = v.Label("risk", string(a.Risk))
		}
	}
	r.Desc = v.T("chart.risk.desc", len(finals), last)
	return template.HTML(chart.RiskSVG(r)), nil // chart escapes every text
}

// shortDate is a day as the language writes it, in UTC like every date of
// the portal.
func shortDate(loc string, t time.Time) string {
	if loc == "de" {
		return t.UTC().Format("02.01.2006")
	}
	return t.UTC().Format(time.DateOnly)
}
