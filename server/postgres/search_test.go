package postgres_test

import (
	"bytes"
	"context"
	"io"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tma-portal/tma/server/authz"
	"github.com/tma-portal/tma/server/crypt"
	"github.com/tma-portal/tma/server/postgres"
	"github.com/tma-portal/tma/server/tma"
)

// plainExtractor reads text/plain as it is and nothing else: the seam the
// document service takes, without the real extractor's formats.
type plainExtractor struct{}

func (plainExtractor) Extract(_ context.Context, contentType string, r io.Reader, _ int64) (string, error) {
	if tma.BaseType(contentType) != "text/plain" {
		return "", nil
	}
	b, err := io.ReadAll(io.LimitReader(r, tma.MaxExtractInput))
	return string(b), err
}

// searchEnv is docEnv with text extraction, notes, persons, actions and
// the search source.
type searchEnv struct {
	*docEnv
	notes   *postgres.NoteService
	persons *postgres.PersonService
	actions *postgres.ActionService
	keySvc  *postgres.CaseKeyService
	src     *postgres.SearchSource
}

func newSearchEnv(t *testing.T) *searchEnv {
	t.Helper()
	d := newDocEnv(t)
	sealer := crypt.NewCaseRecords(d.keys)
	d.docs = postgres.NewDocumentService(d.db, sealer, crypt.NewDocuments(d.keys), d.ranges, plainExtractor{})
	enf, err := authz.New()
	if err != nil {
		t.Fatal(err)
	}
	return &searchEnv{docEnv: d,
		notes:   postgres.NewNoteService(d.db, sealer),
		persons: postgres.NewPersonService(d.db, sealer),
		actions: postgres.NewActionService(d.db, sealer),
		keySvc:  postgres.NewCaseKeyService(d.db, nil),
		src:     postgres.NewSearchSource(d.db, sealer, crypt.NewAttachments(d.kp), enf),
	}
}

// outbox returns the keys of the outbox rows after seq, and the last seq.
func (e *searchEnv) outbox(t *testing.T, after int64) ([]string, int64) {
	t.Helper()
	changes, err := e.src.Changes(context.Background(), after, 10000)
	if err != nil {
		t.Fatal(err)
	}
	var keys []string
	for _, c := range changes {
		if c.TenantID != e.tenant.ID {
			t.Fatalf("change %d of tenant %s, want %s", c.Seq, c.TenantID, e.tenant.ID)
		}
		keys = append(keys, c.Key)
		after = c.Seq
	}
	return keys, after
}

// TestSearchOutboxSameTransaction: a change writes its outbox row in its
// own transaction, and a change that fails writes none.
func TestSearchOutboxSameTransaction(t *testing.T) {
	e := newSearchEnv(t)
	ctx := context.Background()
	_, last := e.outbox(t, 0)

	n, err := e.notes.AddNote(actorCtx(e.lead), e.tenant.ID, e.kase.ID, tma.NoteInput{Title: "Visit", Body: "He came to the depot."})
	if err != nil {
		t.Fatal(err)
	}
	keys, last := e.outbox(t, last)
	if !slices.Contains(keys, "note:"+n.ID) {
		t.Fatalf("outbox after AddNote = %v, want note:%s", keys, n.ID)
	}

	// A change that fails halfway (the note row is written, then the
	// transaction rolls back) leaves no row.
	tx, err := e.db.Pool.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tx.Exec(ctx, `UPDATE case_notes SET updated_at = now() WHERE tenant_id = $1 AND id = $2`, e.tenant.ID, n.ID); err != nil {
		t.Fatal(err)
	}
	if err := tx.Rollback(ctx); err != nil {
		t.Fatal(err)
	}
	// A service call refused after its checks: a stale edit.
	_, err = e.notes.EditNote(actorCtx(e.lead), e.tenant.ID, e.kase.ID, n.ID, tma.NoteInput{Title: "x", Body: "y", Version: 7}, false)
	wantCode(t, err, tma.ECONFLICT)
	if keys, _ := e.outbox(t, last); len(keys) != 0 {
		t.Fatalf("failed changes wrote outbox rows: %v", keys)
	}

	// Every kind of change names its item.
	p, err := e.persons.AddPerson(actorCtx(e.lead), e.tenant.ID, e.kase.ID, tma.PersonInput{Kind: tma.PersonWitness, Name: "Erika Mustermann"})
	if err != nil {
		t.Fatal(err)
	}
	a, err := e.actions.AddAction(actorCtx(e.lead), e.tenant.ID, e.kase.ID, tma.ActionInput{Title: "Call HR", OwnerID: e.lead.ID})
	if err != nil {
		t.Fatal(err)
	}
	v := e.upload(t, e.lead, "", "memo.txt", "text/plain; charset=utf-8", []byte("a memo"))
	keys, _ = e.outbox(t, last)
	for _, want := range []string{"case:" + e.kase.ID, "action:" + a.ID, "document:" + v.DocumentID + "@1"} {
		if !slices.Contains(keys, want) {
			t.Errorf("outbox = %v, want %s", keys, want)
		}
	}
	_ = p
}

