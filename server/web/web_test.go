package web

import (
	"bytes"
	"encoding/json"
	"fmt"
	stdhtml "html"
	"html/template"
	"io"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/tma-portal/tma/assets"
	"github.com/tma-portal/tma/server/tma"
)

func TestNegotiateLocale(t *testing.T) {
	tests := []struct{ header, want string }{
		{"", "en"},
		{"de", "de"},
		{"de-DE,de;q=0.9,en;q=0.8", "de"},
		{"en-US,en;q=0.9,de;q=0.8", "en"},
		{"fr-FR,fr;q=0.9,de;q=0.5", "de"},
		{"fr, it", "en"},
		{"en;q=0.2, de;q=0.7", "de"},
		{"DE-at", "de"},
		{"de;q=abc", "de"},
	}
	for _, tc := range tests {
		t.Run(tc.header, func(t *testing.T) {
			if got := negotiateLocale(tc.header); got != tc.want {
				t.Fatalf("negotiateLocale(%q) = %q, want %q", tc.header, got, tc.want)
			}
		})
	}
}

func FuzzNegotiateLocale(f *testing.F) {
	for _, s := range []string{"", "de-DE,de;q=0.9", "en;q=", ";;;,,,", "de;q=1e400"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, header string) {
		got := negotiateLocale(header)
		if got != "en" && got != "de" {
			t.Fatalf("negotiateLocale(%q) = %q", header, got)
		}
	})
}

