package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/tma-portal/tma/server/authz"
	"github.com/tma-portal/tma/server/postgres"
	"github.com/tma-portal/tma/server/tma"
)

// The generated tenant of BenchmarkCases.
const (
	benchCases       = 10_000
	benchMembersCase = 10   // memberships per case: 100,000 in all
	benchOtherUsers  = 1000 // users besides the measured one
	benchMyCases     = 25   // cases the measured user is a member of
	benchPageCase    = 1200 // number of the case whose page is measured (the user leads it)

	benchCaseSamples  = 5   // samples per figure, interleaved (list, page, list, …)
	benchCaseRequests = 400 // requests per sample
	benchAuthzBatches = 201 // batches of benchAuthzBatch decisions
	benchAuthzBatch   = 1000
)

var benchCasesOnce sync.Once

// BenchmarkCases measures need-to-know case access on a tenant with 10,000
// cases and 100,000 memberships (generated with SQL), for a threat manager
// who is a member of 25 of them. It prints one line:
//
//	authz_case_check_us=<n> case_list_p95_ms=<n> case_page_p95_ms=<n> cases=<n> memberships=<n>
//
// where
//
//   - authz_case_check_us: one decision of the enforcer for a case route,
//     CanCase with the case roles the request carries (CaseAccess.Roles at
//     the time of the request), as authorizeCase makes it; the median over
//     batches of 1,000 decisions. The enforcer memoizes its decisions, so
//     this is the steady state; the first, unmemoized decision of a fresh
//     enforcer is printed on the "#" line.
//   - case_list_p95_ms: GET /cases ("my cases", 25 rows) through the real
//     server: session middleware, CSRF token, authorization, one statement,
//     template. One keep-alive connection, requests one after another, so
//     the figure is the latency of the page, not queueing behind other
//     requests; the session cache is warm (the steady state of a signed-in
//     user; the list itself is never cached).
//   - case_page_p95_ms: GET /cases/:id of a case the user leads (10 members,
//     the management forms), likewise, with the session and case-access
//     caches warm.
//
// Each p95 is the median of five samples of 400 requests, list and page
// samples interleaved. The "#" line adds the same pages on a second server
// process on the same database with TMA_SESSION_CACHE=0 (cold: every
// request loads its session, and the case page its case access, from the
// database), and both pages under 16 concurrent connections.
func BenchmarkCases(b *testing.B) {
	benchCasesOnce.Do(func() { benchCasesRun(b) })
}

