package search

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/tma-portal/tma/server/tma"
)

// permitted is the permission rule of tma.SearchScope, written plainly:
// the brute force that the index's filter must agree with.
func permitted(s tma.SearchScope, d *tma.SearchDoc) bool {
	if d.TenantID != s.TenantID {
		return false
	}
	if d.Type == tma.SearchReport { // the intake's rule, in a case too
		return s.Triage && !slices.Contains(d.TriageHidden, s.UserID) && (d.CaseID == "" || slices.Contains(s.Cases, d.CaseID))
	}
	if d.CaseID != "" && slices.Contains(s.Cases, d.CaseID) && (!d.Restricted || slices.Contains(s.RestrictedCases, d.CaseID)) {
		return true
	}
	holds := func(r tma.Role) bool { return slices.Contains(s.Roles, r) }
	if (d.Type == tma.SearchWiki || d.Type == tma.SearchWikiFile) && s.Wiki && slices.ContainsFunc(d.WikiRoles, holds) &&
		(!d.WikiNarrowed || slices.ContainsFunc(d.WikiNarrow, holds)) && !slices.ContainsFunc(d.WikiHidden, holds) {
		return true
	}
	return false
}

var leakVocabulary = strings.Fields("Drohung Drohungen Bedrohung Müller Mueller Straße Strasse threat threatening threats E-Mail email e-mails " +
	"Kollege colleague Hausverbot Waffe weapon Gespräch meeting Polizei police Nachbar Chef Angst fear Häuser Haus Café")

var leakRoles = []tma.Role{tma.RoleThreatManager, tma.RoleLegal, tma.RoleHR, tma.RoleCompliance, tma.RoleAuditor}

