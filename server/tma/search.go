package tma

import (
	"context"
	"slices"
	"time"
)

// Search: every change to searchable content writes a row to an outbox in
// PostgreSQL in the same transaction (SearchSource.Changes); each server
// process tails it in order and applies it to its own index
// (SearchIndex.Apply), which remembers the last applied sequence. The index
// stores no field values: hits carry keys, and titles and snippets are made
// at query time from the decrypted source (SearchSource.Load), for the hits
// the user may see. The permission filter is part of the index query
// (SearchScope), so that counts, facets and paging only ever see permitted
// items; hits are checked again before they are shown.

// The types of searchable items.
const (
	SearchCase     = "case"     // reference, title, labels, persons
	SearchNote     = "note"     // a note's latest version
	SearchAction   = "action"   // an action item
	SearchReport   = "report"   // a report's text (and, for the team, its messages)
	SearchDocument = "document" // a document version's extracted text
	SearchWiki     = "wiki"     // a wiki page's latest revision
	// SearchWikiFile is a wiki page's attachment: its name and extracted
	// text, read by whoever reads the page (the page's permission fields).
	SearchWikiFile = "wikifile"
)

// PermSearch opens the search page and the quick search: the roles whose
// scope can hold anything (case work, the intake, the wiki). What a user
// then finds is decided by their SearchScope, never by this permission;
// employees and admins, whose scope is always empty, do not get it.
var PermSearch = Permission{"search", "use"}

// SearchTypes lists the types, for filters and facets.
var SearchTypes = []string{SearchCase, SearchNote, SearchAction, SearchReport, SearchDocument, SearchWiki, SearchWikiFile}

// WikiSearchType reports whether items of type typ are read by wiki
// permission (a page, or an attachment as its page): the rule of
// SearchDoc.WikiRoles, WikiNarrow and WikiHidden.
func WikiSearchType(typ string) bool { return typ == SearchWiki || typ == SearchWikiFile }

// SearchDoc is one searchable item, with its text in clear. It exists in
// memory only: the index keeps its terms, never its values.
type SearchDoc struct {
	Key      string // unique per tenant: "<type>:<id>" (a document version: "document:<id>@<version>"; an attachment: "wikifile:<attachment id>")
	Type     string // one of SearchTypes
	TenantID string
	// CaseID is the case of case content; "" for wiki pages and their
	// attachments and for reports not (yet) part of a case.
	CaseID     string
	CaseStatus CaseStatus // of CaseID, for the status facet
	// Restricted is a restricted note (GDPR Art. 9/10): only viewers who
	// may read restricted notes of the case see it.
	Restricted bool
	// A wiki page, and each of its attachments, is read (CanReadPage) by a
	// user who holds one of WikiRoles
	// (the space's readers and editors), and, if WikiNarrowed, one of
	// WikiNarrow (the page's own readers; possibly another role of the
	// same user), and none of WikiHidden.
	WikiRoles    []Role
	WikiNarrowed bool
	WikiNarrow   []Role
	// WikiHidden are the page's hidden roles: a user who holds any of them
	// never sees it, whatever other role of WikiRoles they hold (a deny
	// beats every allow, as in CanReadPage).
	WikiHidden []Role
	// TriageHidden are the users who must not see a report that is not part
	// of a case (those it names); the team (PermReportsTriage) sees the rest.
	TriageHidden []string
	Author       string // display name, for author: filters
	// Space and Slug are the address of a wiki page or of an attachment's
	// page (its space's slug and its own), for the link to a hit; "" for
	// everything else.
	Space, Slug string
	// File is an attachment's name (its Title too), for the link to it;
	// PageTitle its page's current title, shown with the hit and never
	// indexed. "" for everything else.
	File, PageTitle string
	Date            time.Time
	Title           string
	Text            string
}

// SearchChange is one outbox row: the item Key of the tenant changed
// (Load gives its current content) or is gone (Load gives nothing).
type SearchChange struct {
	Seq      int64
	TenantID string
	Key      string
}

// SearchScope is what a user may see, built at query time from the
// authorization data, never from the index.
type SearchScope struct {
	TenantID string
	UserID   string
	Roles    []Role
	// Cases are the cases the user is a current, unexcluded member of.
	Cases []string
	// RestrictedCases are those of Cases whose restricted notes the user
	// may read (CanReadRestricted).
	RestrictedCases []string
	// Triage: the user may see reports that are not part of a case (except
	// those naming them).
	Triage bool
	// Wiki: the user may read wiki pages at all (PermWikiRead); which pages
	// is decided by Roles against SearchDoc.WikiRoles, WikiNarrow and
	// WikiHidden.
	Wiki bool
}

