package postgres

import (
	"context"
	"encoding/json"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/tma-portal/tma/server/tma"
)

// SearchSource reads searchable content for the index: the outbox that
// the triggers of migrations 0019 and 0022 write in commit order, the
// items themselves (case content opened with the case key, the text of
// wiki attachments with the attachment's data key), and what a user may
// see.
type SearchSource struct {
	db          *DB
	sealer      tma.RecordSealer
	attachments tma.AttachmentCipher
	authz       tma.Authorizer
}

var _ tma.SearchSource = (*SearchSource)(nil)

// NewSearchSource returns a SearchSource on db that opens case content
// with sealer and the text of wiki attachments with attachments, and
// decides scopes with authz.
func NewSearchSource(db *DB, sealer tma.RecordSealer, attachments tma.AttachmentCipher, authz tma.Authorizer) *SearchSource {
	return &SearchSource{db: db, sealer: sealer, attachments: attachments, authz: authz}
}

// loadBatch is how many keys All loads at once.
const loadBatch = 500

// Changes returns outbox rows after seq, in order. The deferred triggers
// number rows in commit order, so no row below the last one returned can
// appear later.
func (s *SearchSource) Changes(ctx context.Context, after int64, limit int) ([]tma.SearchChange, error) {
	if limit <= 0 {
		limit = loadBatch
	}
	rows, err := s.db.Pool.Query(ctx, `SELECT seq, tenant_id::text, key FROM search_outbox WHERE seq > $1 ORDER BY seq LIMIT $2`, after, limit)
	if err != nil {
		return nil, dbError("SearchSource.Changes", err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (tma.SearchChange, error) {
		var c tma.SearchChange
		return c, r.Scan(&c.Seq, &c.TenantID, &c.Key)
	})
	return out, dbError("SearchSource.Changes", err)
}

// All lists every item of every tenant and loads them in batches. The
// outbox sequence is read first: whatever commits after it has a higher
// sequence, and the tail applies it again.
func (s *SearchSource) All(ctx context.Context, fn func(*tma.SearchDoc) error) (int64, error) {
	var seq int64
	if err := s.db.Pool.QueryRow(ctx, `SELECT COALESCE(max(seq), 0) FROM search_outbox`).Scan(&seq); err != nil {
		return 0, dbError("SearchSource.All", err)
	}
	rows, err := s.db.Pool.Query(ctx, `SELECT tenant_id::text, key FROM (
		SELECT tenant_id, 'case:' || id AS key FROM cases WHERE NOT intake
		UNION ALL SELECT tenant_id, 'note:' || id FROM case_notes
		UNION ALL SELECT tenant_id, 'action:' || id FROM case_actions
		UNION ALL SELECT tenant_id, 'report:' || id FROM reports
		UNION ALL SELECT tenant_id, 'document:' || document_id || '@' || version FROM document_versions WHERE deleted_at IS NULL
		UNION ALL SELECT tenant_id, 'wiki:' || id FROM wiki_pages
		UNION ALL SELECT tenant_id, 'wikifile:' || id FROM wiki_attachments WHERE deleted_at IS NULL) k ORDER BY tenant_id`)
	if err != nil {
		return 0, dbError("SearchSource.All", err)
	}
	type item struct{ tenantID, key string }
	items, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (item, error) {
		var it item
		return it, r.Scan(&it.tenantID, &it.key)
	})
	if err != nil {
		return 0, dbError("SearchSource.All", err)
	}
	for i := 0; i < len(items); {
		j := i
		var keys []string
		for j < len(items) && items[j].tenantID == items[i].tenantID && len(keys) < loadBatch {
			keys = append(keys, items[j].key)
			j++
		}
		docs, err := s.Load(ctx, items[i].tenantID, keys)
		if err != nil {
			return 0, err
		}
		for _, d := range docs {
			if err := fn(d); err != nil {
				return 0, err
			}
		}
		i = j
	}
	return seq, nil
}

