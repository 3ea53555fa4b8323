package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"
	"github.com/pquerna/otp/totp"

	"github.com/tma-portal/tma/server/authz"
	"github.com/tma-portal/tma/server/crypt"
	"github.com/tma-portal/tma/server/postgres"
	"github.com/tma-portal/tma/server/tma"
	"github.com/tma-portal/tma/server/web"
)

// axeSource returns axe-core (found through TMA_AXE, which `make test` sets,
// fetching the pinned npm package if needed). It is injected into pages by
// the test only; users never get it.
func axeSource(t *testing.T) string {
	t.Helper()
	path := os.Getenv("TMA_AXE")
	if path == "" || path == "none" {
		t.Fatal("TMA_AXE is not set: run the tests with `make test`, which fetches axe-core when it is missing")
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("axe-core: %v", err)
	}
	return string(b)
}

// axeViolation is what the test reports of a serious or critical finding.
type axeViolation struct {
	ID     string   `json:"id"`
	Impact string   `json:"impact"`
	Help   string   `json:"help"`
	Nodes  []string `json:"nodes"`
}

const axeRun = `axe.run(document, {resultTypes: ["violations"]}).then(r => r.violations
	.filter(v => v.impact === "serious" || v.impact === "critical")
	.map(v => ({id: v.id, impact: v.impact, help: v.help, nodes: v.nodes.map(n => n.target.join(" "))})))`

// themeColours tells the theme a page is drawn in: the relative luminance
// (WCAG, 0 black to 1 white) of the body's background and text, and, on a
// page with the risk chart, how many marks of its series it has and the
// lowest contrast of a series' colour (the risk line's and those of the
// six section classes) against the panel the chart sits on.
const themeColours = `(() => {
	const lum = c => {
		const [r, g, b] = c.match(/[\d.]+/g).slice(0, 3).map(v => {
			v = Number(v) / 255;
			return v <= 0.04045 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4;
		});
		return 0.2126 * r + 0.7152 * g + 0.0722 * b;
	};
	const ratio = (a, b) => (Math.max(a, b) + 0.05) / (Math.min(a, b) + 0.05);
	const body = getComputedStyle(document.body);
	const out = {bg: lum(body.backgroundColor), text: lum(body.color), chart: 0, chartColour: "", series: 0};
	const chart = document.querySelector("#risk-chart svg.chart");
	if (chart) {
		out.series = chart.querySelectorAll(".chart-risk-series, [class*='chart-s']").length;
		// Every series class, not only those this case's chart happens to use.
		const panel = lum(getComputedStyle(chart.closest(".panel") || document.body).backgroundColor);
		out.chart = Infinity;
		for (const cls of ["chart-risk-series", "chart-s0", "chart-s1", "chart-s2", "chart-s3", "chart-s4", "chart-s5"]) {
			const e = chart.appendChild(document.createElementNS("http://www.w3.org/2000/svg", "g"));
			e.setAttribute("class", cls);
			const c = getComputedStyle(e).color;
			e.remove();
			if (ratio(lum(c), panel) < out.chart) {
				out.chart = ratio(lum(c), panel);
				out.chartColour = cls + " " + c;
			}
		}
	}
	return out;
})()`

// theme is what themeColours returns.
type theme struct {
	BG          float64 `json:"bg"`
	Text        float64 `json:"text"`
	Chart       float64 `json:"chart"`
	ChartColour string  `json:"chartColour"`
	Series      int     `json:"series"`
}

// emulateMedia has the browser draw pages for the media type ("" for the
// screen, "print") with the colour scheme the user prefers ("light",
// "dark"). It returns with the colours settled: buttons and fields fade to
// their new colours (transition), which axe would otherwise measure
// half-way, so it finishes those transitions at once (waiting for them
// can last forever: the browser need not draw frames while printing).
func emulateMedia(b context.Context, media, scheme string) error {
	_, err := chromedp.Call(b, emulation.SetEmulatedMedia, emulation.SetEmulatedMediaParams{Media: media,
		Features: []*emulation.MediaFeature{{Name: "prefers-color-scheme", Value: scheme}}})
	if err == nil {
		err = chromedp.Do(b, chromedp.Evaluate[chromedp.Void](`document.getAnimations().forEach(a => { try { a.finish(); } catch (e) {} })`))
	}
	return err
}

