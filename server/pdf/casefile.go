// Package pdf is the PDF adapter of TMA: it renders case files
// (tma.CaseFile) with fpdf and the embedded Go fonts (BSD licence, no font
// files on disk). It is the only package that imports fpdf.
//
// Every page carries the watermark twice: diagonally across the page in
// light grey, drawn last so that no content covers it, and in plain text
// in the footer with the page number. Both are drawn by the footer
// function, which fpdf calls for every page, however the page began.
package pdf

import (
	"bytes"
	"encoding/hex"
	"fmt"
	"io"
	"math"
	"slices"
	"strconv"
	"strings"

	"github.com/go-pdf/fpdf"
	"golang.org/x/image/font/gofont/gobold"
	"golang.org/x/image/font/gofont/gomono"
	"golang.org/x/image/font/gofont/goregular"

	"github.com/tma-portal/tma/server/tma"
)

// Renderer renders case files as A4 PDFs. It holds no state; one Renderer
// serves concurrent requests.
type Renderer struct{}

// New returns a Renderer.
func New() *Renderer { return &Renderer{} }

var _ tma.CaseFileRenderer = (*Renderer)(nil)

// Page geometry, in millimetres.
const (
	pageW, pageH = 210.0, 297.0
	margin       = 15.0
	topMargin    = 22.0
	bottomMargin = 20.0
	contentW     = pageW - 2*margin
	rowH         = 4.2 // one line of a table cell
)

// Font families.
const (
	sans = "go"
	mono = "gomono"
)

// RenderCaseFile writes f as a PDF to w. Nothing is written if rendering
// fails; a panic inside fpdf is returned as an error.
func (r *Renderer) RenderCaseFile(w io.Writer, f *tma.CaseFile) (err error) {
	if f == nil || f.Case == nil {
		return fmt.Errorf("pdf: no case to render")
	}
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("pdf: render case file: %v", p)
		}
	}()
	d := newDoc(f)
	d.render()
	var buf bytes.Buffer
	if err := d.p.Output(&buf); err != nil {
		return fmt.Errorf("pdf: render case file: %w", err)
	}
	_, err = w.Write(buf.Bytes())
	return err
}

// doc is one case file being rendered.
type doc struct {
	p         *fpdf.Fpdf
	f         *tma.CaseFile
	watermark string // cleaned
	reference string // cleaned
}

func newDoc(f *tma.CaseFile) *doc {
	p := fpdf.New("P", "mm", "A4", "")
	p.AddUTF8FontFromBytes(sans, "", goregular.TTF)
	p.AddUTF8FontFromBytes(sans, "B", gobold.TTF)
	p.AddUTF8FontFromBytes(mono, "", gomono.TTF)
	// After the fonts: their subsets then keep the digits that replace
	// the alias.
	p.AliasNbPages("{nb}")
	p.SetMargins(margin, topMargin, margin)
	p.SetAutoPageBreak(true, bottomMargin)
	// Fixed dates and sorted catalog: the same file gives the same bytes.
	p.SetCreationDate(f.ExportedAt)
	p.SetModificationDate(f.ExportedAt)
	p.SetCatalogSort(true)
	d := &doc{p: p, f: f, watermark: clean(f.Watermark, false), reference: clean(f.Case.Reference, false)}
	// Metadata names the case and the kind of document, no person.
	p.SetTitle(d.reference, true)
	p.SetSubject(clean(f.Text("export.title"), false), true)
	p.SetCreator("TMA", false)
	p.SetProducer("TMA", false)
	if f.Locale != "" {
		p.SetLang(clean(f.Locale, false))
	}
	p.SetHeaderFunc(d.header)
	p.SetFooterFunc(d.footer)
	return d
}

