package web

import (
	"context"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/tma-portal/tma/server/tma"
)

// Search: the index answers within the user's scope, built from the
// database with every query (SearchSource.Scope), so that counts, facets
// and paging only ever see permitted items. The hits of the page are then
// loaded from the database, decrypted, and each is checked again
// (searchHits): a hit whose item is gone, or which the user may no longer
// see, is dropped, and the total shown is lowered by the dropped ones of
// the page (hits dropped on other pages are not known; they are counted
// until the index catches up, which is at most a few seconds behind).
//
// Queries are never logged: the request log writes the route pattern, not
// the URL, and no audit event records a search.

// searchPerPage is the number of hits on a page of results, and
// suggestHits the number in the quick search's list.
const (
	searchPerPage = 20
	suggestHits   = 5
	// maxSearchPage bounds paging: deep pages cost the index more and
	// nobody reads them.
	maxSearchPage = 500
)

// searchMonth is a month filter of the date facet: "2024-03".
var searchMonth = regexp.MustCompile(`^[0-9]{4}-(0[1-9]|1[0-2])$`)

// searchForm is what the search page was asked: the query as typed and
// the filters of the facets.
type searchForm struct {
	Query  string
	Type   string // one of tma.SearchTypes or ""
	Status tma.CaseStatus
	Month  string // "2006-01" or ""
	Sort   string // "relevance" or "date"
	Page   int
}

// readSearchForm reads the query string; filters that are not what the
// facets offer are ignored, like an unknown parameter.
func readSearchForm(c *fiber.Ctx) (searchForm, error) {
	f := searchForm{Query: strings.TrimSpace(c.Query("q")), Type: c.Query("type"), Status: tma.CaseStatus(c.Query("status")),
		Month: c.Query("month"), Sort: c.Query("sort"), Page: 1}
	if err := tma.CheckText("q", f.Query); err != nil {
		return f, err
	}
	if len(f.Query) > tma.MaxSearchQuery {
		return f, tma.Errorf(tma.EINVALID, "The search is too long (at most %d characters).", tma.MaxSearchQuery)
	}
	if !slices.Contains(tma.SearchTypes, f.Type) {
		f.Type = ""
	}
	if !slices.Contains(tma.CaseStatuses, f.Status) {
		f.Status = ""
	}
	if !searchMonth.MatchString(f.Month) {
		f.Month = ""
	}
	if f.Sort != "date" {
		f.Sort = "relevance"
	}
	if n, err := strconv.Atoi(c.Query("page")); err == nil && n >= 1 {
		f.Page = min(n, maxSearchPage)
	}
	return f, nil
}

// query is what the index is asked: the typed query with the type and
// month filters of the facets added in the query language.
func (f searchForm) query(perPage int) tma.SearchQuery {
	text := f.Query
	if f.Type != "" {
		text += " type:" + f.Type
	}
	if f.Month != "" {
		text += " date:" + f.Month
	}
	return tma.SearchQuery{Text: text, Status: f.Status, Sort: f.Sort, Page: f.Page, PerPage: perPage}
}

// url is the search page for f, with change applied to a copy of f.
func (f searchForm) url(change func(*searchForm)) string {
	if change != nil {
		change(&f)
	}
	v := url.Values{}
	v.Set("q", f.Query)
	if f.Type != "" {
		v.Set("type", f.Type)
	}
	if f.Status != "" {
		v.Set("status", string(f.Status))
	}
	if f.Month != "" {
		v.Set("month", f.Month)
	}
	if f.Sort == "date" {
		v.Set("sort", "date")
	}
	if f.Page > 1 {
		v.Set("page", strconv.Itoa(f.Page))
	}
	return "/search?" + v.Encode()
}

// searchHit is a hit as the page shows it.
type searchHit struct {
	Type  string
	Title string
	// Page is the title of a wiki attachment's page, shown beside the
	// file's name; "" for other hits.
	Page    string
	URL     string
	Date    time.Time
	Snippet []tma.SnippetPart
}