// TestBrowserPagesFitAndAreAccessible loads every GET page of the router as
// a user who may see it, in English and German, and checks that it fits
// windows 1280, 1024 and 390 px wide without horizontal scrolling, and that
// axe-core finds no serious or critical accessibility violation (colour
// contrast among them). It checks each page again in English with the
// browser preferring a dark colour scheme: the page must turn dark (a dark
// background, light text), pass axe there too, and the case page's risk
// chart must keep 3:1 against its panel. Printed, the case page is black on
// white whatever the scheme. TMA_SCREENSHOTS, if set, keeps a screenshot
// of each page in the dark theme.
func TestBrowserPagesFitAndAreAccessible(t *testing.T) {
	axe := axeSource(t)
	srv := startServer(t, nil)
	ctx := context.Background()
	tn, users := srv.mustTenant(t, "acme", tma.RoleAdmin, tma.RoleAuditor, tma.RoleThreatManager, tma.RoleLegal)
	admin, auditor, manager, mfaUser := users[0], users[1], users[2], users[3]
	// Long names and several sessions with real browsers, so that the pages
	// hold what makes them wide in real life.
	if _, err := postgres.NewUserService(srv.DB).CreateUser(systemCtx(ctx, tn.ID), tn.ID, tma.NewUser{
		Email:       "maximiliane.alexandrina.von-hohenzollern-sigmaringen@personalentwicklung.acme.example",
		DisplayName: "Maximiliane Alexandrina von Hohenzollern-Sigmaringen-Weißenburg", Password: testPassword,
		Roles: []tma.Role{tma.RoleHR, tma.RoleCompliance, tma.RoleLegal, tma.RoleThreatManager},
	}); err != nil {
		t.Fatal(err)
	}
	as := srv.Auth
	for _, s := range []struct {
		u  *tma.User
		ua string
	}{
		{manager, "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:128.0) Gecko/20100101 Firefox/128.0"},
		{manager, "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1"},
		{admin, "Mozilla/5.0 (Linux; Android 14; SM-S918B) AppleWebKit/537.36 (KHTML, like Gecko) SamsungBrowser/25.0 Chrome/121.0.0.0 Mobile Safari/537.36"},
	} {
		if _, err := as.Login(ctx, tma.LoginRequest{Tenant: "acme", Email: s.u.Email, Password: testPassword, IP: "2001:db8:85a3::8a2e:370:7334", UserAgent: s.ua}); err != nil {
			t.Fatal(err)
		}
	}
	// A user with a second factor, to see the second step of the sign-in.
	login, err := as.Login(ctx, tma.LoginRequest{Tenant: "acme", Email: mfaUser.Email, Password: testPassword, IP: "127.0.0.1"})
	if err != nil {
		t.Fatal(err)
	}
	enr, err := as.BeginTOTP(ctx, tn.ID, mfaUser.ID)
	if err != nil {
		t.Fatal(err)
	}
	code, _ := totp.GenerateCode(enr.Secret, time.Now())
	if _, _, err := as.ConfirmTOTP(ctx, login.Token, testPassword, code); err != nil {
		t.Fatal(err)
	}

	// A case led by the threat manager, with long names among its members,
	// labels, an expiring membership and an exclusion, for the case pages.
	mctx := tma.NewContextWithActor(ctx, tma.Actor{UserID: manager.ID, TenantID: tn.ID, Label: manager.Email})
	cases := postgres.NewCaseService(srv.DB)
	kase, err := cases.CreateCase(mctx, tn.ID, tma.NewCase{Title: "Drohungen gegenüber der Personalabteilung am Standort Süd", Risk: tma.RiskHigh,
		Labels: []string{"stalking", "direct leaking", "Standort Süd"}})
	if err != nil {
		t.Fatal(err)
	}
	if err := cases.AddMember(mctx, tn.ID, kase.ID, tma.NewMember{Email: "maximiliane.alexandrina.von-hohenzollern-sigmaringen@personalentwicklung.acme.example",
		Role: tma.CaseExpert, ExpiresAt: time.Now().AddDate(0, 1, 0)}); err != nil {
		t.Fatal(err)
	}
	if err := cases.Exclude(mctx, tn.ID, kase.ID, admin.Email); err != nil {
		t.Fatal(err)
	}
	// Notes (one restricted, one with two versions), an overdue action and
	// a pending four-eyes request, for the note, timeline and task pages.
	sealer := crypt.NewCaseRecords(srv.CaseKeys)
	notes := postgres.NewNoteService(srv.DB, sealer)
	note, err := notes.AddNote(mctx, tn.ID, kase.ID, tma.NoteInput{Title: "Gespräch mit der Führungskraft am Standort Süd",
		Body: "## Verlauf\n\n- **ruhig**, sachlich\n- [Leitfaden](https://example.org/leitfaden)\n\n| Punkt | Stand |\n|---|---|\n| Zugang | gesperrt |"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := notes.EditNote(mctx, tn.ID, kase.ID, note.ID, tma.NoteInput{Title: note.Title, Body: note.Body + "\n\nErgänzt.", Version: 1}, true); err != nil {
		t.Fatal(err)
	}
	if _, err := notes.AddNote(mctx, tn.ID, kase.ID, tma.NoteInput{Title: "Befund", Body: "Art. 9", Restricted: true}); err != nil {
		t.Fatal(err)
	}
	if _, err := postgres.NewActionService(srv.DB, sealer).AddAction(mctx, tn.ID, kase.ID, tma.ActionInput{
		Title: "Hausverbot prüfen und mit der Rechtsabteilung abstimmen", OwnerID: manager.ID, Due: time.Now().AddDate(0, 0, -3).Truncate(24 * time.Hour)}); err != nil {
		t.Fatal(err)
	}
	// A process page with two revisions, a checklist, a table and a link,
	// used by the case, for the wiki pages.
	wiki := postgres.NewWikiService(srv.DB, sealer, web.NewWikiMarkup())
	wp, err := wiki.CreatePage(mctx, tn.ID, "process", tma.WikiPageInput{Title: "Eskalation", Body: "# Übersicht\n\n- [ ] Leitung informieren\n"}, manager)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := wiki.SaveRevision(mctx, tn.ID, "process", wp.Slug, tma.WikiPageInput{Title: "Eskalation", BaseRevision: 1,
		Body: "# Übersicht\n\nSiehe [[Kontakte]].\n\n## Ablauf\n\n- [ ] Leitung informieren\n- [ ] Recht einbinden\n\n| Rolle | Telefon |\n|---|---|\n| Recht | 123 |\n"}, manager); err != nil {
		t.Fatal(err)
	}
	if err := wiki.LinkCase(mctx, tn.ID, kase.ID, wp.ID, manager); err != nil {
		t.Fatal(err)
	}
	// A text document, uploaded as the threat manager would, for the
	// document page.
	mc := srv.client(t)
	mc.login("acme", manager.Email)
	doc := uploadDocument(t, mc, kase.ID, "", "Gesprächsnotiz Standort Süd.txt", []byte("Verlauf: ruhig, sachlich.\nZugang gesperrt.\n"))
	// A final assessment with version 1 of an instrument and a
	// reassessment with version 2 in draft (an item added, one removed),
	// for the assessment page with its form and its changes, the case
	// page's list and chart, and the instrument pages.
	importInstrument(t, mc, checkInstrument(1))
	first := startAssessment(t, mc, kase.ID, "workplace-check:1")
	_, rev := assessmentPage(t, mc, kase.ID, first)
	if status, body := mc.post("/cases/"+kase.ID+"/assessments/"+first+"/submit",
		rated(rev, map[string]string{"threat": "absent", "grievance": "present", "weapons": "absent"}, "high", "Eine anhaltende Kränkung, keine Drohung.")); status != http.StatusOK {
		t.Fatalf("submit the assessment: status %d: %.300s", status, body)
	}
	importInstrument(t, mc, checkInstrument(2))
	assessment := startAssessment(t, mc, kase.ID, "workplace-check:2")
	if _, err := cases.SetState(mctx, tn.ID, kase.ID, tma.StatusClosed, kase.Risk); err != nil {
		t.Fatal(err)
	}

	// A report of the admin (who may file one and is the first user the walk
	// picks for /reports/:id), in the threat manager's queue, with messages.
	reports := postgres.NewReportService(srv.DB, crypt.NewCaseRecords(srv.CaseKeys), srv.CaseKeys, tma.ThrottlePolicy{AccountFailures: 5, Window: time.Minute, Lockout: time.Minute})
	actx := tma.NewContextWithActor(ctx, tma.Actor{UserID: admin.ID, TenantID: tn.ID, Label: admin.Email})
	report, err := reports.File(actx, tn.ID, tma.NewReport{Urgency: tma.UrgencyImmediate, Categories: []tma.Category{tma.CatDirectLeaking, tma.CatViolence},
		Content: tma.ReportContent{What: "Er hat angekündigt, mit einer Waffe in die Personalabteilung zu kommen.", When: "Montag, 9 Uhr", Where: "Standort Süd, Gebäude 4"},
		Named:   []string{auditor.ID}})
	if err != nil {
		t.Fatal(err)
	}
	if err := reports.Ask(mctx, tn.ID, report.ID, "Wer war noch dabei?"); err != nil {
		t.Fatal(err)
	}

	waitOutboxApplied(t, srv)

	// Every GET page of the router, with the user who may see it.
	enforcer, err := authz.New()
	if err != nil {
		t.Fatal(err)
	}
	type page struct{ path, as string }
	var pages []page
	for _, r := range srv.Web.App().GetRoutes(true) {
		// Downloads, previews, wiki attachments, instrument files and the case-file PDF are
		// files, not pages.
		if r.Method != "GET" || strings.HasPrefix(r.Path, "/api/") || r.Path == "/healthz" || r.Path == "/readyz" || r.Path == "/assets/:name" ||
			strings.HasSuffix(r.Path, "/download") || strings.HasSuffix(r.Path, "/preview") || strings.HasSuffix(r.Path, ".pdf") ||
			strings.HasSuffix(r.Path, "/attachments/:name") || r.Path == "/search/suggest" || strings.HasSuffix(r.Path, "/source") {
			continue
		}
		rule, ok := srv.Web.Rule(r.Method, r.Path)
		if !ok {
			t.Fatalf("route %s has no rule", r.Path)
		}
		path := strings.ReplaceAll(r.Path, ":id", manager.ID)
		if strings.HasPrefix(r.Path, "/cases/") {
			path = strings.NewReplacer(":id", kase.ID, ":note", note.ID, ":doc", doc.ID, ":assessment", assessment).Replace(r.Path)
		}
		if strings.HasPrefix(r.Path, "/reports/") || strings.HasPrefix(r.Path, "/intake/") {
			path = strings.ReplaceAll(r.Path, ":id", report.ID)
		}
		path = strings.ReplaceAll(path, ":tenant", "acme")
		path = strings.NewReplacer(":space", "process", ":page", "eskalation", ":rev", "1", ":instrument", "workplace-check", ":version", "2").Replace(path)
		switch {
		case rule.Public:
			pages = append(pages, page{path, ""})
		case rule.Rule == "pending-mfa":
			pages = append(pages, page{path, mfaUser.Email})
		default:
			obj, act, _ := strings.Cut(rule.Rule, ":")
			who := ""
			for _, u := range []*tma.User{admin, auditor, manager} {
				if enforcer.Can(u, tma.Permission{Object: obj, Action: act}) {
					who = u.Email
					break
				}
			}
			if r.Path == "/search" {
				// The results page, with hits in a case, its notes and the wiki.
				path, who = "/search?q=Standort", manager.Email
			}
			if who == "" {
				t.Fatalf("route %s (%s): neither the admin, the auditor nor the threat manager may see it; add a user who may", r.Path, rule.Rule)
			}
			pages = append(pages, page{path, who})
		}
	}
	pages = append(pages, page{"/no-such-page", admin.Email}) // the error page
	// The cases page with its risk counts and the list they link to, which
	// only a user who may read cases sees.
	pages = append(pages, page{"/", manager.Email}, page{"/cases?risk=unrated&open=1", manager.Email})
	if len(pages) < 9 {
		t.Fatalf("only %d pages found; is the route walk broken?", len(pages))
	}
	t.Logf("%d pages: %v", len(pages), pages)
	// Sign in once per user: anonymous first, then each user in turn.
	order := []string{"", mfaUser.Email, admin.Email, auditor.Email, manager.Email}
	slices.SortStableFunc(pages, func(a, b page) int { return slices.Index(order, a.as) - slices.Index(order, b.as) })

	// Some 40 pages, each at three widths and in two languages, then in the
	// dark: more than newBrowser's 90 seconds on a busy machine.
	b := newBrowserFor(t, "en", 5*time.Minute)
	if err := emulateMedia(b, "", "light"); err != nil {
		t.Fatal(err)
	}
	setLanguage := func(lang string) error {
		_, err := chromedp.Call(b, network.SetExtraHTTPHeaders, network.SetExtraHTTPHeadersParams{Headers: network.Headers{"Accept-Language": lang}})
		return err
	}
	signedIn := ""
	signIn := func(email string) {
		t.Helper()
		_, err := chromedp.Call(b, network.ClearBrowserCookies, cdp.Empty{})
		if err == nil {
			err = setLanguage("en")
		}
		if err == nil && email != "" {
			err = chromedp.Do(b,
				chromedp.Navigate(srv.URL+"/login"),
				chromedp.WaitVisible(chromedp.ID("login-form")),
				chromedp.SetValue(chromedp.ID("tenant"), "acme"),
				chromedp.SetValue(chromedp.ID("email"), email),
				chromedp.SetValue(chromedp.ID("password"), testPassword),
				chromedp.Submit(chromedp.ID("login-form")),
				chromedp.WaitVisible(chromedp.CSS("main h1")),
			)
		}
		if err != nil {
			t.Fatalf("sign in as %q: %v", email, err)
		}
		signedIn = email
	}
	signIn("")
	widths := []int64{1280, 1024, 390}
	for _, p := range pages {
		if p.as != signedIn {
			signIn(p.as)
		}
		for _, lang := range []string{"en", "de"} {
			who := p.as
			if who == "" {
				who = "anonymous"
			}
			name := fmt.Sprintf("%s (%s, %s)", p.path, lang, who)
			err := setLanguage(lang)
			if err == nil {
				err = chromedp.Do(b,
					chromedp.EmulateViewport(widths[0], 900),
					chromedp.Navigate(srv.URL+p.path),
					chromedp.WaitReady(chromedp.CSS("body")),
				)
			}
			var loc, htmlLang string
			if err == nil {
				loc, err = chromedp.Run(b, chromedp.Location())
			}
			if err == nil {
				htmlLang, err = chromedp.Run(b, chromedp.Evaluate[string](`document.documentElement.lang`))
			}
			if err != nil {
				t.Fatalf("%s: %v", name, err)
			}
			if !strings.HasPrefix(loc, srv.URL+p.path) || htmlLang != lang {
				t.Fatalf("%s: ended at %s in language %q; the test did not see the page it meant to", name, loc, htmlLang)
			}
			for _, w := range widths {
				type size struct {
					Scroll int64 `json:"scroll"`
					Inner  int64 `json:"inner"`
				}
				err := chromedp.Do(b, chromedp.EmulateViewport(w, 900))
				var got size
				if err == nil {
					got, err = chromedp.Run(b, chromedp.Evaluate[size](`({scroll: document.documentElement.scrollWidth, inner: window.innerWidth})`))
				}
				if err != nil {
					t.Fatalf("%s at %d px: %v", name, w, err)
				}
				if got.Inner != w {
					t.Fatalf("%s: window is %d px wide, want %d", name, got.Inner, w)
				}
				if got.Scroll > got.Inner {
					t.Errorf("%s at %d px: the page is %d px wide", name, w, got.Scroll)
				}
			}
			err = chromedp.Do(b, chromedp.EmulateViewport(widths[0], 900), chromedp.Evaluate[chromedp.Void](axe))
			var found []axeViolation
			if err == nil {
				found, err = chromedp.Run(b, chromedp.Evaluate[[]axeViolation](axeRun, chromedp.EvalAwaitPromise))
			}
			if err != nil {
				t.Fatalf("%s: axe: %v", name, err)
			}
			for _, v := range found {
				nodes, _ := json.Marshal(v.Nodes)
				t.Errorf("%s: axe %s (%s): %s; nodes %s", name, v.ID, v.Impact, v.Help, nodes)
			}
			if lang == "en" {
				shot := "dark-" + strings.NewReplacer("/", "_", "?", "_", "=", "_", "&", "_", "@", "_").Replace(who+p.path)
				checkDarkTheme(t, b, name, shot, p.path == "/cases/"+kase.ID)
			}
			if p.path == "/account" || p.path == "/admin/users/"+manager.ID {
				text, err := chromedp.Run(b, chromedp.Text(chromedp.CSS("main")))
				if err != nil {
					t.Fatal(err)
				}
				want := map[string]string{"en": "Samsung Internet on Android", "de": "Samsung Internet unter Android"}[lang]
				if p.path != "/account" {
					want = map[string]string{"en": "Safari on iPhone", "de": "Safari auf dem iPhone"}[lang]
				}
				if !strings.Contains(text, want) {
					t.Errorf("%s: the session list does not say %q", name, want)
				}
			}
		}
	}
}

// checkDarkTheme checks the page loaded in b (with axe injected) with the
// browser preferring a dark colour scheme, then, for the case page with
// the risk chart (chart), printed; it leaves the browser on the light
// screen.
func checkDarkTheme(t *testing.T, b context.Context, name, shot string, chart bool) {
	t.Helper()
	name += " in the dark"
	colours := func(media string) theme {
		t.Helper()
		if err := emulateMedia(b, media, "dark"); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		got, err := chromedp.Run(b, chromedp.Evaluate[theme](themeColours))
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		return got
	}
	got := colours("")
	// The dark theme's background is near black (luminance ≤ 0.05, as
	// #3a3a3a), its text near white (≥ 0.6, as #cbcbcb).
	if got.BG > 0.05 || got.Text < 0.6 {
		t.Errorf("%s: the body's background has luminance %.3f and its text %.3f; want a dark background and light text", name, got.BG, got.Text)
	}
	found, err := chromedp.Run(b, chromedp.Evaluate[[]axeViolation](axeRun, chromedp.EvalAwaitPromise))
	if err != nil {
		t.Fatalf("%s: axe: %v", name, err)
	}
	for _, v := range found {
		nodes, _ := json.Marshal(v.Nodes)
		t.Errorf("%s: axe %s (%s): %s; nodes %s", name, v.ID, v.Impact, v.Help, nodes)
	}
	if os.Getenv("TMA_SCREENSHOTS") != "" {
		png, err := chromedp.Run(b, chromedp.FullScreenshot(100))
		if err != nil {
			t.Fatalf("%s: screenshot: %v", name, err)
		}
		saveShot(t, shot, png)
	}
	if chart {
		// The line and at least one section's bars, in the legend and the plot.
		if got.Series < 4 {
			t.Errorf("%s: the risk chart has %d coloured series marks; is it missing?", name, got.Series)
		} else if got.Chart < 3 {
			t.Errorf("%s: the risk chart's %s has a contrast of %.2f:1 against its panel, want at least 3:1", name, got.ChartColour, got.Chart)
		} else {
			t.Logf("%s: the risk chart's lowest contrast is %.2f:1 (%s)", name, got.Chart, got.ChartColour)
		}
		printed := colours("print")
		if printed.BG < 0.999 || printed.Text > 0.05 {
			t.Errorf("%s, printed: the body's background has luminance %.3f and its text %.3f; want black on white", name, printed.BG, printed.Text)
		}
		if printed.Chart < 20.9 {
			t.Errorf("%s, printed: the risk chart's %s has a contrast of %.2f:1, want black on white (21:1)", name, printed.ChartColour, printed.Chart)
		}
	}
	if err := emulateMedia(b, "", "light"); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
}
