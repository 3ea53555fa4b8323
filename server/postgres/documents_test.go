package postgres_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tma-portal/tma/server/blob"
	"github.com/tma-portal/tma/server/crypt"
	"github.com/tma-portal/tma/server/postgres"
	"github.com/tma-portal/tma/server/tma"
)

// docEnv is a tenant with a case led by lead, a second lead and an expert,
// a local keyring, a filesystem blob store and the document service.
type docEnv struct {
	*env
	cases  *postgres.CaseService
	keys   *crypt.KeyCache
	kp     tma.KeyProvider // the tenant KEKs themselves (wiki attachments)
	store  *blob.FS
	ranges *countingStore // store, counting range opens; the service's
	root   string
	docs   *postgres.DocumentService
	tenant *tma.Tenant
	lead   *tma.User
	lead2  *tma.User
	expert *tma.User
	kase   *tma.Case
}

func newDocEnv(t *testing.T) *docEnv {
	t.Helper()
	e := newEnv(t)
	path := filepath.Join(t.TempDir(), "kek")
	if err := crypt.GenerateKeyringFile(path); err != nil {
		t.Fatal(err)
	}
	kp, err := crypt.LoadKeyring(path)
	if err != nil {
		t.Fatal(err)
	}
	root := t.TempDir()
	store, err := blob.NewFS(root)
	if err != nil {
		t.Fatal(err)
	}
	d := &docEnv{env: e, cases: postgres.NewCaseService(e.db), kp: kp, store: store, root: root,
		keys: crypt.NewKeyCache(postgres.NewCaseKeyService(e.db, kp), time.Minute, 100)}
	d.ranges = &countingStore{FS: store}
	d.docs = postgres.NewDocumentService(e.db, crypt.NewCaseRecords(d.keys), crypt.NewDocuments(d.keys), d.ranges, nil)
	d.tenant, d.lead, d.lead2, d.expert = d.newTenant(t, "acme")
	if d.kase, err = d.cases.CreateCase(actorCtx(d.lead), d.tenant.ID, tma.NewCase{Title: "Threats at the depot"}); err != nil {
		t.Fatal(err)
	}
	d.addMembers(t, d.kase)
	return d
}

// newTenant creates a tenant with two threat managers and a legal expert.
// countingStore counts the range reads of a blob store.
type countingStore struct {
	*blob.FS
	opens atomic.Int64
}

func (c *countingStore) OpenRange(ctx context.Context, id string, off, n int64) (io.ReadCloser, error) {
	c.opens.Add(1)
	return c.FS.OpenRange(ctx, id, off, n)
}

func (d *docEnv) newTenant(t *testing.T, slug string) (tn *tma.Tenant, lead, lead2, expert *tma.User) {
	t.Helper()
	ctx := context.Background()
	tn = &tma.Tenant{Slug: slug, Name: "Tenant " + slug}
	if err := d.tenants.CreateTenant(ctx, tn); err != nil {
		t.Fatal(err)
	}
	mk := func(name string, role tma.Role) *tma.User {
		u, err := d.users.CreateUser(operator(ctx, tn.ID), tn.ID, tma.NewUser{
			Email: name + "@" + slug + ".example", DisplayName: name, Password: password, Roles: []tma.Role{role},
		})
		if err != nil {
			t.Fatal(err)
		}
		return u
	}
	return tn, mk("lead", tma.RoleThreatManager), mk("lead2", tma.RoleThreatManager), mk("expert", tma.RoleLegal)
}

func (d *docEnv) addMembers(t *testing.T, c *tma.Case) {
	t.Helper()
	for _, m := range []tma.NewMember{{Email: d.lead2.Email, Role: tma.CaseLead}, {Email: d.expert.Email, Role: tma.CaseExpert}} {
		if err := d.cases.AddMember(actorCtx(d.lead), d.tenant.ID, c.ID, m); err != nil {
			t.Fatal(err)
		}
	}
}

