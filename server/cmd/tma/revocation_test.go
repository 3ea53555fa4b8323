package main

import (
	"bufio"
	"context"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"testing"
	"time"

	"github.com/tma-portal/tma/server/postgres"
	"github.com/tma-portal/tma/server/postgres/pgtest"
	"github.com/tma-portal/tma/server/tma"
)

// process is a `tma serve` process of a test.
type process struct {
	cmd  *exec.Cmd
	base string
}

// startProcess runs `tma serve` on dbURL and returns once it serves.
func startProcess(t *testing.T, bin, dbURL string) *process {
	t.Helper()
	cmd := exec.Command(bin, "serve")
	cmd.Env = append(os.Environ(), "TMA_DATABASE_URL="+dbURL, "TMA_DATA_DIR="+t.TempDir(), "TMA_LISTEN=127.0.0.1:0",
		"TMA_LOG_LEVEL=info", "TMA_SHUTDOWN_TIMEOUT=5s")
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	})
	addr := make(chan string, 1)
	go func() { // reads the log to its end, so that the process never blocks on it
		re := regexp.MustCompile(`"url":"http://([^"]+)"`)
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			if m := re.FindStringSubmatch(sc.Text()); m != nil {
				addr <- m[1]
			}
		}
	}()
	select {
	case a := <-addr:
		return &process{cmd: cmd, base: "http://" + a}
	case <-time.After(20 * time.Second):
		t.Fatal("tma serve did not start")
		return nil
	}
}

// listener is the application_name of the process's listener connection.
func (p *process) listener() string {
	return postgres.ListenerName + " " + strconv.Itoa(p.cmd.Process.Pid)
}

// waitListening waits until the process's listener connection has run
// LISTEN, so that its session cache is in use.
func (p *process) waitListening(t *testing.T, db *postgres.DB) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		var n int
		err := db.Pool.QueryRow(context.Background(), `SELECT count(*) FROM pg_stat_activity
			WHERE application_name = $1 AND state = 'idle' AND query IN ('LISTEN tma_session_cache', 'SELECT 1')`, p.listener()).Scan(&n)
		if err != nil {
			t.Fatal(err)
		}
		if n == 1 {
			time.Sleep(50 * time.Millisecond) // the cache goes live just after LISTEN returns
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s is not listening", p.listener())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// status requests path with the session token and no cookie jar: a refusal
// clears the cookie, and that must not decide what the other process sees.
func status(t *testing.T, base, path, token string) int {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, base+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.AddCookie(&http.Cookie{Name: "tma_session", Value: token})
	resp, err := http.DefaultTransport.RoundTrip(req)
	if err != nil {
		t.Fatalf("GET %s%s: %v", base, path, err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// TestRevocationReachesEveryProcess runs two `tma serve` processes on one
// database. A session is used on both, so both have it cached; then an
// admin on process A revokes the session, removes a role, or disables the
// user. A must refuse at once, and B within one second, also when B's
// listener connection was killed just before the change (B then missed the
// notification and must not trust what it had cached).
func TestRevocationReachesEveryProcess(t *testing.T) {
	ctx := context.Background()
	bin := buildTMA(t)
	dbURL := pgtest.URL(t)
	db, err := postgres.Open(ctx, dbURL)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(db.Close)
	users := postgres.NewUserService(db)
	tn := &tma.Tenant{Slug: "acme", Name: "Acme"}
	if err := postgres.NewTenantService(db).CreateTenant(ctx, tn); err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, email := range []string{"admin@acme.example", "victim@acme.example"} {
		u, err := users.CreateUser(systemCtx(ctx, tn.ID), tn.ID, tma.NewUser{Email: email, DisplayName: email, Password: testPassword,
			Roles: []tma.Role{tma.RoleAdmin, tma.RoleThreatManager}})
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, u.ID)
	}
	victim := ids[1]

	a, b := startProcess(t, bin, dbURL), startProcess(t, bin, dbURL)
	a.waitListening(t, db)
	b.waitListening(t, db)
	admin := (&testServer{URL: a.base}).client(t)
	admin.login("acme", "admin@acme.example")

	// signIn signs the victim in through A and returns the session token.
	signIn := func() string {
		c := (&testServer{URL: a.base}).client(t)
		c.login("acme", "victim@acme.example")
		u, _ := url.Parse(a.base)
		for _, k := range c.http.Jar.Cookies(u) {
			if k.Name == "tma_session" {
				return k.Value
			}
		}
		t.Fatal("no session cookie")
		return ""
	}
	adminPost := func(path string, form url.Values) {
		if st, body := admin.post("/admin/users/"+victim+path, form); st != http.StatusOK {
			t.Fatalf("POST %s: %d %.300q", path, st, body)
		}
	}
	changes := []struct {
		name   string
		page   string // a page the victim could open before
		change func()
		want   int // what the page answers after the change
	}{
		{"session revoked", "/", func() { adminPost("/sessions/revoke", nil) }, http.StatusSeeOther},
		{"role removed", "/admin/users", func() { adminPost("/roles", url.Values{"role_threat_manager": {"on"}}) }, http.StatusForbidden},
		{"user disabled", "/", func() { adminPost("/status", url.Values{"disabled": {"true"}}) }, http.StatusSeeOther},
	}
	for _, kill := range []bool{false, true} {
		for _, ch := range changes {
			name := ch.name
			if kill {
				name += " after B's listener was killed"
			}
			t.Run(name, func(t *testing.T) {
				sys := tma.NewContextWithActor(ctx, tma.Actor{TenantID: tn.ID, Label: "test"})
				if err := users.SetDisabled(sys, tn.ID, victim, false); err != nil {
					t.Fatal(err)
				}
				if err := users.SetRoles(sys, tn.ID, victim, []tma.Role{tma.RoleAdmin, tma.RoleThreatManager}); err != nil {
					t.Fatal(err)
				}
				b.waitListening(t, db)
				tok := signIn()
				for _, p := range []*process{a, b, a, b} { // the second round is served from the caches
					if st := status(t, p.base, ch.page, tok); st != http.StatusOK {
						t.Fatalf("before: GET %s on %s: %d", ch.page, p.base, st)
					}
				}
				if kill {
					var killed bool
					err := db.Pool.QueryRow(ctx, `SELECT coalesce(bool_or(pg_terminate_backend(pid)), false)
						FROM pg_stat_activity WHERE application_name = $1`, b.listener()).Scan(&killed)
					if err != nil || !killed {
						t.Fatalf("kill B's listener: %v %v", killed, err)
					}
				}
				ch.change()
				if st := status(t, a.base, ch.page, tok); st != ch.want {
					t.Fatalf("A (which made the change) answers %d, want %d", st, ch.want)
				}
				deadline := time.Now().Add(time.Second)
				for {
					st := status(t, b.base, ch.page, tok)
					if st == ch.want {
						break
					}
					if st != http.StatusOK {
						t.Fatalf("B answers %d", st)
					}
					if time.Now().After(deadline) {
						t.Fatalf("B still serves the page a second after the change")
					}
					time.Sleep(50 * time.Millisecond)
				}
			})
		}
	}
}