func benchCasesRun(b *testing.B) {
	ctx := context.Background()
	var opts []postgres.Option
	rec := &sqlRecorder{}
	if os.Getenv("TMA_BENCH_EXPLAIN") != "" {
		opts = append(opts, postgres.WithQueryTracer(rec))
	}
	srv := startServer(b, map[string]string{"TMA_LOG_LEVEL": "info"}, opts...) // the default level
	m, base := srv.Main, srv.URL

	tn := &tma.Tenant{Slug: "bench", Name: "Bench"}
	if err := postgres.NewTenantService(m.DB).CreateTenant(ctx, tn); err != nil {
		b.Fatal(err)
	}
	me, err := postgres.NewUserService(m.DB).CreateUser(systemCtx(ctx, tn.ID), tn.ID, tma.NewUser{Email: "tm@bench.example", DisplayName: "Bench",
		Password: testPassword, Roles: []tma.Role{tma.RoleThreatManager}})
	if err != nil {
		b.Fatal(err)
	}
	t0 := time.Now()
	nCases, nMembers, pageCase := benchGenerateCases(b, m.Config.DatabaseURL, tn.ID, me.ID)
	b.Logf("generated %d cases and %d memberships in %s", nCases, nMembers, time.Since(t0).Round(time.Millisecond))

	cases := postgres.NewCaseService(m.DB)
	mine, err := cases.MyCases(ctx, tn.ID, me.ID)
	if err != nil {
		b.Fatal(err)
	}
	if len(mine) != benchMyCases {
		b.Fatalf("the user is a member of %d cases, want %d", len(mine), benchMyCases)
	}

	// (1) One authorization decision for a case route.
	enf, err := authz.New()
	if err != nil {
		b.Fatal(err)
	}
	access, err := cases.Access(ctx, tn.ID, me.ID, pageCase)
	if err != nil {
		b.Fatal(err)
	}
	if access.Role != tma.CaseLead {
		b.Fatalf("the user's role in the measured case is %q, want lead", access.Role)
	}
	firstUS := benchFirstDecision(b, me, access)
	checkUS := benchAuthz(b, func() bool {
		return enf.CanCase(me, access.Roles(time.Now()), tma.PermCasesRead, tma.CasePermRead)
	})
	// The same with the case access from the cache, as a request with a
	// warm cache gets it.
	withAccessUS := benchAuthz(b, func() bool {
		a, err := cases.Access(ctx, tn.ID, me.ID, pageCase)
		return err == nil && enf.CanCase(me, a.Roles(time.Now()), tma.PermCasesRead, tma.CasePermRead)
	})

	// (2) and (3) through the HTTP stack.
	cookie := benchLogin(b, base)
	listPath, pagePath := "/cases", "/cases/"+pageCase
	list := string(benchGetPath(b, base, listPath, cookie))
	for _, c := range mine {
		if !strings.Contains(list, c.Reference) {
			b.Fatalf("the list page lacks %s", c.Reference)
		}
	}
	if strings.Count(list, `href="/cases/`) < benchMyCases {
		b.Fatalf("the list page links %d cases, want at least %d", strings.Count(list, `href="/cases/`), benchMyCases)
	}
	if page := string(benchGetPath(b, base, pagePath, cookie)); !strings.Contains(page, "TM-") {
		b.Fatal("the case page shows no reference")
	}
	for deadline := time.Now().Add(10 * time.Second); m.DB.CachedSessions() == 0; benchGetPath(b, base, pagePath, cookie) {
		if time.Now().After(deadline) {
			b.Fatal("the session cache never filled")
		}
		time.Sleep(20 * time.Millisecond)
	}

	if os.Getenv("TMA_BENCH_EXPLAIN") != "" {
		benchExplain(b, m.Config.DatabaseURL, rec, func() {
			benchGetPath(b, base, listPath, cookie)
			benchGetPath(b, base, pagePath, cookie)
		})
	}

	// A second process on the same database without any cache: cold.
	cold := startServer(b, map[string]string{"TMA_LOG_LEVEL": "info", "TMA_DATABASE_URL": m.Config.DatabaseURL, "TMA_SESSION_CACHE": "0"})
	coldCookie := benchLogin(b, cold.URL)

	b.ResetTimer()
	var listP95, pageP95, coldListP95, coldPageP95 []float64
	for range benchCaseSamples {
		listP95 = append(listP95, benchLatency(b, base, listPath, cookie, 1))
		pageP95 = append(pageP95, benchLatency(b, base, pagePath, cookie, 1))
	}
	for range 3 {
		coldListP95 = append(coldListP95, benchLatency(b, cold.URL, listPath, coldCookie, 1))
		coldPageP95 = append(coldPageP95, benchLatency(b, cold.URL, pagePath, coldCookie, 1))
	}
	conc := 16
	concList := benchLatency(b, base, listPath, cookie, conc)
	concPage := benchLatency(b, base, pagePath, cookie, conc)
	b.StopTimer()

	fmt.Printf("\nauthz_case_check_us=%.3f case_list_p95_ms=%.2f case_page_p95_ms=%.2f cases=%d memberships=%d\n",
		checkUS, median(listP95), median(pageP95), nCases, nMembers)
	fmt.Printf("# samples: list_p95_ms=%.2f page_p95_ms=%.2f; authz first decision (unmemoized) %.1f us, with the cached case access %.3f us;"+
		" cold (TMA_SESSION_CACHE=0) list_p95_ms=%.2f page_p95_ms=%.2f; %d connections list_p95_ms=%.2f page_p95_ms=%.2f\n",
		listP95, pageP95, firstUS, withAccessUS, median(coldListP95), median(coldPageP95), conc, concList, concPage)
}