func (d *docEnv) upload(t *testing.T, u *tma.User, documentID, name, typ string, body []byte) *tma.DocumentVersion {
	t.Helper()
	v, err := d.docs.Upload(actorCtx(u), d.tenant.ID, d.kase.ID, tma.Upload{DocumentID: documentID, Name: name, ContentType: typ, Body: bytes.NewReader(body)})
	if err != nil {
		t.Fatalf("upload %s: %v", name, err)
	}
	return v
}

// read opens a version and reads the range to its end.
func (d *docEnv) read(t *testing.T, documentID string, version int, off, n int64) ([]byte, error) {
	t.Helper()
	_, rc, err := d.docs.Open(actorCtx(d.lead), d.tenant.ID, d.kase.ID, documentID, version, off, n, tma.AccessDownload)
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	return io.ReadAll(rc)
}

func (d *docEnv) count(t *testing.T, table string) int {
	t.Helper()
	var n int
	if err := d.db.Pool.QueryRow(context.Background(), `SELECT count(*) FROM `+table).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

func (d *docEnv) blobOf(t *testing.T, documentID string, version int) string {
	t.Helper()
	var id string
	if err := d.db.Pool.QueryRow(context.Background(), `SELECT blob_id::text FROM document_versions WHERE document_id = $1 AND version = $2`,
		documentID, version).Scan(&id); err != nil {
		t.Fatal(err)
	}
	return id
}

// blobPath is where the filesystem store keeps a blob (blob.FS.path).
func (d *docEnv) blobPath(id string) string { return filepath.Join(d.root, id[0:2], id[2:4], id) }

func (d *docEnv) storedBlobs(t *testing.T) []string {
	t.Helper()
	var ids []string
	if err := d.store.List(context.Background(), func(b tma.BlobInfo) error { ids = append(ids, b.ID); return nil }); err != nil {
		t.Fatal(err)
	}
	return ids
}

func (d *docEnv) events(t *testing.T, action string) []*tma.AuditEvent {
	t.Helper()
	evs, err := d.audit.FindAuditEvents(context.Background(), d.tenant.ID, tma.AuditFilter{Action: action, Limit: 1000})
	if err != nil {
		t.Fatal(err)
	}
	return evs
}

// gc collects blobs as if it ran long after every upload.
func (d *docEnv) gc(t *testing.T) tma.BlobGCReport {
	t.Helper()
	rep, err := (&tma.BlobGC{Store: d.store, Registry: postgres.NewBlobRegistry(d.db), Grace: time.Hour,
		Now: func() time.Time { return time.Now().Add(48 * time.Hour) }}).Run(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return rep
}

func randomBytes(seed uint64, n int) []byte {
	r := rand.New(rand.NewPCG(seed, seed))
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return b
}

func TestDocumentRoundTrip(t *testing.T) {
	d := newDocEnv(t)
	ctx := actorCtx(d.lead)
	v1 := []byte("Bericht über Herrn Müller, Fassung 1\n")
	v2 := randomBytes(1, 1<<20+12345) // 17 segments, the last one short
	v3 := []byte("a;b\n1;2\n")
	first := d.upload(t, d.lead, "", "Bericht über Müller.txt", "text/plain; charset=utf-8", v1)
	if first.Version != 1 || first.Size != int64(len(v1)) || first.Name != "Bericht über Müller.txt" {
		t.Fatalf("first upload: %+v", first)
	}
	doc := first.DocumentID
	d.upload(t, d.expert, doc, "scan.pdf", "application/pdf", v2)
	d.upload(t, d.lead, doc, "C:\\Users\\x\\table.csv", "text/csv", v3)
	d.clock.Add(time.Second)
	other := d.upload(t, d.lead2, "", "other.png", "image/png", []byte("\x89PNG\r\n\x1a\nnot really"))

	list, err := d.docs.Documents(ctx, d.tenant.ID, d.kase.ID)
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != 2 || list[0].ID != other.DocumentID || list[1].ID != doc {
		t.Fatalf("documents: %+v", list)
	}
	if l := list[1]; l.Count != 3 || l.Latest == nil || l.Latest.Version != 3 || l.Latest.Name != "table.csv" ||
		l.Latest.ContentType != "text/csv" || l.Latest.Size != int64(len(v3)) || l.Latest.UploaderName != "lead" {
		t.Errorf("latest: %+v count %d", l.Latest, l.Count)
	}

	got, err := d.docs.Document(ctx, d.tenant.ID, d.kase.ID, doc)
	if err != nil {
		t.Fatal(err)
	}
	want := []struct {
		name, typ string
		body      []byte
	}{{"table.csv", "text/csv", v3}, {"scan.pdf", "application/pdf", v2}, {"Bericht über Müller.txt", "text/plain; charset=utf-8", v1}}
	if len(got.Versions) != 3 || got.Latest != got.Versions[0] {
		t.Fatalf("versions: %+v", got.Versions)
	}
	for i, w := range want {
		v := got.Versions[i]
		sum := sha256.Sum256(w.body)
		if v.Version != 3-i || v.Name != w.name || v.ContentType != w.typ || v.Size != int64(len(w.body)) || !bytes.Equal(v.SHA256, sum[:]) || v.Deleted {
			t.Errorf("version %d: %+v, want %s %s %x", 3-i, v, w.name, w.typ, sum)
		}
	}

	const seg = 64 << 10
	for _, tc := range []struct {
		name    string
		version int
		off, n  int64
		want    []byte
	}{
		{"latest", 0, 0, -1, v3},
		{"v1 whole", 1, 0, -1, v1},
		{"v2 whole", 2, 0, -1, v2},
		{"first byte", 2, 0, 1, v2[:1]},
		{"across a segment boundary", 2, 5*seg - 100, 300, v2[5*seg-100 : 5*seg+200]},
		{"middle to the end", 2, int64(len(v2)) / 2, -1, v2[len(v2)/2:]},
		{"last byte", 2, int64(len(v2)) - 1, 1, v2[len(v2)-1:]},
		{"range longer than the rest", 2, int64(len(v2)) - 10, 1000, v2[len(v2)-10:]},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b, err := d.read(t, doc, tc.version, tc.off, tc.n)
			if err != nil || !bytes.Equal(b, tc.want) {
				t.Errorf("read %d bytes (%v), want %d identical bytes", len(b), err, len(tc.want))
			}
		})
	}

	// A read asks the store once for the header and the segments after it,
	// and once more for a range that starts later: never once per segment.
	for _, tc := range []struct {
		off, n int64
		opens  int64
	}{{0, -1, 1}, {5 * seg, 3 * seg, 2}} {
		d.ranges.opens.Store(0)
		if _, err := d.read(t, doc, 2, tc.off, tc.n); err != nil || d.ranges.opens.Load() != tc.opens {
			t.Errorf("read [%d, +%d): %d range opens (%v), want %d", tc.off, tc.n, d.ranges.opens.Load(), err, tc.opens)
		}
	}

	// The audit log names documents, versions and blobs, never a file name.
	if n := len(d.events(t, tma.AuditDocumentUploaded)); n != 4 {
		t.Errorf("%d upload events, want 4", n)
	}
	reads := d.events(t, tma.AuditDocumentRead)
	if len(reads) != 10 || !strings.Contains(reads[0].Detail, "document "+doc+" version 2 download") {
		t.Errorf("read events: %d, newest %+v", len(reads), reads[0])
	}
	for _, e := range d.events(t, "") {
		for _, name := range []string{"Bericht", "scan", "table", "other.png", "Müller"} {
			if strings.Contains(e.Detail, name) {
				t.Errorf("audit event %s carries a file name: %q", e.Action, e.Detail)
			}
		}
	}
	// The stored name is sealed.
	var clear int
	if err := d.db.Pool.QueryRow(context.Background(), `SELECT count(*) FROM document_versions WHERE position('scan' IN encode(name_sealed, 'escape')) > 0`).Scan(&clear); err != nil || clear != 0 {
		t.Errorf("a file name is stored in clear: %d, %v", clear, err)
	}
}