func (d *doc) header() {
	p := d.p
	p.SetFont(sans, "", 8)
	p.SetTextColor(110, 110, 110)
	p.SetXY(margin, 10)
	p.CellFormat(contentW/2, 5, clean(d.f.Text("export.confidential"), false), "", 0, "L", false, 0, "")
	p.CellFormat(contentW/2, 5, d.reference, "", 1, "R", false, 0, "")
	p.SetDrawColor(190, 190, 190)
	p.Line(margin, 15.5, pageW-margin, 15.5)
	p.SetTextColor(0, 0, 0)
	p.SetXY(margin, topMargin)
}

// footer writes the watermark and the page number, and lays the diagonal
// watermark over the finished page.
func (d *doc) footer() {
	p := d.p
	p.SetDrawColor(190, 190, 190)
	p.Line(margin, pageH-15, pageW-margin, pageH-15)
	p.SetXY(margin, pageH-14)
	p.SetFont(sans, "", 7)
	p.SetTextColor(90, 90, 90)
	page := clean(fmt.Sprintf(d.f.Text("export.page"), p.PageNo(), "{nb}"), false)
	pw := p.GetStringWidth(page) + 4
	p.CellFormat(contentW-pw, 4, d.watermark, "", 0, "L", false, 0, "")
	p.CellFormat(pw, 4, page, "", 0, "R", false, 0, "")
	d.diagonal()
	p.SetTextColor(0, 0, 0)
}

// diagonal draws the watermark from the lower left to the upper right
// corner, as large as fits, light grey and translucent.
func (d *doc) diagonal() {
	if d.watermark == "" {
		return
	}
	p := d.p
	size := 34.0
	p.SetFont(sans, "B", size)
	diag := math.Hypot(pageW, pageH) * 0.8
	if w := p.GetStringWidth(d.watermark); w > diag {
		size *= diag / w
		p.SetFont(sans, "B", size)
	}
	w := p.GetStringWidth(d.watermark)
	cx, cy := pageW/2, pageH/2
	p.SetTextColor(150, 150, 150)
	p.SetAlpha(0.22, "Normal")
	p.TransformBegin()
	p.TransformRotate(math.Atan2(pageH, pageW)*180/math.Pi, cx, cy)
	p.Text(cx-w/2, cy+size*0.3528/3, d.watermark)
	p.TransformEnd()
	p.SetAlpha(1, "Normal")
}

