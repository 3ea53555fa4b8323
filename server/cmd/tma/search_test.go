package main

import (
	"bytes"
	"context"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/tma-portal/tma/server/crypt"
	"github.com/tma-portal/tma/server/postgres"
	"github.com/tma-portal/tma/server/postgres/pgtest"
	"github.com/tma-portal/tma/server/search"
	"github.com/tma-portal/tma/server/tma"
	"github.com/tma-portal/tma/server/web"
)

// startStoppable starts a server like startServer and returns a function
// that stops it (also called at cleanup, at most once).
func startStoppable(t *testing.T, extra map[string]string) (*testServer, func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	cfg, err := LoadConfig(ctx, testEnv(t, extra))
	if err != nil {
		t.Fatal(err)
	}
	m := &Main{Config: cfg, Logger: newLogger(cfg.LogLevel, io.Discard)}
	if err := m.Open(ctx); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- m.Run(ctx) }()
	stopped := false
	stop := func() {
		if stopped {
			return
		}
		stopped = true
		cancel()
		if err := <-done; err != nil {
			t.Errorf("server: %v", err)
		}
		m.Close()
	}
	t.Cleanup(stop)
	waitIndexReady(t, m)
	return &testServer{Main: m, URL: "http://" + m.Listener.Addr().String()}, stop
}

// searchWorld is a tenant with a lead and an expert on one case.
type searchWorld struct {
	tenant       *tma.Tenant
	lead, expert *tma.User
	kase         *tma.Case
}

func newSearchWorld(t *testing.T, s *testServer) *searchWorld {
	t.Helper()
	tn, users := s.mustTenant(t, "acme", tma.RoleThreatManager, tma.RoleLegal)
	w := &searchWorld{tenant: tn, lead: users[0], expert: users[1]}
	var err error
	if w.kase, err = postgres.NewCaseService(s.DB).CreateCase(userCtx(w.lead), tn.ID, tma.NewCase{Title: "Depot threats", Labels: []string{"depot"}}); err != nil {
		t.Fatal(err)
	}
	if err := postgres.NewCaseService(s.DB).AddMember(userCtx(w.lead), tn.ID, w.kase.ID, tma.NewMember{Email: w.expert.Email, Role: tma.CaseExpert}); err != nil {
		t.Fatal(err)
	}
	return w
}

func userCtx(u *tma.User) context.Context {
	return tma.NewContextWithActor(context.Background(), tma.Actor{UserID: u.ID, TenantID: u.TenantID, Label: u.Email})
}