// TestRollbackDetected: a blob put back from another version (an older
// sealing, with a valid format of its own) is refused before a byte is
// returned, for a whole read and a range read, and the failure is in the
// audit log. A segment altered in place fails the read, audited once.
func TestRollbackDetected(t *testing.T) {
	d := newDocEnv(t)
	v1 := bytes.Repeat([]byte("ALLEGATION WITHDRAWN. "), 20000)
	v2 := bytes.Repeat([]byte("ALLEGATION CONFIRMED. "), 20000)
	doc := d.upload(t, d.lead, "", "statement.txt", "text/plain", v1).DocumentID
	d.upload(t, d.lead, doc, "statement.txt", "text/plain", v2)
	old, err := os.ReadFile(d.blobPath(d.blobOf(t, doc, 1)))
	if err != nil {
		t.Fatal(err)
	}
	p2 := d.blobPath(d.blobOf(t, doc, 2))
	_ = os.Chmod(p2, 0o600)
	if err := os.WriteFile(p2, old, 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name   string
		off, n int64
	}{{"whole", 0, -1}, {"range", 200000, 1000}} {
		t.Run(tc.name, func(t *testing.T) {
			b, err := d.read(t, doc, 2, tc.off, tc.n)
			wantCode(t, err, tma.ECORRUPT)
			if len(b) != 0 {
				t.Errorf("%d bytes returned", len(b))
			}
		})
	}
	failures := d.events(t, tma.AuditIntegrityFailure)
	if len(failures) != 2 || failures[0].TargetType != "document" || failures[0].TargetID != doc ||
		!strings.Contains(failures[0].Detail, "version 2 blob "+d.blobOf(t, doc, 2)) {
		t.Fatalf("integrity failures: %d, %+v", len(failures), failures)
	}

	// Version 1, one bit flipped in its fourth segment: the first segments
	// are returned, then the read fails.
	p1 := d.blobPath(d.blobOf(t, doc, 1))
	old[129+3*(64<<10+16)+10] ^= 1
	_ = os.Chmod(p1, 0o600)
	if err := os.WriteFile(p1, old, 0o600); err != nil {
		t.Fatal(err)
	}
	b, err := d.read(t, doc, 1, 0, -1)
	wantCode(t, err, tma.ECORRUPT)
	if len(b) > 3*64<<10 || !bytes.Equal(b, v1[:len(b)]) {
		t.Errorf("%d bytes returned before the altered segment", len(b))
	}
	if n := len(d.events(t, tma.AuditIntegrityFailure)); n != 3 {
		t.Errorf("%d integrity failures, want 3", n)
	}
}

