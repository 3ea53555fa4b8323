package main

import (
	"bufio"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/tma-portal/tma/server/tma"
)

// formFields lists, for every unsafe route, the fields its handler reads.
// A new form or JSON route must be added here, or TestBadBytesNeverFail
// fails: every field is tried with bytes that no column can store.
var formFields = map[string][]string{
	"POST /login":                                       {"tenant", "email", "password", "next"},
	"POST /login/mfa":                                   {"code", "next"},
	"POST /logout":                                      {"x"},
	"POST /account/password":                            {"current", "new", "confirm"},
	"POST /account/language":                            {"locale"},
	"POST /account/logout-everywhere":                   {"x"},
	"POST /account/mfa":                                 {"password", "code"},
	"POST /account/mfa/remove":                          {"password"},
	"POST /admin/users":                                 {"email", "name", "password", "locale", "role_legal"},
	"POST /admin/users/:id/roles":                       {"role_legal", "role_hr"},
	"POST /admin/users/:id/password":                    {"password"},
	"POST /admin/users/:id/sessions/revoke":             {"x"},
	"POST /admin/users/:id/status":                      {"disabled"},
	"POST /admin/users/:id/unlock":                      {"x"},
	"POST /admin/settings":                              {"require_mfa"},
	"POST /audit/verify":                                {"x"},
	"POST /cases":                                       {"title", "risk", "labels"},
	"POST /cases/:id/state":                             {"status", "risk"},
	"POST /cases/:id/members":                           {"email", "role", "expires"},
	"POST /cases/:id/members/:user":                     {"role", "expires"},
	"POST /cases/:id/members/:user/remove":              {"x"},
	"POST /cases/:id/exclusions":                        {"email"},
	"POST /cases/:id/exclusions/:user/remove":           {"x"},
	"POST /r/:tenant":                                   {"what", "when", "where", "who", "urgency", "categories"},
	"POST /r/:tenant/mailbox":                           {"code"},
	"POST /r/:tenant/mailbox/reply":                     {"code", "text"},
	"POST /reports":                                     {"what", "when", "where", "who", "urgency", "categories", "named"},
	"POST /reports/:id/messages":                        {"text"},
	"POST /intake/:id/messages":                         {"text"},
	"POST /intake/:id/open":                             {"title", "risk", "labels"},
	"POST /intake/:id/merge":                            {"case"},
	"POST /intake/:id/dismiss":                          {"reason"},
	"POST /api/v1/users":                                {"email", "display_name", "password", "locale", "roles"},
	"PUT /api/v1/users/:id/roles":                       {"roles"},
	"POST /cases/:id/approvals/:approval/approve":       {"x"},
	"POST /cases/:id/approvals/:approval/reject":        {"x"},
	"POST /cases/:id/notes":                             {"title", "body", "restricted"},
	"POST /cases/:id/handover":                          {"x"},
	"POST /cases/:id/handover/:approval/accept":         {"x"},
	"POST /cases/:id/persons":                           {"kind", "name", "note", "email"},
	"POST /cases/:id/persons/:person/remove":            {"x"},
	"POST /cases/:id/notes/:note":                       {"title", "body", "restricted", "version"},
	"POST /cases/:id/actions":                           {"title", "owner", "due"},
	"POST /cases/:id/actions/:action":                   {"title", "owner", "due", "status", "outcome"},
	"POST /cases/:id/documents/:doc/versions/:v/delete": {"x"},
	"POST /cases/:id/wiki":                              {"page"},
	"POST /cases/:id/wiki/:page/remove":                 {"x"},
	"POST /wiki/preview":                                {"body", "space", "page"},
	"POST /wiki/:space/pages":                           {"title", "slug", "parent", "template"},
	"POST /wiki/:space/settings":                        {"read", "edit"},
	"POST /wiki/:space/:page":                           {"title", "body", "message", "base"},
	"POST /wiki/:space/:page/revisions/:rev/restore":    {"x"},
	"POST /wiki/:space/:page/access":                    {"narrow", "read", "hidden"},
	"POST /wiki/:space/:page/apply":                     {"case", "revision"},
	"POST /instruments":                                 {"source"},
	"POST /cases/:id/assessments":                       {"instrument"},
	"POST /cases/:id/assessments/:assessment":           {"revision", "rating.x", "evidence.x", "rationale.x", "links.x", "judgment.x", "judgment_rationale.x"},
	"POST /cases/:id/assessments/:assessment/submit":    {"revision", "rating.x", "evidence.x", "rationale.x", "links.x", "judgment.x", "judgment_rationale.x"},
	"POST /cases/:id/assessments/:assessment/approve":   {"x"},
	"POST /cases/:id/assessments/:assessment/reject":    {"x"},
	"POST /cases/:id/assessments/:assessment/discard":   {"x"},
}

// uploadFields lists the upload routes (streamed multipart bodies, which
// nothing parses before authorization) with the part header their handler
// reads: the file name.
var uploadFields = map[string][]string{
	"POST /cases/:id/documents":               {"filename"},
	"POST /cases/:id/documents/:doc/versions": {"filename"},
	"POST /wiki/:space/:page/attachments":     {"filename"},
}

