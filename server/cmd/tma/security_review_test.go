package main

// Security review regression tests. Each one states the secure behaviour and
// fails on the code under review.

import (
	"bytes"
	"compress/gzip"
	"context"
	"net/http"
	"net/url"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tma-portal/tma/server/postgres/pgtest"
	"github.com/tma-portal/tma/server/tma"
)

// An admin creates an ordinary user with a password the admin chose (or
// resets it), signs in as that user and keeps the session. When the
// operator later grants the auditor role, the admin reads the audit log.
func TestReviewOperatorGrantKeepsAdminKnownCredentials(t *testing.T) {
	srv := startServer(t, nil)
	_, users := srv.mustTenant(t, "acme", tma.RoleAdmin)
	admin := users[0]
	c := srv.client(t)
	c.login("acme", admin.Email)
	const chosen = "the admin chose this one"
	if status, body := c.post("/admin/users", url.Values{"name": {"Bob"}, "email": {"bob@acme.example"}, "password": {chosen}, "role_legal": {"on"}}); status != http.StatusOK {
		t.Fatalf("create bob: %d %.200q", status, body)
	}
	// The admin, as bob.
	asBob := srv.client(t)
	asBob.get("/login")
	if status, _ := asBob.post("/login", url.Values{"tenant": {"acme"}, "email": {"bob@acme.example"}, "password": {chosen}}); status != http.StatusSeeOther {
		t.Fatalf("admin signs in as bob: %d", status)
	}

	// The operator makes bob an auditor, as README says only it may.
	if out, err := srv.runCLI(t, "user", "roles", "--tenant", "acme", "--email", "bob@acme.example", "--roles", "auditor"); err != nil {
		t.Fatalf("tma user roles: %v\n%s", err, out)
	}

	deadline := time.Now().Add(2 * time.Second)
	status := 0
	for time.Now().Before(deadline) {
		if status, _ = asBob.get("/audit"); status != http.StatusOK {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if status == http.StatusOK {
		t.Errorf("the admin's session as bob reads /audit after the operator granted auditor")
	}
	if got := srv.signIn(t, "acme", "bob@acme.example", chosen); got == http.StatusSeeOther {
		t.Errorf("the password the admin chose still signs in to the new auditor account")
	}
}

// Attempts to give the auditor role that fail NormalizeRoles (auditor
// together with admin) are refused with 400 and never audited.
func TestReviewRoleComboRefusalsAreAudited(t *testing.T) {
	srv := startServer(t, nil)
	tn, users := srv.mustTenant(t, "acme", tma.RoleAdmin, tma.RoleLegal)
	admin, legal := users[0], users[1]
	c := srv.client(t)
	c.login("acme", admin.Email)
	s1, _ := c.post("/admin/users/"+legal.ID+"/roles", url.Values{"role_admin": {"on"}, "role_auditor": {"on"}})
	s2, _ := c.post("/admin/users", url.Values{"name": {"Eve"}, "email": {"eve@acme.example"}, "password": {"eve's long password"}, "role_admin": {"on"}, "role_auditor": {"on"}})
	s3 := 0
	if st, _ := c.sendJSON(http.MethodPut, "/api/v1/users/"+admin.ID+"/roles", `{"roles":["admin","auditor"]}`); st != 0 {
		s3 = st
	}
	t.Logf("statuses: %d %d %d", s1, s2, s3)
	if got := srv.countEvents(t, tn.ID, tma.AuditChangeRefused); got != 3 {
		t.Errorf("%d of 3 refused auditor grants audited as %s", got, tma.AuditChangeRefused)
	}
}

// An admin may lift an auditor's lockout again and again: the account's
// guessing limit no longer bounds the admin's guesses at the auditor's
// password.
func TestReviewAdminLiftsBoundNoGuessingOfAuditor(t *testing.T) {
	srv := startServer(t, map[string]string{"TMA_THROTTLE_ACCOUNT": "3", "TMA_THROTTLE_ADDRESS": "1000"})
	_, users := srv.mustTenant(t, "acme", tma.RoleAdmin, tma.RoleAuditor)
	admin, auditor := users[0], users[1]
	c := srv.client(t)
	c.login("acme", admin.Email)
	checked := 0
	for round := 0; round < 4; round++ {
		for i := 0; i < 3; i++ {
			if srv.signIn(t, "acme", auditor.Email, "guess number x") == http.StatusUnauthorized {
				checked++
			}
		}
		if status, body := c.post("/admin/users/"+auditor.ID+"/unlock", nil); status != http.StatusOK {
			t.Logf("lift refused: %d %.100q", status, body)
			break
		}
	}
	if checked > 3 {
		t.Errorf("%d password guesses at the auditor's account checked in one window (limit 3), thanks to the admin's lifts", checked)
	}
}

// checkInput decompresses any JSON body (Fiber's Body() honours
// Content-Encoding, nested, without a bound) before authentication, on every
// path: a few KB from anyone allocates hundreds of MB.
func TestReviewCompressedBodyBombPreAuth(t *testing.T) {
	srv := startServer(t, nil)
	var inner bytes.Buffer
	zw, _ := gzip.NewWriterLevel(&inner, gzip.BestCompression)
	zero := make([]byte, 1<<20)
	for i := 0; i < 128; i++ { // 128 MiB of zeros
		zw.Write(zero)
	}
	zw.Close()
	var outer bytes.Buffer
	zw, _ = gzip.NewWriterLevel(&outer, gzip.BestCompression)
	zw.Write(inner.Bytes())
	zw.Close()

	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	req, _ := http.NewRequest(http.MethodPost, srv.URL+"/no/such/page", bytes.NewReader(outer.Bytes()))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Content-Encoding", "gzip, gzip")
	start := time.Now()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	runtime.ReadMemStats(&after)
	alloc := after.TotalAlloc - before.TotalAlloc
	t.Logf("request body %d bytes, status %d, %v, server allocated %d MiB", outer.Len(), resp.StatusCode, time.Since(start), alloc>>20)
	if alloc > 32<<20 {
		t.Errorf("an anonymous %d-byte request made the server allocate %d MiB", outer.Len(), alloc>>20)
	}
}

// A refused account change holds a pooled connection (and the user's row
// lock) while refuse() waits for a second connection to audit it. A few
// concurrent refused requests exhaust the pool (pgxpool default: 4, or
// the number of CPUs) and everything waits for the request deadline.
func TestReviewRefusalsDoNotExhaustThePool(t *testing.T) {
	dbURL := pgtest.URL(t) + "&pool_max_conns=2"
	srv := startServer(t, map[string]string{"TMA_DATABASE_URL": dbURL, "TMA_READ_TIMEOUT": "2s", "TMA_SESSION_CACHE": "0"})
	_, users := srv.mustTenant(t, "acme", tma.RoleAdmin, tma.RoleAuditor)
	admin, auditor := users[0], users[1]
	c := srv.client(t)
	c.login("acme", admin.Email)
	// Warm up: one refusal alone works.
	if status, _ := c.post("/admin/users/"+auditor.ID+"/password", url.Values{"password": {"admin knows this one"}}); status != http.StatusForbidden {
		t.Fatalf("single refusal: %d", status)
	}
	var wg sync.WaitGroup
	statuses := make([]int, 4)
	start := time.Now()
	for i := range statuses {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			form := url.Values{"password": {"admin knows this one"}, "_csrf": {c.csrf}}
			req, _ := http.NewRequestWithContext(context.Background(), http.MethodPost, srv.URL+"/admin/users/"+auditor.ID+"/password", strings.NewReader(form.Encode()))
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			resp, err := c.http.Do(req)
			if err != nil {
				return
			}
			resp.Body.Close()
			statuses[i] = resp.StatusCode
		}(i)
	}
	wg.Wait()
	took := time.Since(start)
	t.Logf("statuses %v in %v", statuses, took)
	for _, s := range statuses {
		if s != http.StatusForbidden {
			t.Errorf("concurrent refusals: statuses %v after %v, want all 403", statuses, took)
			break
		}
	}
}