// TestSearchOutboxCommitOrder: rows appear in seq order whatever order
// concurrent transactions commit in, so a tailer that reads "after the
// last seq" while they run misses none.
func TestSearchOutboxCommitOrder(t *testing.T) {
	e := newSearchEnv(t)
	_, start := e.outbox(t, 0)
	const writers, each = 8, 15
	var wg sync.WaitGroup
	var mu sync.Mutex
	var want []string
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range each {
				n, err := e.notes.AddNote(actorCtx(e.lead), e.tenant.ID, e.kase.ID, tma.NoteInput{Title: "n", Body: strings.Repeat("x", 1+w+i)})
				if err != nil {
					t.Error(err)
					return
				}
				mu.Lock()
				want = append(want, "note:"+n.ID)
				mu.Unlock()
			}
		}()
	}
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	seen := map[string]bool{}
	last := start
	for finished := false; !finished; {
		select {
		case <-done:
			finished = true
		default:
		}
		keys, l := e.outbox(t, last)
		last = l
		for _, k := range keys {
			seen[k] = true
		}
	}
	keys, _ := e.outbox(t, last)
	for _, k := range keys {
		seen[k] = true
	}
	if len(want) != writers*each {
		t.Fatalf("%d notes written", len(want))
	}
	for _, k := range want {
		if !seen[k] {
			t.Errorf("the tailer missed %s", k)
		}
	}
}

// TestSearchLoad: Load opens every kind of case item; after a shred it
// returns none of them, and the shred enqueued every key of the case.
func TestSearchLoad(t *testing.T) {
	e := newSearchEnv(t)
	ctx := context.Background()
	n, err := e.notes.AddNote(actorCtx(e.lead), e.tenant.ID, e.kase.ID, tma.NoteInput{Title: "Visit", Body: "zqxjvortex at the gate", Restricted: true})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.persons.AddPerson(actorCtx(e.lead), e.tenant.ID, e.kase.ID, tma.PersonInput{Kind: tma.PersonWitness, Name: "Jürgen Müller"}); err != nil {
		t.Fatal(err)
	}
	a, err := e.actions.AddAction(actorCtx(e.lead), e.tenant.ID, e.kase.ID, tma.ActionInput{Title: "Inform security", OwnerID: e.lead.ID, Outcome: "done"})
	if err != nil {
		t.Fatal(err)
	}
	v := e.upload(t, e.lead, "", "memo.txt", "text/plain; charset=utf-8", []byte("the memo mentions zqxjvortex"))
	keys := []string{"case:" + e.kase.ID, "note:" + n.ID, "action:" + a.ID, "document:" + v.DocumentID + "@1", "note:" + tma.NewID(), "bogus"}
	docs, err := e.src.Load(ctx, e.tenant.ID, keys)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]*tma.SearchDoc{}
	for _, d := range docs {
		got[d.Key] = d
		if d.CaseID != e.kase.ID || d.TenantID != e.tenant.ID || d.CaseStatus == "" {
			t.Errorf("%s: case %q tenant %q status %q", d.Key, d.CaseID, d.TenantID, d.CaseStatus)
		}
	}
	if len(docs) != 4 {
		t.Fatalf("Load gave %d docs, want 4: %v", len(docs), got)
	}
	if d := got["case:"+e.kase.ID]; !strings.Contains(d.Title, e.kase.Reference) || !strings.Contains(d.Text, "Jürgen Müller") {
		t.Errorf("case doc = %+v", d)
	}
	if d := got["note:"+n.ID]; d.Title != "Visit" || d.Text != "zqxjvortex at the gate" || !d.Restricted || d.Author != "lead" {
		t.Errorf("note doc = %+v", d)
	}
	if d := got["action:"+a.ID]; d.Title != "Inform security" || d.Text != "done" {
		t.Errorf("action doc = %+v", d)
	}
	if d := got["document:"+v.DocumentID+"@1"]; d.Title != "memo.txt" || d.Text != "the memo mentions zqxjvortex" {
		t.Errorf("document doc = %+v", d)
	}
	// Other tenants' keys are not this tenant's.
	other, _, _, _ := e.newTenant(t, "other")
	if docs, err := e.src.Load(ctx, other.ID, keys); err != nil || len(docs) != 0 {
		t.Errorf("Load under another tenant = %d docs, %v", len(docs), err)
	}

	_, last := e.outbox(t, 0)
	if err := e.keySvc.ShredCase(actorCtx(e.lead), e.tenant.ID, e.kase.ID); err != nil {
		t.Fatal(err)
	}
	docs, err = e.src.Load(ctx, e.tenant.ID, keys)
	if err != nil || len(docs) != 0 {
		t.Fatalf("Load after shred = %d docs, %v", len(docs), err)
	}
	enqueued, _ := e.outbox(t, last)
	for _, k := range keys[:4] {
		if !slices.Contains(enqueued, k) {
			t.Errorf("the shred did not enqueue %s: %v", k, enqueued)
		}
	}
	var all []string
	if _, err := e.src.All(ctx, func(d *tma.SearchDoc) error { all = append(all, d.Key); return nil }); err != nil {
		t.Fatal(err)
	}
	for _, k := range keys[:4] {
		if slices.Contains(all, k) {
			t.Errorf("All after the shred gives %s", k)
		}
	}
}

