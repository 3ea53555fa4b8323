package main

import (
	"bytes"
	"context"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/tma-portal/tma/server/postgres"
	"github.com/tma-portal/tma/server/tma"
)

var receiptRe = regexp.MustCompile(`id="receipt-code">([A-Z0-9-]+)<`)

// anonPost posts a form to the anonymous pages as a browser on this site
// would: no CSRF token, no cookie.
func anonPost(c *client, path string, form url.Values, header map[string]string) (int, string, http.Header) {
	c.t.Helper()
	return c.do(http.MethodPost, path, form, header)
}

// TestAnonymousReportRoundTrip: an anonymous report without an account or a
// cookie, a question from the team, the reporter's answer with the receipt
// code; a wrong code is refused, and wrong codes are throttled until even
// the right code is refused.
func TestAnonymousReportRoundTrip(t *testing.T) {
	srv := startServer(t, nil)
	ctx := context.Background()
	tn, users := srv.mustTenant(t, "acme", tma.RoleThreatManager)
	tm := users[0]

	anon := srv.client(t)
	status, body, h := anon.do(http.MethodGet, "/r/acme", nil, nil)
	if status != http.StatusOK || !strings.Contains(body, `id="report-anon"`) {
		t.Fatalf("report page: %d %.300q", status, body)
	}
	if sc := h.Values("Set-Cookie"); len(sc) > 0 {
		t.Fatalf("the anonymous page sets cookies: %q", sc)
	}
	const secret = "He said he would bring his rifle on Friday"
	form := url.Values{"what": {secret}, "when": {"Monday"}, "where": {"Depot"}, "urgency": {"immediate"}, "categories": {"direct_leaking", "violence"}}
	// From another site: refused, nothing stored.
	if status, _, _ := anonPost(anon, "/r/acme", form, map[string]string{"Sec-Fetch-Site": "cross-site"}); status != http.StatusForbidden {
		t.Fatalf("cross-site report: status %d, want 403", status)
	}
	if status, _, _ := anonPost(anon, "/r/acme", form, map[string]string{"Origin": "https://evil.example"}); status != http.StatusForbidden {
		t.Fatalf("report from another origin: status %d, want 403", status)
	}
	status, body, h = anonPost(anon, "/r/acme", form, map[string]string{"Sec-Fetch-Site": "same-origin", "Origin": srv.URL})
	m := receiptRe.FindStringSubmatch(body)
	if status != http.StatusOK || m == nil {
		t.Fatalf("anonymous report: %d %.500q", status, body)
	}
	code := m[1]
	if len(strings.ReplaceAll(code, "-", "")) < 16 {
		t.Fatalf("receipt code %q is too short", code)
	}
	if sc := h.Values("Set-Cookie"); len(sc) > 0 {
		t.Fatalf("filing an anonymous report sets cookies: %q", sc)
	}

	// Stored sealed, the code only as a slow hash, no client address.
	var reportID string
	var content, hash []byte
	if err := srv.DB.Pool.QueryRow(ctx, `SELECT id::text, content, receipt_hash FROM reports WHERE tenant_id = $1`, tn.ID).Scan(&reportID, &content, &hash); err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(content, []byte("rifle")) || bytes.Contains(hash, []byte(strings.ReplaceAll(code, "-", ""))) || len(hash) != 32 {
		t.Fatalf("report stored in clear or code not hashed: content %q hash %x", content, hash)
	}
	var ips int
	if err := srv.DB.Pool.QueryRow(ctx, `SELECT count(*) FROM audit_events WHERE tenant_id = $1 AND action LIKE 'report.%' AND ip <> ''`, tn.ID).Scan(&ips); err != nil || ips != 0 {
		t.Fatalf("audit events of the anonymous reporter carry an address: %d, %v", ips, err)
	}
	var addrKeys int
	if err := srv.DB.Pool.QueryRow(ctx, `SELECT count(*) FROM login_throttle WHERE key LIKE '%127.0.0.1%'`).Scan(&addrKeys); err != nil || addrKeys != 0 {
		t.Fatalf("throttle keys hold the client address: %d, %v", addrKeys, err)
	}

	// The team asks.
	team := srv.client(t)
	team.login("acme", tm.Email)
	if _, body := team.get("/intake"); !strings.Contains(body, "/intake/"+reportID) {
		t.Fatalf("the report is not in the queue: %.500q", body)
	}
	if _, body := team.get("/intake/" + reportID); !strings.Contains(body, secret) {
		t.Fatalf("the team cannot read the report: %.500q", body)
	}
	if status, body := team.post("/intake/"+reportID+"/messages", url.Values{"text": {"Which depot, and who heard it?"}}); status != http.StatusOK {
		t.Fatalf("question: %d %.300q", status, body)
	}

	// The reporter reads it with the code (typed in lower case) and answers.
	status, body, _ = anonPost(anon, "/r/acme/mailbox", url.Values{"code": {strings.ToLower(code)}}, nil)
	if status != http.StatusOK || !strings.Contains(body, "Which depot, and who heard it?") || !strings.Contains(body, secret) {
		t.Fatalf("mailbox: %d %.500q", status, body)
	}
	status, body, _ = anonPost(anon, "/r/acme/mailbox/reply", url.Values{"code": {code}, "text": {"Depot North; Jan heard it too."}}, nil)
	if status != http.StatusOK || !strings.Contains(body, "Depot North; Jan heard it too.") {
		t.Fatalf("answer: %d %.500q", status, body)
	}
	if _, body := team.get("/intake/" + reportID); !strings.Contains(body, "Depot North; Jan heard it too.") {
		t.Fatalf("the team does not see the answer: %.500q", body)
	}

	// A wrong code is refused, for reading and for answering; another
	// tenant's page does not open this report either.
	wrong := tma.NewReceiptCode()
	if status, body, _ := anonPost(anon, "/r/acme/mailbox", url.Values{"code": {wrong}}, nil); status != http.StatusUnauthorized || strings.Contains(body, secret) {
		t.Fatalf("wrong code: %d %.300q", status, body)
	}
	if status, _, _ := anonPost(anon, "/r/acme/mailbox/reply", url.Values{"code": {wrong}, "text": {"spam"}}, nil); status != http.StatusUnauthorized {
		t.Fatalf("answer with a wrong code: %d", status)
	}
	srv.mustTenant(t, "other")
	if status, _, _ := anonPost(anon, "/r/other/mailbox", url.Values{"code": {code}}, nil); status != http.StatusUnauthorized {
		t.Fatalf("the code on another tenant's page: %d, want 401", status)
	}
	var refused int
	if err := srv.DB.Pool.QueryRow(ctx, `SELECT count(*) FROM audit_events WHERE tenant_id = $1 AND action = 'report.code_refused'`, tn.ID).Scan(&refused); err != nil || refused != 2 {
		t.Fatalf("refused codes audited: %d, %v; want 2", refused, err)
	}

	// Throttling: wrong codes until the lockout; then the right code is
	// refused too.
	throttled := false
	for range 10 {
		status, _, _ := anonPost(anon, "/r/acme/mailbox", url.Values{"code": {tma.NewReceiptCode()}}, nil)
		if status == http.StatusTooManyRequests {
			throttled = true
			break
		}
		if status != http.StatusUnauthorized {
			t.Fatalf("wrong code: status %d", status)
		}
	}
	if !throttled {
		t.Fatal("ten wrong codes were never throttled")
	}
	if status, body, _ := anonPost(anon, "/r/acme/mailbox", url.Values{"code": {code}}, nil); status != http.StatusTooManyRequests || strings.Contains(body, secret) {
		t.Fatalf("the right code during the lockout: %d, want 429", status)
	}
	// Submissions are throttled as well.
	throttled = false
	for range 10 {
		status, _, _ := anonPost(anon, "/r/acme", url.Values{"what": {"flood"}, "urgency": {"low"}}, nil)
		if status == http.StatusTooManyRequests {
			throttled = true
			break
		}
	}
	if !throttled {
		t.Fatal("eleven anonymous reports were never throttled")
	}
}