// benchGenerateCases fills the tenant with SQL on a connection of its own
// (outside the server's pool): benchOtherUsers users, benchCases cases with
// consecutive references and the reference counter that goes with them,
// benchMembersCase memberships per case (a lead, experts, read-only
// members, some expired or expiring), exclusions of other users in a
// tenth of the cases, and the measured user me in benchMyCases cases (and
// excluded from 25 others). It returns the number of cases and memberships
// of the tenant and the id of case benchPageCase.
func benchGenerateCases(b *testing.B, dbURL, tenantID, me string) (nCases, nMembers int, pageCase string) {
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, dbURL)
	if err != nil {
		b.Fatal(err)
	}
	defer conn.Close(ctx)
	tx, err := conn.Begin(ctx)
	if err != nil {
		b.Fatal(err)
	}
	defer tx.Rollback(ctx) //nolint:errcheck // a no-op after Commit
	year := time.Now().UTC().Year()
	every := benchCases / benchMyCases // me is a member of every every-th case
	steps := []struct {
		sql  string
		args []any
	}{
		{`INSERT INTO users (tenant_id, email, display_name, password_hash)
			SELECT $1, format('member-%s@bench.example', lpad(n::text, 4, '0')), format('Member %s', n), '!'
			FROM generate_series(0, $2 - 1) n`, []any{tenantID, benchOtherUsers}},
		{`INSERT INTO user_roles (tenant_id, user_id, role)
			SELECT u.tenant_id, u.id, (ARRAY['threat_manager', 'legal', 'hr', 'compliance'])[1 + abs(hashtext(u.email)) % 4]
			FROM users u WHERE u.tenant_id = $1 AND u.email LIKE 'member-%'`, []any{tenantID}},
		{`INSERT INTO cases (tenant_id, reference, title, status, risk, labels, created_at, updated_at)
			SELECT $1, format('TM-%s-%s', $2::int, lpad(n::text, greatest(4, length(n::text)), '0')), format('Generated case %s', n),
				(ARRAY['new', 'assessing', 'defusing', 'monitoring', 'closed'])[1 + n % 5],
				(ARRAY['unrated', 'low', 'moderate', 'high', 'imminent'])[1 + n % 5],
				CASE WHEN n % 3 = 0 THEN ARRAY['stalking', 'site ' || n % 7] ELSE '{}' END,
				now() - (n * interval '1 hour'), now() - ((n * 7919 % $3) * interval '1 minute')
			FROM generate_series(1, $3) n`, []any{tenantID, year, benchCases}},
		{`INSERT INTO case_counters (tenant_id, year, last) VALUES ($1, $2, $3)`, []any{tenantID, year, benchCases}},
		// Member k of case n is user (7n + 101k) mod 1000: ten different
		// users per case. Slot 9 of every every-th case is me instead.
		{`WITH u AS (SELECT id, split_part(split_part(email, '@', 1), '-', 2)::int AS n FROM users WHERE tenant_id = $1 AND email LIKE 'member-%'),
			c AS (SELECT id, split_part(reference, '-', 3)::int AS n FROM cases WHERE tenant_id = $1)
			INSERT INTO case_members (tenant_id, case_id, user_id, role, expires_at, added_at)
			SELECT $1, c.id,
				CASE WHEN k = 9 AND c.n % $3 = 0 THEN $2::uuid ELSE u.id END,
				CASE WHEN k = 9 AND c.n % $3 = 0 THEN (ARRAY['lead', 'expert', 'read_only'])[1 + (c.n / $3) % 3]
					WHEN k = 0 THEN 'lead' WHEN k <= 3 THEN 'expert' ELSE 'read_only' END,
				CASE WHEN k = 9 AND c.n % $3 = 0 THEN NULL
					WHEN k = 8 AND c.n % 5 = 0 THEN now() - interval '1 day'
					WHEN k = 7 AND c.n % 5 = 0 THEN now() + interval '30 days' END,
				now() - (c.n * interval '1 hour')
			FROM c CROSS JOIN generate_series(0, $4 - 1) k
			JOIN u ON u.n = (7 * c.n + 101 * k) % $5`, []any{tenantID, me, every, benchMembersCase, benchOtherUsers}},
		// Offset 500 is never a member's: 101k mod 1000 for k < 10 is not.
		{`WITH u AS (SELECT id, split_part(split_part(email, '@', 1), '-', 2)::int AS n FROM users WHERE tenant_id = $1 AND email LIKE 'member-%'),
			c AS (SELECT id, split_part(reference, '-', 3)::int AS n FROM cases WHERE tenant_id = $1)
			INSERT INTO case_exclusions (tenant_id, case_id, user_id)
			SELECT $1, c.id, u.id FROM c JOIN u ON u.n = (7 * c.n + 500) % $2 WHERE c.n % 10 = 3`, []any{tenantID, benchOtherUsers}},
		{`INSERT INTO case_exclusions (tenant_id, case_id, user_id)
			SELECT $1, id, $2 FROM cases WHERE tenant_id = $1 AND split_part(reference, '-', 3)::int % $3 = $3 / 2`, []any{tenantID, me, every}},
	}
	for i, s := range steps {
		if _, err := tx.Exec(ctx, s.sql, s.args...); err != nil {
			b.Fatalf("generate, step %d: %v", i+1, err)
		}
	}
	if err := tx.Commit(ctx); err != nil {
		b.Fatal(err)
	}
	// As autovacuum would soon after such a load.
	if _, err := conn.Exec(ctx, `ANALYZE users, user_roles, cases, case_counters, case_members, case_exclusions`); err != nil {
		b.Fatal(err)
	}
	err = conn.QueryRow(ctx, `SELECT (SELECT count(*) FROM cases WHERE tenant_id = $1), (SELECT count(*) FROM case_members WHERE tenant_id = $1),
		(SELECT id::text FROM cases WHERE tenant_id = $1 AND reference = $2)`,
		tenantID, tma.FormatReference(year, benchPageCase)).Scan(&nCases, &nMembers, &pageCase)
	if err != nil {
		b.Fatal(err)
	}
	return nCases, nMembers, pageCase
}

