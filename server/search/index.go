package search

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/blevesearch/bleve/v2"
	"github.com/blevesearch/bleve/v2/index/scorch"
	"github.com/blevesearch/bleve/v2/mapping"
	index "github.com/blevesearch/bleve_index_api"
	"github.com/tma-portal/tma/server/tma"
)

// MappingVersion is the version of the index layout (mapping, analyzers,
// field names, folders). Bump it with every change to them: an index of
// another version is reported by Open as needing a rebuild.
const MappingVersion = 5 // 2: wiki_hidden; 3: wiki_narrow; 4: expand; 5: one Bleve index per tenant

// keyMappingVersion is kept inside each tenant's Bleve index too, so that
// a shard copied from another layout is noticed.
var keyMappingVersion = []byte("tma.mapping_version")

// keyDirty is set in a tenant's Bleve index by the batch of every Apply
// that changes it, and removed by the batch that ends its compaction:
// which shards hold deleted items' terms survives a restart, so that the
// next Compact still erases them.
var keyDirty = []byte("tma.dirty")

// metaFile is the index folder's own record: its mapping version and the
// sequence of the last Apply. It is written after the shards (atomically,
// by renaming), so after a crash it names a sequence no later than what
// the shards hold; replaying changes is harmless (upserts and deletes).
const metaFile = "tma_index.json"

type meta struct {
	MappingVersion int   `json:"mapping_version"`
	LastSeq        int64 `json:"last_seq"`
}

// ErrNeedsRebuild is matched (errors.Is) by the error of Open for an index
// that is missing, cannot be opened (corrupt) or has another mapping
// version. The caller rebuilds it from PostgreSQL (Rebuild).
var ErrNeedsRebuild = errors.New("search index needs a rebuild")

// RebuildError says why an index needs a rebuild.
type RebuildError struct {
	Dir    string
	Reason string // "missing", "corrupt", "mapping version 0, want 1"
	Err    error  // the underlying error, if any
}

func (e *RebuildError) Error() string {
	s := fmt.Sprintf("search index %s: %s", e.Dir, e.Reason)
	if e.Err != nil {
		s += ": " + e.Err.Error()
	}
	return s
}

func (e *RebuildError) Is(target error) bool { return target == ErrNeedsRebuild }
func (e *RebuildError) Unwrap() error        { return e.Err }

// Index is the search index of all tenants; it implements tma.SearchIndex.
// Each tenant has a Bleve index of its own (a shard, in a sub-folder):
// a search reads only its tenant's postings, doc values and term
// statistics, so that neither its speed nor its scores depend on other
// tenants' data. It stores no field values, only terms (see doc.go).
type Index struct {
	dir string
	an  *analyzers

	// Timeout bounds one search; a search that takes longer fails with
	// EINVALID (the query is too broad). Default 3 s.
	Timeout time.Duration

	// caseTerms is the largest set of cases the permission filter looks up
	// as terms (0: defaultCaseTerms); tests lower it to exercise
	// caseSetQuery on small corpora.
	caseTerms int

	// writing serialises Apply, Compact and Close; mu guards the fields
	// below it, and is held only briefly, so that searches never wait
	// for a batch or a merge.
	writing sync.Mutex
	mu      sync.RWMutex
	shards  map[string]bleve.Index // by tenant id
	dirty   map[string]bool        // shards changed since their last Compact (keyDirty)
	lastSeq int64
	closed  bool
}

// errClosed is the error of every use of an Index after Close: a search
// then must not answer "no hits", nor an Apply create a tenant's index
// that nothing would close.
var errClosed = tma.Errorf(tma.EUNAVAILABLE, "The search index is closed.")

// defaultCaseTerms: up to this many cases, the permission filter is a
// disjunction of case terms, whose cost (a postings lookup per case and
// segment, then their union) grows with the number of cases; beyond it,
// each candidate's case is read from doc values (caseSetQuery), whose
// cost grows with the tenant's items the search visits instead.
const defaultCaseTerms = 64

func (ix *Index) caseTermsMax() int {
	if ix.caseTerms > 0 {
		return ix.caseTerms
	}
	return defaultCaseTerms
}

var _ tma.SearchIndex = (*Index)(nil)

// shardPrefix begins the folder name of a tenant's shard; the rest is the
// tenant id in hex, so that no id can name a path outside the index.
const shardPrefix = "t-"