func (d *doc) render() {
	p, f := d.p, d.f
	p.AddPage()
	c := f.Case
	p.SetFont(sans, "B", 18)
	p.MultiCell(0, 8, clean(f.Text("export.title")+" "+c.Reference, false), "", "L", false)
	p.SetFont(sans, "B", 12)
	p.MultiCell(0, 6, clean(c.Title, false), "", "L", false)
	p.SetFont(sans, "", 8)
	p.SetTextColor(90, 90, 90)
	p.MultiCell(0, 4, d.watermark, "", "L", false)
	p.SetTextColor(0, 0, 0)

	d.heading(f.Text("case.overview"))
	d.fact(f.Text("case.reference"), c.Reference)
	d.fact(f.Text("case.field.title"), c.Title)
	d.fact(f.Text("case.status"), f.Label("status", string(c.Status)))
	d.fact(f.Text("case.risk"), f.Label("risk", string(c.Risk)))
	d.fact(f.Text("case.labels"), orNone(strings.Join(c.Labels, ", ")))
	if c.LegalHold {
		d.fact(f.Text("case.legal.hold"), f.Text("export.yes"))
	}
	d.fact(f.Text("case.created"), f.FormatDate(c.CreatedAt))
	d.fact(f.Text("case.updated"), f.FormatDate(c.UpdatedAt))

	d.heading(f.Text("case.members"))
	var rows [][]string
	for _, m := range f.Members {
		until := f.FormatDate(m.ExpiresAt)
		if m.Expired(f.ExportedAt) {
			until += " (" + f.Text("case.member.expired") + ")"
		}
		rows = append(rows, []string{m.DisplayName, m.Email, f.Label("caserole", string(m.Role)), until})
	}
	d.table([]column{{f.Text("export.member.name"), 50, false}, {f.Text("export.member.email"), 60, false},
		{f.Text("case.member.role"), 30, false}, {f.Text("case.member.until"), 40, false}}, rows)

	d.heading(f.Text("persons.heading"))
	rows = nil
	for _, pe := range f.Persons {
		rows = append(rows, []string{f.Label("personkind", string(pe.Kind)), pe.Name, pe.Note, pe.UserName})
	}
	d.table([]column{{f.Text("person.kind"), 35, false}, {f.Text("person.name"), 50, false},
		{f.Text("export.person.note"), 60, false}, {f.Text("export.person.user"), 35, false}}, rows)

	d.heading(f.Text("notes.heading"))
	d.notes()

	d.heading(f.Text("actions.heading"))
	rows = nil
	for _, a := range f.Actions {
		due := "—"
		if !a.Due.IsZero() {
			due = a.Due.UTC().Format("2006-01-02")
		}
		rows = append(rows, []string{a.Title, a.OwnerName, due, f.Label("actionstatus", string(a.Status)), a.Outcome})
	}
	d.table([]column{{f.Text("export.action.title"), 55, false}, {f.Text("export.action.owner"), 30, false},
		{f.Text("export.action.due"), 22, false}, {f.Text("case.status"), 20, false}, {f.Text("export.action.outcome"), 53, false}}, rows)

	d.heading(f.Text("export.assessments"))
	d.assessments()

	d.heading(f.Text("timeline.heading"))
	rows = nil
	for _, e := range f.Timeline {
		rows = append(rows, []string{f.FormatDate(e.At), e.ActorLabel, f.Label("action", e.Action), e.Detail})
	}
	d.table([]column{{f.Text("timeline.when"), 32, false}, {f.Text("timeline.who"), 45, false},
		{f.Text("timeline.event"), 50, false}, {f.Text("timeline.detail"), 53, false}}, rows)

	d.heading(f.Text("export.documents"))
	rows = nil
	for _, doc := range f.Documents {
		versions := doc.Versions
		if len(versions) == 0 && doc.Latest != nil {
			versions = []*tma.DocumentVersion{doc.Latest}
		}
		for _, v := range versions {
			uploaded := v.UploaderName + "\n" + f.FormatDate(v.UploadedAt)
			if v.Deleted {
				rows = append(rows, []string{f.Text("export.document.deleted"), strconv.Itoa(v.Version), "", "", uploaded, ""})
				continue
			}
			rows = append(rows, []string{v.Name, strconv.Itoa(v.Version), size(f, v.Size), v.ContentType, uploaded, digest(v.SHA256)})
		}
	}
	d.table([]column{{f.Text("export.document.name"), 42, false}, {f.Text("export.document.version"), 12, false},
		{f.Text("export.document.size"), 16, false}, {f.Text("export.document.type"), 28, false},
		{f.Text("export.document.uploaded"), 32, false}, {"SHA-256", 50, true}}, rows)
}

// notes writes the readable notes, each with its plain Markdown text, and
// says how many were withheld.
func (d *doc) notes() {
	p, f := d.p, d.f
	if len(f.Notes) == 0 && f.WithheldNotes == 0 {
		d.none()
	}
	for _, n := range f.Notes {
		if p.GetY() > pageH-bottomMargin-25 {
			p.AddPage()
		}
		p.SetFont(sans, "B", 11)
		p.MultiCell(0, 5.5, clean(n.Title, false), "", "L", false)
		meta := []string{n.AuthorName, f.FormatDate(n.SavedAt), fmt.Sprintf(f.Text("note.version"), n.Version)}
		if n.Restricted {
			meta = append(meta, f.Text("note.restricted.badge"))
		}
		p.SetFont(sans, "", 8)
		p.SetTextColor(90, 90, 90)
		p.MultiCell(0, 4, clean(strings.Join(meta, " · "), false), "", "L", false)
		p.SetTextColor(0, 0, 0)
		p.SetFont(sans, "", 9.5)
		p.MultiCell(0, 4.5, clean(n.Body, true), "", "L", false)
		p.Ln(3)
	}
	if f.WithheldNotes > 0 {
		p.SetFont(sans, "", 9)
		p.SetTextColor(90, 90, 90)
		p.MultiCell(0, 4.5, clean(fmt.Sprintf(f.Text("export.notes.withheld"), f.WithheldNotes), false), "", "L", false)
		p.SetTextColor(0, 0, 0)
	}
}