// TestSearchNeverLeaks compares, for random scopes and queries, what the
// index answers within a scope with the unfiltered answer to the same
// query, filtered by permitted: hits (in order, with equal scores: the
// filter does not score), totals, pages and every facet count, with the
// cases of a scope looked up as terms and as doc values.
func TestSearchNeverLeaks(t *testing.T) {
	ctx := context.Background()
	rng := rand.New(rand.NewPCG(11, 2024))
	pick := func(xs []string) string { return xs[rng.IntN(len(xs))] }
	subset := func(xs []string, p float64) []string {
		var out []string
		for _, x := range xs {
			if rng.Float64() < p {
				out = append(out, x)
			}
		}
		return out
	}
	words := func(n int) string {
		var ws []string
		for i := 0; i < n; i++ {
			ws = append(ws, pick(leakVocabulary))
		}
		return strings.Join(ws, " ")
	}

	const tenants, casesPerTenant, usersPerTenant, items = 3, 10, 8, 1500
	statuses := []tma.CaseStatus{tma.StatusNew, tma.StatusAssessing, tma.StatusDefusing, tma.StatusMonitoring, tma.StatusClosed}
	cases := map[string][]string{}
	users := map[string][]string{}
	status := map[string]tma.CaseStatus{}
	var tenantIDs []string
	for ti := 0; ti < tenants; ti++ {
		tid := fmt.Sprintf("tenant%d", ti)
		tenantIDs = append(tenantIDs, tid)
		for ci := 0; ci < casesPerTenant; ci++ {
			c := fmt.Sprintf("case%d.%d", ti, ci)
			cases[tid] = append(cases[tid], c)
			status[c] = statuses[rng.IntN(len(statuses))]
		}
		for ui := 0; ui < usersPerTenant; ui++ {
			users[tid] = append(users[tid], fmt.Sprintf("user%d.%d", ti, ui))
		}
	}
	authors := []string{"Anna Müller", "Bernd Schmidt", "Carla Weiß", "Dave Smith"}
	docs := map[string]*tma.SearchDoc{} // by docID
	var all []*tma.SearchDoc
	for i := 0; i < items; i++ {
		tid := pick(tenantIDs)
		typ := pick(tma.SearchTypes)
		d := &tma.SearchDoc{
			Key: fmt.Sprintf("%s:%d", typ, i), Type: typ, TenantID: tid,
			Author: pick(authors),
			Date:   time.Date(2023, 1, 1, 0, 0, 0, 0, time.UTC).Add(time.Duration(rng.IntN(2*365*24)) * time.Hour),
			Title:  words(1 + rng.IntN(2)), Text: words(3 + rng.IntN(6)),
		}
		switch typ {
		case tma.SearchWiki, tma.SearchWikiFile: // an attachment carries its page's fields
			for _, r := range leakRoles {
				switch rng.IntN(6) {
				case 0, 1:
					d.WikiRoles = append(d.WikiRoles, r)
				case 2: // hidden from r: a user holding r never sees it
					d.WikiHidden = append(d.WikiHidden, r)
				}
			}
			// Half the pages narrow the space to their own readers, which
			// a user may hold through another role than the space's.
			if d.WikiNarrowed = rng.IntN(2) == 0; d.WikiNarrowed {
				for _, r := range leakRoles {
					if rng.IntN(3) == 0 {
						d.WikiNarrow = append(d.WikiNarrow, r)
					}
				}
			}
		case tma.SearchReport:
			d.TriageHidden = subset(users[tid], 0.3)
			if rng.IntN(2) == 0 {
				break // in the intake
			}
			fallthrough // part of a case
		default:
			d.CaseID = pick(cases[tid])
			d.CaseStatus = status[d.CaseID]
			d.Restricted = typ == tma.SearchNote && rng.IntN(3) == 0
		}
		docs[docID(tid, d.Key)] = d
		all = append(all, d)
	}
	ix := MustCreateIndex(t)
	for i := 0; i < len(all); i += 250 {
		MustApply(t, ix, int64(i+1), all[i:min(i+250, len(all))]...)
	}
	// Some items are deleted, to check that deletes leave counts too.
	var gone []tma.SearchChange
	for i := 0; i < 30; i++ {
		d := all[rng.IntN(len(all))]
		if _, ok := docs[docID(d.TenantID, d.Key)]; ok {
			gone = append(gone, tma.SearchChange{TenantID: d.TenantID, Key: d.Key})
			delete(docs, docID(d.TenantID, d.Key))
		}
	}
	if err := ix.Apply(ctx, 9999, nil, gone); err != nil {
		t.Fatal(err)
	}

	// A pool of queries, each answered once without any filter.
	var queries []string
	for len(queries) < 120 {
		w := pick(leakVocabulary)
		var q string
		switch rng.IntN(9) {
		case 0, 1:
			q = w
		case 2:
			q = w + " " + pick(leakVocabulary)
		case 3:
			q = `"` + words(2) + `"`
		case 4:
			q = string([]rune(w)[:3]) + "*"
		case 5:
			q = w + "~"
		case 6:
			q = w + " type:" + pick(tma.SearchTypes)
		case 7:
			q = w + " -" + pick(leakVocabulary)
		case 8:
			q = "type:" + pick(tma.SearchTypes) + " date:2023-0" + fmt.Sprint(1+rng.IntN(9))
		}
		queries = append(queries, q)
	}
	type unfiltered struct{ hits []*tma.SearchHit }
	cache := map[string]unfiltered{}
	brute := func(tenant string, q tma.SearchQuery) []*tma.SearchHit {
		k := tenant + "\x00" + q.Text + "\x00" + q.Sort
		if u, ok := cache[k]; ok {
			return u.hits
		}
		r, err := ix.search(ctx, tenant, nil, tma.SearchQuery{Text: q.Text, Sort: q.Sort, PerPage: 5000}, 5000)
		if err != nil {
			t.Fatalf("%q unfiltered: %v", q.Text, err)
		}
		if r.Total != len(r.Hits) {
			t.Fatalf("%q unfiltered: total %d, %d hits", q.Text, r.Total, len(r.Hits))
		}
		cache[k] = unfiltered{r.Hits}
		return r.Hits
	}

	const pairs = 1200
	var nonEmpty, narrowed int
	for i := 0; i < pairs; i++ {
		tid := pick(tenantIDs)
		scope := tma.SearchScope{TenantID: tid, UserID: pick(users[tid]), Triage: rng.IntN(3) == 0, Wiki: rng.IntN(2) == 0}
		if rng.IntN(8) != 0 { // sometimes no cases at all
			scope.Cases = subset(cases[tid], rng.Float64())
		}
		scope.RestrictedCases = subset(scope.Cases, 0.5)
		if rng.IntN(4) == 0 { // a restricted grant without membership grants nothing
			scope.RestrictedCases = append(scope.RestrictedCases, pick(cases[tid]))
		}
		for _, r := range leakRoles {
			if rng.IntN(3) == 0 {
				scope.Roles = append(scope.Roles, r)
			}
		}
		// The filter's two forms of a set of cases: terms (the default,
		// for at most 10 cases here) and doc values (caseSetQuery).
		ix.caseTerms = []int{0, 1, 3}[i%3]
		q := tma.SearchQuery{Text: pick(queries), PerPage: 1 + rng.IntN(30), Page: 1 + rng.IntN(3)}
		if rng.IntN(3) == 0 {
			q.Sort = "date"
		}
		name := fmt.Sprintf("pair %d: %q in %+v", i, q.Text, scope)

		var want []*tma.SearchHit
		unf := brute(scope.TenantID, q)
		for _, h := range unf {
			d := docs[docID(keyTenant(t, docs, h), h.Key)]
			if permitted(scope, d) {
				want = append(want, h)
			}
		}
		got, err := ix.Search(ctx, scope, q)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if got.Total != len(want) {
			t.Fatalf("%s: total %d, want %d", name, got.Total, len(want))
		}
		if len(want) > 0 {
			nonEmpty++
		}
		if len(want) < len(unf) {
			narrowed++
		}
		from := min((q.Page-1)*q.PerPage, len(want))
		page := want[from:min(from+q.PerPage, len(want))]
		if len(got.Hits) != len(page) {
			t.Fatalf("%s: %d hits, want %d", name, len(got.Hits), len(page))
		}
		for j, h := range got.Hits {
			w := page[j]
			d := docs[docID(tid, h.Key)]
			if d == nil || !permitted(scope, d) {
				t.Fatalf("%s: LEAK: hit %s is not permitted", name, h.Key)
			}
			if h.Key != w.Key || h.Score != w.Score {
				t.Fatalf("%s: hit %d = %s (score %v), want %s (score %v)", name, j, h.Key, h.Score, w.Key, w.Score)
			}
			if h.CaseID != d.CaseID || h.Type != d.Type || !h.Date.Equal(d.Date) {
				t.Fatalf("%s: hit %+v, doc %+v", name, h, d)
			}
		}
		// facets, counted over all permitted hits
		wantFacets := map[string]map[string]int{"type": {}, "status": {}, "date": {}}
		for _, h := range want {
			d := docs[docID(tid, h.Key)]
			wantFacets["type"][d.Type]++
			if d.CaseStatus != "" {
				wantFacets["status"][string(d.CaseStatus)]++
			}
			wantFacets["date"][d.Date.Format("2006-01")]++
		}
		for name2, counts := range wantFacets {
			gotCounts := map[string]int{}
			for _, v := range got.Facets[name2] {
				gotCounts[v.Value] = v.Count
			}
			if fmt.Sprint(gotCounts) != fmt.Sprint(counts) {
				t.Fatalf("%s: facet %s = %v, want %v", name, name2, gotCounts, counts)
			}
		}
	}
	t.Logf("%d pairs, %d distinct queries, %d with hits, %d narrowed by the filter", pairs, len(cache), nonEmpty, narrowed)
	if nonEmpty < pairs/4 || narrowed < pairs/2 {
		t.Errorf("the random pairs test too little: %d with hits, %d narrowed", nonEmpty, narrowed)
	}
}