func shardDir(dir, tenantID string) string {
	return filepath.Join(dir, shardPrefix+hex.EncodeToString([]byte(tenantID)))
}

// Open opens the index in dir. It fails with an error matching
// ErrNeedsRebuild if the index is missing, corrupt or of another
// MappingVersion.
func Open(dir string) (*Index, error) {
	an, err := loadAnalyzers()
	if err != nil {
		return nil, err
	}
	raw, err := os.ReadFile(filepath.Join(dir, metaFile))
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, &RebuildError{Dir: dir, Reason: "missing"}
		}
		return nil, &RebuildError{Dir: dir, Reason: "unreadable", Err: err}
	}
	var m meta
	if err := json.Unmarshal(raw, &m); err != nil {
		return nil, &RebuildError{Dir: dir, Reason: "corrupt", Err: err}
	}
	if m.MappingVersion != MappingVersion {
		return nil, &RebuildError{Dir: dir, Reason: fmt.Sprintf("mapping version %d, want %d", m.MappingVersion, MappingVersion)}
	}
	ix := &Index{dir: dir, an: an, shards: map[string]bleve.Index{}, dirty: map[string]bool{}, lastSeq: m.LastSeq}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, &RebuildError{Dir: dir, Reason: "unreadable", Err: err}
	}
	for _, e := range entries {
		name, ok := strings.CutPrefix(e.Name(), shardPrefix)
		if !ok || !e.IsDir() {
			continue
		}
		tenant, err := hex.DecodeString(name)
		if err != nil {
			_ = ix.Close()
			return nil, &RebuildError{Dir: dir, Reason: "corrupt", Err: fmt.Errorf("shard folder %q", e.Name())}
		}
		b, err := openShard(filepath.Join(dir, e.Name()))
		if err != nil {
			_ = ix.Close()
			return nil, err
		}
		ix.shards[string(tenant)] = b
		dirty, err := b.GetInternal(keyDirty)
		if err != nil {
			_ = ix.Close()
			return nil, &RebuildError{Dir: dir, Reason: "corrupt", Err: err}
		}
		if dirty != nil {
			ix.dirty[string(tenant)] = true
		}
	}
	return ix, nil
}

// openShard opens one tenant's Bleve index and checks its mapping version.
func openShard(dir string) (bleve.Index, error) {
	b, err := openBleve(dir)
	if err != nil {
		return nil, &RebuildError{Dir: dir, Reason: "corrupt", Err: err}
	}
	v, err := b.GetInternal(keyMappingVersion)
	if err != nil {
		_ = b.Close()
		return nil, &RebuildError{Dir: dir, Reason: "corrupt", Err: err}
	}
	if n, _ := strconv.Atoi(string(v)); n != MappingVersion {
		_ = b.Close()
		return nil, &RebuildError{Dir: dir, Reason: fmt.Sprintf("mapping version %q, want %d", v, MappingVersion)}
	}
	return b, nil
}

// openBleve opens an existing Bleve index, turning a panic of a damaged
// index into an error.
func openBleve(dir string) (b bleve.Index, err error) {
	defer func() {
		if r := recover(); r != nil {
			b, err = nil, fmt.Errorf("open panicked: %v", r)
		}
	}()
	return bleve.Open(dir)
}

// Create creates a new, empty index in dir, which must not exist.
func Create(dir string) (*Index, error) {
	an, err := loadAnalyzers()
	if err != nil {
		return nil, err
	}
	if err := os.Mkdir(dir, 0o700); err != nil {
		return nil, fmt.Errorf("create search index: %w", err)
	}
	ix := &Index{dir: dir, an: an, shards: map[string]bleve.Index{}, dirty: map[string]bool{}}
	if err := ix.writeMeta(0); err != nil {
		return nil, err
	}
	return ix, nil
}

// writeMeta records seq in the meta file, replacing it atomically.
func (ix *Index) writeMeta(seq int64) error {
	raw, err := json.Marshal(meta{MappingVersion: MappingVersion, LastSeq: seq})
	if err != nil {
		return err
	}
	tmp := filepath.Join(ix.dir, metaFile+".tmp")
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return err
	}
	_, err = f.Write(raw)
	if serr := f.Sync(); err == nil {
		err = serr
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return err
	}
	return os.Rename(tmp, filepath.Join(ix.dir, metaFile))
}