// facetLink is one bucket of a facet as a filter link: choosing it filters
// by it, choosing the active one removes the filter.
type facetLink struct {
	Value  string
	Count  int
	URL    string
	Active bool
}

type searchData struct {
	Form      searchForm
	Available bool // the server has an index
	Searched  bool // a query was asked and answered
	Total     int
	From, To  int
	Hits      []*searchHit
	Types     []facetLink
	Statuses  []facetLink
	Months    []facetLink
	Prev      string
	Next      string
	// Filtered: a filter of a facet is on (the page offers to remove them).
	Filtered bool
	Clear    string
}

// handleSearchPage shows the search page: the form, and for a query its
// permitted hits with snippets, facets and paging. An empty query shows the
// form alone; a query the index cannot parse shows its message with 400.
func (s *Server) handleSearchPage(c *fiber.Ctx) error {
	f, ferr := readSearchForm(c)
	d := &searchData{Form: f, Available: s.deps.Search != nil && s.deps.SearchSource != nil}
	v := s.newView(c, "search.title", "search", d)
	if ferr != nil {
		return s.outcome(c, v, "search", ferr, "")
	}
	if !d.Available || f.Query == "" {
		return s.render(c, fiber.StatusOK, "search", v)
	}
	p := principal(c)
	q := f.query(searchPerPage)
	res, hits, err := s.search(c.UserContext(), p.User, q, true)
	if code := tma.ErrorCode(err); code == tma.EUNAVAILABLE {
		d.Available = false
		return s.render(c, fiber.StatusOK, "search", v)
	} else if err != nil {
		return s.outcome(c, v, "search", err, "")
	}
	d.Searched, d.Hits, d.Total = true, hits, res.Total
	if len(hits) > 0 {
		d.From = (f.Page-1)*searchPerPage + 1
		d.To = d.From + len(hits) - 1
	}
	if f.Page > 1 {
		d.Prev = f.url(func(g *searchForm) { g.Page-- })
	}
	if f.Page*searchPerPage < res.Total && f.Page < maxSearchPage {
		d.Next = f.url(func(g *searchForm) { g.Page++ })
	}
	d.Types = facetLinks(res.Facets["type"], f.Type, func(g *searchForm, v string) { g.Type = v }, f)
	d.Statuses = facetLinks(res.Facets["status"], string(f.Status), func(g *searchForm, v string) { g.Status = tma.CaseStatus(v) }, f)
	d.Months = facetLinks(res.Facets["date"], f.Month, func(g *searchForm, v string) { g.Month = v }, f)
	d.Filtered = f.Type != "" || f.Status != "" || f.Month != ""
	d.Clear = f.url(func(g *searchForm) { g.Type, g.Status, g.Month, g.Page = "", "", "", 1 })
	return s.render(c, fiber.StatusOK, "search", v)
}

// facetLinks makes the buckets of one facet into filter links; the
// active value links to the page without it.
func facetLinks(values []tma.FacetValue, active string, set func(*searchForm, string), f searchForm) []facetLink {
	out := make([]facetLink, 0, len(values))
	for _, fv := range values {
		if fv.Count <= 0 || fv.Value == "" {
			continue
		}
		l := facetLink{Value: fv.Value, Count: fv.Count, Active: fv.Value == active}
		to := fv.Value
		if l.Active {
			to = ""
		}
		l.URL = f.url(func(g *searchForm) { set(g, to); g.Page = 1 })
		out = append(out, l)
	}
	return out
}

// suggestion is one entry of the quick search's list.
type suggestion struct {
	Title string `json:"title"`
	Type  string `json:"type"`
	Label string `json:"label"` // the type, in the user's language
	URL   string `json:"url"`
}