// sealedItem is a loaded item whose sealed fields are not open yet: recs
// belong to caseID, and fill completes doc from their plaintext.
type sealedItem struct {
	doc    *tma.SearchDoc
	caseID string // whose key opens recs
	recs   []*tma.Record
	fill   func()
}

// searchKeys are the ids of the keys of one Load, by type.
type searchKeys struct {
	cases, notes, actions, reports, wiki, files []string
	docIDs                                      []string
	docVersions                                 []int32
}

func parseSearchKeys(keys []string) searchKeys {
	var k searchKeys
	for _, key := range keys {
		typ, id, ok := strings.Cut(key, ":")
		if !ok {
			continue
		}
		if typ == tma.SearchDocument {
			docID, ver, ok := strings.Cut(id, "@")
			n, err := strconv.Atoi(ver)
			if ok && err == nil && n >= 1 && tma.ValidID(docID) {
				k.docIDs, k.docVersions = append(k.docIDs, docID), append(k.docVersions, int32(n))
			}
			continue
		}
		if !tma.ValidID(id) {
			continue
		}
		switch typ {
		case tma.SearchCase:
			k.cases = append(k.cases, id)
		case tma.SearchNote:
			k.notes = append(k.notes, id)
		case tma.SearchAction:
			k.actions = append(k.actions, id)
		case tma.SearchReport:
			k.reports = append(k.reports, id)
		case tma.SearchWiki:
			k.wiki = append(k.wiki, id)
		case tma.SearchWikiFile:
			k.files = append(k.files, id)
		}
	}
	return k
}

// liveCase joins the case c of the row and leaves out shredded cases: the
// index must not keep even their clear metadata.
const liveCase = ` JOIN cases c ON c.tenant_id = x.tenant_id AND c.id = x.case_id
	LEFT JOIN case_keys k ON k.tenant_id = c.tenant_id AND k.case_id = c.id `

// Load returns the current content of the tenant's items, decrypted. Items
// that are gone, deleted or shredded are left out, and so is an item whose
// sealed fields do not open (a corrupt record must not stop the index).
func (s *SearchSource) Load(ctx context.Context, tenantID string, keys []string) ([]*tma.SearchDoc, error) {
	if !tma.ValidID(tenantID) || len(keys) == 0 {
		return nil, nil
	}
	k := parseSearchKeys(keys)
	var items []*sealedItem
	loaders := []func(context.Context, string, searchKeys) ([]*sealedItem, error){
		s.loadCases, s.loadNotes, s.loadActions, s.loadReports, s.loadDocuments, s.loadWiki, s.loadWikiFiles,
	}
	for _, load := range loaders {
		got, err := load(ctx, tenantID, k)
		if err != nil {
			return nil, dbError("SearchSource.Load", err)
		}
		items = append(items, got...)
	}
	return s.open(ctx, tenantID, items)
}

// open opens the records of items with one key fetch per case and fills
// them in. A shredded case's items are left out; if a batch does not open,
// its items are tried one by one and those that fail are left out.
func (s *SearchSource) open(ctx context.Context, tenantID string, items []*sealedItem) ([]*tma.SearchDoc, error) {
	byCase := map[string][]*sealedItem{}
	var order []string
	for _, it := range items {
		if it.caseID == "" || len(it.recs) == 0 {
			continue
		}
		if _, ok := byCase[it.caseID]; !ok {
			order = append(order, it.caseID)
		}
		byCase[it.caseID] = append(byCase[it.caseID], it)
	}
	failed := map[*sealedItem]bool{}
	for _, caseID := range order {
		group := byCase[caseID]
		var recs []*tma.Record
		for _, it := range group {
			recs = append(recs, it.recs...)
		}
		err := s.sealer.Open(ctx, tenantID, caseID, recs)
		switch code := tma.ErrorCode(err); {
		case err == nil:
			continue
		case code == tma.EGONE || code == tma.ENOTFOUND:
			for _, it := range group {
				failed[it] = true
			}
		case code == tma.ECORRUPT:
			for _, it := range group {
				if err := s.sealer.Open(ctx, tenantID, caseID, it.recs); err != nil {
					if c := tma.ErrorCode(err); c != tma.ECORRUPT && c != tma.EGONE && c != tma.ENOTFOUND {
						return nil, err
					}
					failed[it] = true
				}
			}
		default:
			return nil, err
		}
	}
	out := make([]*tma.SearchDoc, 0, len(items))
	for _, it := range items {
		if failed[it] {
			continue
		}
		if it.fill != nil {
			it.fill()
		}
		for _, r := range it.recs {
			clear(r.Plain)
		}
		out = append(out, it.doc)
	}
	return out, nil
}