// shard returns the tenant's Bleve index, nil if it has none yet.
func (ix *Index) shard(tenantID string) bleve.Index {
	ix.mu.RLock()
	defer ix.mu.RUnlock()
	return ix.shards[tenantID]
}

// searchShard is shard for a search: errClosed once the index is closed.
func (ix *Index) searchShard(tenantID string) (bleve.Index, error) {
	ix.mu.RLock()
	defer ix.mu.RUnlock()
	if ix.closed {
		return nil, errClosed
	}
	return ix.shards[tenantID], nil
}

// isClosed says whether Close has run.
func (ix *Index) isClosed() bool {
	ix.mu.RLock()
	defer ix.mu.RUnlock()
	return ix.closed
}

// all is every tenant's index as one, for the tests' brute force; nil if
// there are none.
func (ix *Index) all() bleve.Index {
	ix.mu.RLock()
	defer ix.mu.RUnlock()
	if len(ix.shards) == 0 {
		return nil
	}
	a := bleve.NewIndexAlias()
	for _, b := range ix.shards {
		a.Add(b)
	}
	return a
}

// shardForWrite returns the tenant's Bleve index, creating it if needed.
// The caller holds ix.writing.
func (ix *Index) shardForWrite(tenantID string) (bleve.Index, error) {
	if b := ix.shard(tenantID); b != nil {
		return b, nil
	}
	m, err := newMapping()
	if err != nil {
		return nil, err
	}
	// A folder of a tenant without an open index is what a creation that
	// failed half-way left (Open opens every shard folder or fails): it
	// would make every later creation fail, and the indexer retry the
	// same batch for ever.
	dir := shardDir(ix.dir, tenantID)
	if err := os.RemoveAll(dir); err != nil {
		return nil, fmt.Errorf("create search index of a tenant: %w", err)
	}
	b, err := bleve.NewUsing(dir, m, scorch.Name, scorch.Name, nil)
	if err != nil {
		_ = os.RemoveAll(dir)
		return nil, fmt.Errorf("create search index of a tenant: %w", err)
	}
	if err := b.SetInternal(keyMappingVersion, []byte(strconv.Itoa(MappingVersion))); err != nil {
		_ = b.Close()
		_ = os.RemoveAll(dir)
		return nil, err
	}
	ix.mu.Lock()
	ix.shards[tenantID] = b
	ix.mu.Unlock()
	return b, nil
}