// failingBody returns n bytes, then err: a client that sent too much or
// whose connection was cut.
type failingBody struct {
	n   int
	err error
}

func (f *failingBody) Read(p []byte) (int, error) {
	if f.n == 0 {
		return 0, f.err
	}
	k := min(len(p), f.n)
	for i := range p[:k] {
		p[i] = 'x'
	}
	f.n -= k
	return k, nil
}

func TestDocumentUploadAborted(t *testing.T) {
	d := newDocEnv(t)
	doc := d.upload(t, d.lead, "", "kept.txt", "text/plain", []byte("kept")).DocumentID
	before := map[string]int{"documents": d.count(t, "documents"), "document_versions": d.count(t, "document_versions"), "blobs": d.count(t, "blobs")}
	for _, tc := range []struct {
		name, documentID string
		err              error
		code             string
	}{
		{"too large", "", tma.Errorf(tma.ETOOLARGE, "too large"), tma.ETOOLARGE},
		{"connection cut", doc, io.ErrUnexpectedEOF, tma.EINTERNAL},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := d.docs.Upload(actorCtx(d.lead), d.tenant.ID, d.kase.ID, tma.Upload{DocumentID: tc.documentID, Name: "big.pdf",
				ContentType: "application/pdf", Body: &failingBody{n: 3 << 20, err: tc.err}})
			if !errors.Is(err, tc.err) && tma.ErrorCode(err) != tc.code {
				t.Fatalf("upload: %v, want %v", err, tc.err)
			}
			wantCode(t, err, tc.code)
			for table, n := range before {
				if got := d.count(t, table); got != n {
					t.Errorf("%s: %d rows, want %d", table, got, n)
				}
			}
			if got := d.storedBlobs(t); len(got) != 1 {
				t.Errorf("%d blobs in the store, want the one of kept.txt", len(got))
			}
		})
	}
	d.gc(t)
	if got := d.storedBlobs(t); len(got) != 1 || got[0] != d.blobOf(t, doc, 1) {
		t.Errorf("blobs after GC: %v", got)
	}
	if tmp, err := os.ReadDir(filepath.Join(d.root, "tmp")); err != nil || len(tmp) != 0 {
		t.Errorf("temporary files left: %v, %v", tmp, err)
	}
	if b, err := d.read(t, doc, 0, 0, -1); err != nil || string(b) != "kept" {
		t.Errorf("kept.txt: %q, %v", b, err)
	}
}