func (s *SearchSource) loadCases(ctx context.Context, tenantID string, k searchKeys) ([]*sealedItem, error) {
	if len(k.cases) == 0 {
		return nil, nil
	}
	rows, err := s.db.Pool.Query(ctx, `SELECT c.id::text, c.reference, c.title, c.labels, c.status, c.created_at
		FROM cases c LEFT JOIN case_keys k ON k.tenant_id = c.tenant_id AND k.case_id = c.id
		WHERE c.tenant_id = $1 AND c.id = ANY($2::text[]::uuid[]) AND NOT c.intake AND k.shredded_at IS NULL`, tenantID, k.cases)
	if err != nil {
		return nil, err
	}
	byID := map[string]*sealedItem{}
	items, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (*sealedItem, error) {
		var id, ref, title string
		var labels []string
		var d tma.SearchDoc
		if err := r.Scan(&id, &ref, &title, &labels, &d.CaseStatus, &d.Date); err != nil {
			return nil, err
		}
		d.Key, d.Type, d.TenantID, d.CaseID = tma.SearchCase+":"+id, tma.SearchCase, tenantID, id
		d.Title = strings.TrimSpace(ref + " " + title)
		d.Text = strings.Join(labels, "\n")
		it := &sealedItem{doc: &d, caseID: id}
		byID[id] = it
		return it, nil
	})
	if err != nil || len(items) == 0 {
		return items, err
	}
	// The persons' names are part of the case item.
	rows, err = s.db.Pool.Query(ctx, `SELECT id::text, case_id::text, name FROM case_persons
		WHERE tenant_id = $1 AND case_id = ANY($2::text[]::uuid[]) ORDER BY created_at, id`, tenantID, k.cases)
	if err != nil {
		return nil, err
	}
	var personID, caseID string
	var name []byte
	_, err = pgx.ForEachRow(rows, []any{&personID, &caseID, &name}, func() error {
		it := byID[caseID]
		if it == nil {
			return nil
		}
		rec, _ := personRecords(personID)
		rec.Sealed = name
		it.recs = append(it.recs, rec)
		return nil
	})
	if err != nil {
		return nil, err
	}
	for _, it := range items {
		it.fill = func() {
			var names []string
			for _, r := range it.recs {
				names = append(names, string(r.Plain))
			}
			if len(names) > 0 {
				it.doc.Text = strings.TrimSpace(it.doc.Text + "\n" + strings.Join(names, "\n"))
			}
		}
	}
	return items, nil
}

func (s *SearchSource) loadNotes(ctx context.Context, tenantID string, k searchKeys) ([]*sealedItem, error) {
	if len(k.notes) == 0 {
		return nil, nil
	}
	rows, err := s.db.Pool.Query(ctx, `SELECT x.id::text, x.case_id::text, c.status, x.version, x.restricted OR v.restricted,
		v.title, v.body, COALESCE(u.display_name, ''), v.created_at
		FROM case_notes x
		JOIN case_note_versions v ON v.tenant_id = x.tenant_id AND v.note_id = x.id AND v.version = x.version`+liveCase+`
		LEFT JOIN users u ON u.tenant_id = v.tenant_id AND u.id = v.author_id
		WHERE x.tenant_id = $1 AND x.id = ANY($2::text[]::uuid[]) AND k.shredded_at IS NULL AND NOT c.intake`, tenantID, k.notes)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (*sealedItem, error) {
		var id string
		var version int
		var title, body []byte
		d := &tma.SearchDoc{Type: tma.SearchNote, TenantID: tenantID}
		if err := r.Scan(&id, &d.CaseID, &d.CaseStatus, &version, &d.Restricted, &title, &body, &d.Author, &d.Date); err != nil {
			return nil, err
		}
		d.Key = tma.SearchNote + ":" + id
		t, b := noteRecords(id, version)
		t.Sealed, b.Sealed = title, body
		return &sealedItem{doc: d, caseID: d.CaseID, recs: []*tma.Record{t, b}, fill: func() {
			d.Title, d.Text = string(t.Plain), string(b.Plain)
		}}, nil
	})
}