// Rebuild builds a fresh index beside dir, lets fill load it (typically
// from SearchSource.All, ending with an Apply of the sequence it is current
// to), and then swaps it in place of dir by renaming, so that dir always
// holds either the old or the new index (a crash between the two renames
// leaves dir missing, which Open reports, and the next start rebuilds).
// The old index's files are removed: this is also how erased text leaves
// every file of the index folder. The caller must have closed any Index
// open on dir.
func Rebuild(ctx context.Context, dir string, fill func(context.Context, *Index) error) (*Index, error) {
	parent, base := filepath.Split(filepath.Clean(dir))
	if err := os.MkdirAll(parent, 0o700); err != nil {
		return nil, err
	}
	tmp, err := os.MkdirTemp(parent, base+".new-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(tmp) // a no-op once renamed
	build := filepath.Join(tmp, "index")
	ix, err := Create(build)
	if err != nil {
		return nil, err
	}
	if err := fill(ctx, ix); err != nil {
		_ = ix.Close()
		return nil, err
	}
	// One segment a tenant: fewer per-segment lookups for every query from
	// then on.
	if err := ix.Compact(ctx); err != nil {
		_ = ix.Close()
		return nil, err
	}
	if err := ix.Close(); err != nil {
		return nil, err
	}
	old := ""
	if _, err := os.Stat(dir); err == nil {
		old = filepath.Join(tmp, "old")
		if err := os.Rename(dir, old); err != nil {
			return nil, err
		}
	}
	if err := os.Rename(build, dir); err != nil {
		return nil, err
	}
	if old != "" {
		if err := os.RemoveAll(old); err != nil {
			return nil, err
		}
	}
	return Open(dir)
}

// Close closes the index. Search, Apply and Compact fail afterwards
// (EUNAVAILABLE); a search already running on a tenant's index fails
// when that index closes under it.
func (ix *Index) Close() error {
	ix.writing.Lock()
	defer ix.writing.Unlock()
	ix.mu.Lock()
	defer ix.mu.Unlock()
	ix.closed = true
	var err error
	for t, b := range ix.shards {
		if cerr := b.Close(); err == nil {
			err = cerr
		}
		delete(ix.shards, t)
	}
	return err
}

// Dir is the folder of the index.
func (ix *Index) Dir() string { return ix.dir }

// Compact merges the segments of every shard changed since its last
// compaction into one, dropping the deleted documents and their terms, and
// waits until the merged files are written. Scorch does not rewrite an
// index that is a single segment, whose deleted documents keep their terms
// until a merge: a placeholder document (no tenant, so no query ever
// matches it) is added first so that there are always two segments to
// merge, and deleted afterwards. Rebuild is the stronger way to erase: it
// leaves none of the old files.
func (ix *Index) Compact(ctx context.Context) error {
	ix.writing.Lock()
	defer ix.writing.Unlock()
	if ix.isClosed() {
		return tma.Wrap("search.Compact", errClosed)
	}
	ix.mu.RLock()
	var todo []string
	for t := range ix.dirty {
		todo = append(todo, t)
	}
	ix.mu.RUnlock()
	for _, t := range todo {
		if b := ix.shard(t); b != nil {
			if err := compactShard(ctx, b); err != nil {
				return tma.Wrap("search.Compact", err)
			}
		}
		ix.mu.Lock()
		delete(ix.dirty, t)
		ix.mu.Unlock()
	}
	return nil
}

func compactShard(ctx context.Context, b bleve.Index) error {
	adv, err := b.Advanced()
	if err != nil {
		return err
	}
	s, ok := adv.(*scorch.Scorch)
	if !ok {
		return fmt.Errorf("not a scorch index")
	}
	const placeholder = "/compact"
	if err := b.Index(placeholder, map[string]any{fType: "compact"}); err != nil {
		return err
	}
	if err := s.ForceMerge(ctx, nil); err != nil {
		return err
	}
	done := b.NewBatch()
	done.Delete(placeholder)
	done.DeleteInternal(keyDirty)
	return b.Batch(done)
}

// Apply upserts docs, deletes the deleted keys and then records seq: one
// Bleve batch per tenant, and the sequence after all of them. A doc
// without tenant or key fails the whole call before anything is written.
func (ix *Index) Apply(ctx context.Context, seq int64, docs []*tma.SearchDoc, deleted []tma.SearchChange) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	for _, d := range docs {
		if d.TenantID == "" || d.Key == "" {
			return tma.Wrap("search.Apply", fmt.Errorf("search document %q without tenant or key", d.Key))
		}
	}
	ix.writing.Lock()
	defer ix.writing.Unlock()
	if ix.isClosed() {
		return tma.Wrap("search.Apply", errClosed)
	}
	batches := map[string]*bleve.Batch{}
	var order []string
	batch := func(tenant string, create bool) (*bleve.Batch, error) {
		if b := batches[tenant]; b != nil {
			return b, nil
		}
		if !create && ix.shard(tenant) == nil {
			return nil, nil // nothing of the tenant to delete
		}
		s, err := ix.shardForWrite(tenant)
		if err != nil {
			return nil, err
		}
		b := s.NewBatch()
		batches[tenant] = b
		order = append(order, tenant)
		return b, nil
	}
	for _, c := range deleted {
		b, err := batch(c.TenantID, false)
		if err != nil {
			return tma.Wrap("search.Apply", err)
		}
		if b != nil {
			b.Delete(docID(c.TenantID, c.Key))
		}
	}
	for _, d := range docs {
		b, err := batch(d.TenantID, true)
		if err != nil {
			return tma.Wrap("search.Apply", err)
		}
		m := indexDoc(d)
		m[fExpand] = ix.expansion(d)
		if err := b.Index(docID(d.TenantID, d.Key), m); err != nil {
			return tma.Wrap("search.Apply", err)
		}
	}
	for _, t := range order {
		ix.mu.Lock()
		ix.dirty[t] = true
		ix.mu.Unlock()
		batches[t].SetInternal(keyDirty, []byte("1"))
		if err := ix.shard(t).Batch(batches[t]); err != nil {
			return tma.Wrap("search.Apply", err)
		}
	}
	if err := ix.writeMeta(seq); err != nil {
		return tma.Wrap("search.Apply", err)
	}
	ix.mu.Lock()
	ix.lastSeq = seq
	ix.mu.Unlock()
	return nil
}