// keyTenant finds the tenant of an unfiltered hit (keys are unique across
// tenants in this test).
func keyTenant(t *testing.T, docs map[string]*tma.SearchDoc, h *tma.SearchHit) string {
	for _, tid := range []string{"tenant0", "tenant1", "tenant2"} {
		if _, ok := docs[docID(tid, h.Key)]; ok {
			return tid
		}
	}
	t.Fatalf("hit %s of a deleted or unknown item", h.Key)
	return ""
}

// BenchmarkLeadScopeFilter measures the permission filter of a lead who
// sees every one of 3,000 cases (a disjunction of 3,000 case terms).
func BenchmarkLeadScopeFilter(b *testing.B) {
	ix := MustCreateIndex(b)
	rng := rand.New(rand.NewPCG(1, 2))
	var docs []*tma.SearchDoc
	var cases []string
	for c := 0; c < 3000; c++ {
		cases = append(cases, fmt.Sprintf("case%04d", c))
	}
	for i := 0; i < 20000; i++ {
		docs = append(docs, &tma.SearchDoc{Key: fmt.Sprintf("note:%d", i), Type: tma.SearchNote, TenantID: "t",
			CaseID: cases[rng.IntN(len(cases))], CaseStatus: tma.StatusNew, Date: time.Unix(int64(rng.IntN(1e8)), 0),
			Text: leakVocabulary[rng.IntN(len(leakVocabulary))] + " " + leakVocabulary[rng.IntN(len(leakVocabulary))]})
	}
	for i := 0; i < len(docs); i += 1000 {
		MustApply(b, ix, int64(i+1), docs[i:i+1000]...)
	}
	if err := ix.Compact(context.Background()); err != nil {
		b.Fatal(err)
	}
	for _, tc := range []struct {
		name  string
		cases []string
	}{{"lead", cases}, {"expert", cases[:25]}} {
		scope := tma.SearchScope{TenantID: "t", Cases: tc.cases}
		b.Run(tc.name, func(b *testing.B) {
			for b.Loop() {
				if _, err := ix.Search(context.Background(), scope, tma.SearchQuery{Text: "Drohung"}); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
