package main

import (
	"context"
	"io"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/tma-portal/tma/server/postgres"
	"github.com/tma-portal/tma/server/postgres/pgtest"
	"github.com/tma-portal/tma/server/tma"
)

// testServer is the whole program on a random port with its own database.
type testServer struct {
	*Main
	URL string
}

// testEnv returns the environment of a test installation.
func testEnv(t testing.TB, extra map[string]string) func(string) string {
	t.Helper()
	env := map[string]string{
		"TMA_DATABASE_URL": pgtest.URL(t),
		"TMA_DATA_DIR":     t.TempDir(),
		"TMA_LISTEN":       "127.0.0.1:0",
		"TMA_LOG_LEVEL":    "warn",
	}
	for k, v := range extra {
		env[k] = v
	}
	return func(k string) string { return env[k] }
}

func startServer(t testing.TB, extra map[string]string, opts ...postgres.Option) *testServer {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	cfg, err := LoadConfig(ctx, testEnv(t, extra))
	if err != nil {
		t.Fatal(err)
	}
	m := &Main{Config: cfg, Logger: newLogger(cfg.LogLevel, io.Discard), dbOptions: opts}
	if err := m.Open(ctx); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- m.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("server: %v", err)
		}
		m.Close()
	})
	waitIndexReady(t, m)
	return &testServer{Main: m, URL: "http://" + m.Listener.Addr().String()}
}

// waitIndexReady waits until the server's search index has caught up, as
// a load balancer waits for /readyz.
func waitIndexReady(t testing.TB, m *Main) {
	t.Helper()
	for deadline := time.Now().Add(30 * time.Second); m.Indexer.Ready() != nil; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the search index did not catch up within 30 s")
		}
	}
}

const testPassword = "correct horse battery"

// mustTenant creates a tenant and one user per role, all with testPassword.
func (s *testServer) mustTenant(t *testing.T, slug string, roles ...tma.Role) (*tma.Tenant, []*tma.User) {
	t.Helper()
	ctx := context.Background()
	tn := &tma.Tenant{Slug: slug, Name: "Org " + slug}
	if err := postgres.NewTenantService(s.DB).CreateTenant(ctx, tn); err != nil {
		t.Fatal(err)
	}
	var users []*tma.User
	for _, r := range roles {
		u, err := postgres.NewUserService(s.DB).CreateUser(systemCtx(ctx, tn.ID), tn.ID, tma.NewUser{
			Email: string(r) + "@" + slug + ".example", DisplayName: "User " + string(r) + " " + slug, Password: testPassword,
			Roles: []tma.Role{r},
		})
		if err != nil {
			t.Fatal(err)
		}
		users = append(users, u)
	}
	return tn, users
}

// client is a browser-like HTTP client: cookies, no automatic redirects.
type client struct {
	t    *testing.T
	base string
	http *http.Client
	csrf string
}

func (s *testServer) client(t *testing.T) *client {
	t.Helper()
	jar, _ := cookiejar.New(nil)
	return &client{t: t, base: s.URL, http: &http.Client{
		Jar:           jar,
		Timeout:       20 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}}
}

var csrfRe = regexp.MustCompile(`name="_csrf" value="([^"]+)"`)

// do sends a form (or no body) and returns status, body and headers.
func (c *client) do(method, path string, form url.Values, header map[string]string) (int, string, http.Header) {
	c.t.Helper()
	if form == nil {
		return c.send(method, path, nil, header)
	}
	h := map[string]string{"Content-Type": "application/x-www-form-urlencoded"}
	for k, v := range header {
		h[k] = v
	}
	return c.send(method, path, strings.NewReader(form.Encode()), h)
}

// sendJSON sends a JSON body to the API with the current CSRF token.
func (c *client) sendJSON(method, path, body string) (int, string) {
	c.t.Helper()
	status, b, _ := c.send(method, path, strings.NewReader(body), map[string]string{"Content-Type": "application/json", "X-CSRF-Token": c.csrf})
	return status, b
}

// send sends a request. Pages it reads refresh the client's CSRF token, as
// a browser's forms would.
func (c *client) send(method, path string, body io.Reader, header map[string]string) (int, string, http.Header) {
	c.t.Helper()
	req, err := http.NewRequest(method, c.base+path, body)
	if err != nil {
		c.t.Fatal(err)
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		c.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if m := csrfRe.FindSubmatch(b); m != nil {
		c.csrf = string(m[1])
	}
	return resp.StatusCode, string(b), resp.Header
}

func (c *client) get(path string) (int, string) {
	c.t.Helper()
	status, body, _ := c.do(http.MethodGet, path, nil, nil)
	return status, body
}

// post submits a form with the current CSRF token.
func (c *client) post(path string, form url.Values) (int, string) {
	c.t.Helper()
	if form == nil {
		form = url.Values{}
	}
	form.Set("_csrf", c.csrf)
	status, body, _ := c.do(http.MethodPost, path, form, nil)
	return status, body
}

// login signs in with a password and fails the test if that does not work.
func (c *client) login(tenant, email string) {
	c.t.Helper()
	c.get("/login")
	status, body := c.post("/login", url.Values{"tenant": {tenant}, "email": {email}, "password": {testPassword}})
	if status != http.StatusSeeOther {
		c.t.Fatalf("login %s: status %d: %s", email, status, body)
	}
	if status, _ := c.get("/account"); status != http.StatusOK {
		c.t.Fatalf("after login: /account status %d", status)
	}
}

func freePortClosed(t *testing.T, addr string) bool {
	t.Helper()
	conn, err := net.DialTimeout("tcp", addr, 200*time.Millisecond)
	if err != nil {
		return true
	}
	conn.Close()
	return false
}