// LastSeq is the sequence recorded by the last Apply (0 if none).
func (ix *Index) LastSeq(context.Context) (int64, error) {
	ix.mu.RLock()
	defer ix.mu.RUnlock()
	return ix.lastSeq, nil
}

// docID is the Bleve document id: keys are unique per tenant only.
func docID(tenantID, key string) string { return tenantID + "/" + key }

// keyOf is the item key of a Bleve document id.
func keyOf(id string) string {
	if i := strings.IndexByte(id, '/'); i >= 0 {
		return id[i+1:]
	}
	return id
}

// Field names of the index. The text fields are analysed twice, once per
// language; nothing is stored.
const (
	fTenant       = "tenant"
	fType         = "type"
	fCase         = "case" // the case id, or noCase
	fStatus       = "status"
	fRestricted   = "restricted"
	fWikiRoles    = "wiki_roles"
	fTriageHidden = "triage_hidden"
	fWikiHidden   = "wiki_hidden"
	fWikiNarrow   = "wiki_narrow" // the page's own readers, or anyRole
	// fExpand holds every term of the text fields once more, as
	// "<tenant>|<lang>|<term>": prefix and fuzzy words expand over their
	// tenant's terms only (expandKey), so that how a query expands, and
	// whether it is refused as too broad, never depends on another
	// tenant's words.
	fExpand  = "expand"
	fAuthor  = "author"
	fDate    = "date"
	fMonth   = "month" // "2006-01", for the date facet
	fTitleDE = "title_de"
	fTitleEN = "title_en"
	fTextDE  = "text_de"
	fTextEN  = "text_en"
)

// anyRole is the wiki_narrow of a page that does not narrow its space.
const anyRole = "*"

// noCase is the case field of items that are not part of a case; ids are
// UUIDs, so it matches no case id.
const noCase = "-"

func indexDoc(d *tma.SearchDoc) map[string]any {
	m := map[string]any{
		fTenant:     d.TenantID,
		fType:       d.Type,
		fCase:       d.CaseID,
		fRestricted: d.Restricted,
		"title":     d.Title,
		"text":      d.Text,
		fAuthor:     d.Author,
	}
	if d.CaseID == "" {
		m[fCase] = noCase
	}
	if d.CaseStatus != "" {
		m[fStatus] = string(d.CaseStatus)
	}
	if len(d.WikiRoles) > 0 {
		roles := make([]string, len(d.WikiRoles))
		for i, r := range d.WikiRoles {
			roles[i] = string(r)
		}
		m[fWikiRoles] = roles
	}
	if tma.WikiSearchType(d.Type) {
		narrow := []string{anyRole}
		if d.WikiNarrowed {
			narrow = narrow[:0]
			for _, r := range d.WikiNarrow {
				narrow = append(narrow, string(r))
			}
		}
		m[fWikiNarrow] = narrow
	}
	if len(d.WikiHidden) > 0 {
		hidden := make([]string, len(d.WikiHidden))
		for i, r := range d.WikiHidden {
			hidden[i] = string(r)
		}
		m[fWikiHidden] = hidden
	}
	if len(d.TriageHidden) > 0 {
		m[fTriageHidden] = d.TriageHidden
	}
	if !d.Date.IsZero() {
		m[fDate] = d.Date.UTC()
		m[fMonth] = d.Date.UTC().Format("2006-01")
	}
	return m
}