// assessments writes each submitted assessment: its instrument version,
// status, outcome, who did what when, the summary judgments and every
// item's rating, in the instrument's order.
func (d *doc) assessments() {
	p, f := d.p, d.f
	shown := 0
	for _, ca := range f.Assessments {
		a, in := ca.Assessment, ca.Instrument
		if a == nil || a.Status == tma.AssessmentDraft {
			continue
		}
		shown++
		if p.GetY() > pageH-bottomMargin-40 {
			p.AddPage()
		} else if shown > 1 {
			p.Ln(4)
		}
		title := a.InstrumentID
		if in != nil {
			title = in.Title
		}
		p.SetFont(sans, "B", 11)
		p.MultiCell(0, 5.5, clean(fmt.Sprintf(f.Text("export.assessment.instrument"), title, a.InstrumentID, a.InstrumentVersion), false), "", "L", false)
		if in == nil {
			p.SetFont(sans, "", 8)
			p.SetTextColor(90, 90, 90)
			p.MultiCell(0, 4, clean(f.Text("export.assessment.instrument.missing"), false), "", "L", false)
			p.SetTextColor(0, 0, 0)
		}
		p.Ln(1)
		d.fact(f.Text("case.status"), f.Label("export.assessment.status", string(a.Status)))
		d.fact(f.Text("export.assessment.risk"), riskLabel(f, a.Risk))
		d.fact(f.Text("export.assessment.from"), riskLabel(f, a.FromRisk))
		incomplete := f.Text("export.no")
		if a.Incomplete {
			incomplete = f.Text("export.yes")
		}
		d.fact(f.Text("export.assessment.incomplete"), incomplete)
		d.fact(f.Text("export.assessment.started"), a.AuthorName+", "+f.FormatDate(a.CreatedAt))
		d.fact(f.Text("export.assessment.submitted"), a.SubmitterName+", "+f.FormatDate(a.SubmittedAt))
		switch {
		case a.DecidedBy != "":
			d.fact(f.Text("export.assessment.approved"), a.DeciderName+", "+f.FormatDate(a.DecidedAt))
		case a.Status == tma.AssessmentPending:
			d.fact(f.Text("export.assessment.approved"), f.Text("export.assessment.approval.pending"))
		default:
			d.fact(f.Text("export.assessment.approved"), f.Text("export.assessment.approval.none"))
		}
		if len(a.Reasons) > 0 {
			d.fact(f.Text("export.assessment.reasons"), reasons(f, a, in))
		}

		p.Ln(1)
		p.SetFont(sans, "B", 9.5)
		p.CellFormat(0, 6, clean(f.Text("export.assessment.judgments"), false), "", 1, "L", false, 0, "")
		d.table([]column{{f.Text("export.assessment.judgment"), 50, false}, {f.Text("export.assessment.value"), 35, false},
			{f.Text("export.assessment.rationale"), 95, false}}, judgmentRows(f, a, in))
		p.Ln(1)
		p.SetFont(sans, "B", 9.5)
		p.CellFormat(0, 6, clean(f.Text("export.assessment.items"), false), "", 1, "L", false, 0, "")
		d.table([]column{{f.Text("export.assessment.section"), 28, false}, {f.Text("export.assessment.item"), 37, false},
			{f.Text("export.assessment.value"), 25, false}, {f.Text("export.assessment.evidence"), 45, false},
			{f.Text("export.assessment.rationale"), 45, false}}, itemRows(f, a, in))
	}
	if shown == 0 {
		d.none()
	}
}

