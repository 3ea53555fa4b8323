package main

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/tma-portal/tma/server/tma"
)

// TestBrowserAssessment: in real Chromium a threat manager starts an
// assessment on the case page, rates a critical item present (the page
// saves it by itself and says so), submits with a low level of concern and
// its rationale, and is told it waits for a second approver, with no way
// to approve it themselves; a second threat manager of the case approves
// it on the case page, which then shows the new risk level and the risk
// chart with the new point. The form passes axe-core.
func TestBrowserAssessment(t *testing.T) {
	axe := axeSource(t)
	w := newAssessmentWorld(t)
	importInstrument(t, w.lc, checkInstrument(1))
	srv := w.srv

	b := newBrowser(t, "en")
	run := browserSteps(t, b)
	// waitFor waits until the JavaScript condition holds.
	waitFor := func(step, cond string) {
		t.Helper()
		run(step, chromedp.Evaluate[chromedp.Void](`new Promise((ok) => { const t = setInterval(() => { if (`+cond+`) { clearInterval(t); ok(); } }, 100); })`, chromedp.EvalAwaitPromise))
	}
	signIn := func(u *tma.User) {
		t.Helper()
		run("sign in as "+u.Email, chromedp.Navigate(srv.URL+"/login"), chromedp.WaitVisible(chromedp.ID("login-form")),
			chromedp.SetValue(chromedp.ID("tenant"), "acme"), chromedp.SetValue(chromedp.ID("email"), u.Email),
			chromedp.SendKeys(chromedp.ID("password"), testPassword), chromedp.Submit(chromedp.ID("login-form")),
			chromedp.WaitVisible(chromedp.ID("dashboard-heading")))
	}
	caseURL := srv.URL + "/cases/" + w.kase.ID

	signIn(w.lead)
	run("start an assessment", chromedp.Navigate(caseURL), chromedp.WaitVisible(chromedp.ID("assessment-start")),
		chromedp.SetValue(chromedp.ID("assessment-instrument"), "workplace-check:1"),
		chromedp.Submit(chromedp.ID("assessment-start")), chromedp.WaitVisible(chromedp.ID("assessment-form")))

	// The form is accessible.
	run("inject axe", chromedp.Evaluate[chromedp.Void](axe))
	found, err := chromedp.Run(b, chromedp.Evaluate[[]axeViolation](axeRun, chromedp.EvalAwaitPromise))
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range found {
		nodes, _ := json.Marshal(v.Nodes)
		t.Errorf("assessment form: axe %s (%s): %s; nodes %s", v.ID, v.Impact, v.Help, nodes)
	}

	// Rate the critical item present, with evidence: the page saves.
	run("rate", chromedp.Click(chromedp.CSS(`input[name="rating.threat"][value="present"]`)),
		chromedp.Click(chromedp.CSS(`input[name="rating.grievance"][value="absent"]`)),
		chromedp.Click(chromedp.CSS(`input[name="rating.weapons"][value="absent"]`)),
		chromedp.SendKeys(chromedp.ID("evidence-threat"), "Said he would 'settle this' at the depot."))
	waitFor("the autosave indicator", `document.getElementById("autosave-status").textContent.startsWith("Saved ")`)
	rev, err := chromedp.Run(b, chromedp.Evaluate[string](`document.getElementById("assessment-revision").value`))
	if err != nil || rev == "1" {
		t.Fatalf("revision after the autosave: %q, %v", rev, err)
	}
	loc, err := chromedp.Run(b, chromedp.Location())
	if err != nil {
		t.Fatal(err)
	}
	id := strings.TrimPrefix(loc, srv.URL+"/cases/"+w.kase.ID+"/assessments/")
	if a := w.stored(t, id); a.Ratings["threat"].Value != "present" || !strings.Contains(a.Ratings["threat"].Evidence, "settle this") {
		t.Fatalf("the autosave did not store the rating: %+v", a.Ratings)
	}

	// Submit with the summary judgment and its rationale.
	run("submit", chromedp.SetValue(chromedp.ID("judgment-value-concern"), "low"),
		chromedp.SendKeys(chromedp.ID("judgment-rationale-concern"), "Calm in the talk; the remark was a joke among colleagues."),
		chromedp.Click(chromedp.ID("assessment-submit")), chromedp.WaitVisible(chromedp.ID("assessment-waiting")))
	text, _ := chromedp.Run(b, chromedp.Text(chromedp.CSS("main")))
	if !strings.Contains(text, "waits for a second threat manager") || !strings.Contains(text, "A critical item is present while the concern is below high.") {
		t.Errorf("the page does not say it waits for a second approver and why: %.1500s", text)
	}
	// The author cannot approve: no button on either page, and the route
	// refuses.
	own, _ := chromedp.Run(b, chromedp.Evaluate[bool](`!document.getElementById("assessment-approve") && !!document.getElementById("assessment-own")`))
	if !own {
		t.Errorf("the author is offered the approval on the assessment page")
	}
	run("the case page", chromedp.Navigate(caseURL), chromedp.WaitVisible(chromedp.ID("assessment-pending")))
	own, _ = chromedp.Run(b, chromedp.Evaluate[bool](`!document.getElementById("pending-approve") && !!document.getElementById("pending-own")`))
	if !own {
		t.Errorf("the author is offered the approval on the case page")
	}
	w.lc.get("/cases/" + w.kase.ID)
	if status, _ := w.lc.post(w.url(id)+"/approve", nil); status != http.StatusForbidden {
		t.Errorf("the author's approval: status %d, want 403", status)
	}
	run("sign out", chromedp.Click(chromedp.ID("logout")), chromedp.WaitVisible(chromedp.ID("login-form")))

	// The second threat manager approves on the case page.
	signIn(w.second)
	run("approve", chromedp.Navigate(caseURL), chromedp.WaitVisible(chromedp.ID("pending-approve")),
		chromedp.Click(chromedp.ID("pending-approve")), chromedp.WaitVisible(chromedp.ID("risk-chart")))
	risk, err := chromedp.Run(b, chromedp.Text(chromedp.ID("current-risk")))
	if err != nil || risk != "Low" {
		t.Errorf("current risk %q, %v; want Low", risk, err)
	}
	// One point: the marker of the approved assessment, dated today.
	points, err := chromedp.Run(b, chromedp.Evaluate[[]string](`Array.from(document.querySelectorAll("#risk-chart svg > g.chart-risk-series g > title"), (t) => t.textContent)`))
	today := time.Now().UTC().Format(time.DateOnly)
	if err != nil || len(points) != 1 || !strings.HasPrefix(points[0], today) || !strings.Contains(points[0], "Low") {
		t.Errorf("risk chart points %q, %v; want one of %s at Low", points, err, today)
	}
	if a := w.stored(t, id); a.Status != tma.AssessmentFinal || a.DecidedBy != w.second.ID {
		t.Errorf("after approval: %s by %q", a.Status, a.DecidedBy)
	}
}