// newMapping is the index mapping: static (no dynamic fields), nothing
// stored, nothing in _all, doc values only on the keyword and date fields
// that facets and sorting read.
func newMapping() (*mapping.IndexMappingImpl, error) {
	if _, err := loadAnalyzers(); err != nil {
		return nil, err
	}
	keyword := func(docValues bool) *mapping.FieldMapping {
		f := mapping.NewKeywordFieldMapping()
		f.Store = false
		f.IncludeInAll = false
		f.IncludeTermVectors = false
		f.DocValues = docValues
		return f
	}
	text := func(name, analyzer string) *mapping.FieldMapping {
		f := mapping.NewTextFieldMapping()
		f.Name = name
		f.Analyzer = analyzer
		f.Store = false
		f.IncludeInAll = false
		f.IncludeTermVectors = true // positions, for phrases; no text
		f.DocValues = false
		return f
	}
	dm := mapping.NewDocumentStaticMapping()
	dm.AddFieldMappingsAt(fTenant, keyword(false))
	dm.AddFieldMappingsAt(fType, keyword(true))
	dm.AddFieldMappingsAt(fCase, keyword(true))
	dm.AddFieldMappingsAt(fStatus, keyword(true))
	dm.AddFieldMappingsAt(fWikiRoles, keyword(false))
	dm.AddFieldMappingsAt(fWikiHidden, keyword(false))
	dm.AddFieldMappingsAt(fWikiNarrow, keyword(false))
	dm.AddFieldMappingsAt(fExpand, keyword(false))
	dm.AddFieldMappingsAt(fTriageHidden, keyword(false))
	dm.AddFieldMappingsAt(fMonth, keyword(true))
	restricted := mapping.NewBooleanFieldMapping()
	restricted.Store, restricted.IncludeInAll, restricted.DocValues = false, false, false
	dm.AddFieldMappingsAt(fRestricted, restricted)
	date := mapping.NewDateTimeFieldMapping()
	date.Store, date.IncludeInAll, date.DocValues = false, false, true
	dm.AddFieldMappingsAt(fDate, date)
	author := text(fAuthor, analyzerName)
	dm.AddFieldMappingsAt(fAuthor, author)
	dm.AddFieldMappingsAt("title", text(fTitleDE, analyzerDE), text(fTitleEN, analyzerEN))
	dm.AddFieldMappingsAt("text", text(fTextDE, analyzerDE), text(fTextEN, analyzerEN))

	m := bleve.NewIndexMapping()
	m.DefaultMapping = dm
	m.StoreDynamic = false
	m.IndexDynamic = false
	m.DocValuesDynamic = false
	m.DefaultAnalyzer = analyzerDE
	if err := m.Validate(); err != nil {
		return nil, err
	}
	return m, nil
}

// TermsWithPrefix lists the terms in the index's dictionaries of the text
// fields (title, text and author) that start with prefix: what a copy of
// the index folder would still give away. Tests use it to show that erased
// text has left the index, since the dictionaries are compressed and a
// term's bytes need not appear in a file as they are.
func (ix *Index) TermsWithPrefix(prefix string) ([]string, error) {
	ix.mu.RLock()
	defer ix.mu.RUnlock()
	var out []string
	collect := func(f string, d index.FieldDict, keep func(string) bool) error {
		defer d.Close()
		for {
			e, err := d.Next()
			if err != nil || e == nil {
				return err
			}
			if keep(e.Term) {
				out = append(out, f+":"+e.Term)
			}
		}
	}
	for _, b := range ix.shards {
		for _, f := range []string{fTitleDE, fTitleEN, fTextDE, fTextEN, fAuthor} {
			d, err := b.FieldDictPrefix(f, []byte(prefix))
			if err != nil {
				return nil, err
			}
			if err := collect(f, d, func(string) bool { return true }); err != nil {
				return nil, err
			}
		}
		// The expansion field's terms begin with their tenant and language.
		d, err := b.FieldDict(fExpand)
		if err != nil {
			return nil, err
		}
		if err := collect(fExpand, d, func(t string) bool { return strings.Contains(t, "|"+prefix) }); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// expandKey is the expansion term of term, in language lang, of tenant.
func expandKey(tenant, lang, term string) string { return tenant + "|" + lang + "|" + term }

// expansion is the fExpand value of d: the distinct terms of its title and
// text in both analyses, each under its tenant and language.
func (ix *Index) expansion(d *tma.SearchDoc) []string {
	seen := map[string]bool{}
	var out []string
	for _, f := range textFields {
		a, src := ix.an.de, d.Text
		if f.lang == "en" {
			a = ix.an.en
		}
		if f.name == fTitleDE || f.name == fTitleEN {
			src = d.Title
		}
		for _, t := range terms(a, src) {
			if k := expandKey(d.TenantID, f.lang, t); !seen[k] {
				seen[k] = true
				out = append(out, k)
			}
		}
	}
	return out
}