func riskLabel(f *tma.CaseFile, r tma.RiskLevel) string {
	if r == "" {
		return "—"
	}
	return f.Label("risk", string(r))
}

// reasons says why a second approver is required: the rules' own
// messages, by the instrument's text.
func reasons(f *tma.CaseFile, a *tma.Assessment, in *tma.Instrument) string {
	var out []string
	for _, r := range a.Reasons {
		if r == tma.ReasonLowersRisk {
			out = append(out, f.Text("export.assessment.reason.lowers_risk"))
			continue
		}
		text := r
		if in != nil {
			for _, rule := range in.Rules {
				if rule.ID == r && rule.Message != "" {
					text = rule.Message
				}
			}
		}
		out = append(out, text)
	}
	return strings.Join(out, "\n")
}

// valueLabel is a code's label on a scale of in, or the code itself.
func valueLabel(f *tma.CaseFile, in *tma.Instrument, scale, code string) string {
	if code == "" {
		return f.Text("export.assessment.notrated")
	}
	if in != nil {
		if sc := in.Scale(scale); sc != nil {
			if v := sc.Value(code); v != nil && v.Label != "" {
				return v.Label
			}
		}
	}
	return code
}

// judgmentRows lists the summary judgments in the instrument's order,
// then any the instrument does not know, by id.
func judgmentRows(f *tma.CaseFile, a *tma.Assessment, in *tma.Instrument) [][]string {
	var rows [][]string
	known := map[string]bool{}
	if in != nil {
		for _, j := range in.Judgments {
			known[j.ID] = true
			v := a.Judgments[j.ID]
			rows = append(rows, []string{j.Title, valueLabel(f, in, j.Scale, v.Value), v.Rationale})
		}
	}
	for _, id := range sortedKeys(a.Judgments) {
		if !known[id] {
			v := a.Judgments[id]
			rows = append(rows, []string{id, v.Value, v.Rationale})
		}
	}
	return rows
}