func (s *SearchSource) loadActions(ctx context.Context, tenantID string, k searchKeys) ([]*sealedItem, error) {
	if len(k.actions) == 0 {
		return nil, nil
	}
	rows, err := s.db.Pool.Query(ctx, `SELECT x.id::text, x.case_id::text, c.status, x.revision, x.title, x.outcome,
		COALESCE(u.display_name, ''), x.updated_at
		FROM case_actions x`+liveCase+`
		LEFT JOIN users u ON u.tenant_id = x.tenant_id AND u.id = x.owner_id
		WHERE x.tenant_id = $1 AND x.id = ANY($2::text[]::uuid[]) AND k.shredded_at IS NULL AND NOT c.intake`, tenantID, k.actions)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (*sealedItem, error) {
		var id string
		var revision int
		var title, outcome []byte
		d := &tma.SearchDoc{Type: tma.SearchAction, TenantID: tenantID}
		if err := r.Scan(&id, &d.CaseID, &d.CaseStatus, &revision, &title, &outcome, &d.Author, &d.Date); err != nil {
			return nil, err
		}
		d.Key = tma.SearchAction + ":" + id
		t, o := actionRecords(id, revision)
		t.Sealed, o.Sealed = title, outcome
		recs := []*tma.Record{t}
		if outcome != nil {
			recs = append(recs, o)
		}
		return &sealedItem{doc: d, caseID: d.CaseID, recs: recs, fill: func() {
			d.Title, d.Text = string(t.Plain), string(o.Plain)
		}}, nil
	})
}