// sqlRecorder records the statements of the pool while on.
type sqlRecorder struct {
	mu sync.Mutex
	on bool
	qs []pgx.TraceQueryStartData
}

func (r *sqlRecorder) TraceQueryStart(ctx context.Context, _ *pgx.Conn, d pgx.TraceQueryStartData) context.Context {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.on {
		r.qs = append(r.qs, d)
	}
	return ctx
}

func (r *sqlRecorder) TraceQueryEnd(context.Context, *pgx.Conn, pgx.TraceQueryEndData) {}

// benchExplain logs EXPLAIN (ANALYZE, BUFFERS) of every statement that
// requests sends (TMA_BENCH_EXPLAIN=1) to var/bench.log.
func benchExplain(b *testing.B, dbURL string, rec *sqlRecorder, requests func()) {
	ctx := context.Background()
	rec.mu.Lock()
	rec.on, rec.qs = true, nil
	rec.mu.Unlock()
	requests()
	rec.mu.Lock()
	rec.on = false
	qs := rec.qs
	rec.mu.Unlock()
	conn, err := pgx.Connect(ctx, dbURL)
	if err != nil {
		b.Fatal(err)
	}
	defer conn.Close(ctx)
	for _, q := range qs {
		rows, err := conn.Query(ctx, "EXPLAIN (ANALYZE, BUFFERS) "+q.SQL, q.Args...)
		if err != nil {
			b.Fatal(err)
		}
		plan, err := pgx.CollectRows(rows, pgx.RowTo[string])
		if err != nil {
			b.Fatal(err)
		}
		// Printed, not logged: the testing package cuts a benchmark's log
		// short. benchfmt.awk drops these lines; var/bench.log keeps them.
		fmt.Printf("\n# %s\n#   %s\n", strings.Join(strings.Fields(q.SQL), " "), strings.Join(plan, "\n#   "))
	}
}