func TestDocumentUploadRefused(t *testing.T) {
	d := newDocEnv(t)
	for _, tc := range []struct {
		name, file, typ string
		body            []byte
		code            string
	}{
		{"empty file", "a.pdf", "application/pdf", nil, tma.EINVALID},
		{"html", "a.html", "text/html; charset=utf-8", []byte("<script>alert(1)</script>"), tma.EINVALID},
		{"svg", "a.svg", "image/svg+xml", []byte("<svg/>"), tma.EINVALID},
		{"no type", "a.bin", "", []byte("x"), tma.EINVALID},
		{"only dots", "  .. ", "application/pdf", []byte("%PDF-1.7"), tma.EINVALID},
		{"not utf-8", "a\xffb.pdf", "application/pdf", []byte("%PDF-1.7"), tma.EINVALID},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := d.docs.Upload(actorCtx(d.lead), d.tenant.ID, d.kase.ID, tma.Upload{Name: tc.file, ContentType: tc.typ, Body: bytes.NewReader(tc.body)})
			wantCode(t, err, tc.code)
		})
	}
	if n := d.count(t, "documents") + d.count(t, "blobs") + len(d.storedBlobs(t)); n != 0 {
		t.Errorf("refused uploads left %d rows or blobs", n)
	}
	if got := tma.ErrorMessage(func() error {
		_, err := d.docs.Upload(actorCtx(d.lead), d.tenant.ID, d.kase.ID, tma.Upload{Name: "a.pdf", ContentType: "application/pdf", Body: strings.NewReader("")})
		return err
	}()); got != "The file is empty." {
		t.Errorf("message %q", got)
	}

	// A tenant's own allow-list replaces the default.
	ts := postgres.NewTenantService(d.db)
	ctx := operator(context.Background(), d.tenant.ID)
	for _, bad := range [][]string{{"text"}, {"text/*"}, {"text/html; charset=utf-8"}, {"a/b/c"}} {
		wantCode(t, ts.SetDocumentTypes(ctx, d.tenant.ID, bad), tma.EINVALID)
	}
	if err := ts.SetDocumentTypes(ctx, d.tenant.ID, []string{" Text/HTML", "text/html", ""}); err != nil {
		t.Fatal(err)
	}
	if tn, err := ts.FindTenantByID(ctx, d.tenant.ID); err != nil || len(tn.DocumentTypes) != 1 || tn.DocumentTypes[0] != "text/html" {
		t.Fatalf("document types: %v, %v", tn, err)
	}
	d.upload(t, d.lead, "", "page.html", "text/html; charset=utf-8", []byte("<p>hi</p>"))
	_, err := d.docs.Upload(actorCtx(d.lead), d.tenant.ID, d.kase.ID, tma.Upload{Name: "a.pdf", ContentType: "application/pdf", Body: strings.NewReader("%PDF")})
	wantCode(t, err, tma.EINVALID)
	if err := ts.SetDocumentTypes(ctx, d.tenant.ID, nil); err != nil {
		t.Fatal(err)
	}
	if tn, _ := ts.FindTenantByID(ctx, d.tenant.ID); tn.DocumentTypes != nil {
		t.Errorf("default not restored: %v", tn.DocumentTypes)
	}
	d.upload(t, d.lead, "", "a.pdf", "application/pdf", []byte("%PDF"))
	if n := len(d.events(t, tma.AuditTenantSettings)); n != 2 {
		t.Errorf("%d settings events, want 2", n)
	}
}

