package main

import (
	"context"
	"fmt"
	"io/fs"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/tma-portal/tma/server/postgres/pgtest"
	"github.com/tma-portal/tma/server/search"
	"github.com/tma-portal/tma/server/tma"
)

const (
	benchSearchSeed    = 2024
	benchSearchBatch   = 1000 // items an Apply, as the indexer's batches
	benchSearchPerPage = 20
)

var benchSearchOnce sync.Once

// BenchmarkSearch compares the server's Bleve index (server/search) with
// PostgreSQL full-text search over the same generated corpus (100,000
// items, 2,000 cases, 5 tenants, German and English) and the same 300
// queries, for two users of one tenant, and prints one line a profile:
//
//	search_profile=<expert|lead> items=<n> bleve_p50_ms=<n> bleve_p95_ms=<n> pg_p50_ms=<n> pg_p95_ms=<n> ratio_p95=<n> index_items_per_s=<n>
//
// The profiles: "expert", a member of 25 cases (restricted notes in 5 of
// them), who reads the wiki as a threat manager; "lead", who sees all 400
// cases of the tenant with their restricted notes, the intake (triage) and
// the wiki as threat manager and legal.
//
// The same work on both sides, per query: the words looked up in German
// and in English, the permission filter (tenant; case ∈ cases, restricted
// notes only in the restricted cases; wiki pages by role grant unless
// hidden from a role held; reports, in the intake or in a case of the
// user, for the team only and unless hidden from the user; the corpus has
// no narrowed wiki pages, so the SQL leaves narrowing out),
// the query's type: filter, the total count of permitted hits, and the
// first page of 20 by relevance.
//
//   - bleve: Index.Search with the profile's scope, as the search page
//     calls it; it also computes the three facets (type, status, month),
//     which the SQL does not. The index is built in a temporary folder by
//     search.Rebuild, filled through Apply in batches of 1,000:
//     index_items_per_s is items over the time of those Applies (analysis
//     in two languages included), measured once.
//   - pg: one statement over a table with a stored tsvector column
//     (to_tsvector('german') || to_tsvector('english') of title and
//     text, titles weighted A) under a GIN index; each word, phrase or
//     prefix is websearch_to_tsquery (prefixes: to_tsquery with :*) in
//     both configurations OR'ed, the parts AND'ed, as Bleve does; the
//     permission filter in SQL; ranked by ts_rank; the total by
//     count(*) OVER ().
//
// Each query runs once per sample, Bleve and PostgreSQL alternately; a
// warm-up pass is not counted. Each figure is the median over three
// samples of the sample's p50 or p95; ratio_p95 is bleve_p95/pg_p95.
func BenchmarkSearch(b *testing.B) {
	benchSearchOnce.Do(func() { benchSearchRun(b) })
}

// benchProfile is a user whose searches are measured.
type benchProfile struct {
	name  string
	scope tma.SearchScope
}

