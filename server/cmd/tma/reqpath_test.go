package main

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/tma-portal/tma/server/postgres"
	"github.com/tma-portal/tma/server/tma"
)

// queryLog is a pgx tracer that records the SQL of every query of a pool.
type queryLog struct {
	mu  sync.Mutex
	sql []string
}

func (q *queryLog) TraceQueryStart(ctx context.Context, _ *pgx.Conn, d pgx.TraceQueryStartData) context.Context {
	q.mu.Lock()
	defer q.mu.Unlock()
	sql := strings.Join(strings.Fields(d.SQL), " ")
	if strings.Contains(sql, "FROM search_outbox") {
		return ctx // the search indexer's poll, not a request's
	}
	q.sql = append(q.sql, sql[:min(len(sql), 120)])
	return ctx
}

func (q *queryLog) TraceQueryEnd(context.Context, *pgx.Conn, pgx.TraceQueryEndData) {}

// take returns the queries since the last take.
func (q *queryLog) take() []string {
	q.mu.Lock()
	defer q.mu.Unlock()
	s := q.sql
	q.sql = nil
	return s
}

// waitForCache signs in as user and requests path until the server serves
// the session from its cache, which it does once the listener is listening.
func waitForCache(t *testing.T, srv *testServer, c *client) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for srv.DB.CachedSessions() == 0 {
		if time.Now().After(deadline) {
			t.Fatal("the session cache never filled: is the listener listening?")
		}
		if status, _ := c.get("/"); status != http.StatusOK {
			t.Fatalf("GET /: %d", status)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestOneQueryPerPage counts the queries of signed-in GETs: loading the
// session (with user, roles and tenant) costs at most one query when the
// session is not cached, and none when it is. Pages that show data of their
// own (the account page lists the sessions) add exactly their own queries.
func TestOneQueryPerPage(t *testing.T) {
	log := &queryLog{}
	srv := startServer(t, nil, postgres.WithQueryTracer(log))
	_, users := srv.mustTenant(t, "acme", tma.RoleThreatManager)
	first := srv.client(t)
	first.login("acme", users[0].Email)
	waitForCache(t, srv, first)

	// A new session: its first page finds nothing in the cache.
	c := srv.client(t)
	c.get("/login")
	if status, _ := c.post("/login", url.Values{"tenant": {"acme"}, "email": {users[0].Email}, "password": {testPassword}}); status != http.StatusSeeOther {
		t.Fatalf("login: %d", status)
	}
	// The indexer has loaded what the set-up changed; from now on it
	// only polls the outbox, which the log leaves out.
	waitApplied(t, srv)
	pages := []struct {
		name, path string
		own        int // queries of the page's own content
	}{
		{"dashboard cold", "/", 0},
		{"dashboard warm", "/", 0},
		{"api me warm", "/api/v1/me", 0},
		{"account warm", "/account", 1},
	}
	log.take()
	for i, p := range pages {
		status, body := c.get(p.path)
		if status != http.StatusOK {
			t.Fatalf("%s: GET %s: %d %.200q", p.name, p.path, status, body)
		}
		queries := log.take()
		limit := p.own
		if i == 0 {
			limit++ // cold: one statement loads the session
		}
		if len(queries) > limit {
			t.Errorf("%s: GET %s made %d queries, want at most %d:\n%s", p.name, p.path, len(queries), limit, strings.Join(queries, "\n"))
		}
		if i > 0 {
			for _, q := range queries {
				if strings.Contains(q, "token_hash") {
					t.Errorf("%s: a cached session was loaded again: %s", p.name, q)
				}
			}
		}
	}
}