func TestDocumentNotFound(t *testing.T) {
	d := newDocEnv(t)
	doc := d.upload(t, d.lead, "", "a.pdf", "application/pdf", []byte("%PDF-1.7 one")).DocumentID
	// Another case of the same tenant, with the same members.
	c2, err := d.cases.CreateCase(actorCtx(d.lead), d.tenant.ID, tma.NewCase{Title: "Second case"})
	if err != nil {
		t.Fatal(err)
	}
	d.addMembers(t, c2)
	// Another tenant.
	tn2, lead, _, _ := d.newTenant(t, "other")
	c3, err := d.cases.CreateCase(actorCtx(lead), tn2.ID, tma.NewCase{Title: "Other tenant's case"})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name           string
		ctx            context.Context
		tenant, caseID string
		doc            string
		version        int
	}{
		{"another case", actorCtx(d.lead), d.tenant.ID, c2.ID, doc, 1},
		{"another tenant", actorCtx(lead), tn2.ID, c3.ID, doc, 1},
		{"another tenant naming the case", actorCtx(lead), tn2.ID, d.kase.ID, doc, 1},
		{"forged version", actorCtx(d.lead), d.tenant.ID, d.kase.ID, doc, 2},
		{"negative version", actorCtx(d.lead), d.tenant.ID, d.kase.ID, doc, -1},
		{"unknown document", actorCtx(d.lead), d.tenant.ID, d.kase.ID, tma.NewID(), 1},
		{"not an id", actorCtx(d.lead), d.tenant.ID, d.kase.ID, "../" + doc, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, rc, err := d.docs.Open(tc.ctx, tc.tenant, tc.caseID, tc.doc, tc.version, 0, -1, tma.AccessPreview)
			wantCode(t, err, tma.ENOTFOUND)
			if rc != nil {
				t.Error("a reader came back")
			}
			_, err = d.docs.RequestDelete(tc.ctx, tc.tenant, tc.caseID, tc.doc, tc.version)
			wantCode(t, err, tma.ENOTFOUND)
			if tc.version == 1 {
				_, err = d.docs.Document(tc.ctx, tc.tenant, tc.caseID, tc.doc)
				wantCode(t, err, tma.ENOTFOUND)
				_, err = d.docs.Upload(tc.ctx, tc.tenant, tc.caseID, tma.Upload{DocumentID: tc.doc, Name: "b.pdf", ContentType: "application/pdf", Body: strings.NewReader("%PDF")})
				wantCode(t, err, tma.ENOTFOUND)
			}
		})
	}
	if n := d.count(t, "document_versions"); n != 1 {
		t.Errorf("%d versions, want 1", n)
	}
}