// TestNamedPersonIsExcluded: a report naming a user; that user never sees
// the report or its case, even when added to the case by mistake, and even
// with the threat manager role.
func TestNamedPersonIsExcluded(t *testing.T) {
	srv := startServer(t, nil)
	ctx := context.Background()
	tn, users := srv.mustTenant(t, "acme", tma.RoleEmployee, tma.RoleThreatManager, tma.RoleLegal)
	reporter, tm, named := users[0], users[1], users[2]

	rc := srv.client(t)
	rc.login("acme", reporter.Email)
	rc.get("/reports/new")
	status, body := rc.post("/reports", url.Values{"what": {"Threatened the HR team"}, "urgency": {"high"}, "named": {named.ID}})
	if status != http.StatusSeeOther {
		t.Fatalf("file report: %d %.300q", status, body)
	}
	var reportID string
	if err := srv.DB.Pool.QueryRow(ctx, `SELECT id::text FROM reports WHERE tenant_id = $1`, tn.ID).Scan(&reportID); err != nil {
		t.Fatal(err)
	}
	if _, body := rc.get("/reports/" + reportID); !strings.Contains(body, "Threatened the HR team") {
		t.Fatalf("the reporter cannot follow the report: %.300q", body)
	}

	// The named person becomes a threat manager: the queue hides the
	// report, and its page is "not found".
	if err := postgres.NewUserService(srv.DB).SetRoles(systemCtx(ctx, tn.ID), tn.ID, named.ID, []tma.Role{tma.RoleThreatManager}); err != nil {
		t.Fatal(err)
	}
	nc := srv.client(t)
	nc.login("acme", named.Email)
	if _, body := nc.get("/intake"); strings.Contains(body, reportID) {
		t.Fatal("the named person sees the report in the queue")
	}
	for _, path := range []string{"/intake/" + reportID, "/reports/" + reportID} {
		if status, _ := nc.get(path); status != http.StatusNotFound {
			t.Fatalf("named person GET %s: %d, want 404", path, status)
		}
	}
	nc.get("/")
	for _, action := range []string{"open", "dismiss", "messages"} {
		status, _ := nc.post("/intake/"+reportID+"/"+action, url.Values{"title": {"x"}, "reason": {"x"}, "text": {"x"}})
		if status != http.StatusNotFound {
			t.Fatalf("named person POST %s: %d, want 404", action, status)
		}
	}

	// A threat manager opens the case: the named person is excluded.
	tc := srv.client(t)
	tc.login("acme", tm.Email)
	if _, body := tc.get("/intake"); !strings.Contains(body, reportID) {
		t.Fatal("the report is not in the threat manager's queue")
	}
	tc.get("/intake/" + reportID)
	status, _, h := tc.do(http.MethodPost, "/intake/"+reportID+"/open", url.Values{"_csrf": {tc.csrf}, "title": {"Threats at HR"}, "risk": {"high"}}, nil)
	if status != http.StatusSeeOther || !strings.HasPrefix(h.Get("Location"), "/cases/") {
		t.Fatalf("open case: %d %q", status, h.Get("Location"))
	}
	caseID := strings.TrimPrefix(h.Get("Location"), "/cases/")
	if status, body := tc.get("/cases/" + caseID); status != http.StatusOK || !strings.Contains(body, named.Email) {
		t.Fatalf("the case page does not list the exclusion: %d", status)
	}
	missing, _ := nc.get("/cases/" + tma.NewID())
	if status, _ := nc.get("/cases/" + caseID); status != http.StatusNotFound || missing != http.StatusNotFound {
		t.Fatalf("named person sees the case: %d", status)
	}

	// Added by mistake: the service refuses, and a row put in by hand does
	// not help either.
	status, _ = tc.post("/cases/"+caseID+"/members", url.Values{"email": {named.Email}, "role": {"lead"}})
	if status != http.StatusConflict {
		t.Fatalf("adding the named person: %d, want 409", status)
	}
	if _, err := srv.DB.Pool.Exec(ctx, `INSERT INTO case_members (tenant_id, case_id, user_id, role) VALUES ($1, $2, $3, 'lead')`, tn.ID, caseID, named.ID); err != nil {
		t.Fatal(err)
	}
	if status, _ := nc.get("/cases/" + caseID); status != http.StatusNotFound {
		t.Fatalf("named person, made lead by hand, sees the case: %d", status)
	}
	if _, body := nc.get("/cases"); strings.Contains(body, caseID) {
		t.Fatal("the case is in the named person's list")
	}

	// Merging a second report that names them into a case they lead
	// takes them off it too.
	other := srv.client(t)
	other.login("acme", reporter.Email)
	other.get("/reports/new")
	if status, _ := other.post("/reports", url.Values{"what": {"Again"}, "urgency": {"low"}, "named": {named.ID}}); status != http.StatusSeeOther {
		t.Fatal("second report")
	}
	var second string
	if err := srv.DB.Pool.QueryRow(ctx, `SELECT id::text FROM reports WHERE tenant_id = $1 AND id <> $2`, tn.ID, reportID).Scan(&second); err != nil {
		t.Fatal(err)
	}
	target, err := postgres.NewCaseService(srv.DB).CreateCase(tma.NewContextWithActor(ctx, tma.Actor{UserID: tm.ID, TenantID: tn.ID, Label: tm.Email}),
		tn.ID, tma.NewCase{Title: "Earlier case"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := srv.DB.Pool.Exec(ctx, `INSERT INTO case_members (tenant_id, case_id, user_id, role) VALUES ($1, $2, $3, 'expert')`, tn.ID, target.ID, named.ID); err != nil {
		t.Fatal(err)
	}
	if status, _ := nc.get("/cases/" + target.ID); status != http.StatusOK {
		t.Fatalf("before the merge the member sees the earlier case: %d", status)
	}
	tc.get("/intake/" + second)
	status, _, h = tc.do(http.MethodPost, "/intake/"+second+"/merge", url.Values{"_csrf": {tc.csrf}, "case": {target.ID}}, nil)
	if status != http.StatusSeeOther || h.Get("Location") != "/cases/"+target.ID {
		t.Fatalf("merge: %d %q", status, h.Get("Location"))
	}
	if status, _ := nc.get("/cases/" + target.ID); status != http.StatusNotFound {
		t.Fatalf("after the merge the named person still sees the case: %d", status)
	}
	// The merged report opens under the case's key; the intake key is gone.
	if _, body := other.get("/reports/" + second); !strings.Contains(body, "Again") {
		t.Fatalf("the reporter cannot read the merged report: %.300q", body)
	}
	var shredded int
	if err := srv.DB.Pool.QueryRow(ctx, `SELECT count(*) FROM case_keys k JOIN reports r ON r.tenant_id = k.tenant_id AND r.intake_case_id = k.case_id
		WHERE r.id = $1 AND k.shredded_at IS NOT NULL`, second).Scan(&shredded); err != nil || shredded != 1 {
		t.Fatalf("the intake key of the merged report is not shredded: %d, %v", shredded, err)
	}
}