// loadReports loads reports with their messages. A report that is not
// part of a case (pending or dismissed: its case is its intake row) has no
// CaseID, and is hidden from the persons it names.
func (s *SearchSource) loadReports(ctx context.Context, tenantID string, k searchKeys) ([]*sealedItem, error) {
	if len(k.reports) == 0 {
		return nil, nil
	}
	rows, err := s.db.Pool.Query(ctx, `SELECT x.id::text, x.case_id::text, c.intake, c.status, x.content, x.created_at,
		ARRAY(SELECT n.user_id::text FROM report_named n WHERE n.tenant_id = x.tenant_id AND n.report_id = x.id ORDER BY n.user_id)
		FROM reports x`+liveCase+`
		WHERE x.tenant_id = $1 AND x.id = ANY($2::text[]::uuid[]) AND k.shredded_at IS NULL`, tenantID, k.reports)
	if err != nil {
		return nil, err
	}
	byID := map[string]*sealedItem{}
	items, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (*sealedItem, error) {
		var id, caseID string
		var intake bool
		var status tma.CaseStatus
		var content []byte
		d := &tma.SearchDoc{Type: tma.SearchReport, TenantID: tenantID}
		if err := r.Scan(&id, &caseID, &intake, &status, &content, &d.Date, &d.TriageHidden); err != nil {
			return nil, err
		}
		d.Key = tma.SearchReport + ":" + id
		if !intake {
			d.CaseID, d.CaseStatus = caseID, status
		}
		it := &sealedItem{doc: d, caseID: caseID, recs: []*tma.Record{{Table: tableReports, RowID: id, Field: "content", Sealed: content}}}
		byID[id] = it
		return it, nil
	})
	if err != nil || len(items) == 0 {
		return items, err
	}
	rows, err = s.db.Pool.Query(ctx, `SELECT id::text, report_id::text, text FROM report_messages
		WHERE tenant_id = $1 AND report_id = ANY($2::text[]::uuid[]) ORDER BY created_at, id`, tenantID, k.reports)
	if err != nil {
		return nil, err
	}
	var msgID, reportID string
	var text []byte
	_, err = pgx.ForEachRow(rows, []any{&msgID, &reportID, &text}, func() error {
		if it := byID[reportID]; it != nil {
			it.recs = append(it.recs, &tma.Record{Table: tableMessages, RowID: msgID, Field: "text", Sealed: text})
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	for _, it := range items {
		it.fill = func() {
			var c tma.ReportContent
			_ = json.Unmarshal(it.recs[0].Plain, &c) // opened, so written by us
			it.doc.Title = firstLine(c.What, 120)
			parts := []string{c.What, c.When, c.Where, c.Who}
			for _, m := range it.recs[1:] {
				parts = append(parts, string(m.Plain))
			}
			it.doc.Text = joinNonEmpty(parts)
		}
	}
	return items, nil
}

func (s *SearchSource) loadDocuments(ctx context.Context, tenantID string, k searchKeys) ([]*sealedItem, error) {
	if len(k.docIDs) == 0 {
		return nil, nil
	}
	rows, err := s.db.Pool.Query(ctx, `SELECT v.document_id::text, v.version, x.case_id::text, c.status, v.name_sealed, t.text,
		COALESCE(u.display_name, ''), v.uploaded_at
		FROM unnest($2::text[]::uuid[], $3::int[]) AS want(id, version)
		JOIN document_versions v ON v.tenant_id = $1 AND v.document_id = want.id AND v.version = want.version
		JOIN documents x ON x.tenant_id = v.tenant_id AND x.id = v.document_id`+liveCase+`
		LEFT JOIN document_texts t ON t.tenant_id = v.tenant_id AND t.document_id = v.document_id AND t.version = v.version
		LEFT JOIN users u ON u.tenant_id = v.tenant_id AND u.id = v.uploaded_by
		WHERE v.deleted_at IS NULL AND k.shredded_at IS NULL AND NOT c.intake`, tenantID, k.docIDs, k.docVersions)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (*sealedItem, error) {
		var id string
		var version int
		var name, text []byte
		d := &tma.SearchDoc{Type: tma.SearchDocument, TenantID: tenantID}
		if err := r.Scan(&id, &version, &d.CaseID, &d.CaseStatus, &name, &text, &d.Author, &d.Date); err != nil {
			return nil, err
		}
		d.Key = tma.SearchDocument + ":" + id + "@" + strconv.Itoa(version)
		n := nameRecord(id, version)
		n.Sealed = name
		recs := []*tma.Record{n}
		t := textRecord(id, version)
		if text != nil {
			t.Sealed = text
			recs = append(recs, t)
		}
		return &sealedItem{doc: d, caseID: d.CaseID, recs: recs, fill: func() {
			d.Title, d.Text = string(n.Plain), string(t.Plain)
		}}, nil
	})
}

// loadWiki loads pages at their current revision, with the three parts of
// tma.CanReadPage: the space's readers and editors (WikiRoles), the page's
// own readers if it narrows the space (WikiNarrow), and its hidden roles.
func (s *SearchSource) loadWiki(ctx context.Context, tenantID string, k searchKeys) ([]*sealedItem, error) {
	if len(k.wiki) == 0 {
		return nil, nil
	}
	rows, err := s.db.Pool.Query(ctx, `SELECT p.id::text, sp.slug, p.slug, sp.read_roles, sp.edit_roles, p.read_roles, p.hidden_roles,
		r.title, r.body, COALESCE(u.display_name, ''), r.created_at
		FROM wiki_pages p
		JOIN wiki_spaces sp ON sp.tenant_id = p.tenant_id AND sp.id = p.space_id
		JOIN wiki_revisions r ON r.tenant_id = p.tenant_id AND r.page_id = p.id AND r.revision = p.revision
		LEFT JOIN users u ON u.tenant_id = r.tenant_id AND u.id = r.author_id
		WHERE p.tenant_id = $1 AND p.id = ANY($2::text[]::uuid[])`, tenantID, k.wiki)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (*sealedItem, error) {
		var id string
		var sread, sedit, pread, phidden []string
		d := &tma.SearchDoc{Type: tma.SearchWiki, TenantID: tenantID}
		if err := r.Scan(&id, &d.Space, &d.Slug, &sread, &sedit, &pread, &phidden, &d.Title, &d.Text, &d.Author, &d.Date); err != nil {
			return nil, err
		}
		d.Key = tma.SearchWiki + ":" + id
		setWikiAccess(d, sread, sedit, pread, phidden)
		return &sealedItem{doc: d}, nil
	})
}

