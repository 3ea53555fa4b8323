package main

import (
	"context"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/pquerna/otp/totp"

	"github.com/tma-portal/tma/server/postgres"
	"github.com/tma-portal/tma/server/tma"
)

// newBrowser starts headless Chromium (found through TMA_CHROMIUM, which
// `make test` sets, installing Chromium if needed) whose user interface
// language and Accept-Language header come from acceptLanguage. The
// browser is stopped after 90 seconds.
func newBrowser(t *testing.T, acceptLanguage string) context.Context {
	t.Helper()
	return newBrowserFor(t, acceptLanguage, 90*time.Second)
}

// newBrowserFor is newBrowser for a test that needs the browser longer
// than 90 seconds.
func newBrowserFor(t *testing.T, acceptLanguage string, timeout time.Duration) context.Context {
	t.Helper()
	lang, _, _ := strings.Cut(acceptLanguage, ",")
	bin := os.Getenv("TMA_CHROMIUM")
	if bin == "" {
		t.Fatal("TMA_CHROMIUM is not set: run the tests with `make test`, which installs Chromium when it is missing")
	}
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(bin),
		chromedp.Headless,
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("no-first-run", true),
		chromedp.Flag("lang", lang),
		chromedp.Flag("accept-lang", acceptLanguage),
		chromedp.UserDataDir(t.TempDir()),
	)
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelCtx := chromedp.NewContext(actx)
	ctx, cancelTimeout := context.WithTimeout(ctx, timeout)
	t.Cleanup(func() { cancelTimeout(); cancelCtx(); cancelAlloc() })
	if err := chromedp.Do(ctx, chromedp.Navigate("about:blank")); err != nil {
		t.Fatalf("start Chromium: %v", err)
	}
	return ctx
}

func TestBrowserLoginWithTOTP(t *testing.T) {
	srv := startServer(t, nil)
	ctx := context.Background()
	tn, users := srv.mustTenant(t, "acme", tma.RoleThreatManager)
	u := users[0]

	// The user enrolled an authenticator app earlier (with the code of the
	// previous 30-second step, so the current code is fresh for sign-in).
	as := srv.Auth
	login, err := as.Login(ctx, tma.LoginRequest{Tenant: "acme", Email: u.Email, Password: testPassword, IP: "127.0.0.1"})
	if err != nil {
		t.Fatal(err)
	}
	enr, err := as.BeginTOTP(ctx, tn.ID, u.ID)
	if err != nil {
		t.Fatal(err)
	}
	earlier, _ := totp.GenerateCode(enr.Secret, time.Now().Add(-30*time.Second))
	if _, _, err := as.ConfirmTOTP(ctx, login.Token, testPassword, earlier); err != nil {
		t.Fatal(err)
	}

	b := newBrowser(t, "de-DE,de;q=0.9,en;q=0.5")
	err = chromedp.Do(b,
		chromedp.Navigate(srv.URL+"/"),
		chromedp.WaitVisible(chromedp.ID("login-form")),
		chromedp.SetValue(chromedp.ID("tenant"), "acme"),
		chromedp.SendKeys(chromedp.ID("email"), u.Email),
		chromedp.SendKeys(chromedp.ID("password"), testPassword),
		chromedp.Submit(chromedp.ID("login-form")),
		chromedp.WaitVisible(chromedp.ID("mfa-form")),
	)
	if err != nil {
		t.Fatalf("password step: %v", err)
	}
	if h, err := chromedp.Run(b, chromedp.Text(chromedp.CSS("h1"))); err != nil || h != "Bestätigen Sie Ihre Identität" {
		t.Errorf("MFA page heading = %q (%v), want the German text", h, err)
	}
	code, err := totp.GenerateCode(enr.Secret, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	err = chromedp.Do(b,
		chromedp.SendKeys(chromedp.ID("code"), code),
		chromedp.Submit(chromedp.ID("mfa-form")),
		chromedp.WaitVisible(chromedp.ID("dashboard-heading")),
	)
	if err != nil {
		t.Fatalf("TOTP step: %v", err)
	}
	heading, err := chromedp.Run(b, chromedp.Text(chromedp.ID("dashboard-heading")))
	if err != nil {
		t.Fatal(err)
	}
	lang, err := chromedp.Run(b, chromedp.AttributeValue(chromedp.CSS("html"), "lang"))
	if err != nil {
		t.Fatal(err)
	}
	if lang.Value != "de" || !strings.HasPrefix(heading, "Willkommen, ") {
		t.Errorf("dashboard: lang=%q heading=%q, want German", lang.Value, heading)
	}

	if err := chromedp.Do(b, chromedp.Click(chromedp.ID("logout")), chromedp.WaitVisible(chromedp.ID("login-form"))); err != nil {
		t.Fatalf("logout: %v", err)
	}
	if after, err := chromedp.Run(b, chromedp.Text(chromedp.CSS(".alert"))); err != nil || !strings.Contains(after, "Sitzung ist beendet") {
		t.Errorf("after logout: %q (%v)", after, err)
	}
	// The session is really gone: the dashboard asks for a login again.
	if err := chromedp.Do(b, chromedp.Navigate(srv.URL+"/"), chromedp.WaitVisible(chromedp.ID("login-form"))); err != nil {
		t.Fatal(err)
	}
	if loc, err := chromedp.Run(b, chromedp.Location()); err != nil || !strings.Contains(loc, "/login") {
		t.Errorf("after logout / shows %s (%v)", loc, err)
	}
	events, err := postgres.NewAuditService(srv.DB).FindAuditEvents(ctx, tn.ID, tma.AuditFilter{Limit: 10})
	if err != nil {
		t.Fatal(err)
	}
	var seen []string
	for _, e := range events {
		seen = append(seen, e.Action+"("+e.Detail+")")
	}
	joined := strings.Join(seen, " ")
	if !strings.Contains(joined, "logout()") || !strings.Contains(joined, "login.succeeded(password+totp)") {
		t.Errorf("audit log lacks the TOTP sign-in or the logout: %s", joined)
	}
}

// browserSteps returns a function that runs a named step's actions in b and
// fails the test with the page's text if one fails.
func browserSteps(t *testing.T, b context.Context) func(step string, actions ...chromedp.Action[chromedp.Void]) {
	return func(step string, actions ...chromedp.Action[chromedp.Void]) {
		t.Helper()
		if err := chromedp.Do(b, actions...); err != nil {
			text, _ := chromedp.Run(b, chromedp.Evaluate[string](`document.body ? document.body.innerText : ""`))
			t.Fatalf("%s: %v\n%.2000s", step, err, text)
		}
	}
}