// Permits reports whether the scope lets its user see d, judged by d's
// current content (SearchSource.Load): the same rules the index filter
// applies, checked again before a hit is shown, so that a hit the index
// answered from a stale entry (a note made restricted, a page narrowed, a
// report named the user) is dropped. The tenant permission of d's type
// (SearchPermission) is checked by the caller with the enforcer.
func (sc SearchScope) Permits(d *SearchDoc) bool {
	if d == nil || sc.TenantID == "" || d.TenantID != sc.TenantID {
		return false
	}
	switch d.Type {
	case SearchCase, SearchNote, SearchAction, SearchDocument:
		if d.CaseID == "" || !slices.Contains(sc.Cases, d.CaseID) {
			return false
		}
		return !d.Restricted || slices.Contains(sc.RestrictedCases, d.CaseID)
	case SearchReport:
		// The intake's rule, also for a report that became part of a
		// case: the team only, never a person it names, and for a case's
		// report its current members.
		if !sc.Triage || sc.UserID == "" || slices.Contains(d.TriageHidden, sc.UserID) {
			return false
		}
		return d.CaseID == "" || slices.Contains(sc.Cases, d.CaseID)
	case SearchWiki, SearchWikiFile:
		if !sc.Wiki {
			return false
		}
		holds := func(rs []Role) bool {
			return slices.ContainsFunc(rs, func(r Role) bool { return slices.Contains(sc.Roles, r) })
		}
		return holds(d.WikiRoles) && (!d.WikiNarrowed || holds(d.WikiNarrow)) && !holds(d.WikiHidden)
	}
	return false
}

// SearchPermission is the tenant permission that seeing an item of d's
// kind needs, besides the scope: reading cases for case content, triage
// for reports (in the intake or part of a case: /intake/:id is where they
// are read), reading the wiki for pages and their attachments.
func SearchPermission(d *SearchDoc) Permission {
	switch d.Type {
	case SearchWiki, SearchWikiFile:
		return PermWikiRead
	case SearchReport:
		return PermReportsTriage
	}
	return PermCasesRead
}

// SearchQuery is what the user typed, parsed by the index, plus paging.
type SearchQuery struct {
	Text string // the search box: words, "phrases", prefix*, fuzzy~, case:, type:, author:, date ranges
	// Status keeps only items of cases in this status (the status facet);
	// "" keeps all. Type and date filters go in Text (type:, date:).
	Status  CaseStatus
	Sort    string // "relevance" (default) or "date"
	Page    int    // from 1
	PerPage int    // default 20, at most 100
}

// Limits of a query.
const (
	MaxSearchQuery   = 500 // bytes of the query text
	MaxSearchPerPage = 100
)

// SearchHit is one permitted hit. Title and Snippet are filled from the
// decrypted source after the index answered.
type SearchHit struct {
	Key     string
	Type    string
	CaseID  string
	Date    time.Time
	Score   float64
	Title   string
	Snippet []SnippetPart
}

// SnippetPart is a piece of a snippet; Match parts are highlighted.
type SnippetPart struct {
	Text  string
	Match bool
}

// FacetValue is one bucket of a facet.
type FacetValue struct {
	Value string
	Count int
}

// SearchResult is one page of permitted hits with their total and facets
// (by type, by case status, by month), counted over permitted items only.
type SearchResult struct {
	Total  int
	Hits   []*SearchHit
	Facets map[string][]FacetValue // "type", "status", "date"
}

// SearchIndex is one process's full-text index.
type SearchIndex interface {
	// Apply upserts docs and deletes the keys of tenant items that are gone,
	// and records seq as the last applied outbox sequence, atomically.
	Apply(ctx context.Context, seq int64, docs []*SearchDoc, deleted []SearchChange) error
	// LastSeq is the last applied outbox sequence (0 for an empty index).
	LastSeq(ctx context.Context) (int64, error)
	// Search answers q within scope. EINVALID, with a friendly message, for
	// a query that cannot be parsed or is too long.
	Search(ctx context.Context, scope SearchScope, q SearchQuery) (*SearchResult, error)
	// Snippet cuts a highlighted snippet of text for q, with the index's
	// own analysis, so that what matched is what is highlighted.
	Snippet(text string, q SearchQuery) []SnippetPart
}

// SearchSource reads searchable content from PostgreSQL.
type SearchSource interface {
	// Changes returns outbox rows after seq, in order, at most limit.
	Changes(ctx context.Context, after int64, limit int) ([]SearchChange, error)
	// Load returns the current content of the tenant's items, decrypted;
	// items that no longer exist (deleted, shredded) are left out.
	Load(ctx context.Context, tenantID string, keys []string) ([]*SearchDoc, error)
	// All calls fn for every searchable item of every tenant (a rebuild)
	// and returns the outbox sequence the items are current to.
	All(ctx context.Context, fn func(*SearchDoc) error) (int64, error)
	// Scope returns what u may see now.
	Scope(ctx context.Context, u *User) (SearchScope, error)
}