func TestSafeNext(t *testing.T) {
	tests := []struct{ in, want string }{
		{"/admin/users", "/admin/users"},
		{"", ""},
		{"https://evil.example/", ""},
		{"//evil.example/", ""},
		{"/\\evil.example", ""},
		{"/a\r\nSet-Cookie: x", ""},
		{"/\t/evil.example", ""},
		{"/ /evil.example", ""},
		{"/admin/users?x=1", ""},
	}
	for _, tc := range tests {
		if got := safeNext(tc.in); got != tc.want {
			t.Errorf("safeNext(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

// TestCatalogsMatch keeps the English and German catalogs in step, and
// gives every audit action a label.
func TestCatalogsMatch(t *testing.T) {
	p, err := loadPages()
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range tma.AuditActions {
		if _, ok := p.catalog["en"]["action."+a]; !ok {
			t.Errorf("en.json has no label for audit action %q", a)
		}
	}
	for key := range p.catalog["en"] {
		if _, ok := p.catalog["de"][key]; !ok {
			t.Errorf("de.json lacks %q", key)
		}
	}
	for key := range p.catalog["de"] {
		_, inEN := p.catalog["en"][key]
		if !inEN && !strings.HasPrefix(key, "msg:") && !strings.HasPrefix(key, "error.") {
			t.Errorf("de.json has %q, which en.json lacks", key)
		}
	}
}

// TestPagesRender renders every page in both languages with typical data
// and checks that no catalog key is shown raw.
func TestPagesRender(t *testing.T) {
	p, err := loadPages()
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	u := &tma.User{ID: tma.NewID(), TenantID: tma.NewID(), Email: "a@b.example", DisplayName: "Ada", Roles: []tma.Role{tma.RoleAdmin}, CreatedAt: now}
	pr := &tma.Principal{User: u, Tenant: &tma.Tenant{ID: u.TenantID, Slug: "acme", Name: "Acme"}, Session: &tma.Session{ID: "s1", CreatedAt: now, LastSeenAt: now, UserAgent: "Mozilla/5.0 (Windows NT 10.0) Firefox/128.0"}}
	sessions := []*tma.Session{pr.Session}
	kase := &tma.Case{ID: tma.NewID(), TenantID: u.TenantID, Reference: "TM-2026-0042", Title: "Threats at the depot",
		Status: tma.StatusAssessing, Risk: tma.RiskModerate, Labels: []string{"stalking", "site B"}, LegalHold: true, CreatedAt: now, UpdatedAt: now}
	rep := &tma.Report{ID: tma.NewID(), Urgency: tma.UrgencyImmediate, Categories: []tma.Category{tma.CatDirectLeaking, tma.CatViolence},
		Content: tma.ReportContent{What: "He said he would bring a gun.\nTwice.", Where: "Depot"}, Named: []tma.NamedPerson{{DisplayName: "Eve"}},
		Status: tma.ReportPending, CreatedAt: now}
	msgs := []*tma.ReportMessage{{FromTeam: true, Text: "When exactly?", CreatedAt: now}, {Text: "Monday.", CreatedAt: now}}
	docV2 := &tma.DocumentVersion{DocumentID: tma.NewID(), Version: 2, Name: "Gesprächsnotiz.txt", ContentType: "text/plain; charset=utf-8", Size: 12345,
		SHA256: make([]byte, 32), UploaderName: "Ada", UploadedAt: now}
	doc := &tma.Document{ID: docV2.DocumentID, CaseID: kase.ID, Latest: docV2, Count: 2, CreatedAt: now,
		Versions: []*tma.DocumentVersion{docV2, {DocumentID: docV2.DocumentID, Version: 1, UploaderName: "Bo", UploadedAt: now, Deleted: true, DeletedAt: now}}}
	wspace := &tma.WikiSpace{Slug: "process", Name: "Process documentation", ReadRoles: []tma.Role{tma.RoleLegal}, EditRoles: []tma.Role{tma.RoleThreatManager}}
	wchange := &tma.WikiChange{PageID: tma.NewID(), Space: "process", SpaceName: "Process documentation", Slug: "escalation", Title: "Escalation", Revision: 3, AuthorName: "Ada", SavedAt: now}
	wpage := &tma.WikiPage{ID: wchange.PageID, Space: "process", Slug: "escalation", Title: "Escalation", Body: "# Purpose", Revision: 2, Current: 3,
		ReadRoles: []tma.Role{tma.RoleThreatManager}, AuthorName: "Ada", SavedAt: now}
	inst := &tma.Instrument{ID: "trap18-screen", Version: 2, Title: "TRAP-18 screen", LicenseNote: "Structure after Meloy; our own guidance.",
		Scales: []tma.Scale{{ID: "presence", Values: []tma.ScaleValue{{Code: "absent", Label: "Absent"}, {Code: "present", Label: "Present", Present: true}, {Code: "unknown", Label: "Unknown", Unknown: true}}},
			{ID: "concern", Values: []tma.ScaleValue{{Code: "low", Label: "Low"}, {Code: "high", Label: "High"}}}},
		Sections: []tma.Section{{ID: "proximal", Title: "Proximal warning behaviours", Items: []tma.Item{
			{ID: "pathway", Name: "Pathway", Kind: tma.ItemDynamic, Critical: true, Scale: "presence", Guidance: "Research, planning, preparation."},
			{ID: "fixation", Name: "Fixation", Kind: tma.ItemDynamic, Scale: "presence"}}}},
		Judgments: []tma.SummaryJudgment{{ID: "concern", Title: "Level of concern", Scale: "concern", RationaleRequired: true, SetsRisk: true}},
		Rules:     []tma.Rule{{ID: "critical-low", When: tma.RuleCriticalPresentBelow, Then: tma.RuleSecondApprover, Judgment: "concern", Level: "high", Message: "A critical item is present."}}}
	prevA := &tma.Assessment{ID: tma.NewID(), CaseID: kase.ID, InstrumentID: inst.ID, InstrumentVersion: 1, Status: tma.AssessmentFinal, Revision: 3,
		Ratings: map[string]tma.Rating{"pathway": {Value: "absent"}}, Risk: tma.RiskLow, AuthorName: "Bo", CreatedAt: now, SubmittedAt: now, SubmitterName: "Bo"}
	curA := &tma.Assessment{ID: tma.NewID(), CaseID: kase.ID, InstrumentID: inst.ID, InstrumentVersion: 2, PreviousID: prevA.ID, Status: tma.AssessmentPending, Revision: 4,
		Ratings:   map[string]tma.Rating{"pathway": {Value: "present", Evidence: "Bought a map.", Rationale: "Seen twice.", Links: []string{"n1"}}},
		Judgments: map[string]tma.Judgment{"concern": {Value: "low", Rationale: "Calm."}}, Risk: tma.RiskLow, FromRisk: tma.RiskModerate, Incomplete: true,
		Reasons: []string{"critical-low", tma.ReasonLowersRisk}, AuthorID: u.ID, AuthorName: "Ada", CreatedAt: now, SubmittedBy: u.ID, SubmitterName: "Ada", SubmittedAt: now}
	assessD := func(a *tma.Assessment, editable bool) assessmentData {
		d := assessmentData{caseData: caseData{Case: kase, Contribute: true, Now: now}, Assessment: a, Instrument: inst, Previous: prevA, PreviousInstrument: inst,
			Editable: editable, Withdraw: !editable, Revision: a.Revision, Conflict: editable, Links: []linkChoice{{ID: "n1", Name: "First talk"}, {ID: "d1", Name: "a.pdf", Document: true}},
			LinkNames: map[string]string{"n1": "First talk"}, Fired: inst.Rules, LowersRisk: true,
			Changes: []tma.ItemChange{{ItemID: "pathway", Name: "Pathway", Change: tma.ChangeValue, From: "absent", FromLabel: "Absent", To: "present", ToLabel: "Present"}},
			Added:   []tma.ItemChange{{ItemID: "fixation", Name: "Fixation", SectionTitle: "Proximal", Change: tma.ChangeAdded}},
			Removed: []tma.ItemChange{{ItemID: "energy", Name: "Energy burst", SectionTitle: "Proximal", Change: tma.ChangeRemoved, From: "absent", FromLabel: "Absent"}}}
		for si := range inst.Sections {
			sv := sectionView{Section: &inst.Sections[si]}
			for ii := range inst.Sections[si].Items {
				it := &inst.Sections[si].Items[ii]
				sv.Items = append(sv.Items, itemView{Item: it, Values: inst.Scales[0].Values, Rating: a.Ratings[it.ID], ValueLabel: "Present", Links: map[string]bool{"n1": true}, Change: &d.Changes[0]})
			}
			d.Sections = append(d.Sections, sv)
		}
		d.Judgments = []judgmentView{{Judgment: &inst.Judgments[0], Values: inst.Scales[1].Values, Value: a.Judgments["concern"], ValueLabel: "Low"}}
		return d
	}
	infos := []*tma.InstrumentInfo{{ID: inst.ID, Version: 2, Title: inst.Title, ImporterName: "Ada", ImportedAt: now, Assessments: 1}, {ID: inst.ID, Version: 1, Title: inst.Title, ImportedAt: now}}
	data := map[string]any{
		"login":     loginData{Tenant: "acme"},
		"mfa":       loginData{},
		"dashboard": dashboardData{Heading: "Welcome, Ada", Roles: []string{"Administrator"}, Reports: true, Intake: true, Cases: true},
		"account":   accountData{Sessions: sessions, Current: "s1"},
		"mfa_enrol": mfaEnrolData{Secret: "ABC", QR: "data:image/png;base64,AA=="},
		"users":     usersData{Users: []*tma.User{u}},
		"user":      userData{User: u, Sessions: sessions},
		"settings":  newSettingsData(pr.Tenant),
		"audit":     &auditData{Events: []*tma.AuditEvent{{Seq: 1, At: now, Action: "logout"}}, Verify: &verifyResult{Broken: &tma.ChainError{Seq: 3}}},
		"cases": casesData{Cases: []*tma.Case{kase}, CanCreate: true, Risk: tma.RiskModerate, Open: true, Filtered: true,
			Counts: riskCounts(map[tma.RiskLevel]int{kase.Risk: 1, tma.RiskHigh: 1})},
		"case_new": caseNewData{Form: tma.NewCase{Title: "Threats", Risk: tma.RiskHigh}, Labels: "a, b"},
		"case": caseData{Case: kase, Role: tma.CaseLead, Manage: true, Now: now,
			Members: []*tma.CaseMember{
				{UserID: u.ID, DisplayName: "Ada", Email: "a@b.example", Role: tma.CaseLead},
				{UserID: tma.NewID(), DisplayName: "Bo", Email: "b@b.example", Role: tma.CaseExpert, ExpiresAt: now.Add(-time.Hour)},
				{UserID: tma.NewID(), DisplayName: "Cy", Email: "c@b.example", Role: tma.CaseReadOnly, ExpiresAt: now.Add(48 * time.Hour)},
			},
			Exclusions: []*tma.CaseExclusion{{UserID: tma.NewID(), DisplayName: "Dee", Email: "d@b.example", CreatedAt: now}},
			Contribute: true, UserID: u.ID,
			Notes: []*tma.Note{{ID: tma.NewID(), Title: "First talk", Version: 2, Versions: 2, AuthorName: "Ada", SavedAt: now},
				{ID: tma.NewID(), Restricted: true, Hidden: true, Version: 1, Versions: 1, SavedAt: now}},
			Actions: []*tma.Action{{ID: tma.NewID(), Title: "Talk to HR", OwnerID: u.ID, OwnerName: "Ada", Due: now.AddDate(0, 0, -3), Status: tma.ActionOpen, Outcome: "pending"}},
			Approvals: []*tma.Approval{{ID: tma.NewID(), RequestedBy: tma.NewID(), RequesterName: "Bo", FromStatus: tma.StatusDefusing, FromRisk: tma.RiskHigh,
				Status: tma.StatusClosed, Risk: tma.RiskHigh, CreatedAt: now},
				{ID: tma.NewID(), Kind: tma.ApprovalDocumentDelete, RequestedBy: u.ID, RequesterName: "Ada", DocumentID: doc.ID, Version: 1, CreatedAt: now}},
			Documents: []*tma.Document{doc}, DocumentNames: map[string]string{doc.ID: doc.Latest.Name},
			WikiPages: []*tma.WikiChange{wchange}, WikiChoices: []*tma.WikiChange{wchange},
			Assessments: []*tma.Assessment{curA, prevA}, Open: curA, AssessWrite: true, AssessApprove: true, ApproveOpen: true, InstrumentChoices: infos,
			InstrumentTitles: map[string]string{inst.ID: inst.Title}, RiskChart: "<svg></svg>"},
		"assessment":  assessD(curA, true),
		"instruments": instrumentsData{Instruments: []instrumentGroup{{ID: inst.ID, Title: inst.Title, Versions: infos}}, CanManage: true, Source: "id: x", Problems: []problemView{{Line: 3, Field: "sections[0].items[1].scale", Message: "Unknown scale."}}},
		"instrument":  instrumentData{Instrument: inst, Info: infos[0], Latest: 2},
		"search": &searchData{Form: searchForm{Query: "threat", Type: tma.SearchNote, Sort: "relevance", Page: 2}, Available: true, Searched: true, Total: 42, From: 21, To: 21,
			Hits: []*searchHit{{Type: tma.SearchNote, Title: "First talk", URL: "/cases/x/notes/y", Date: time.Now(),
				Snippet: []tma.SnippetPart{{Text: "a "}, {Text: "threat", Match: true}, {Text: " <b>here</b>"}}}},
			Types: []facetLink{{Value: tma.SearchNote, Count: 40, URL: "/search?q=threat", Active: true}}, Statuses: []facetLink{{Value: "new", Count: 3, URL: "/search?q=threat&status=new"}},
			Months: []facetLink{{Value: "2024-03", Count: 2, URL: "/search?q=threat&month=2024-03"}}, Prev: "/search?q=threat", Next: "/search?q=threat&page=3", Filtered: true, Clear: "/search?q=threat"},
		"wiki":          wikiIndexData{Spaces: []*tma.WikiSpace{wspace}, Changes: []*tma.WikiChange{wchange}},
		"wiki_space":    wikiSpaceData{Space: wspace, Pages: []*tma.WikiChange{wchange}, CanEdit: true},
		"wiki_new":      wikiNewData{Space: wspace, Pages: []*tma.WikiChange{wchange}, Templates: wikiTemplates, Form: tma.WikiPageInput{Title: "Escalation", Template: "process"}},
		"wiki_page":     wikiPageData{Space: wspace, Page: wpage, HTML: "<h1>Purpose</h1>", Crumbs: []tma.Crumb{{Title: "Process documentation", URL: "/wiki/process"}}, Backlinks: []*tma.WikiChange{wchange}, Old: true, CanEdit: true, UsedBy: 2, Cases: []*tma.Case{kase}, Roles: tma.Roles},
		"wiki_edit":     wikiEditData{Space: wspace, Page: wpage, Form: tma.WikiPageInput{Title: "Escalation", Body: "# Hi", BaseRevision: 3}, Conflict: wpage, Diff: lineDiff("a\nb", "a\nc")},
		"wiki_history":  wikiHistoryData{Space: wspace, Page: wpage, Revisions: []*tma.WikiRevision{{Revision: 3, AuthorName: "Ada", SavedAt: now, Comment: "typo"}, {Revision: 1, SavedAt: now}}, CanEdit: true},
		"wiki_diff":     wikiDiffData{Space: wspace, From: wpage, To: wpage, Rows: lineDiff("a\nb", "a\nc")},
		"wiki_settings": wikiSettingsData{Space: wspace},
		"document": documentData{caseData: caseData{Case: kase, Contribute: true, Manage: true, Now: now}, Document: doc, Current: doc.Latest,
			Preview: tma.PreviewText, Text: "Hello <script>", TextCut: true},
		"note": noteData{caseData: caseData{Case: kase, Contribute: true, Now: now},
			Note: &tma.Note{ID: tma.NewID(), Title: "First talk", Body: "**bold**", Version: 1, Versions: 2, Restricted: true, SavedAt: now},
			HTML: renderMarkdown("**bold**"), Versions: []int{2, 1}, Form: tma.NoteInput{Title: "First talk", Body: "**bold**", Version: 2}},
		"tasks": tasksData{Now: now, Tasks: []*tma.Action{{ID: tma.NewID(), CaseID: kase.ID, Reference: kase.Reference, Title: "Talk to HR", Due: now.AddDate(0, 0, -1), Status: tma.ActionInProgress}}},
		"timeline": timelineData{Case: kase, Kind: "notes", Events: []*tma.TimelineEvent{{At: now, ActorLabel: "a@b.example", Action: tma.AuditNoteAdded, Kind: "notes", NoteID: tma.NewID()},
			{At: now, ActorLabel: "a@b.example", Action: tma.AuditCaseStateChanged, Kind: "state", Detail: "status new→assessing"}}},
		"reports":        []*tma.Report{rep},
		"report_new":     reportFormData{Form: tma.NewReport{Urgency: tma.UrgencyHigh, Categories: []tma.Category{tma.CatCrisis}}, People: []*tma.User{u}},
		"report_anon":    reportFormData{Form: tma.NewReport{Urgency: tma.UrgencyLow}, Tenant: pr.Tenant},
		"report_receipt": reportData{Code: "ABCD-EFGH-JKLM-NPQR-STUV", Tenant: pr.Tenant},
		"report":         reportData{Report: rep, Messages: msgs},
		"mailbox":        reportData{Report: rep, Messages: msgs, Code: "x", Tenant: pr.Tenant},
		"intake":         []*tma.Report{rep},
		"intake_report":  reportData{Report: rep, Messages: msgs, Cases: []*tma.Case{kase}},
		"error": struct {
			Status    int
			RequestID string
		}{404, "rid"},
	}
	for name := range p.tmpl[locales[0]] {
		d, ok := data[name]
		if !ok {
			t.Errorf("no test data for page %q", name)
			continue
		}
		for _, loc := range locales {
			v := &view{Locale: loc, Title: name + ".title", Principal: pr, CSRF: "tok", Data: d, catalog: p.catalog,
				can: func(string) bool { return true }, SignedIn: true, Menu: menu{true, true, true, true, true, true, true, true},
				UserName: u.DisplayName, TenantName: pr.Tenant.Name}
			v.TitleText = v.T(v.Title)
			// The navigation, as render caches it.
			var nav bytes.Buffer
			if err := p.tmpl[loc][name].ExecuteTemplate(&nav, "nav", v); err != nil {
				t.Fatal(err)
			}
			v.NavHTML = template.HTML(nav.String())
			var buf bytes.Buffer
			if err := p.tmpl[loc][name].ExecuteTemplate(&buf, "layout.html", v); err != nil {
				t.Errorf("%s/%s: %v", name, loc, err)
				continue
			}
			html := buf.String()
			// The constant texts filled in at parse time read exactly as
			// the actions they replace would have.
			plain, err := p.parseTemplates(loc, false)
			if err != nil {
				t.Fatal(err)
			}
			var want, plainNav bytes.Buffer
			if err := plain[name].ExecuteTemplate(&plainNav, "nav", v); err != nil {
				t.Fatal(err)
			}
			pv := *v
			pv.NavHTML = template.HTML(plainNav.String())
			if err := plain[name].ExecuteTemplate(&want, "layout.html", &pv); err != nil {
				t.Fatal(err)
			}
			if got, want := stdhtml.UnescapeString(html), stdhtml.UnescapeString(want.String()); got != want {
				t.Errorf("%s/%s: the pre-translated page differs from the plain one:\n%s", name, loc, firstDiff(got, want))
			}
			for _, raw := range []string{"nav.", "login.", "account.", "users.", "audit.", "mfa.", "role."} {
				if i := strings.Index(html, ">"+raw); i >= 0 {
					t.Errorf("%s/%s shows a raw catalog key near %q", name, loc, html[i:min(len(html), i+40)])
				}
			}
			if strings.Contains(html, "<script>") || strings.Contains(html, " style=") || strings.Contains(html, " onclick=") {
				t.Errorf("%s/%s has inline script or style, which the CSP forbids", name, loc)
			}
		}
	}
}

func TestClientAddress(t *testing.T) {
	tests := []struct {
		trust bool
		xff   string
		want  string
	}{
		{false, "6.6.6.6", "0.0.0.0"},                 // not behind a proxy: the header is ignored
		{true, "", "0.0.0.0"},                         // no header: the peer
		{true, "203.0.113.9", "203.0.113.9"},          // set by the balancer
		{true, "6.6.6.6, 203.0.113.9", "203.0.113.9"}, // the client's own entries are ignored
		{true, "1.2.3.4, <script>", "0.0.0.0"},        // garbage: the peer
		{true, "::ffff:203.0.113.9", "203.0.113.9"},
	}
	for _, tc := range tests {
		s := &Server{cfg: Config{TrustProxy: tc.trust}}
		app := fiber.New()
		app.Get("/", func(c *fiber.Ctx) error { return c.SendString(s.clientAddress(c)) })
		req := httptest.NewRequest(http.MethodGet, "/", nil)
		if tc.xff != "" {
			req.Header.Set("X-Forwarded-For", tc.xff)
		}
		resp, err := app.Test(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		if string(b) != tc.want {
			t.Errorf("trust=%v X-Forwarded-For=%q: address %q, want %q", tc.trust, tc.xff, b, tc.want)
		}
	}
}

// firstDiff shows where two texts start to differ.
func firstDiff(a, b string) string {
	i := 0
	for i < len(a) && i < len(b) && a[i] == b[i] {
		i++
	}
	return fmt.Sprintf("got  %q\nwant %q", a[max(0, i-40):min(len(a), i+60)], b[max(0, i-40):min(len(b), i+60)])
}

// TestCatalogsHaveNoDuplicateKeys: a key written twice in a catalog (as a
// merge easily does) silently keeps its last text.
func TestCatalogsHaveNoDuplicateKeys(t *testing.T) {
	for _, loc := range []string{"en", "de"} {
		b, err := fs.ReadFile(assets.FS, "i18n/"+loc+".json")
		if err != nil {
			t.Fatal(err)
		}
		dec := json.NewDecoder(bytes.NewReader(b))
		if _, err := dec.Token(); err != nil { // {
			t.Fatal(err)
		}
		seen := map[string]bool{}
		for dec.More() {
			k, err := dec.Token()
			if err != nil {
				t.Fatal(err)
			}
			var v json.RawMessage
			if err := dec.Decode(&v); err != nil {
				t.Fatal(err)
			}
			if key := k.(string); seen[key] {
				t.Errorf("%s.json has %q twice", loc, key)
			} else {
				seen[key] = true
			}
		}
	}
}