// handleSearchSuggest answers the quick search in the header: the first
// hits of the query as JSON, titles only, by the same scope and checks as
// the search page.
func (s *Server) handleSearchSuggest(c *fiber.Ctx) error {
	out := fiber.Map{"hits": []suggestion{}}
	f, err := readSearchForm(c)
	if err == nil && (f.Query == "" || s.deps.Search == nil || s.deps.SearchSource == nil) {
		return c.JSON(out)
	}
	f.Type, f.Status, f.Month, f.Sort, f.Page = "", "", "", "relevance", 1
	var hits []*searchHit
	if err == nil {
		_, hits, err = s.search(c.UserContext(), principal(c).User, f.query(suggestHits), false)
	}
	v := s.newView(c, "", "", nil)
	switch code := tma.ErrorCode(err); {
	case err == nil:
	case code == tma.EINVALID || code == tma.EUNAVAILABLE:
		out["error"] = v.msg(err)
		return c.Status(statusOf[code]).JSON(out)
	default:
		return err
	}
	list := make([]suggestion, 0, len(hits))
	for _, h := range hits {
		list = append(list, suggestion{Title: h.Title, Type: h.Type, Label: v.Label("searchtype", h.Type), URL: h.URL})
	}
	out["hits"] = list
	return c.JSON(out)
}

// search asks the index within u's current scope and returns the hits of
// the page that u may see, loaded from their source, with snippets if
// asked for.
func (s *Server) search(ctx context.Context, u *tma.User, q tma.SearchQuery, snippets bool) (*tma.SearchResult, []*searchHit, error) {
	scope, err := s.deps.SearchSource.Scope(ctx, u)
	if err != nil {
		return nil, nil, err
	}
	res, err := s.deps.Search.Search(ctx, scope, q)
	if err != nil {
		return nil, nil, err
	}
	if len(res.Hits) == 0 {
		return res, nil, nil
	}
	keys := make([]string, 0, len(res.Hits))
	for _, h := range res.Hits {
		keys = append(keys, h.Key)
	}
	docs, err := s.deps.SearchSource.Load(ctx, scope.TenantID, keys)
	if err != nil {
		return nil, nil, err
	}
	byKey := make(map[string]*tma.SearchDoc, len(docs))
	for _, d := range docs {
		byKey[d.Key] = d
	}
	hits := make([]*searchHit, 0, len(res.Hits))
	dropped := 0
	for _, h := range res.Hits {
		d := byKey[h.Key]
		if d == nil || !scope.Permits(d) || !s.deps.Authz.Can(u, tma.SearchPermission(d)) {
			dropped++
			continue
		}
		link := searchURL(d)
		if link == "" {
			dropped++
			continue
		}
		hit := &searchHit{Type: d.Type, Title: d.Title, Page: d.PageTitle, URL: link, Date: d.Date}
		if hit.Title == "" {
			hit.Title = d.Key
		}
		if snippets {
			hit.Snippet = s.deps.Search.Snippet(d.Text, tma.SearchQuery{Text: q.Text})
		}
		hits = append(hits, hit)
	}
	res.Total = max(res.Total-dropped, len(hits))
	return res, hits, nil
}

// searchURL is the page of a hit; "" for a key this server cannot link.
func searchURL(d *tma.SearchDoc) string {
	typ, id, _ := strings.Cut(d.Key, ":")
	kase := "/cases/" + url.PathEscape(d.CaseID)
	switch typ {
	case tma.SearchCase:
		return kase
	case tma.SearchNote:
		return kase + "/notes/" + url.PathEscape(id)
	case tma.SearchAction:
		return kase + "#action-" + url.PathEscape(id)
	case tma.SearchDocument:
		docID, _, _ := strings.Cut(id, "@")
		return kase + "/documents/" + url.PathEscape(docID)
	case tma.SearchReport:
		if d.CaseID != "" {
			return kase
		}
		return "/intake/" + url.PathEscape(id)
	case tma.SearchWiki:
		if d.Space == "" || d.Slug == "" {
			return ""
		}
		return wikiURL(d.Space, d.Slug)
	case tma.SearchWikiFile:
		if d.Space == "" || d.Slug == "" || d.File == "" {
			return ""
		}
		return attachmentURL(d.Space, d.Slug, d.File)
	}
	return ""
}