// itemRows lists every item in the instrument's order, rated or not, then
// any rating the instrument does not know, by id. A Hidden rating (a
// restricted item the exporting user may not read) prints as restricted,
// without value or texts.
func itemRows(f *tma.CaseFile, a *tma.Assessment, in *tma.Instrument) [][]string {
	var rows [][]string
	known := map[string]bool{}
	if in != nil {
		for _, s := range in.Sections {
			for _, it := range s.Items {
				known[it.ID] = true
				r := a.Ratings[it.ID]
				name := it.Name
				if it.Critical {
					name += " (" + f.Text("export.assessment.critical") + ")"
				}
				if r.Hidden {
					rows = append(rows, []string{s.Title, name, f.Text("export.assessment.restricted"), "", ""})
					continue
				}
				rows = append(rows, []string{s.Title, name, valueLabel(f, in, it.Scale, r.Value), r.Evidence, r.Rationale})
			}
		}
	}
	for _, id := range sortedKeys(a.Ratings) {
		if !known[id] {
			r := a.Ratings[id]
			if r.Hidden {
				rows = append(rows, []string{"", id, f.Text("export.assessment.restricted"), "", ""})
				continue
			}
			rows = append(rows, []string{"", id, r.Value, r.Evidence, r.Rationale})
		}
	}
	return rows
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// heading starts a section, on a new page if little room is left.
func (d *doc) heading(s string) {
	p := d.p
	if p.GetY() > pageH-bottomMargin-30 {
		p.AddPage()
	} else {
		p.Ln(4)
	}
	p.SetFont(sans, "B", 13)
	p.SetDrawColor(120, 120, 120)
	p.CellFormat(0, 8, clean(s, false), "B", 1, "L", false, 0, "")
	p.Ln(2)
}

func (d *doc) none() {
	d.p.SetFont(sans, "", 9)
	d.p.CellFormat(0, 5, clean(d.f.Text("export.none"), false), "", 1, "L", false, 0, "")
}

// fact writes one label and its value.
func (d *doc) fact(label, value string) {
	p := d.p
	p.SetFont(sans, "B", 9)
	p.CellFormat(40, 5, clean(label, false), "", 0, "L", false, 0, "")
	p.SetFont(sans, "", 9)
	p.MultiCell(0, 5, clean(value, true), "", "L", false)
}

type column struct {
	title string
	width float64
	mono  bool
}

func (d *doc) font(c column, header bool) {
	switch {
	case header:
		d.p.SetFont(sans, "B", 8)
	case c.mono:
		d.p.SetFont(mono, "", 6.5)
	default:
		d.p.SetFont(sans, "", 8)
	}
}

// table writes rows under a header row that is repeated on every page the
// table reaches. Cells wrap; a row taller than a page goes on over pages.
func (d *doc) table(cols []column, rows [][]string) {
	if len(rows) == 0 {
		d.none()
		return
	}
	titles := make([]string, len(cols))
	for i, c := range cols {
		titles[i] = c.title
	}
	d.row(cols, titles, true)
	for _, r := range rows {
		d.row(cols, r, false)
	}
}

func (d *doc) row(cols []column, cells []string, header bool) {
	p := d.p
	lines := make([][]string, len(cols))
	n := 1
	for i, c := range cols {
		d.font(c, header)
		for _, para := range strings.Split(clean(cells[i], true), "\n") {
			if para == "" {
				lines[i] = append(lines[i], "")
				continue
			}
			lines[i] = append(lines[i], p.SplitText(para, c.width)...)
		}
		n = max(n, len(lines[i]))
	}
	bottom := pageH - bottomMargin
	for start := 0; start < n; {
		room := int((bottom - p.GetY() - 1) / rowH)
		if room < 1 || (start == 0 && room < min(n, 3)) {
			p.AddPage()
			if !header {
				titles := make([]string, len(cols))
				for i, c := range cols {
					titles[i] = c.title
				}
				d.row(cols, titles, true)
			}
			continue
		}
		end := min(n, start+room)
		x, y := margin, p.GetY()
		h := float64(end-start)*rowH + 1
		if header {
			p.SetFillColor(235, 235, 235)
			p.Rect(margin, y, contentW, h, "F")
		}
		for i, c := range cols {
			d.font(c, header)
			for j := start; j < end && j < len(lines[i]); j++ {
				p.SetXY(x, y+0.5+float64(j-start)*rowH)
				p.CellFormat(c.width, rowH, lines[i][j], "", 0, "L", false, 0, "")
			}
			x += c.width
		}
		p.SetDrawColor(210, 210, 210)
		p.Line(margin, y+h, pageW-margin, y+h)
		p.SetXY(margin, y+h)
		start = end
	}
}

func orNone(s string) string {
	if strings.TrimSpace(s) == "" {
		return "—"
	}
	return s
}

// digest writes a SHA-256 in two lines of 32 hex digits.
func digest(sum []byte) string {
	if len(sum) == 0 {
		return "—"
	}
	h := hex.EncodeToString(sum)
	if len(h) <= 32 {
		return h
	}
	return h[:32] + "\n" + h[32:]
}

// size formats a byte count for people, with the locale's decimal mark.
func size(f *tma.CaseFile, n int64) string {
	var s string
	switch {
	case n < 1000:
		s = strconv.FormatInt(n, 10) + " B"
	case n < 1000*1000:
		s = strconv.FormatFloat(float64(n)/1000, 'f', 1, 64) + " kB"
	case n < 1000*1000*1000:
		s = strconv.FormatFloat(float64(n)/1e6, 'f', 1, 64) + " MB"
	default:
		s = strconv.FormatFloat(float64(n)/1e9, 'f', 1, 64) + " GB"
	}
	if f.Locale == "de" {
		s = strings.Replace(s, ".", ",", 1)
	}
	return s
}