func (s *testServer) addNote(t *testing.T, w *searchWorld, title, body string) *tma.Note {
	t.Helper()
	n, err := postgres.NewNoteService(s.DB, crypt.NewCaseRecords(s.CaseKeys)).AddNote(userCtx(w.lead), w.tenant.ID, w.kase.ID, tma.NoteInput{Title: title, Body: body})
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func (s *testServer) uploadText(t *testing.T, w *searchWorld, name, text string) *tma.DocumentVersion {
	t.Helper()
	docs := postgres.NewDocumentService(s.DB, crypt.NewCaseRecords(s.CaseKeys), crypt.NewDocuments(s.CaseKeys), s.Blobs, s.Extractor)
	v, err := docs.Upload(userCtx(w.lead), w.tenant.ID, w.kase.ID, tma.Upload{Name: name, ContentType: "text/plain; charset=utf-8", Body: strings.NewReader(text)})
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// searchKeys searches as u through s's own index, with u's scope computed
// now, and returns the hits' keys, sorted.
func (s *testServer) searchKeys(t *testing.T, u *tma.User, text string) []string {
	t.Helper()
	return searchIndexKeys(t, s.SearchSource, s.Indexer.Index(), u, text)
}

func searchIndexKeys(t *testing.T, src tma.SearchSource, ix tma.SearchIndex, u *tma.User, text string) []string {
	t.Helper()
	ctx := context.Background()
	scope, err := src.Scope(ctx, u)
	if err != nil {
		t.Fatal(err)
	}
	res, err := ix.Search(ctx, scope, tma.SearchQuery{Text: text, PerPage: tma.MaxSearchPerPage})
	if err != nil {
		t.Fatalf("search %q: %v", text, err)
	}
	keys := []string{}
	for _, h := range res.Hits {
		keys = append(keys, h.Key)
	}
	slices.Sort(keys)
	return keys
}

// waitApplied waits until s's index has applied the whole outbox.
func waitApplied(t *testing.T, s *testServer) {
	t.Helper()
	eventually(t, 5*time.Second, "the index applies the outbox", func() bool {
		last, err := s.Indexer.Index().LastSeq(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		more, err := s.SearchSource.Changes(context.Background(), last, 1)
		if err != nil {
			t.Fatal(err)
		}
		return len(more) == 0
	})
}

// eventually polls cond every 20 ms until it holds or within passes.
func eventually(t *testing.T, within time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("not within %s: %s", within, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestSearchConvergesAcrossServers: two server processes on one database,
// each with its own index. A note saved through one is found through the
// other within 2 s; a membership removed through one hides the case's hits
// in the other at once, before any index changes.
func TestSearchConvergesAcrossServers(t *testing.T) {
	dbURL, data := pgtest.URL(t), t.TempDir()
	a := startServer(t, map[string]string{"TMA_DATABASE_URL": dbURL, "TMA_DATA_DIR": data, "TMA_SEARCH_DIR": filepath.Join(data, "search-a")})
	b := startServer(t, map[string]string{"TMA_DATABASE_URL": dbURL, "TMA_DATA_DIR": data, "TMA_SEARCH_DIR": filepath.Join(data, "search-b")})
	w := newSearchWorld(t, a)

	n := a.addNote(t, w, "Visit at the gate", "He asked for the Quokkamanager by name.")
	saved := time.Now()
	want := []string{"note:" + n.ID}
	eventually(t, 2*time.Second, "the note saved through a is found through b", func() bool {
		return slices.Equal(b.searchKeys(t, w.expert, "quokkamanager"), want)
	})
	t.Logf("converged after %s", time.Since(saved).Round(time.Millisecond))
	// a tails the outbox on its own and need not be first.
	eventually(t, 2*time.Second, "the note saved through a is found through a", func() bool {
		return slices.Equal(a.searchKeys(t, w.expert, "quokkamanager"), want)
	})
	// A second change converges too (the tail, not only the first catch-up).
	n2 := b.addNote(t, w, "Call", "Second mention of the Quokkamanager.")
	want2 := []string{"note:" + n.ID, "note:" + n2.ID}
	slices.Sort(want2)
	eventually(t, 2*time.Second, "the note saved through b is found through a", func() bool {
		return slices.Equal(a.searchKeys(t, w.expert, "quokkamanager"), want2)
	})

	eventually(t, 2*time.Second, "the note saved through b is found through b", func() bool {
		return slices.Equal(b.searchKeys(t, w.lead, "quokkamanager"), want2)
	})

	// The membership goes through a; b hides the hits on the next query,
	// and no index has been told anything. (An index records its
	// sequence just after its documents become visible: wait for it.)
	waitApplied(t, a)
	lastA, err := a.Indexer.Index().LastSeq(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if err := postgres.NewCaseService(a.DB).RemoveMember(userCtx(w.lead), w.tenant.ID, w.kase.ID, w.expert.ID); err != nil {
		t.Fatal(err)
	}
	if got := b.searchKeys(t, w.expert, "quokkamanager"); len(got) != 0 {
		t.Fatalf("after the membership ended, b still shows %v", got)
	}
	if got := a.searchKeys(t, w.expert, "quokkamanager"); len(got) != 0 {
		t.Fatalf("after the membership ended, a still shows %v", got)
	}
	if got := b.searchKeys(t, w.lead, "quokkamanager"); !slices.Equal(got, want2) {
		t.Fatalf("the lead finds %v through b, want %v", got, want2)
	}
	if now, _ := a.Indexer.Index().LastSeq(context.Background()); now != lastA {
		t.Errorf("the membership change wrote outbox rows (%d → %d): scope is the query's business", lastA, now)
	}
}

// TestIndexRebuild: with the server stopped, the index folder is deleted;
// the next start rebuilds it from PostgreSQL with the same answers, and so
// does `tma reindex`.
func TestIndexRebuild(t *testing.T) {
	dbURL, data := pgtest.URL(t), t.TempDir()
	env := map[string]string{"TMA_DATABASE_URL": dbURL, "TMA_DATA_DIR": data}
	s, stop := startStoppable(t, env)
	w := newSearchWorld(t, s)
	s.addNote(t, w, "Drohungen am Tor", "Herr Müller drohte dem Pförtner mit einem Messer.")
	s.addNote(t, w, "Threatening e-mails", "Several threatening e-mails reached the depot manager.")
	s.addNote(t, w, "Routine", "Nothing happened today.")
	s.uploadText(t, w, "statement.txt", "The witness statement names the depot and the knife.")
	if _, err := postgres.NewWikiService(s.DB, crypt.NewCaseRecords(s.CaseKeys), web.NewWikiMarkup()).CreatePage(userCtx(w.lead), w.tenant.ID,
		tma.DefaultWikiSpace().Slug, tma.WikiPageInput{Title: "Depot process", Body: "When the depot reports a threat, call security."}, w.lead); err != nil {
		t.Fatal(err)
	}
	queries := []string{"drohung", "mueller", "threat", "depot", "knife", "messer", "nothing", "e-mail", "absent"}
	users := []*tma.User{w.lead, w.expert}
	answers := func(src tma.SearchSource, ix tma.SearchIndex) map[string][]string {
		out := map[string][]string{}
		for _, u := range users {
			for _, q := range queries {
				out[u.Email+" "+q] = searchIndexKeys(t, src, ix, u, q)
			}
		}
		return out
	}
	waitApplied(t, s)
	before := answers(s.SearchSource, s.Indexer.Index())
	hits := 0
	for _, keys := range before {
		hits += len(keys)
	}
	if hits < 6 {
		t.Fatalf("too few hits to compare: %v", before)
	}
	dir := s.Config.SearchDir
	stop()

	if err := os.RemoveAll(dir); err != nil {
		t.Fatal(err)
	}
	s2, stop2 := startStoppable(t, env)
	if after := answers(s2.SearchSource, s2.Indexer.Index()); !equalAnswers(before, after) {
		t.Fatalf("after the rebuild at start:\n got %v\nwant %v", after, before)
	}
	stop2()

	// `tma reindex` rebuilds into a fresh folder and swaps it in.
	var out bytes.Buffer
	getenv := testEnv(t, env)
	if err := run(context.Background(), []string{"reindex"}, getenv, &out, &out); err != nil {
		t.Fatalf("tma reindex: %v\n%s", err, out.String())
	}
	if !strings.Contains(out.String(), "rebuilt") {
		t.Errorf("tma reindex said: %s", out.String())
	}
	ix, err := search.Open(dir) // whole, current and of this mapping: a server opens it without a rebuild
	if err != nil {
		t.Fatal(err)
	}
	if err := ix.Close(); err != nil {
		t.Fatal(err)
	}
	s3, _ := startStoppable(t, env)
	if after := answers(s3.SearchSource, s3.Indexer.Index()); !equalAnswers(before, after) {
		t.Fatalf("after tma reindex:\n got %v\nwant %v", after, before)
	}
	entries, _ := os.ReadDir(filepath.Dir(dir))
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), filepath.Base(dir)+".") {
			t.Errorf("reindex left %s behind", e.Name())
		}
	}
}

func equalAnswers(a, b map[string][]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if !slices.Equal(v, b[k]) {
			return false
		}
	}
	return true
}

// TestErasedTextLeavesIndex: once a case is shredded, the index applies
// the outbox and is compacted, and then no file of the index folder holds
// a unique token of its notes and documents; nor after a rebuild.
func TestErasedTextLeavesIndex(t *testing.T) {
	dbURL, data := pgtest.URL(t), t.TempDir()
	env := map[string]string{"TMA_DATABASE_URL": dbURL, "TMA_DATA_DIR": data}
	s, stop := startStoppable(t, env)
	w := newSearchWorld(t, s)
	const noteToken, docToken = "zqxjvortex", "vyqmorlaxe"
	n := s.addNote(t, w, "Observation", "The badge read "+noteToken+" in the log.")
	v := s.uploadText(t, w, "log.txt", "Entry: "+docToken+" at the gate.\n")
	// A second case that stays: its items must survive the shred.
	other, err := postgres.NewCaseService(s.DB).CreateCase(userCtx(w.lead), w.tenant.ID, tma.NewCase{Title: "Unrelated"})
	if err != nil {
		t.Fatal(err)
	}
	kept, err := postgres.NewNoteService(s.DB, crypt.NewCaseRecords(s.CaseKeys)).AddNote(userCtx(w.lead), w.tenant.ID, other.ID,
		tma.NoteInput{Title: "Kept", Body: "The keeper word is platypuskeeper."})
	if err != nil {
		t.Fatal(err)
	}
	eventually(t, 5*time.Second, "both tokens are indexed", func() bool {
		return slices.Equal(s.searchKeys(t, w.lead, noteToken), []string{"note:" + n.ID}) &&
			slices.Equal(s.searchKeys(t, w.lead, docToken), []string{"document:" + v.DocumentID + "@1"}) &&
			len(s.searchKeys(t, w.lead, "platypuskeeper")) == 1
	})
	dir := s.Config.SearchDir
	// The term dictionaries are compressed: a token's bytes need not appear
	// in a file as they are, so the byte check below cannot fail alone. The
	// dictionaries themselves must lose the terms: here they hold them.
	for _, token := range []string{noteToken, docToken} {
		if terms, err := s.Indexer.Index().TermsWithPrefix(token[:6]); err != nil || len(terms) == 0 {
			t.Fatalf("before the shred, the dictionaries hold no term like %s: %v %v", token, terms, err)
		}
	}

	if err := postgres.NewCaseKeyService(s.DB, nil).ShredCase(userCtx(w.lead), w.tenant.ID, w.kase.ID); err != nil {
		t.Fatal(err)
	}
	eventually(t, 5*time.Second, "the shred is applied", func() bool {
		return len(s.searchKeys(t, w.lead, noteToken)) == 0 && len(s.searchKeys(t, w.lead, docToken)) == 0 &&
			len(s.searchKeys(t, w.lead, "depot")) == 0 // the case item itself
	})
	// The server compacts by itself after a batch that deleted items.
	for _, token := range []string{noteToken, docToken} {
		var terms []string
		for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(50 * time.Millisecond) {
			var err error
			if terms, err = s.Indexer.Index().TermsWithPrefix(token[:6]); err != nil {
				t.Fatal(err)
			}
			if len(terms) == 0 || time.Now().After(deadline) {
				break
			}
		}
		if len(terms) != 0 {
			t.Errorf("after the shred and a compaction, the dictionaries hold %v", terms)
		}
		if files, found := filesHolding(t, dir, token); found {
			t.Errorf("after the shred and a compaction, %s is still in %v", token, files)
		}
	}
	if got := s.searchKeys(t, w.lead, "platypuskeeper"); !slices.Equal(got, []string{"note:" + kept.ID}) {
		t.Errorf("the other case's note: %v", got)
	}
	stop()

	// A rebuild leaves none of the old files.
	if err := os.RemoveAll(dir); err != nil {
		t.Fatal(err)
	}
	s2, _ := startStoppable(t, env)
	for _, token := range []string{noteToken, docToken} {
		if files, found := filesHolding(t, dir, token); found {
			t.Errorf("after a rebuild, %s is in %v", token, files)
		}
		if got := s2.searchKeys(t, w.lead, token); len(got) != 0 {
			t.Errorf("after a rebuild, %s finds %v", token, got)
		}
	}
	if got := s2.searchKeys(t, w.lead, "platypuskeeper"); !slices.Equal(got, []string{"note:" + kept.ID}) {
		t.Errorf("after a rebuild, the other case's note: %v", got)
	}
}

// filesHolding reads every file under dir and returns those whose bytes
// contain token.
func filesHolding(t *testing.T, dir, token string) ([]string, bool) {
	t.Helper()
	var files []string
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		if bytes.Contains(b, []byte(token)) {
			files = append(files, p)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return files, len(files) > 0
}