// benchAuthz returns the median time of one call of decide in
// microseconds, over benchAuthzBatches batches of benchAuthzBatch calls.
func benchAuthz(b *testing.B, decide func() bool) float64 {
	if !decide() {
		b.Fatal("the case lead may not read the case")
	}
	per := make([]float64, benchAuthzBatches)
	for i := range per {
		t0 := time.Now()
		for range benchAuthzBatch {
			if !decide() {
				b.Fatal("a decision changed")
			}
		}
		per[i] = float64(time.Since(t0).Nanoseconds()) / benchAuthzBatch / 1e3
	}
	return median(per)
}

// benchFirstDecision returns the median time of the first decision of a
// fresh enforcer, before its memo holds anything, in microseconds.
func benchFirstDecision(b *testing.B, u *tma.User, a tma.CaseAccess) float64 {
	var per []float64
	for range 21 {
		enf, err := authz.New()
		if err != nil {
			b.Fatal(err)
		}
		t0 := time.Now()
		ok := enf.CanCase(u, a.Roles(time.Now()), tma.PermCasesRead, tma.CasePermRead)
		per = append(per, float64(time.Since(t0).Nanoseconds())/1e3)
		if !ok {
			b.Fatal("the case lead may not read the case")
		}
	}
	return median(per)
}

// benchGetPath GETs path with the session cookie and wants 200.
func benchGetPath(b *testing.B, base, path string, cookie *http.Cookie) []byte {
	b.Helper()
	req, _ := http.NewRequest(http.MethodGet, base+path, nil)
	req.AddCookie(cookie)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		b.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		b.Fatalf("GET %s: %s", path, resp.Status)
	}
	return body
}

// benchLatency sends benchCaseRequests GETs of path, spread over conns
// keep-alive connections that each send one request after another, and
// returns the 95th percentile latency in milliseconds.
func benchLatency(b *testing.B, base, path string, cookie *http.Cookie, conns int) float64 {
	tr := &http.Transport{MaxIdleConnsPerHost: conns, MaxConnsPerHost: conns, DisableCompression: true}
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr}
	n := max(benchCaseRequests, 100*conns)
	lat := make([][]time.Duration, conns)
	errs := make([]error, conns)
	var wg sync.WaitGroup
	var warm sync.WaitGroup
	warm.Add(conns)
	for i := range conns {
		wg.Go(func() {
			// One request per connection first, so that no sample pays a
			// dial.
			errs[i] = benchGetWith(client, base+path, cookie)
			warm.Done()
			warm.Wait()
			for range n / conns {
				if errs[i] != nil {
					return
				}
				t0 := time.Now()
				if errs[i] = benchGetWith(client, base+path, cookie); errs[i] != nil {
					return
				}
				lat[i] = append(lat[i], time.Since(t0))
			}
		})
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			b.Fatal(err)
		}
	}
	all := slices.Concat(lat...)
	slices.Sort(all)
	return float64(all[len(all)*95/100]) / float64(time.Millisecond)
}

// benchGetWith GETs url on client, reads the whole body and wants 200.
func benchGetWith(client *http.Client, url string, cookie *http.Cookie) error {
	req, _ := http.NewRequest(http.MethodGet, url, nil)
	req.AddCookie(cookie)
	resp, err := client.Do(req)
	if err == nil {
		_, err = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if err == nil && resp.StatusCode != http.StatusOK {
			err = fmt.Errorf("GET %s: %s", url, resp.Status)
		}
	}
	return err
}
