package web

import (
	"html/template"
	"slices"

	"github.com/tma-portal/tma/server/tma"
)

// diffAssessments is how the items changed from prev to cur. TEMPORARY:
// replaced by tma.DiffAssessments once it is on main.
func diffAssessments(prevInst *tma.Instrument, prev *tma.Assessment, inst *tma.Instrument, cur *tma.Assessment) []tma.ItemChange {
	label := func(in *tma.Instrument, it *tma.Item, code string) string {
		if sc := in.Scale(it.Scale); sc != nil {
			if v := sc.Value(code); v != nil {
				return v.Label
			}
		}
		return code
	}
	var out []tma.ItemChange
	for _, sec := range inst.Sections {
		for i := range sec.Items {
			it := &sec.Items[i]
			ch := tma.ItemChange{SectionTitle: sec.Title, ItemID: it.ID, Name: it.Name}
			r := cur.Ratings[it.ID]
			ch.To, ch.ToLabel = r.Value, label(inst, it, r.Value)
			pit, _ := prevInst.Item(it.ID)
			if pit == nil {
				ch.Change = tma.ChangeAdded
				out = append(out, ch)
				continue
			}
			p := prev.Ratings[it.ID]
			ch.From, ch.FromLabel = p.Value, label(prevInst, pit, p.Value)
			switch {
			case p.Value != r.Value:
				ch.Change = tma.ChangeValue
			case p.Evidence != r.Evidence || p.Rationale != r.Rationale || !slices.Equal(p.Links, r.Links):
				ch.Change = tma.ChangeText
			default:
				ch.Change = tma.ChangeSame
			}
			out = append(out, ch)
		}
	}
	for _, sec := range prevInst.Sections {
		for i := range sec.Items {
			it := &sec.Items[i]
			if x, _ := inst.Item(it.ID); x == nil {
				p := prev.Ratings[it.ID]
				out = append(out, tma.ItemChange{SectionTitle: sec.Title, ItemID: it.ID, Name: it.Name, Change: tma.ChangeRemoved,
					From: p.Value, FromLabel: label(prevInst, it, p.Value)})
			}
		}
	}
	return out
}

// riskChart draws the risk over time of the final assessments.
// TEMPORARY: drawn by server/chart once it is on main.
func riskChart(d *caseData, as []*tma.Assessment) template.HTML { return "" }
