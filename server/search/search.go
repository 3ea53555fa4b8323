package search

import (
	"context"
	"errors"
	"slices"
	"sort"
	"time"

	"github.com/blevesearch/bleve/v2"
	"github.com/blevesearch/bleve/v2/numeric"
	bsearch "github.com/blevesearch/bleve/v2/search"
	"github.com/blevesearch/bleve/v2/search/query"
	"github.com/tma-portal/tma/server/tma"
)

// Limits of a search, besides those of the query language.
const (
	defaultPerPage   = 20
	maxHitsPaged     = 10000 // Page*PerPage
	maxPrefixTerms   = 500   // distinct index terms a prefix may expand to, per field
	defaultTimeout   = 3 * time.Second
	monthFacetSize   = 240
	titleBoost       = 1.5
	facetType        = "type"
	facetStatus      = "status"
	facetDate        = "date"
	sortDate         = "date"
	caseStatusValues = 16
)

// textFields are the analysed fields a word is looked up in, with the
// analyzer that made each.
var textFields = []struct {
	name string
	lang string // "de" or "en"
}{{fTitleDE, "de"}, {fTitleEN, "en"}, {fTextDE, "de"}, {fTextEN, "en"}}

// Search answers q within scope, in the index of scope's tenant only. The
// permission filter (permissionFilter) and the query's own filters (type:,
// case:, author:, dates) form a filter that runs with scoring off and
// leads the iteration (filteredQuery) before collection: totals, facets
// and pages only ever see permitted items, and scores are those of the
// words alone. After Close it fails with EUNAVAILABLE.
func (ix *Index) Search(ctx context.Context, scope tma.SearchScope, q tma.SearchQuery) (*tma.SearchResult, error) {
	if scope.TenantID == "" {
		return nil, tma.Errorf(tma.EINTERNAL, "search without a tenant")
	}
	filter := permissionFilter(scope, ix.caseTermsMax())
	if filter == nil {
		return emptyResult(), nil
	}
	return ix.search(ctx, scope.TenantID, filter, q, tma.MaxSearchPerPage)
}