// badValues are the byte sequences of the defect report: invalid UTF-8 and
// a NUL, alone and inside text.
var badValues = map[string]string{
	"invalid UTF-8": "\xc3\x28",
	"NUL":           "a\x00b",
	"invalid tail":  "Hannah \xff",
}

// TestBadBytesNeverFail sends invalid UTF-8 and NUL bytes in every field of
// every form and JSON route, in the query of every GET route, and in the
// headers that are stored: user input gets a clear 400, stored headers are
// cleaned, and nothing ever answers 5xx.
func TestBadBytesNeverFail(t *testing.T) {
	srv := startServer(t, nil)
	_, users := srv.mustTenant(t, "acme", tma.RoleAdmin, tma.RoleLegal)
	admin, legal := users[0], users[1]
	c := srv.client(t)
	c.login("acme", admin.Email)

	routes := srv.Web.App().GetRoutes(true)
	seen := map[string]bool{}
	for _, r := range routes {
		key := r.Method + " " + r.Path
		if seen[key] {
			continue
		}
		seen[key] = true
		path := strings.NewReplacer(":id", legal.ID, ":name", "app.css", ":tenant", "acme").Replace(r.Path)
		switch r.Method {
		case http.MethodGet, http.MethodHead:
			for name, bad := range badValues {
				for _, q := range []string{"next", "action", "before", "v", "ended", "x"} {
					status, body, _ := c.do(r.Method, path+"?"+q+"="+url.QueryEscape(bad), nil, nil)
					if status >= 500 {
						t.Errorf("%s ?%s=%s: status %d: %.200q", key, q, name, status, body)
					}
					if status != http.StatusBadRequest {
						t.Errorf("%s ?%s=%s: status %d, want 400", key, q, name, status)
					}
				}
			}
		case http.MethodPost, http.MethodPut:
			if _, ok := uploadFields[key]; ok {
				// An upload's body is read only after authorization, and
				// the admin may not upload: a clear refusal, never a 5xx.
				for name, bad := range badValues {
					status, body, _ := c.send(r.Method, path, strings.NewReader("--b\r\nContent-Disposition: form-data; name=\"file\"; filename=\""+bad+"\"\r\n\r\nx\r\n--b--\r\n"),
						map[string]string{"Content-Type": "multipart/form-data; boundary=b", "X-CSRF-Token": c.csrf})
					if status < 400 || status >= 500 {
						t.Errorf("%s file name %s: status %d, want 4xx: %.200q", key, name, status, body)
					}
				}
				continue
			}
			fields, ok := formFields[key]
			if !ok {
				t.Errorf("route %s is not in formFields: list the fields its handler reads", key)
				continue
			}
			json := strings.HasPrefix(r.Path, "/api/")
			for _, field := range fields {
				for name, bad := range badValues {
					var status int
					var body string
					if json {
						status, body = c.sendJSON(r.Method, path, jsonWith(field, bad))
					} else {
						status, body = c.post(path, url.Values{field: {bad}})
					}
					if status != http.StatusBadRequest {
						t.Errorf("%s field %s (%s): status %d, want 400: %.200q", key, field, name, status, body)
					}
					if !json && !strings.Contains(body, "not allowed") {
						t.Errorf("%s field %s (%s): the page does not say what is wrong: %.300q", key, field, name, body)
					}
				}
			}
			// A JSON string may also spell the NUL as an escape.
			if json {
				status, body := c.sendJSON(r.Method, path, `{"`+fields[0]+`":"a\u0000b"}`)
				if status != http.StatusBadRequest {
					t.Errorf("%s: escaped NUL: status %d, want 400: %.200q", key, status, body)
				}
			}
		}
	}
	var missing []string
	for key := range uploadFields {
		if !seen[key] {
			missing = append(missing, key)
		}
	}
	for key := range formFields {
		if !seen[key] {
			missing = append(missing, key)
		}
	}
	sort.Strings(missing)
	if len(missing) > 0 {
		t.Errorf("formFields lists routes the router does not have: %v", missing)
	}

	// Headers that are only stored are cleaned: a correct sign-in with a
	// broken User-Agent works (the Go client refuses to send such bytes,
	// so this goes over a raw connection).
	anon := srv.client(t)
	anon.get("/login")
	u, _ := url.Parse(srv.URL)
	var cookies []string
	for _, ck := range anon.http.Jar.Cookies(u) {
		cookies = append(cookies, ck.Name+"="+ck.Value)
	}
	form := url.Values{"tenant": {"acme"}, "email": {legal.Email}, "password": {testPassword}, "_csrf": {anon.csrf}}.Encode()
	status := rawStatus(t, srv, "POST /login HTTP/1.1\r\nHost: x\r\nUser-Agent: Mozilla \xc3\x28\x00 evil\r\n"+
		"Cookie: "+strings.Join(cookies, "; ")+"\r\nContent-Type: application/x-www-form-urlencoded\r\n"+
		fmt.Sprintf("Content-Length: %d\r\nConnection: close\r\n\r\n", len(form))+form)
	if status != http.StatusSeeOther && status != http.StatusBadRequest {
		t.Errorf("sign-in with a broken User-Agent: status %d, want 303", status)
	}
	if status == http.StatusBadRequest {
		// fasthttp itself refuses NUL in a header; then try without it.
		status = rawStatus(t, srv, "POST /login HTTP/1.1\r\nHost: x\r\nUser-Agent: Mozilla \xc3\x28\x01\xff evil\r\n"+
			"Cookie: "+strings.Join(cookies, "; ")+"\r\nContent-Type: application/x-www-form-urlencoded\r\n"+
			fmt.Sprintf("Content-Length: %d\r\nConnection: close\r\n\r\n", len(form))+form)
		if status != http.StatusSeeOther {
			t.Errorf("sign-in with an invalid UTF-8 User-Agent: status %d, want 303", status)
		}
	}
	for name, h := range map[string]string{
		"Accept-Language": "de\xc3\x28", "X-Request-ID": "abc\xff\xfe12345678", "Cookie": "tma_session=\xc3\x28",
		"X-Forwarded-For": "\xc3\x28", "Content-Type": "application/x-www-form-urlencoded\xff",
	} {
		status := rawStatus(t, srv, "GET /login HTTP/1.1\r\nHost: x\r\n"+name+": "+h+"\r\nConnection: close\r\n\r\n")
		if status >= 500 || status == 0 {
			t.Errorf("header %s with bad bytes: status %d", name, status)
		}
	}
}