// TestDocumentTextSealed: an upload's text is stored sealed, never in
// clear, and opens only through the case key.
func TestDocumentTextSealed(t *testing.T) {
	e := newSearchEnv(t)
	ctx := context.Background()
	token := "zqxjvortex"
	v := e.upload(t, e.lead, "", "memo.txt", "text/plain; charset=utf-8", []byte("first line\nthe token "+token+" is here"))
	img := e.upload(t, e.lead, "", "photo.png", "image/png", append([]byte("\x89PNG\r\n\x1a\n"), bytes.Repeat([]byte{1}, 100)...))
	var sealed []byte
	var reason *string
	if err := e.db.Pool.QueryRow(ctx, `SELECT text, reason FROM document_texts WHERE tenant_id = $1 AND document_id = $2 AND version = 1`,
		e.tenant.ID, v.DocumentID).Scan(&sealed, &reason); err != nil {
		t.Fatal(err)
	}
	if len(sealed) == 0 || reason != nil || bytes.Contains(sealed, []byte(token)) {
		t.Fatalf("stored text: %d bytes, reason %v, clear token %v", len(sealed), reason, bytes.Contains(sealed, []byte(token)))
	}
	var clearRows int
	if err := e.db.Pool.QueryRow(ctx, `SELECT count(*) FROM document_texts WHERE position($1::bytea in COALESCE(text, '')) > 0`,
		[]byte(token)).Scan(&clearRows); err != nil {
		t.Fatal(err)
	}
	if clearRows != 0 {
		t.Fatalf("%d rows of document_texts hold the token in clear", clearRows)
	}
	if err := e.db.Pool.QueryRow(ctx, `SELECT reason FROM document_texts WHERE tenant_id = $1 AND document_id = $2`,
		e.tenant.ID, img.DocumentID).Scan(&reason); err != nil || reason == nil || *reason != "none" {
		t.Fatalf("image text reason = %v, %v", reason, err)
	}
	docs, err := e.src.Load(ctx, e.tenant.ID, []string{"document:" + v.DocumentID + "@1"})
	if err != nil || len(docs) != 1 || !strings.Contains(docs[0].Text, token) {
		t.Fatalf("Load = %v, %v", docs, err)
	}
	// Moved to another version's row, the sealing does not open.
	if _, err := e.db.Pool.Exec(ctx, `UPDATE document_texts SET text = $3, reason = NULL WHERE tenant_id = $1 AND document_id = $2`,
		e.tenant.ID, img.DocumentID, sealed); err != nil {
		t.Fatal(err)
	}
	docs, err = e.src.Load(ctx, e.tenant.ID, []string{"document:" + img.DocumentID + "@1", "document:" + v.DocumentID + "@1"})
	if err != nil || len(docs) != 1 || docs[0].Key != "document:"+v.DocumentID+"@1" {
		t.Fatalf("Load with a moved sealing = %v, %v; want only the intact document", docs, err)
	}
}

// TestSearchScope: the cases of current, unexcluded memberships; the
// restricted ones for legal; triage and wiki by permission.
func TestSearchScope(t *testing.T) {
	e := newSearchEnv(t)
	ctx := context.Background()
	second, err := e.cases.CreateCase(actorCtx(e.lead), e.tenant.ID, tma.NewCase{Title: "Second"})
	if err != nil {
		t.Fatal(err)
	}
	if err := e.cases.AddMember(actorCtx(e.lead), e.tenant.ID, second.ID,
		tma.NewMember{Email: e.expert.Email, Role: tma.CaseExpert, ExpiresAt: e.clock.Now().Add(time.Hour)}); err != nil {
		t.Fatal(err)
	}
	sc, err := e.src.Scope(ctx, e.expert)
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(sc.Cases)
	want := []string{e.kase.ID, second.ID}
	slices.Sort(want)
	if !slices.Equal(sc.Cases, want) || sc.TenantID != e.tenant.ID || sc.UserID != e.expert.ID {
		t.Fatalf("scope = %+v, want cases %v", sc, want)
	}
	if len(sc.RestrictedCases) != 2 {
		t.Errorf("legal expert's restricted cases = %v, want both", sc.RestrictedCases)
	}
	lead, err := e.src.Scope(ctx, e.lead)
	if err != nil {
		t.Fatal(err)
	}
	if !lead.Triage || !lead.Wiki || len(lead.Cases) != 2 {
		t.Errorf("lead scope = %+v", lead)
	}
	e.clock.Add(2 * time.Hour) // the expert's second membership expires
	if err := e.cases.Exclude(actorCtx(e.lead), e.tenant.ID, e.kase.ID, e.expert.Email); err != nil {
		t.Fatal(err)
	}
	if sc, err = e.src.Scope(ctx, e.expert); err != nil || len(sc.Cases) != 0 || len(sc.RestrictedCases) != 0 {
		t.Fatalf("scope after exclusion and expiry = %+v, %v", sc, err)
	}
}
