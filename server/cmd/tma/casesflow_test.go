package main

import (
	"context"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/tma-portal/tma/server/tma"
)

// TestBrowserCaseFlow walks the heart of TMA in real Chromium, with clicks
// and typing only (the tenant and its users are the only setup): an
// employee files a report, a threat manager opens a case from it in the
// intake queue, adds a legal expert, writes a note and a countermeasure;
// the expert finds the case under "My cases" and sees both; a user who is
// no member gets the very page a missing case gets.
func TestBrowserCaseFlow(t *testing.T) {
	began := time.Now()
	srv := startServer(t, nil)
	_, users := srv.mustTenant(t, "acme", tma.RoleEmployee, tma.RoleThreatManager, tma.RoleLegal, tma.RoleHR)
	employee, manager, legal, hr := users[0], users[1], users[2], users[3]
	b := newBrowser(t, "en")

	const (
		what       = "He said he would bring a knife to the Monday meeting."
		caseTitle  = "Threat against the Monday meeting"
		noteTitle  = "Talk with his team lead"
		noteText   = "The team lead confirms the remark and is worried."
		actionText = "Check a site ban with the legal department"
	)
	due := time.Now().AddDate(0, 0, 14).Format("2006-01-02")

	// do runs the steps of one user action with a deadline of its own, and
	// on failure says where the browser was and what it showed.
	do := func(step string, steps ...chromedp.Action[chromedp.Void]) {
		t.Helper()
		ctx, cancel := context.WithTimeout(b, 15*time.Second)
		defer cancel()
		if err := chromedp.Do(ctx, steps...); err != nil {
			ctx, cancel := context.WithTimeout(b, 2*time.Second)
			defer cancel()
			loc, _ := chromedp.Run(ctx, chromedp.Location())
			text, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`document.querySelector("main") ? document.querySelector("main").innerText : ""`))
			t.Fatalf("%s: %v\nat %s, showing:\n%.1500s", step, err, loc, text)
		}
	}
	text := func(sel string) string {
		t.Helper()
		ctx, cancel := context.WithTimeout(b, 5*time.Second)
		defer cancel()
		s, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(sel)))
		if err != nil {
			t.Fatalf("text of %s: %v", sel, err)
		}
		return s
	}
	location := func() *url.URL {
		t.Helper()
		loc, err := chromedp.Run(b, chromedp.Location())
		if err != nil {
			t.Fatal(err)
		}
		u, err := url.Parse(loc)
		if err != nil {
			t.Fatal(err)
		}
		return u
	}
	// A page the browser leaves is marked, so that waiting for the next
	// page never matches an element of the one before.
	leave := chromedp.SetAttributeValue(chromedp.CSS("html"), "data-test-left", "1")
	arrive := func(sel string) chromedp.Action[chromedp.Void] {
		return chromedp.WaitVisible(chromedp.CSS("html:not([data-test-left]) " + sel))
	}
	click := func(sel string) chromedp.Action[chromedp.Void] {
		return chromedp.Click(chromedp.CSS(sel))
	}
	// type_ fills an empty field by typing.
	type_ := func(sel, value string) chromedp.Action[chromedp.Void] {
		return chromedp.SendKeys(chromedp.CSS(sel), value)
	}
	signIn := func(u *tma.User) {
		t.Helper()
		do("sign in as "+u.Email,
			arrive("#login-form"),
			// The sign-in page may offer the organisation and the last
			// e-mail address already.
			chromedp.SetValue(chromedp.ID("tenant"), "acme"),
			chromedp.SetValue(chromedp.ID("email"), u.Email),
			type_("#password", testPassword),
			leave, click(`#login-form button[type="submit"]`),
			arrive("#dashboard-heading"),
		)
	}
	signOut := func() {
		t.Helper()
		do("sign out", leave, click("#logout"), arrive("#login-form"))
	}
	// mustContain checks what a page shows and stops the test if it
	// misses something: the next step would only wait for it in vain.
	mustContain := func(where, got string, want ...string) {
		t.Helper()
		for _, w := range want {
			if !strings.Contains(got, w) {
				t.Errorf("%s does not show %q; it shows:\n%s", where, w, got)
			}
		}
		if t.Failed() {
			t.FailNow()
		}
	}

	// 1. The employee files a report and finds it under "My reports".
	do("open TMA", chromedp.Navigate(srv.URL+"/"))
	signIn(employee)
	do("open My reports", leave, click(`nav.mainnav a[href="/reports"]`), arrive("#reports"))
	do("open File a report", leave, click("#report-new"), arrive("#report-file"))
	do("file the report",
		type_("#what", what),
		type_("#when", "Friday, 10 am"),
		type_("#where", "Canteen, building 2"),
		click(`#report-file input[name="urgency"][value="high"]`),
		click(`#report-file input[name="categories"][value="direct_leaking"]`),
		leave, click(`#report-file button[type="submit"]`),
		arrive(`.alert.notice`),
	)
	reportPath := location().Path
	reportID, ok := strings.CutPrefix(reportPath, "/reports/")
	if !ok || reportID == "" || strings.Contains(reportID, "/") {
		t.Fatalf("after filing, the browser is at %s, not at the report", reportPath)
	}
	mustContain("the filed report", text("main"), what, "Canteen, building 2")
	do("back to My reports", leave, click(`.crumbs a[href="/reports"]`), arrive("#reports"))
	mustContain("My reports", text("#reports tbody"), "Urgent", "Received")
	do("open the report from My reports", leave, click(`#reports a[href="`+reportPath+`"]`), arrive("#report-answer"))
	signOut()

	// 2. The threat manager finds it in the intake queue and opens a case.
	signIn(manager)
	do("open the intake queue", leave, click(`nav.mainnav a[href="/intake"]`), arrive("#intake"))
	mustContain("the intake queue", text("#intake tbody"), "Urgent", "Direct leaking", "By name")
	do("open the report", leave, click(`#intake a[href="/intake/`+reportID+`"]`), arrive("#intake-open"))
	mustContain("the report in intake", text("main"), what)
	do("open a case from the report",
		type_("#intake-open #title", caseTitle),
		chromedp.SetValue(chromedp.CSS("#intake-open #risk"), "moderate"),
		type_("#intake-open #labels", "knife"),
		leave, click(`#intake-open button[type="submit"]`),
		arrive("#member-add"),
	)
	casePath := location().Path
	caseID, ok := strings.CutPrefix(casePath, "/cases/")
	if !ok || caseID == "" || strings.Contains(caseID, "/") {
		t.Fatalf("after opening the case, the browser is at %s, not at the case", casePath)
	}
	mustContain("the new case", text("h1"), caseTitle)

	// 3. On the case page: a legal expert, a note and a countermeasure.
	do("add the legal expert",
		type_("#member-email", legal.Email),
		chromedp.SetValue(chromedp.CSS("#member-role"), "expert"),
		leave, click(`#member-add button[type="submit"]`),
		arrive(".alert.notice"),
	)
	mustContain("the member list", text("#members"), legal.DisplayName, legal.Email, "Expert")
	do("write a note",
		type_("#note-title", noteTitle),
		type_("textarea#note-body", noteText),
		leave, click(`#note-add button[type="submit"]`),
		arrive("div#note-body"),
	)
	mustContain("the saved note", text("main"), noteTitle, noteText)
	notePath := location().Path
	do("back to the case", leave, click(`.crumbs a[href="`+casePath+`"]`), arrive("#action-add"))
	do("add a countermeasure",
		type_("#action-title", actionText),
		chromedp.SetValue(chromedp.CSS("#action-owner"), legal.ID),
		chromedp.SetValue(chromedp.CSS("#action-due"), due),
		leave, click(`#action-add button[type="submit"]`),
		arrive(".alert.notice"),
	)
	mustContain("the action plan", text("#actions"), actionText, legal.DisplayName, due)
	signOut()

	// 4. The expert finds the case under "My cases" and sees both.
	signIn(legal)
	do("open My cases", leave, click(`nav.mainnav a[href="/cases"]`), arrive("#cases"))
	do("open the case", leave, click(`#cases a[href="`+casePath+`"]`), arrive("#notes"))
	mustContain("the case page of the expert", text("h1"), caseTitle)
	mustContain("the notes of the expert", text("#notes"), noteTitle)
	mustContain("the action plan of the expert", text("#actions"), actionText, legal.DisplayName, due)
	do("open the note", leave, click(`#notes a[href^="`+casePath+`/notes/"]`), arrive("div#note-body"))
	mustContain("the note of the expert", text("main"), noteTitle, noteText)
	signOut()

	// 5. A user who is no member (HR) gets what a missing case gets.
	signIn(hr)
	do("open My cases as a non-member", leave, click(`nav.mainnav a[href="/cases"]`), arrive("#cases"))
	if list := text("#cases tbody"); strings.Contains(list, caseTitle) {
		t.Errorf("the case list of a non-member shows the case:\n%s", list)
	}
	notFound := func(path string) (status int64, page string) {
		t.Helper()
		ctx, cancel := context.WithTimeout(b, 15*time.Second)
		defer cancel()
		resp, err := chromedp.Run(ctx, chromedp.NavigateResponse(srv.URL+path))
		if err == nil {
			err = chromedp.Do(ctx, chromedp.WaitVisible(chromedp.ID("error-heading")))
		}
		if err == nil {
			// The page without its request id, which differs each time.
			page, err = chromedp.Run(ctx, chromedp.Evaluate[string](`(() => {
				const m = document.querySelector("main").cloneNode(true);
				m.querySelectorAll("p.muted").forEach(p => p.remove());
				return document.title + "\n" + m.innerText;
			})()`))
		}
		if err != nil {
			t.Fatalf("open %s as %s: %v", path, hr.Email, err)
		}
		return resp.Status, page
	}
	status, page := notFound(casePath)
	missingStatus, missingPage := notFound("/cases/" + tma.NewID())
	if status != 404 || missingStatus != 404 || page != missingPage {
		t.Errorf("the case answers a non-member %d:\n%s\na missing case answers %d:\n%s", status, page, missingStatus, missingPage)
	}
	mustContain("the not-found page", page, "No such case.")
	if strings.Contains(page, caseTitle) {
		t.Errorf("the not-found page names the case: %s", page)
	}
	status, page = notFound(notePath)
	missingStatus, missingPage = notFound(casePath + "/notes/" + tma.NewID())
	if status != 404 || page != missingPage {
		t.Errorf("the note answers a non-member %d:\n%s\na missing note answers %d:\n%s", status, page, missingStatus, missingPage)
	}
	t.Logf("the flow took %s", time.Since(began).Round(100*time.Millisecond))
}