func benchSearchRun(b *testing.B) {
	ctx := context.Background()
	t0 := time.Now()
	corpus := benchGenerate(benchSearchSeed)
	queries := benchQueries(benchSearchSeed)
	var words, bytes int
	for _, d := range corpus.docs {
		words += strings.Count(d.Title, " ") + strings.Count(d.Text, " ") + 2
		bytes += len(d.Title) + len(d.Text)
	}
	genTime := time.Since(t0)

	// Bleve, as `tma reindex` builds it.
	dir := filepath.Join(b.TempDir(), "search")
	var fillTime time.Duration
	t0 = time.Now()
	ix, err := search.Rebuild(ctx, dir, func(ctx context.Context, ix *search.Index) error {
		start := time.Now()
		defer func() { fillTime = time.Since(start) }()
		for i := 0; i < len(corpus.docs); i += benchSearchBatch {
			if err := ix.Apply(ctx, int64(i+1), corpus.docs[i:min(i+benchSearchBatch, len(corpus.docs))], nil); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		b.Fatal(err)
	}
	defer ix.Close()
	rebuildTime := time.Since(t0)
	itemsPerSec := float64(len(corpus.docs)) / fillTime.Seconds()

	// PostgreSQL.
	t0 = time.Now()
	conn, err := pgx.Connect(ctx, pgtest.URL(b))
	if err != nil {
		b.Fatal(err)
	}
	defer conn.Close(ctx)
	pgSize := benchLoadPG(b, conn, corpus)
	pgTime := time.Since(t0)

	tenant := corpus.tenants[0]
	cases := corpus.cases[tenant]
	expert := tma.SearchScope{TenantID: tenant, UserID: corpus.users[tenant][1], Roles: []tma.Role{tma.RoleThreatManager}, Wiki: true,
		Cases: slices.Clone(cases[:benchSearchExpertCase]), RestrictedCases: slices.Clone(cases[:5])}
	lead := tma.SearchScope{TenantID: tenant, UserID: corpus.users[tenant][0], Roles: []tma.Role{tma.RoleThreatManager, tma.RoleLegal},
		Wiki: true, Triage: true, Cases: slices.Clone(cases), RestrictedCases: slices.Clone(cases)}
	profiles := []benchProfile{{"expert", expert}, {"lead", lead}}

	sqls := make([]string, len(queries))
	for i, q := range queries {
		sqls[i] = benchSQL(q)
	}
	type figures struct{ bleveP50, bleveP95, pgP50, pgP95 []float64 }
	figs := make([]figures, len(profiles))
	hits := make([][2]int, len(profiles)) // totals summed over the queries, bleve and pg
	b.ResetTimer()
	for sample := -1; sample < benchSamples; sample++ { // -1: the warm-up
		for pi, p := range profiles {
			var bl, pl []float64
			for qi, q := range queries {
				runBleve := func() {
					t := time.Now()
					r, err := ix.Search(ctx, p.scope, tma.SearchQuery{Text: q.Text, PerPage: benchSearchPerPage})
					if err != nil {
						b.Fatalf("bleve %q: %v", q.Text, err)
					}
					bl = append(bl, benchMS(time.Since(t)))
					if sample == 0 {
						hits[pi][0] += r.Total
					}
				}
				runPG := func() {
					t := time.Now()
					total := benchQueryPG(b, conn, sqls[qi], p.scope, q)
					pl = append(pl, benchMS(time.Since(t)))
					if sample == 0 {
						hits[pi][1] += total
					}
				}
				if qi%2 == 0 {
					runBleve()
					runPG()
				} else {
					runPG()
					runBleve()
				}
			}
			if sample < 0 {
				continue
			}
			f := &figs[pi]
			f.bleveP50, f.bleveP95 = append(f.bleveP50, benchQuantile(bl, 0.50)), append(f.bleveP95, benchQuantile(bl, 0.95))
			f.pgP50, f.pgP95 = append(f.pgP50, benchQuantile(pl, 0.50)), append(f.pgP95, benchQuantile(pl, 0.95))
		}
	}
	b.StopTimer()

	// On lines of their own: the testing package has printed the
	// benchmark's name without a newline.
	fmt.Println()
	for pi, p := range profiles {
		f := figs[pi]
		fmt.Printf("search_profile=%s items=%d bleve_p50_ms=%.2f bleve_p95_ms=%.2f pg_p50_ms=%.2f pg_p95_ms=%.2f ratio_p95=%.2f index_items_per_s=%.0f\n",
			p.name, len(corpus.docs), median(f.bleveP50), median(f.bleveP95), median(f.pgP50), median(f.pgP95), median(f.bleveP95)/median(f.pgP95), itemsPerSec)
	}
	for pi, p := range profiles {
		f := figs[pi]
		fmt.Printf("# samples %s: cases=%d bleve_p50_ms=%.2f bleve_p95_ms=%.2f pg_p50_ms=%.2f pg_p95_ms=%.2f; hits summed over the %d queries: bleve %d, pg %d\n",
			p.name, len(p.scope.Cases), f.bleveP50, f.bleveP95, f.pgP50, f.pgP95, len(queries), hits[pi][0], hits[pi][1])
	}
	fmt.Printf("# corpus: %d items, %d words, %.0f MB of text, generated in %s; bleve: filled in %s, rebuilt (with close and reopen) in %s, %.0f MB on disk, %d segments; pg: loaded and indexed in %s, %.0f MB\n",
		len(corpus.docs), words, float64(bytes)/1e6, genTime.Round(time.Millisecond), fillTime.Round(time.Millisecond), rebuildTime.Round(time.Millisecond),
		float64(benchDirSize(b, dir))/1e6, benchSegments(b, dir), pgTime.Round(time.Millisecond), float64(pgSize)/1e6)
}

func benchMS(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// benchQuantile is the q-quantile of xs (nearest rank).
func benchQuantile(xs []float64, q float64) float64 {
	s := slices.Clone(xs)
	slices.Sort(s)
	return s[min(len(s)-1, int(q*float64(len(s))))]
}

// benchLoadPG creates the table, copies the corpus in, indexes it and
// returns the size of the table with its indexes.
func benchLoadPG(b *testing.B, conn *pgx.Conn, c *benchCorpus) int64 {
	ctx := context.Background()
	_, err := conn.Exec(ctx, `CREATE TABLE bench_search (
		tenant_id uuid NOT NULL,
		key text NOT NULL,
		type text NOT NULL,
		case_id uuid,
		case_status text,
		restricted boolean NOT NULL,
		wiki_roles text[] NOT NULL,
		wiki_hidden text[] NOT NULL,
		triage_hidden uuid[] NOT NULL,
		author text NOT NULL,
		date timestamptz NOT NULL,
		title text NOT NULL,
		body text NOT NULL,
		tsv tsvector GENERATED ALWAYS AS (
			setweight(to_tsvector('german', title), 'A') || setweight(to_tsvector('english', title), 'A') ||
			to_tsvector('german', body) || to_tsvector('english', body)) STORED,
		PRIMARY KEY (tenant_id, key))`)
	if err != nil {
		b.Fatal(err)
	}
	rows := make([][]any, len(c.docs))
	for i, d := range c.docs {
		var caseID, status any
		if d.CaseID != "" {
			caseID, status = d.CaseID, string(d.CaseStatus)
		}
		rows[i] = []any{d.TenantID, d.Key, d.Type, caseID, status, d.Restricted, benchRoles(d.WikiRoles), benchRoles(d.WikiHidden),
			append([]string{}, d.TriageHidden...), d.Author, d.Date, d.Title, d.Text}
	}
	cols := []string{"tenant_id", "key", "type", "case_id", "case_status", "restricted", "wiki_roles", "wiki_hidden", "triage_hidden", "author", "date", "title", "body"}
	if _, err := conn.CopyFrom(ctx, pgx.Identifier{"bench_search"}, cols, pgx.CopyFromRows(rows)); err != nil {
		b.Fatal(err)
	}
	for _, s := range []string{
		`CREATE INDEX bench_search_tsv ON bench_search USING gin (tsv)`,
		`CREATE INDEX bench_search_case ON bench_search (tenant_id, case_id)`,
		`VACUUM ANALYZE bench_search`,
	} {
		if _, err := conn.Exec(ctx, s); err != nil {
			b.Fatal(err)
		}
	}
	var size int64
	if err := conn.QueryRow(ctx, `SELECT pg_total_relation_size('bench_search')`).Scan(&size); err != nil {
		b.Fatal(err)
	}
	return size
}

func benchRoles(rs []tma.Role) []string {
	out := make([]string, len(rs))
	for i, r := range rs {
		out[i] = string(r)
	}
	return out
}

// benchSQL is the statement of q: $1–$7 are the scope, $8… the parts,
// then the type.
func benchSQL(q benchQuery) string {
	var parts []string
	n := 8
	for _, p := range q.parts {
		if p.prefix {
			parts = append(parts, fmt.Sprintf("(to_tsquery('german', $%[1]d || ':*') || to_tsquery('english', $%[1]d || ':*'))", n))
		} else {
			parts = append(parts, fmt.Sprintf("(websearch_to_tsquery('german', $%[1]d) || websearch_to_tsquery('english', $%[1]d))", n))
		}
		n++
	}
	typ := ""
	if q.typ != "" {
		typ = fmt.Sprintf("AND i.type = $%d", n)
	}
	return `WITH q AS (SELECT ` + strings.Join(parts, " && ") + ` AS q)
		SELECT i.key, ts_rank(i.tsv, q.q) AS rank, count(*) OVER () AS total
		FROM bench_search i, q
		WHERE i.tenant_id = $1 AND i.tsv @@ q.q ` + typ + `
		  AND ((i.type <> 'report' AND i.case_id = ANY($2::uuid[]) AND (NOT i.restricted OR i.case_id = ANY($3::uuid[])))
		    OR ($4 AND i.type = 'wiki' AND i.wiki_roles && $5::text[] AND NOT (i.wiki_hidden && $5::text[]))
		    OR ($6 AND i.type = 'report' AND (i.case_id IS NULL OR i.case_id = ANY($2::uuid[])) AND NOT ($7::uuid = ANY(i.triage_hidden))))
		ORDER BY rank DESC, i.key
		LIMIT ` + fmt.Sprint(benchSearchPerPage)
}

// benchQueryPG runs q's statement within scope and returns the total.
func benchQueryPG(b *testing.B, conn *pgx.Conn, sql string, scope tma.SearchScope, q benchQuery) int {
	args := []any{scope.TenantID, scope.Cases, scope.RestrictedCases, scope.Wiki, benchRoles(scope.Roles), scope.Triage, scope.UserID}
	for _, p := range q.parts {
		args = append(args, p.text)
	}
	if q.typ != "" {
		args = append(args, q.typ)
	}
	rows, err := conn.Query(context.Background(), sql, args...)
	if err != nil {
		b.Fatalf("pg %q: %v", q.Text, err)
	}
	defer rows.Close()
	total := 0
	for rows.Next() {
		var key string
		var rank float32
		if err := rows.Scan(&key, &rank, &total); err != nil {
			b.Fatalf("pg %q: %v", q.Text, err)
		}
	}
	if err := rows.Err(); err != nil {
		b.Fatalf("pg %q: %v", q.Text, err)
	}
	return total
}

func benchDirSize(b *testing.B, dir string) int64 {
	var n int64
	err := filepath.WalkDir(dir, func(_ string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		fi, err := d.Info()
		if err == nil {
			n += fi.Size()
		}
		return err
	})
	if err != nil {
		b.Fatal(err)
	}
	return n
}

// benchSegments counts the index's segment files.
func benchSegments(b *testing.B, dir string) int {
	m, err := filepath.Glob(filepath.Join(dir, "store", "*.zap"))
	if err != nil {
		b.Fatal(err)
	}
	return len(m)
}
