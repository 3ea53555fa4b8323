package search

import (
	"context"

	"github.com/blevesearch/bleve/v2/mapping"
	bsearch "github.com/blevesearch/bleve/v2/search"
	"github.com/blevesearch/bleve/v2/search/query"
	"github.com/blevesearch/bleve/v2/search/searcher"
	bindex "github.com/blevesearch/bleve_index_api"
)

// filteredQuery is a query narrowed by a non-scoring filter that leads the
// iteration. Bleve's own BooleanQuery filter is checked after the words:
// its searcher scores every item of every tenant that contains them
// (phrases included, position by position), and only then asks the
// filter. Here the filter proposes the next permitted item and the words
// are advanced to it (and the other way round, leapfrogging), so that
// words are only scored on permitted items: an expert's 25 cases are a
// fiftieth of the index.
//
// The filter runs with scoring off and takes no part in the weights: a
// hit's score is that of query alone, as with Bleve's filter.
type filteredQuery struct {
	query  query.Query
	filter query.Query
}

func (q *filteredQuery) Searcher(ctx context.Context, i bindex.IndexReader, m mapping.IndexMapping, options bsearch.SearcherOptions) (bsearch.Searcher, error) {
	s, err := q.query.Searcher(ctx, i, m, options)
	if err != nil {
		return nil, err
	}
	f, err := q.filter.Searcher(ctx, i, m, bsearch.SearcherOptions{Score: "none"})
	if err != nil {
		_ = s.Close()
		return nil, err
	}
	return &filteredSearcher{query: s, filter: f}, nil
}

// filteredSearcher returns the documents of query that filter also
// matches, with query's scores.
type filteredSearcher struct {
	query, filter bsearch.Searcher
}

func (s *filteredSearcher) Next(ctx *bsearch.SearchContext) (*bsearch.DocumentMatch, error) {
	f, err := s.filter.Next(ctx)
	if err != nil {
		return nil, err
	}
	return s.align(ctx, f)
}

func (s *filteredSearcher) Advance(ctx *bsearch.SearchContext, id bindex.IndexInternalID) (*bsearch.DocumentMatch, error) {
	f, err := s.filter.Advance(ctx, id)
	if err != nil {
		return nil, err
	}
	return s.align(ctx, f)
}

// align leapfrogs from the filter's document f to the first document that
// both match: query is advanced to f; if it lands beyond, filter is
// advanced to where query landed, and so on.
func (s *filteredSearcher) align(ctx *bsearch.SearchContext, f *bsearch.DocumentMatch) (*bsearch.DocumentMatch, error) {
	for f != nil {
		m, err := s.query.Advance(ctx, f.IndexInternalID)
		if err != nil || m == nil {
			ctx.DocumentMatchPool.Put(f)
			return nil, err
		}
		if m.IndexInternalID.Equals(f.IndexInternalID) {
			ctx.DocumentMatchPool.Put(f)
			return m, nil
		}
		ctx.DocumentMatchPool.Put(f)
		f, err = s.filter.Advance(ctx, m.IndexInternalID)
		if err != nil {
			ctx.DocumentMatchPool.Put(m)
			return nil, err
		}
		if f != nil && f.IndexInternalID.Equals(m.IndexInternalID) {
			ctx.DocumentMatchPool.Put(f)
			return m, nil
		}
		ctx.DocumentMatchPool.Put(m)
	}
	return nil, nil
}

func (s *filteredSearcher) Close() error {
	err := s.query.Close()
	if ferr := s.filter.Close(); err == nil {
		err = ferr
	}
	return err
}

func (s *filteredSearcher) Weight() float64        { return s.query.Weight() }
func (s *filteredSearcher) SetQueryNorm(n float64) { s.query.SetQueryNorm(n) }
func (s *filteredSearcher) Count() uint64          { return min(s.query.Count(), s.filter.Count()) }
func (s *filteredSearcher) Min() int               { return s.query.Min() }
func (s *filteredSearcher) Size() int              { return s.query.Size() + s.filter.Size() }
func (s *filteredSearcher) DocumentMatchPoolSize() int {
	return s.query.DocumentMatchPoolSize() + s.filter.DocumentMatchPoolSize()
}

// caseSetQuery matches the items of a tenant whose case is one of a set
// too large for a disjunction of its terms. It is a filter: it does not
// score. Items without a case ("-") never match.
//
// When the set holds nearly every case in the index (a lead who sees all
// of the tenant's cases), the cases missing from it are few: the query is
// then "the tenant's items, but none of those cases", whose cost does not
// grow with the set. The missing cases are read from the same index
// snapshot that the search runs on, so a case added meanwhile cannot slip
// through. Otherwise each candidate's case is read from its "case" doc
// value: the tenant's postings (one term) are walked instead of opening
// one postings list per case, so the cost is that of the items the search
// visits, not of the number of cases.
type caseSetQuery struct {
	tenantID string
	cases    map[string]bool
	maxTerms int // the most cases looked up as terms
}

func (q *caseSetQuery) Searcher(ctx context.Context, i bindex.IndexReader, m mapping.IndexMapping, options bsearch.SearcherOptions) (bsearch.Searcher, error) {
	filter := bsearch.SearcherOptions{Score: "none"}
	missing, few, err := q.missing(i)
	if err != nil {
		return nil, err
	}
	if few {
		not := termsQuery(fCase, append(missing, noCase))
		return query.NewBooleanQuery([]query.Query{term(fTenant, q.tenantID)}, nil, []query.Query{not}).Searcher(ctx, i, m, filter)
	}
	tenant, err := term(fTenant, q.tenantID).Searcher(ctx, i, m, filter)
	if err != nil {
		return nil, err
	}
	dv, err := i.DocValueReader([]string{fCase})
	if err != nil {
		_ = tenant.Close()
		return nil, err
	}
	return searcher.NewFilteringSearcher(ctx, tenant, func(_ *bsearch.SearchContext, d *bsearch.DocumentMatch) bool {
		in := false
		err := dv.VisitDocValues(d.IndexInternalID, func(_ string, v []byte) {
			in = in || q.cases[string(v)]
		})
		return err == nil && in // an unreadable value permits nothing
	}), nil
}

// missing lists the cases in i's dictionary (which holds every case of
// the snapshot's items, and perhaps some of deleted ones) that are not in
// the set; few is false, and the list incomplete, once there are more
// than maxTerms of them. The index holds one tenant's items, but a case of
// another tenant would only be one more term to exclude.
func (q *caseSetQuery) missing(i bindex.IndexReader) (out []string, few bool, err error) {
	d, err := i.FieldDict(fCase)
	if err != nil {
		return nil, false, err
	}
	defer d.Close()
	for {
		e, err := d.Next()
		if err != nil {
			return nil, false, err
		}
		if e == nil {
			return out, true, nil
		}
		if e.Term == noCase || q.cases[e.Term] {
			continue
		}
		if len(out) == q.maxTerms {
			return nil, false, nil
		}
		out = append(out, e.Term)
	}
}