// setWikiAccess fills d's wiki permission fields from the roles of a page
// and its space.
func setWikiAccess(d *tma.SearchDoc, spaceRead, spaceEdit, pageRead, pageHidden []string) {
	d.WikiRoles = append(toRoles(spaceRead), toRoles(spaceEdit)...)
	d.WikiNarrowed, d.WikiNarrow = pageRead != nil, toRoles(pageRead)
	d.WikiHidden = toRoles(pageHidden)
}

// loadWikiFiles loads live wiki attachments: the name as title, the text
// opened with the attachment's data key, and the permission fields of the
// page (an attachment is read by whoever reads its page). An attachment
// whose text does not open (a damaged record, a destroyed key) is left
// out, like a case item whose records do not open; an unavailable key
// provider fails the load, which the indexer retries.
func (s *SearchSource) loadWikiFiles(ctx context.Context, tenantID string, k searchKeys) ([]*sealedItem, error) {
	if len(k.files) == 0 {
		return nil, nil
	}
	rows, err := s.db.Pool.Query(ctx, `SELECT a.id::text, sp.id::text, sp.slug, p.slug, sp.read_roles, sp.edit_roles, p.read_roles, p.hidden_roles,
		r.title, a.name, a.kek_provider, a.kek_id, a.kek_version, a.wrapped_key, t.text, COALESCE(u.display_name, ''), a.uploaded_at
		FROM wiki_attachments a
		JOIN wiki_pages p ON p.tenant_id = a.tenant_id AND p.id = a.page_id
		JOIN wiki_spaces sp ON sp.tenant_id = p.tenant_id AND sp.id = p.space_id
		JOIN wiki_revisions r ON r.tenant_id = p.tenant_id AND r.page_id = p.id AND r.revision = p.revision
		LEFT JOIN wiki_attachment_texts t ON t.tenant_id = a.tenant_id AND t.attachment_id = a.id
		LEFT JOIN users u ON u.tenant_id = a.tenant_id AND u.id = a.uploaded_by
		WHERE a.tenant_id = $1 AND a.id = ANY($2::text[]::uuid[]) AND a.deleted_at IS NULL`, tenantID, k.files)
	if err != nil {
		return nil, err
	}
	type file struct {
		doc     *tma.SearchDoc
		ref     tma.AttachmentRef
		wrapped tma.WrappedKey
		text    []byte
	}
	files, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (*file, error) {
		var id string
		var sread, sedit, pread, phidden []string
		f := &file{doc: &tma.SearchDoc{Type: tma.SearchWikiFile, TenantID: tenantID}}
		d := f.doc
		if err := r.Scan(&id, &f.ref.SpaceID, &d.Space, &d.Slug, &sread, &sedit, &pread, &phidden, &d.PageTitle, &d.File,
			&f.wrapped.KEK.Provider, &f.wrapped.KEK.KeyID, &f.wrapped.KEK.Version, &f.wrapped.Ciphertext, &f.text, &d.Author, &d.Date); err != nil {
			return nil, err
		}
		d.Key, d.Title = tma.SearchWikiFile+":"+id, d.File
		f.ref.TenantID, f.ref.AttachmentID = tenantID, id
		setWikiAccess(d, sread, sedit, pread, phidden)
		return f, nil
	})
	if err != nil {
		return nil, err
	}
	out := make([]*sealedItem, 0, len(files))
	for _, f := range files {
		if f.text != nil {
			plain, err := s.attachments.OpenText(ctx, f.ref, f.wrapped, f.text)
			switch code := tma.ErrorCode(err); {
			case err == nil:
				f.doc.Text = string(plain)
				clear(plain)
			case code == tma.ECORRUPT || code == tma.EGONE || code == tma.ENOTFOUND:
				continue
			default:
				return nil, err
			}
		}
		out = append(out, &sealedItem{doc: f.doc})
	}
	return out, nil
}