func TestDocumentShredded(t *testing.T) {
	d := newDocEnv(t)
	secret := []byte("%PDF-1.7 Gutachten Zaunkönig-3")
	doc := d.upload(t, d.lead, "", "gutachten.pdf", "application/pdf", secret).DocumentID
	if b, err := d.read(t, doc, 0, 0, -1); err != nil || !bytes.Equal(b, secret) {
		t.Fatalf("before the shred: %q, %v", b, err)
	}
	if err := d.keys.ShredCase(actorCtx(d.lead), d.tenant.ID, d.kase.ID); err != nil {
		t.Fatal(err)
	}
	b, err := d.read(t, doc, 0, 0, -1)
	wantCode(t, err, tma.EGONE)
	if len(b) != 0 {
		t.Errorf("%d bytes after the shred", len(b))
	}
	_, err = d.docs.Documents(actorCtx(d.lead), d.tenant.ID, d.kase.ID)
	wantCode(t, err, tma.EGONE)
	_, err = d.docs.Upload(actorCtx(d.lead), d.tenant.ID, d.kase.ID, tma.Upload{DocumentID: doc, Name: "b.pdf", ContentType: "application/pdf", Body: strings.NewReader("%PDF")})
	wantCode(t, err, tma.EGONE)
}

func TestDocumentFourEyesDelete(t *testing.T) {
	d := newDocEnv(t)
	v1 := []byte("%PDF-1.7 first")
	doc := d.upload(t, d.lead, "", "a.pdf", "application/pdf", v1).DocumentID
	d.upload(t, d.lead, doc, "a.pdf", "application/pdf", []byte("%PDF-1.7 second"))
	blob1, blob2 := d.blobOf(t, doc, 1), d.blobOf(t, doc, 2)

	a, err := d.docs.RequestDelete(actorCtx(d.expert), d.tenant.ID, d.kase.ID, doc, 1)
	if err != nil {
		t.Fatal(err)
	}
	_, err = d.docs.RequestDelete(actorCtx(d.lead), d.tenant.ID, d.kase.ID, doc, 1)
	wantCode(t, err, tma.ECONFLICT)
	a2, err := d.docs.RequestDelete(actorCtx(d.lead), d.tenant.ID, d.kase.ID, doc, 2) // another version may wait beside it
	if err != nil {
		t.Fatal(err)
	}
	// A state change request is not blocked by them.
	if _, err := d.cases.SetState(actorCtx(d.lead), d.tenant.ID, d.kase.ID, tma.StatusClosed, d.kase.Risk); err != nil {
		t.Fatal(err)
	}
	pending, err := d.cases.Approvals(actorCtx(d.lead), d.tenant.ID, d.kase.ID)
	if err != nil || len(pending) != 3 {
		t.Fatalf("approvals: %d, %v", len(pending), err)
	}
	for _, p := range pending {
		if p.ID == a.ID && (p.Kind != tma.ApprovalDocumentDelete || p.DocumentID != doc || p.Version != 1) {
			t.Errorf("approval: %+v", p)
		}
	}

	wantCode(t, d.cases.DecideApproval(actorCtx(d.expert), d.tenant.ID, d.kase.ID, a.ID, true), tma.EFORBIDDEN)  // own request
	wantCode(t, d.cases.DecideApproval(actorCtx(d.expert), d.tenant.ID, d.kase.ID, a2.ID, true), tma.EFORBIDDEN) // not a lead
	wantCode(t, d.cases.DecideApproval(actorCtx(d.lead), d.tenant.ID, d.kase.ID, a2.ID, true), tma.EFORBIDDEN)   // own request
	if err := d.cases.DecideApproval(actorCtx(d.lead2), d.tenant.ID, d.kase.ID, a.ID, true); err != nil {
		t.Fatal(err)
	}
	_, err = d.read(t, doc, 1, 0, -1)
	wantCode(t, err, tma.ENOTFOUND)
	if b, err := d.read(t, doc, 0, 0, -1); err != nil || string(b) != "%PDF-1.7 second" {
		t.Errorf("latest after deleting v1: %q, %v", b, err)
	}
	got, err := d.docs.Document(actorCtx(d.lead), d.tenant.ID, d.kase.ID, doc)
	if err != nil {
		t.Fatal(err)
	}
	if v := got.Versions[1]; got.Count != 2 || !v.Deleted || v.Name != "" || v.SHA256 != nil || v.DeletedAt.IsZero() || v.Size != int64(len(v1)) {
		t.Errorf("deleted version: %+v", v)
	}
	_, err = d.docs.RequestDelete(actorCtx(d.lead), d.tenant.ID, d.kase.ID, doc, 1)
	wantCode(t, err, tma.ENOTFOUND)
	var rows int
	if err := d.db.Pool.QueryRow(context.Background(), `SELECT count(*) FROM blobs WHERE id = $1`, blob1).Scan(&rows); err != nil || rows != 0 {
		t.Errorf("blobs row of the deleted version: %d, %v", rows, err)
	}
	if n := len(d.events(t, tma.AuditDocumentDeleted)); n != 1 {
		t.Errorf("%d deletion events", n)
	}
	if n := len(d.events(t, tma.AuditApprovalGranted)); n != 1 {
		t.Errorf("%d approval events", n)
	}
	rep := d.gc(t)
	if _, err := d.store.Stat(context.Background(), blob1); tma.ErrorCode(err) != tma.ENOTFOUND || rep.Deleted != 1 {
		t.Errorf("GC left the deleted version's blob: %v, %+v", err, rep)
	}
	if _, err := d.store.Stat(context.Background(), blob2); err != nil {
		t.Errorf("GC removed a live blob: %v", err)
	}
	// Deleting the last version leaves a document with no version: it is
	// no longer listed.
	if err := d.cases.DecideApproval(actorCtx(d.lead2), d.tenant.ID, d.kase.ID, a2.ID, true); err != nil {
		t.Fatal(err)
	}
	if list, err := d.docs.Documents(actorCtx(d.lead), d.tenant.ID, d.kase.ID); err != nil || len(list) != 0 {
		t.Errorf("documents: %+v, %v", list, err)
	}
}

