package main

import (
	"context"
	"net/http"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/tma-portal/tma/server/postgres"
	"github.com/tma-portal/tma/server/tma"
)

// TestBrowserDocumentFlow: in real Chromium, the lead drops a PDF on the
// case page (a drop event carrying a File, so the page's own drop handler
// and XMLHttpRequest run), sees it uploaded and listed; a legal expert of
// the case opens its page with the preview (framed without the sandbox
// attribute, which would block Chromium's PDF viewer; its rendering is
// TestBrowserPDFPreviewRenders) served under the sandbox policy; a non-member gets
// the answer of a document that does not exist.
func TestBrowserDocumentFlow(t *testing.T) {
	srv := startServer(t, nil)
	tn, users := srv.mustTenant(t, "acme", tma.RoleThreatManager, tma.RoleLegal)
	lead, legal := users[0], users[1]
	outsider, err := postgres.NewUserService(srv.DB).CreateUser(systemCtx(context.Background(), tn.ID), tn.ID, tma.NewUser{
		Email: "outsider@acme.example", DisplayName: "Outsider", Password: testPassword, Roles: []tma.Role{tma.RoleThreatManager}})
	if err != nil {
		t.Fatal(err)
	}
	ctx := tma.NewContextWithActor(context.Background(), tma.Actor{UserID: lead.ID, TenantID: tn.ID, Label: lead.Email})
	cases := postgres.NewCaseService(srv.DB)
	kase, err := cases.CreateCase(ctx, tn.ID, tma.NewCase{Title: "Threats at the depot"})
	if err != nil {
		t.Fatal(err)
	}
	if err := cases.AddMember(ctx, tn.ID, kase.ID, tma.NewMember{Email: legal.Email, Role: tma.CaseExpert}); err != nil {
		t.Fatal(err)
	}

	b := newBrowser(t, "en")
	run := browserSteps(t, b)
	signIn := func(u *tma.User) {
		t.Helper()
		run("sign in as "+u.Email, chromedp.Navigate(srv.URL+"/login"), chromedp.WaitVisible(chromedp.ID("login-form")),
			chromedp.SetValue(chromedp.ID("tenant"), "acme"), chromedp.SetValue(chromedp.ID("email"), u.Email),
			chromedp.SendKeys(chromedp.ID("password"), testPassword), chromedp.Submit(chromedp.ID("login-form")),
			chromedp.WaitVisible(chromedp.ID("dashboard-heading")))
	}

	signIn(lead)
	run("open the case", chromedp.Navigate(srv.URL+"/cases/"+kase.ID), chromedp.WaitVisible(chromedp.CSS("[data-dropzone]")))
	// Drop a PDF built in the page onto the drop zone.
	run("drop a PDF", chromedp.Evaluate[chromedp.Void](`(() => {
		const pdf = "%PDF-1.4\n1 0 obj<</Type/Catalog/Pages 2 0 R>>endobj 2 0 obj<</Type/Pages/Kids[3 0 R]/Count 1>>endobj 3 0 obj<</Type/Page/MediaBox[0 0 200 200]/Parent 2 0 R>>endobj\ntrailer<</Root 1 0 R>>\n%%EOF\n";
		const dt = new DataTransfer();
		dt.items.add(new File([pdf], "Gefährdungseinschätzung.pdf", {type: "application/pdf"}));
		const zone = document.querySelector("[data-dropzone]");
		zone.dispatchEvent(new DragEvent("dragover", {bubbles: true, cancelable: true, dataTransfer: dt}));
		zone.dispatchEvent(new DragEvent("drop", {bubbles: true, cancelable: true, dataTransfer: dt}));
	})()`),
		chromedp.WaitVisible(chromedp.CSS(".upload-status li.ok")),
		chromedp.WaitVisible(chromedp.CSS(`#documents a[href*="/documents/"]`)))
	status, err := chromedp.Run(b, chromedp.Text(chromedp.CSS(".upload-status li.ok")))
	if err != nil || !strings.Contains(status, "Gefährdungseinschätzung.pdf") || !strings.Contains(status, "Uploaded.") {
		t.Fatalf("upload status %q, %v", status, err)
	}
	progress, _ := chromedp.Run(b, chromedp.Evaluate[int](`document.querySelector(".upload-status li.ok progress").value`))
	if progress != 100 {
		t.Errorf("progress %d, want 100", progress)
	}
	href, err := chromedp.Run(b, chromedp.Evaluate[string](`document.querySelector('#documents a[href*="/documents/"]').getAttribute("href")`))
	if err != nil || !strings.HasPrefix(href, "/cases/"+kase.ID+"/documents/") {
		t.Fatalf("document link %q, %v", href, err)
	}
	run("sign out", chromedp.Click(chromedp.ID("logout")), chromedp.WaitVisible(chromedp.ID("login-form")))

	// The legal expert sees the document page with the preview.
	signIn(legal)
	run("open the document", chromedp.Navigate(srv.URL+href), chromedp.WaitVisible(chromedp.ID("preview")))
	frame, err := chromedp.Run(b, chromedp.Evaluate[string](`(() => { const f = document.querySelector("iframe#preview"); return f ? f.hasAttribute("sandbox") + "|" + f.getAttribute("src") : "none"; })()`))
	if err != nil || frame != "false|"+href+"/versions/1/preview" {
		t.Fatalf("preview frame %q, %v", frame, err)
	}
	lc := srv.client(t)
	lc.login("acme", legal.Email)
	code, _, h := lc.do(http.MethodGet, href+"/versions/1/preview", nil, nil)
	if code != http.StatusOK || h.Get("Content-Type") != "application/pdf" || !strings.Contains(h.Get("Content-Security-Policy"), "sandbox") ||
		!strings.HasPrefix(h.Get("Content-Disposition"), "inline;") {
		t.Fatalf("preview as legal: %d, %v", code, h)
	}

	// Someone outside the case learns nothing.
	oc := srv.client(t)
	oc.login("acme", outsider.Email)
	for _, path := range []string{href, href + "/versions/1/download", href + "/versions/1/preview"} {
		code, body, _ := oc.do(http.MethodGet, path, nil, map[string]string{"Accept": "text/html"})
		if code != http.StatusNotFound || !strings.Contains(body, "No such case.") {
			t.Errorf("%s as a non-member: %d %.200q", path, code, body)
		}
	}
}