// jsonWith is a JSON object with field set to a string of raw bytes (for
// "roles", a list holding it), written by hand so the bytes stay raw.
func jsonWith(field, raw string) string {
	if field == "roles" {
		return `{"roles":["` + raw + `"]}`
	}
	return `{"` + field + `":"` + raw + `"}`
}

// rawStatus writes a raw HTTP request and returns the response status.
func rawStatus(t *testing.T, srv *testServer, req string) int {
	t.Helper()
	conn, err := net.DialTimeout("tcp", srv.Listener.Addr().String(), 2*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := conn.Write([]byte(req)); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Errorf("no response to %.60q: %v", req, err)
		return 0
	}
	resp.Body.Close()
	return resp.StatusCode
}

// TestHeadMatchesGet walks the router: HEAD answers every GET route with the
// same status and headers as GET, and no body; signed in and not.
func TestHeadMatchesGet(t *testing.T) {
	srv := startServer(t, nil)
	_, users := srv.mustTenant(t, "acme", tma.RoleAdmin, tma.RoleAuditor)
	admin, auditor := users[0], users[1]
	as := map[string]*client{"anonymous": srv.client(t), "admin": srv.client(t), "auditor": srv.client(t)}
	as["admin"].login("acme", admin.Email)
	as["auditor"].login("acme", auditor.Email)
	gets := 0
	for _, r := range srv.Web.App().GetRoutes(true) {
		if r.Method != http.MethodGet {
			continue
		}
		gets++
		path := strings.NewReplacer(":id", admin.ID, ":name", "app.css").Replace(r.Path)
		for who, c := range as {
			gs, _, gh := c.do(http.MethodGet, path, nil, nil)
			hs, hb, hh := c.do(http.MethodHead, path, nil, nil)
			if hs != gs {
				t.Errorf("%s: HEAD %s: status %d, GET %d", who, path, hs, gs)
			}
			if hb != "" {
				t.Errorf("%s: HEAD %s has a body: %.100q", who, path, hb)
			}
			for _, h := range []string{"Content-Type", "Location", "Cache-Control", "Content-Security-Policy", "X-Frame-Options"} {
				if gh.Get(h) != hh.Get(h) {
					t.Errorf("%s: %s: header %s: HEAD %q, GET %q", who, path, h, hh.Get(h), gh.Get(h))
				}
			}
		}
	}
	if gets < 10 {
		t.Fatalf("only %d GET routes found; is the route walk broken?", gets)
	}
}

// TestFormFieldsComeFromTheBody: a form field in the query string is
// ignored (URLs end up in logs and Referer headers): a user described only
// in the URL is not created.
func TestFormFieldsComeFromTheBody(t *testing.T) {
	srv := startServer(t, nil)
	_, users := srv.mustTenant(t, "acme", tma.RoleAdmin)
	c := srv.client(t)
	c.login("acme", users[0].Email)
	q := url.Values{"email": {"q@acme.example"}, "name": {"Query"}, "password": {"a long password 1"}, "role_legal": {"on"}}
	status, body := c.post("/admin/users?"+q.Encode(), nil)
	if status != http.StatusBadRequest || strings.Contains(body, "q@acme.example") {
		t.Fatalf("fields in the query string: status %d, want 400 and no user: %.300q", status, body)
	}
}