func TestDocumentConcurrentVersions(t *testing.T) {
	d := newDocEnv(t)
	doc := d.upload(t, d.lead, "", "a.pdf", "application/pdf", []byte("%PDF one")).DocumentID
	var arrived sync.WaitGroup
	arrived.Add(2)
	errs := make([]error, 2)
	var wg sync.WaitGroup
	for i, u := range []*tma.User{d.lead, d.lead2} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			// Both have read the version number before either streams.
			_, errs[i] = d.docs.Upload(actorCtx(u), d.tenant.ID, d.kase.ID, tma.Upload{DocumentID: doc, Name: "b.pdf", ContentType: "application/pdf",
				Body: &sharedGate{wg: &arrived, r: bytes.NewReader(randomBytes(uint64(i), 300<<10))}})
		}()
	}
	wg.Wait()
	ok, conflict := 0, 0
	for _, err := range errs {
		switch tma.ErrorCode(err) {
		case "":
			ok++
		case tma.ECONFLICT:
			conflict++
			if tma.ErrorMessage(err) != "Another version of this document was uploaded meanwhile. Reload and try again." {
				t.Errorf("message: %q", tma.ErrorMessage(err))
			}
		default:
			t.Errorf("upload: %v", err)
		}
	}
	if ok != 1 || conflict != 1 {
		t.Fatalf("%d uploads succeeded, %d conflicted", ok, conflict)
	}
	if n := d.count(t, "document_versions"); n != 2 {
		t.Errorf("%d versions, want 2", n)
	}
	if n, stored := d.count(t, "blobs"), len(d.storedBlobs(t)); n != 2 || stored != 2 {
		t.Errorf("%d blobs rows, %d stored blobs; want 2 and 2", n, stored)
	}
}

// sharedGate holds each reader's first read until every uploader has
// reached it, that is, has read the document's version number.
type sharedGate struct {
	once sync.Once
	wg   *sync.WaitGroup
	r    io.Reader
}

func (g *sharedGate) Read(p []byte) (int, error) {
	g.once.Do(func() { g.wg.Done(); g.wg.Wait() })
	return g.r.Read(p)
}