// search runs q for tenant under filter with at most maxPerPage hits a
// page; a nil filter (tests only: the brute force of TestSearchNeverLeaks)
// searches the whole index, with prefix and fuzzy words expanded over
// tenant's terms.
func (ix *Index) search(ctx context.Context, tenant string, filter query.Query, q tma.SearchQuery, maxPerPage int) (*tma.SearchResult, error) {
	const op = "search.Search"
	pq, err := parseQuery(q.Text)
	if err != nil {
		return nil, err
	}
	page, perPage := q.Page, q.PerPage
	if page < 1 {
		page = 1
	}
	if perPage <= 0 {
		perPage = defaultPerPage
	}
	perPage = min(perPage, maxPerPage)
	if page*perPage > max(maxHitsPaged, maxPerPage) {
		return nil, tma.Errorf(tma.EINVALID, "Only the first %d hits can be paged through: make the search more specific.", maxHitsPaged)
	}
	if pq.empty() {
		return emptyResult(), nil
	}
	// The tenant's own index; without a filter (the tests' brute force),
	// every tenant's, so that the oracle sees the whole index.
	b, err := ix.searchShard(tenant)
	if err != nil {
		return nil, err
	}
	if filter == nil {
		b = ix.all()
	}
	if b == nil {
		return emptyResult(), nil
	}
	bq, ok, err := ix.buildQuery(pq, tenant)
	if err != nil {
		return nil, err
	}
	if !ok { // only stop words
		return emptyResult(), nil
	}
	filters := queryFilters(pq)
	if q.Status != "" {
		filters = append(filters, termsQuery(fStatus, []string{string(q.Status)}))
	}
	if len(filters) > 0 {
		if filter != nil {
			filters = append([]query.Query{filter}, filters...)
		}
		filter = query.NewConjunctionQuery(filters)
	}
	var top query.Query = bq
	switch {
	case bq.Must == nil && bq.MustNot == nil && filter == nil:
		return emptyResult(), nil
	case bq.Must == nil && bq.MustNot == nil:
		top = &filteredQuery{query: query.NewMatchAllQuery(), filter: filter}
	case filter != nil:
		top = &filteredQuery{query: bq, filter: filter}
	}

	req := bleve.NewSearchRequestOptions(top, perPage, (page-1)*perPage, false)
	// _id makes the order total, so that pages do not overlap. The case
	// and date of the page's hits are read afterwards (pageFields), not
	// by the sort for every hit.
	if q.Sort == sortDate {
		req.SortByCustom(bsearch.SortOrder{&bsearch.SortField{Field: fDate, Type: bsearch.SortFieldAsDate, Desc: true}, &bsearch.SortScore{Desc: true}, &bsearch.SortDocID{}})
	} else {
		req.SortByCustom(bsearch.SortOrder{&bsearch.SortScore{Desc: true}, &bsearch.SortDocID{}})
	}
	req.AddFacet(facetType, bleve.NewFacetRequest(fType, len(tma.SearchTypes)))
	req.AddFacet(facetStatus, bleve.NewFacetRequest(fStatus, caseStatusValues))
	req.AddFacet(facetDate, bleve.NewFacetRequest(fMonth, monthFacetSize))

	timeout := ix.Timeout
	if timeout <= 0 {
		timeout = defaultTimeout
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	res, err := b.SearchInContext(ctx, req)
	if err != nil {
		if errors.Is(err, context.DeadlineExceeded) && ctx.Err() != nil {
			return nil, tma.Errorf(tma.EINVALID, "The search took too long: make it more specific.")
		}
		return nil, tma.Wrap(op, err)
	}
	out := &tma.SearchResult{Total: int(res.Total), Facets: map[string][]tma.FacetValue{}}
	ids := make([]string, 0, len(res.Hits))
	for _, h := range res.Hits {
		key := keyOf(h.ID)
		out.Hits = append(out.Hits, &tma.SearchHit{Key: key, Type: typeOfKey(key), Score: h.Score})
		ids = append(ids, h.ID)
	}
	if err := pageFields(ctx, b, ids, out.Hits); err != nil {
		return nil, tma.Wrap(op, err)
	}
	for name, f := range res.Facets {
		var vs []tma.FacetValue
		for _, t := range f.Terms.Terms() {
			vs = append(vs, tma.FacetValue{Value: t.Term, Count: t.Count})
		}
		if name == facetDate {
			sort.Slice(vs, func(i, j int) bool { return vs[i].Value > vs[j].Value })
		} else {
			sort.SliceStable(vs, func(i, j int) bool {
				if vs[i].Count != vs[j].Count {
					return vs[i].Count > vs[j].Count
				}
				return vs[i].Value < vs[j].Value
			})
		}
		out.Facets[name] = vs
	}
	return out, nil
}

// pageFields fills the case and date of the page's hits (ids[i] is the
// document of hits[i]) from doc values. A sort key would read them for
// every hit the collector sees, thousands for a broad query, each in its
// own compressed chunk; here they are read for the page only. This second
// search may see a newer snapshot than the first: a hit deleted in between
// keeps no case and no date, and is dropped when its source is loaded.
func pageFields(ctx context.Context, b bleve.Index, ids []string, hits []*tma.SearchHit) error {
	if len(ids) == 0 {
		return nil
	}
	req := bleve.NewSearchRequestOptions(query.NewDocIDQuery(ids), len(ids), 0, false)
	req.SortByCustom(bsearch.SortOrder{&bsearch.SortDocID{},
		&bsearch.SortField{Field: fCase, Type: bsearch.SortFieldAsString},
		&bsearch.SortField{Field: fDate, Type: bsearch.SortFieldAsDate}})
	res, err := b.SearchInContext(ctx, req)
	if err != nil {
		return err
	}
	byID := make(map[string]*tma.SearchHit, len(ids))
	for i, id := range ids {
		byID[id] = hits[i]
	}
	for _, h := range res.Hits {
		hit := byID[h.ID]
		if hit == nil || len(h.Sort) != 3 {
			continue
		}
		if c := h.Sort[1]; c != noCase && c != bsearch.HighTerm && c != bsearch.LowTerm {
			hit.CaseID = c
		}
		if ns, err := numeric.PrefixCoded(h.Sort[2]).Int64(); err == nil {
			hit.Date = time.Unix(0, ns).UTC()
		}
	}
	return nil
}

func emptyResult() *tma.SearchResult {
	return &tma.SearchResult{Facets: map[string][]tma.FacetValue{}}
}

// typeOfKey is the type part of a key "<type>:<id>".
func typeOfKey(key string) string {
	for i := 0; i < len(key); i++ {
		if key[i] == ':' {
			return key[:i]
		}
	}
	return ""
}

// permissionFilter is what scope may see, as a query of keyword terms:
//
//	tenant = T AND (
//	   (case ∈ Cases∖RestrictedCases AND restricted = false) OR case ∈ Cases∩RestrictedCases
//	OR (Wiki AND type ∈ {wiki, wikifile} AND wiki_roles ∈ Roles AND wiki_narrow ∈ {*} ∪ Roles
//	    AND NOT wiki_hidden ∈ Roles)
//	OR (Triage AND type = report AND case = none AND NOT triage_hidden = UserID))
//
// It is nil when scope permits nothing: an empty set never becomes "all".
// A set of more than maxTerms cases is checked against each candidate's
// case doc value (caseSetQuery) rather than as a disjunction of terms.
func permissionFilter(scope tma.SearchScope, maxTerms int) query.Query {
	var alts []query.Query
	restricted := map[string]bool{}
	for _, c := range scope.RestrictedCases {
		restricted[c] = true
	}
	var open, withRestricted []string
	for _, c := range scope.Cases {
		if c == "" || c == noCase {
			continue
		}
		if restricted[c] {
			withRestricted = append(withRestricted, c)
		} else {
			open = append(open, c)
		}
	}
	// Case content: reports are not, even in a case; they follow the
	// intake's rules below.
	notReport := term(fType, tma.SearchReport)
	if len(open) > 0 {
		notRestricted := query.NewBoolFieldQuery(false)
		notRestricted.SetField(fRestricted)
		alts = append(alts, query.NewBooleanQuery([]query.Query{casesQuery(scope.TenantID, open, maxTerms), notRestricted}, nil, []query.Query{notReport}))
	}
	if len(withRestricted) > 0 {
		alts = append(alts, query.NewBooleanQuery([]query.Query{casesQuery(scope.TenantID, withRestricted, maxTerms)}, nil, []query.Query{notReport}))
	}
	if scope.Wiki && len(scope.Roles) > 0 {
		roles := make([]string, 0, len(scope.Roles))
		for _, r := range scope.Roles {
			if r != "" {
				roles = append(roles, string(r))
			}
		}
		if len(roles) > 0 {
			// The space may be read through one role and the page's own
			// narrowing through another (tma.CanReadPage); a page hidden
			// from any role the user holds stays hidden. An attachment
			// carries its page's fields.
			wikiTypes := termsQuery(fType, []string{tma.SearchWiki, tma.SearchWikiFile})
			wiki := query.NewBooleanQuery([]query.Query{wikiTypes, termsQuery(fWikiRoles, roles),
				termsQuery(fWikiNarrow, append([]string{anyRole}, roles...))}, nil, nil)
			wiki.AddMustNot(termsQuery(fWikiHidden, roles))
			alts = append(alts, wiki)
		}
	}
	// Reports, in the intake or part of a case: the team only (triage),
	// never one that names the user, and one in a case only for its
	// members (as /intake/:id shows them).
	if scope.Triage && scope.UserID != "" {
		where := []query.Query{term(fCase, noCase)}
		var members []string
		for _, c := range scope.Cases {
			if c != "" && c != noCase {
				members = append(members, c)
			}
		}
		if len(members) > 0 {
			where = append(where, casesQuery(scope.TenantID, members, maxTerms))
		}
		triage := query.NewBooleanQuery([]query.Query{term(fType, tma.SearchReport), query.NewDisjunctionQuery(where)}, nil,
			[]query.Query{term(fTriageHidden, scope.UserID)})
		alts = append(alts, triage)
	}
	if len(alts) == 0 {
		return nil
	}
	return query.NewConjunctionQuery([]query.Query{term(fTenant, scope.TenantID), query.NewDisjunctionQuery(alts)})
}

func term(field, value string) *query.TermQuery {
	q := query.NewTermQuery(value)
	q.SetField(field)
	return q
}

// termsQuery matches any of values. With scoring off (a filter), Bleve's
// scorch index unions the posting lists of such an unadorned disjunction
// of terms as bitmaps, so thousands of case ids cost little.
func termsQuery(field string, values []string) query.Query {
	values = slices.Compact(slices.Sorted(slices.Values(values)))
	if len(values) == 1 {
		return term(field, values[0])
	}
	qs := make([]query.Query, len(values))
	for i, v := range values {
		qs[i] = term(field, v)
	}
	return query.NewDisjunctionQuery(qs)
}

// casesQuery matches the tenant's items of any of cases: a disjunction of
// terms for a few cases, a caseSetQuery for more than maxTerms.
func casesQuery(tenantID string, cases []string, maxTerms int) query.Query {
	if len(cases) <= maxTerms {
		return termsQuery(fCase, cases)
	}
	set := make(map[string]bool, len(cases))
	for _, c := range cases {
		set[c] = true
	}
	return &caseSetQuery{tenantID: tenantID, cases: set, maxTerms: maxTerms}
}

// queryFilters are the query's field filters, which, like the permission
// filter, select without scoring.
func queryFilters(pq *parsedQuery) []query.Query {
	var fs []query.Query
	if len(pq.types) > 0 {
		fs = append(fs, termsQuery(fType, pq.types))
	}
	if len(pq.cases) > 0 {
		fs = append(fs, termsQuery(fCase, pq.cases))
	}
	if len(pq.authors) > 0 {
		var alts []query.Query
		for _, a := range pq.authors {
			m := query.NewMatchQuery(a)
			m.SetField(fAuthor)
			m.Analyzer = analyzerName
			m.SetOperator(query.MatchQueryOperatorAnd)
			alts = append(alts, m)
		}
		fs = append(fs, query.NewDisjunctionQuery(alts))
	}
	if !pq.from.IsZero() || !pq.to.IsZero() {
		d := query.NewDateRangeQuery(pq.from, pq.to)
		d.SetField(fDate)
		fs = append(fs, d)
	}
	return fs
}

// buildQuery turns the words of pq into the scoring part of the query.
// ok is false when the query had words but all were stop words.
func (ix *Index) buildQuery(pq *parsedQuery, tenant string) (bq *query.BooleanQuery, ok bool, err error) {
	bq = query.NewBooleanQuery(nil, nil, nil)
	words := 0
	for _, t := range pq.terms {
		if !t.exclude {
			words++
		}
		q, err := ix.textQuery(t, tenant)
		if err != nil {
			return nil, false, err
		}
		if q == nil {
			continue
		}
		if t.exclude {
			bq.AddMustNot(q)
		} else {
			bq.AddMust(q)
		}
	}
	if words > 0 && bq.Must == nil {
		return nil, false, nil
	}
	return bq, true, nil
}

// textQuery looks one word, phrase, prefix or fuzzy word up in the title
// and text, in both languages. It is nil for a stop word. Prefix and fuzzy
// words expand over the tenant's own terms (fExpand).
func (ix *Index) textQuery(t textTerm, tenant string) (query.Query, error) {
	var alts []query.Query
	add := func(field string, q query.Query) {
		if b, ok := q.(interface{ SetBoost(float64) }); ok && (field == fTitleDE || field == fTitleEN) {
			b.SetBoost(titleBoost)
		}
		alts = append(alts, q)
	}
	switch t.kind {
	case kindWord, kindPhrase:
		de, en := terms(ix.an.de, t.text), terms(ix.an.en, t.text)
		if t.kind == kindWord && (len(de) == 0 || len(en) == 0) {
			return nil, nil // a stop word in either language: too common to search for
		}
		if len(de) == 0 && len(en) == 0 {
			return nil, nil
		}
		for _, f := range textFields {
			ts := de
			if f.lang == "en" {
				ts = en
			}
			switch {
			case len(ts) == 0:
			case len(ts) == 1:
				q := term(f.name, ts[0])
				add(f.name, q)
			default:
				q := query.NewMatchPhraseQuery(t.text)
				q.SetField(f.name)
				add(f.name, q)
			}
		}
	case kindPrefix:
		for _, lang := range []string{"de", "en"} {
			a := ix.an.dePrefix
			if lang == "en" {
				a = ix.an.enPrefix
			}
			ts := terms(a, t.text)
			if len(ts) != 1 {
				return nil, tma.Errorf(tma.EINVALID, "Use * only at the end of a single word.")
			}
			if err := ix.checkPrefix(tenant, expandKey(tenant, lang, ts[0]), ts[0]); err != nil {
				return nil, err
			}
			q := query.NewPrefixQuery(expandKey(tenant, lang, ts[0]))
			q.SetField(fExpand)
			alts = append(alts, q)
		}
	case kindFuzzy:
		for _, lang := range []string{"de", "en"} {
			a := ix.an.de
			if lang == "en" {
				a = ix.an.en
			}
			ts := terms(a, t.text)
			if len(ts) == 0 { // a stop word: look for its neighbours as typed
				ts = terms(ix.an.enPrefix, t.text)
			}
			if len(ts) != 1 {
				return nil, tma.Errorf(tma.EINVALID, "Use ~ only at the end of a single word.")
			}
			// The tenant and language must match exactly; the fuzziness
			// applies to the word.
			key := expandKey(tenant, lang, ts[0])
			q := query.NewFuzzyQuery(key)
			q.SetFuzziness(t.fuzziness)
			q.SetPrefix(len(key) - len(ts[0]))
			q.SetField(fExpand)
			alts = append(alts, q)
		}
	}
	if len(alts) == 0 {
		return nil, nil
	}
	return query.NewDisjunctionQuery(alts), nil
}

// checkPrefix bounds the expansion of a prefix: the terms it expands to
// become a disjunction whose cost grows with their number.
func (ix *Index) checkPrefix(tenant, key, prefix string) error {
	b := ix.shard(tenant)
	if b == nil {
		return nil
	}
	d, err := b.FieldDictPrefix(fExpand, []byte(key))
	if err != nil {
		return tma.Wrap("search.checkPrefix", err)
	}
	defer d.Close()
	for n := 0; ; n++ {
		e, err := d.Next()
		if err != nil {
			return tma.Wrap("search.checkPrefix", err)
		}
		if e == nil {
			return nil
		}
		if n >= maxPrefixTerms {
			return tma.Errorf(tma.EINVALID, "Too many words begin with %q: type more letters before the *.", tma.CleanText(prefix, 40))
		}
	}
}