// firstLine is the first line of s, cut at max runes.
func firstLine(s string, max int) string {
	s, _, _ = strings.Cut(strings.TrimSpace(s), "\n")
	if r := []rune(s); len(r) > max {
		return string(r[:max-1]) + "…"
	}
	return s
}

func joinNonEmpty(parts []string) string {
	var out []string
	for _, p := range parts {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return strings.Join(out, "\n")
}

// Scope returns what u may see now: the cases of u's current, unexcluded
// memberships that u may read (as CaseService.MyCases lists them, without
// its page limit), those whose restricted notes u may read, and u's
// permissions for the intake and the wiki.
func (s *SearchSource) Scope(ctx context.Context, u *tma.User) (tma.SearchScope, error) {
	if u == nil || !tma.ValidID(u.TenantID) || !tma.ValidID(u.ID) {
		return tma.SearchScope{}, tma.Errorf(tma.EFORBIDDEN, msgNoPermission)
	}
	if u.Disabled {
		return tma.SearchScope{TenantID: u.TenantID, UserID: u.ID}, nil
	}
	sc := tma.SearchScope{TenantID: u.TenantID, UserID: u.ID, Roles: append([]tma.Role(nil), u.Roles...),
		Triage: s.authz.Can(u, tma.PermReportsTriage), Wiki: s.authz.Can(u, tma.PermWikiRead)}
	now := s.db.now()
	rows, err := s.db.Pool.Query(ctx, `SELECT m.case_id::text, m.role, m.expires_at
		FROM case_members m JOIN cases c ON c.tenant_id = m.tenant_id AND c.id = m.case_id
		WHERE m.tenant_id = $1 AND m.user_id = $2 AND (m.expires_at IS NULL OR m.expires_at > $3) AND NOT c.intake
		  AND NOT EXISTS (SELECT 1 FROM case_exclusions x
			WHERE x.tenant_id = m.tenant_id AND x.case_id = m.case_id AND x.user_id = m.user_id)
		ORDER BY m.case_id`, u.TenantID, u.ID, now)
	if err != nil {
		return tma.SearchScope{}, dbError("SearchSource.Scope", err)
	}
	var caseID, role string
	var expires *time.Time
	_, err = pgx.ForEachRow(rows, []any{&caseID, &role, &expires}, func() error {
		a := tma.CaseAccess{Role: tma.CaseRole(role)}
		if expires != nil {
			a.ExpiresAt = *expires
		}
		roles := a.Roles(now)
		if !s.authz.CanCase(u, roles, tma.PermCasesRead, tma.CasePermRead) {
			return nil
		}
		sc.Cases = append(sc.Cases, caseID)
		if tma.CanReadRestricted(s.authz, u, roles) {
			sc.RestrictedCases = append(sc.RestrictedCases, caseID)
		}
		return nil
	})
	if err != nil {
		return tma.SearchScope{}, dbError("SearchSource.Scope", err)
	}
	return sc, nil
}

// Count is the number of items All gives at most (shredded cases' items
// included), for a progress bar.
func (s *SearchSource) Count(ctx context.Context) (int, error) {
	var n int
	err := s.db.Pool.QueryRow(ctx, `SELECT (SELECT count(*) FROM cases WHERE NOT intake) + (SELECT count(*) FROM case_notes)
		+ (SELECT count(*) FROM case_actions) + (SELECT count(*) FROM reports)
		+ (SELECT count(*) FROM document_versions WHERE deleted_at IS NULL) + (SELECT count(*) FROM wiki_pages)
		+ (SELECT count(*) FROM wiki_attachments WHERE deleted_at IS NULL)`).Scan(&n)
	return n, dbError("SearchSource.Count", err)
}
