package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tma-portal/tma/server/blob"
	"github.com/tma-portal/tma/server/crypt"
	"github.com/tma-portal/tma/server/crypt/kmstest"
	"github.com/tma-portal/tma/server/postgres"
	"github.com/tma-portal/tma/server/postgres/pgtest"
	"github.com/tma-portal/tma/server/tma"
)

// keysWorld is a tenant with cases whose content is encrypted the way the
// application does it: a document stream in a blob store and a sealed field,
// both under the case key.
type keysWorld struct {
	db     *postgres.DB
	store  *blob.FS
	tenant *tma.Tenant
	cases  []*sealedCase
}

type sealedCase struct {
	c      *tma.Case
	store  tma.BlobStore
	blobID string
	sealID []byte // the stream's sealing id, as registered
	doc    []byte
	record []byte // sealed
	field  []byte // plaintext of record
}

func (sc *sealedCase) docBinding() crypt.DocBinding {
	return crypt.DocBinding{TenantID: sc.c.TenantID, CaseID: sc.c.ID, DocumentID: sc.blobID, Version: 1}
}

func (sc *sealedCase) recordBinding() crypt.RecordBinding {
	return crypt.RecordBinding{TenantID: sc.c.TenantID, CaseID: sc.c.ID, Table: "reports", RowID: sc.c.ID, Field: "text"}
}

func newKeysWorld(t *testing.T, db *postgres.DB, slug string) *keysWorld {
	t.Helper()
	store, err := blob.NewFS(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	tn := &tma.Tenant{Slug: slug, Name: "Tenant " + slug}
	if err := postgres.NewTenantService(db).CreateTenant(context.Background(), tn); err != nil {
		t.Fatalf("create tenant: %v", err)
	}
	return &keysWorld{db: db, store: store, tenant: tn}
}

// addCases creates n cases through keys, each with a key, one registered
// encrypted document and one sealed field.
func (w *keysWorld) addCases(t *testing.T, keys *postgres.CaseKeyService, n int) {
	t.Helper()
	ctx := context.Background()
	reg := postgres.NewBlobRegistry(w.db)
	for range n {
		i := len(w.cases)
		c, err := keys.CreateCase(ctx, w.tenant.ID, fmt.Sprintf("TM-2026-%04d", i))
		if err != nil {
			t.Fatalf("create case %d: %v", i, err)
		}
		sc := &sealedCase{
			c: c, store: w.store, blobID: tma.NewID(),
			doc:   bytes.Repeat([]byte(fmt.Sprintf("document %d of %s. ", i, w.tenant.Slug)), 100+i),
			field: []byte(fmt.Sprintf("report text of case %d", i)),
		}
		key, err := keys.CaseKey(ctx, w.tenant.ID, c.ID)
		if err != nil {
			t.Fatalf("case key %d: %v", i, err)
		}
		var buf bytes.Buffer
		enc, err := crypt.NewWriter(&buf, key, sc.docBinding())
		if err != nil {
			t.Fatal(err)
		}
		if _, err := enc.Write(sc.doc); err != nil {
			t.Fatal(err)
		}
		if err := enc.Close(); err != nil {
			t.Fatal(err)
		}
		size, err := w.store.Put(ctx, sc.blobID, &buf)
		if err != nil {
			t.Fatal(err)
		}
		sc.sealID = enc.SealingID()
		if err := reg.RegisterBlob(ctx, postgres.BlobInfo{TenantID: w.tenant.ID, CaseID: c.ID, ID: sc.blobID, Size: size, SealingID: sc.sealID}); err != nil {
			t.Fatal(err)
		}
		if sc.record, err = crypt.SealRecord(key, sc.recordBinding(), sc.field); err != nil {
			t.Fatal(err)
		}
		clear(key)
		w.cases = append(w.cases, sc)
	}
}

// readCase decrypts the case's document and field through keys.
func readCase(ctx context.Context, keys tma.CaseKeyService, sc *sealedCase) error {
	key, err := keys.CaseKey(ctx, sc.c.TenantID, sc.c.ID)
	if err != nil {
		return err
	}
	defer clear(key)
	rc, err := sc.store.Open(ctx, sc.blobID)
	if err != nil {
		return err
	}
	defer rc.Close()
	r, err := crypt.NewReader(rc, key, sc.docBinding(), sc.sealID)
	if err != nil {
		return err
	}
	doc, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	if !bytes.Equal(doc, sc.doc) {
		return errors.New("document decrypts to other bytes")
	}
	field, err := crypt.OpenRecord(key, sc.recordBinding(), sc.record)
	if err != nil {
		return err
	}
	if !bytes.Equal(field, sc.field) {
		return errors.New("field decrypts to other bytes")
	}
	return nil
}

// kekVersions counts the tenant's live case keys by KEK version.
func kekVersions(t *testing.T, db *postgres.DB, tenantID string) map[int]int {
	t.Helper()
	rows, err := db.Pool.Query(context.Background(),
		`SELECT kek_version, count(*) FROM case_keys WHERE tenant_id = $1 AND shredded_at IS NULL GROUP BY kek_version`, tenantID)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	got := map[int]int{}
	for rows.Next() {
		var v, n int
		if err := rows.Scan(&v, &n); err != nil {
			t.Fatal(err)
		}
		got[v] = n
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return got
}

func newKeyringFile(t *testing.T) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "kek")
	if err := crypt.GenerateKeyringFile(path); err != nil {
		t.Fatal(err)
	}
	return path
}

func loadKeyring(t *testing.T, path string) *crypt.LocalProvider {
	t.Helper()
	kp, err := crypt.LoadKeyring(path)
	if err != nil {
		t.Fatal(err)
	}
	return kp
}

// interruptedRotation starts a rotation and cancels it from the progress
// callback once at least stopAfter keys are done.
func interruptedRotation(t *testing.T, keys *postgres.CaseKeyService, tenantID string, stopAfter int) tma.KEKRef {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	ref, err := keys.RotateTenant(ctx, tenantID, func(done, _ int) {
		if done >= stopAfter {
			cancel()
		}
	})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("interrupted rotation: err = %v, want context.Canceled", err)
	}
	return ref
}

func TestRotateResumes(t *testing.T) {
	ctx := context.Background()
	db := pgtest.Open(t)
	path := newKeyringFile(t)
	kp := loadKeyring(t, path)
	keys := postgres.NewCaseKeyService(db, kp)
	keys.BatchSize = 4

	w := newKeysWorld(t, db, "acme")
	w.addCases(t, keys, 40)
	old, _ := kp.Current(ctx, w.tenant.ID)
	bystander := newKeysWorld(t, db, "other") // same keyring, not rotated
	bystander.addCases(t, keys, 2)

	// First run: interrupted after half of the keys, as by a crash.
	var totals []int
	ctx1, cancel := context.WithCancel(ctx)
	defer cancel()
	target, err := keys.RotateTenant(ctx1, w.tenant.ID, func(done, total int) {
		totals = append(totals, total)
		if done >= 20 {
			cancel()
		}
	})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("interrupted rotation: err = %v, want context.Canceled", err)
	}
	if target.Version != old.Version+1 || target.KeyID != old.KeyID {
		t.Fatalf("target = %+v, want version %d of %s", target, old.Version+1, old.KeyID)
	}
	if totals[0] != 40 {
		t.Fatalf("progress total = %d, want 40", totals[0])
	}
	pending, err := keys.PendingRotation(ctx, w.tenant.ID)
	if err != nil || pending == nil || *pending != target {
		t.Fatalf("kek_rotations after interruption = %v (%v), want %+v", pending, err, target)
	}
	if got := kekVersions(t, db, w.tenant.ID); got[old.Version] != 20 || got[target.Version] != 20 {
		t.Fatalf("keys by KEK version after interruption = %v, want 20 on v%d and 20 on v%d", got, old.Version, target.Version)
	}

	// Second run: a new process with the keyring loaded afresh.
	kp2 := loadKeyring(t, path)
	keys2 := postgres.NewCaseKeyService(db, kp2)
	keys2.BatchSize = 4
	var last [2]int
	ref, err := keys2.RotateTenant(ctx, w.tenant.ID, func(done, total int) { last = [2]int{done, total} })
	if err != nil {
		t.Fatalf("resumed rotation: %v", err)
	}
	if ref != target {
		t.Fatalf("resumed rotation ended on %+v, want the interrupted target %+v", ref, target)
	}
	if cur, _ := loadKeyring(t, path).Current(ctx, w.tenant.ID); cur != target {
		t.Fatalf("keyring's current KEK = %+v, want %+v: the resumed run made another version", cur, target)
	}
	if last != [2]int{20, 20} {
		t.Fatalf("resumed progress ended at %v, want [20 20] (only the keys left)", last)
	}
	if got := kekVersions(t, db, w.tenant.ID); len(got) != 1 || got[target.Version] != 40 {
		t.Fatalf("keys by KEK version after resume = %v, want all 40 on v%d", got, target.Version)
	}
	if got := kekVersions(t, db, bystander.tenant.ID); got[old.Version] != 2 {
		t.Fatalf("other tenant's keys = %v, want untouched on v%d", got, old.Version)
	}
	if p, _ := keys2.PendingRotation(ctx, w.tenant.ID); p != nil {
		t.Fatalf("kek_rotations row left after the rotation finished: %+v", p)
	}
	audit := postgres.NewAuditService(db)
	events, err := audit.FindAuditEvents(ctx, w.tenant.ID, tma.AuditFilter{Action: tma.AuditKeyRotated})
	if err != nil || len(events) != 1 {
		t.Fatalf("key.rotated events = %d (%v), want 1", len(events), err)
	}
	if want := fmt.Sprintf("version=%d rewrapped=40", target.Version); !strings.Contains(events[0].Detail, want) {
		t.Fatalf("audit detail %q, want it to contain %q", events[0].Detail, want)
	}
	if _, err := audit.VerifyChain(ctx, w.tenant.ID); err != nil {
		t.Fatalf("audit chain: %v", err)
	}

	// Every document and field still opens, through a new cache.
	cache := crypt.NewKeyCache(keys2, time.Minute, 64)
	for _, sc := range append(w.cases, bystander.cases...) {
		if err := readCase(ctx, cache, sc); err != nil {
			t.Fatalf("case %s after rotation: %v", sc.c.Reference, err)
		}
	}

	// A rotation that starts afresh moves on to the next version.
	next, err := keys2.RotateTenant(ctx, w.tenant.ID, nil)
	if err != nil || next.Version != target.Version+1 {
		t.Fatalf("next rotation = %+v (%v), want version %d", next, err, target.Version+1)
	}
}

func TestRotateResumesKMS(t *testing.T) {
	ctx := context.Background()
	db := pgtest.Open(t)
	srv := kmstest.NewServer(t)
	keyID := srv.CreateKey()
	keys := postgres.NewCaseKeyService(db, crypt.NewKMSProvider(srv.Client(ctx), keyID))
	keys.BatchSize = 3
	w := newKeysWorld(t, db, "acme")
	w.addCases(t, keys, 10)

	target := interruptedRotation(t, keys, w.tenant.ID, 3)
	if got := kekVersions(t, db, w.tenant.ID); got[1] != 7 || got[2] != 3 {
		t.Fatalf("keys by KEK version after interruption = %v, want 7 on v1 and 3 on v2", got)
	}

	keys2 := postgres.NewCaseKeyService(db, crypt.NewKMSProvider(srv.Client(ctx), keyID))
	ref, err := keys2.RotateTenant(ctx, w.tenant.ID, nil)
	if err != nil || ref != target {
		t.Fatalf("resumed rotation = %+v (%v), want %+v", ref, err, target)
	}
	if n := srv.Calls("RotateKeyOnDemand"); n != 1 {
		t.Fatalf("KMS rotations = %d, want 1: the resumed run must not rotate again", n)
	}
	if got := kekVersions(t, db, w.tenant.ID); got[2] != 10 || len(got) != 1 {
		t.Fatalf("keys by KEK version after resume = %v, want all 10 on v2", got)
	}
	cache := crypt.NewKeyCache(keys2, time.Minute, 64)
	for _, sc := range w.cases {
		if err := readCase(ctx, cache, sc); err != nil {
			t.Fatalf("case %s after rotation: %v", sc.c.Reference, err)
		}
	}
}

func TestRotateRefusesSecondRotationOfTenant(t *testing.T) {
	ctx := context.Background()
	db := pgtest.Open(t)
	path := newKeyringFile(t)
	w := newKeysWorld(t, db, "acme")
	keys := postgres.NewCaseKeyService(db, loadKeyring(t, path))
	keys.BatchSize = 1
	w.addCases(t, keys, 3)

	// The second rotation starts while the first waits in its progress
	// callback, holding the tenant's rotation lock.
	var second error
	_, err := keys.RotateTenant(ctx, w.tenant.ID, func(done, _ int) {
		if done == 1 {
			_, second = postgres.NewCaseKeyService(db, loadKeyring(t, path)).RotateTenant(ctx, w.tenant.ID, nil)
		}
	})
	if err != nil {
		t.Fatalf("first rotation: %v", err)
	}
	if tma.ErrorCode(second) != tma.ECONFLICT {
		t.Fatalf("concurrent rotation: %v, want ECONFLICT", second)
	}
	if got := kekVersions(t, db, w.tenant.ID); got[2] != 3 || len(got) != 1 {
		t.Fatalf("keys by version = %v, want all 3 on v2 (the refused rotation made no version)", got)
	}
}

// rendezvousRotate delays Rotate until another rendezvousRotate sharing
// arrived is in Rotate too, or for at most a moment, so that two
// rotations make their KEK versions at the same time unless something
// serialises them.
type rendezvousRotate struct {
	tma.KeyProvider
	arrived chan struct{}
}

func (r rendezvousRotate) Rotate(ctx context.Context, tenantID string) (tma.KEKRef, error) {
	select {
	case r.arrived <- struct{}{}:
	case <-r.arrived:
	case <-time.After(200 * time.Millisecond):
	}
	return r.KeyProvider.Rotate(ctx, tenantID)
}

// Two processes rotating two tenants at once share one keyring file: each
// must get a version of its own, and both versions must survive.
func TestRotateTwoTenantsAtOnce(t *testing.T) {
	ctx := context.Background()
	db := pgtest.Open(t)
	path := newKeyringFile(t)
	setup := postgres.NewCaseKeyService(db, loadKeyring(t, path))
	worlds := []*keysWorld{newKeysWorld(t, db, "acme"), newKeysWorld(t, db, "other")}
	for _, w := range worlds {
		w.addCases(t, setup, 3)
	}
	arrived := make(chan struct{})
	refs := make([]tma.KEKRef, len(worlds))
	errs := make([]error, len(worlds))
	var wg sync.WaitGroup
	for i, w := range worlds {
		// A process each, with its own copy of the keyring.
		keys := postgres.NewCaseKeyService(db, rendezvousRotate{loadKeyring(t, path), arrived})
		wg.Go(func() { refs[i], errs[i] = keys.RotateTenant(ctx, w.tenant.ID, nil) })
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		t.Fatal(err)
	}
	// Each tenant has versions of its own; both new versions are in the
	// file.
	info := loadKeyring(t, path).Info()
	for i, w := range worlds {
		if got := info.Tenants[w.tenant.ID]; !slices.Contains(got, refs[i].Version) || len(got) != 2 {
			t.Fatalf("tenant %s: keyring versions %v, want 1 and %d: one write lost the other's key", w.tenant.Slug, got, refs[i].Version)
		}
	}
	fresh := postgres.NewCaseKeyService(db, loadKeyring(t, path))
	for _, w := range worlds {
		for _, sc := range w.cases {
			if err := readCase(ctx, fresh, sc); err != nil {
				t.Fatalf("tenant %s, case %s: %v", w.tenant.Slug, sc.c.Reference, err)
			}
		}
	}
}

func TestShredMakesCaseUnreadable(t *testing.T) {
	ctx := context.Background()
	db := pgtest.Open(t)
	keys := postgres.NewCaseKeyService(db, loadKeyring(t, newKeyringFile(t)))
	w := newKeysWorld(t, db, "acme")
	w.addCases(t, keys, 2)
	victim, survivor := w.cases[0], w.cases[1]

	cache := crypt.NewKeyCache(keys, time.Hour, 16)
	if err := readCase(ctx, cache, victim); err != nil { // now cached
		t.Fatalf("before shredding: %v", err)
	}
	if err := cache.ShredCase(ctx, w.tenant.ID, victim.c.ID); err != nil {
		t.Fatalf("shred: %v", err)
	}

	for name, svc := range map[string]tma.CaseKeyService{"service": keys, "cache": cache} {
		_, err := svc.CaseKey(ctx, w.tenant.ID, victim.c.ID)
		if tma.ErrorCode(err) != tma.EGONE {
			t.Fatalf("%s: CaseKey after shredding: %v, want EGONE", name, err)
		}
		if !strings.Contains(tma.ErrorMessage(err), "shredded") {
			t.Fatalf("%s: message %q does not say the case was shredded", name, tma.ErrorMessage(err))
		}
		if err := readCase(ctx, svc, victim); tma.ErrorCode(err) != tma.EGONE {
			t.Fatalf("%s: reading the shredded case: %v, want EGONE", name, err)
		}
	}
	// Nothing in the database can bring the key back.
	var wrapped []byte
	var shredded *time.Time
	if err := db.Pool.QueryRow(ctx, `SELECT wrapped, shredded_at FROM case_keys WHERE case_id = $1`, victim.c.ID).Scan(&wrapped, &shredded); err != nil {
		t.Fatal(err)
	}
	if wrapped != nil || shredded == nil {
		t.Fatalf("case_keys row: wrapped %d bytes, shredded_at %v; want no bytes and a time", len(wrapped), shredded)
	}
	// The ciphertext is still there, and opens under no other key.
	rc, err := w.store.Open(ctx, victim.blobID)
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	if _, err := crypt.NewReader(rc, make([]byte, crypt.KeySize), victim.docBinding(), victim.sealID); tma.ErrorCode(err) != tma.ECORRUPT {
		t.Fatalf("document under a guessed key: %v, want ECORRUPT", err)
	}

	if err := readCase(ctx, cache, survivor); err != nil {
		t.Fatalf("other case of the tenant: %v", err)
	}
	if err := keys.ShredCase(ctx, w.tenant.ID, victim.c.ID); tma.ErrorCode(err) != tma.EGONE {
		t.Fatalf("shredding again: %v, want EGONE", err)
	}
	audit := postgres.NewAuditService(db)
	events, err := audit.FindAuditEvents(ctx, w.tenant.ID, tma.AuditFilter{Action: tma.AuditCaseShredded})
	if err != nil || len(events) != 1 || events[0].TargetID != victim.c.ID || events[0].Detail != victim.c.Reference {
		t.Fatalf("case.shredded events = %+v (%v), want one for %s", events, err, victim.c.ID)
	}
	if _, err := audit.VerifyChain(ctx, w.tenant.ID); err != nil {
		t.Fatalf("audit chain: %v", err)
	}
}

func TestShredRefusedUnderLegalHold(t *testing.T) {
	ctx := context.Background()
	db := pgtest.Open(t)
	keys := postgres.NewCaseKeyService(db, loadKeyring(t, newKeyringFile(t)))
	w := newKeysWorld(t, db, "acme")
	w.addCases(t, keys, 1)
	sc := w.cases[0]
	cache := crypt.NewKeyCache(keys, time.Hour, 16)

	if err := keys.SetLegalHold(ctx, w.tenant.ID, sc.c.ID, true); err != nil {
		t.Fatalf("set hold: %v", err)
	}
	err := cache.ShredCase(ctx, w.tenant.ID, sc.c.ID)
	if tma.ErrorCode(err) != tma.ECONFLICT {
		t.Fatalf("shred under hold: %v, want ECONFLICT", err)
	}
	if msg := tma.ErrorMessage(err); msg != "The case is under legal hold; lift the hold before shredding." {
		t.Fatalf("message = %q", msg)
	}
	if err := readCase(ctx, cache, sc); err != nil {
		t.Fatalf("case under hold after refused shred: %v", err)
	}
	audit := postgres.NewAuditService(db)
	if _, err := audit.VerifyChain(ctx, w.tenant.ID); err != nil {
		t.Fatalf("audit chain: %v", err)
	}
	if events, _ := audit.FindAuditEvents(ctx, w.tenant.ID, tma.AuditFilter{Action: tma.AuditCaseShredded}); len(events) != 0 {
		t.Fatalf("a refused shred was recorded as done: %+v", events)
	}

	if err := keys.SetLegalHold(ctx, w.tenant.ID, sc.c.ID, false); err != nil {
		t.Fatalf("lift hold: %v", err)
	}
	if err := cache.ShredCase(ctx, w.tenant.ID, sc.c.ID); err != nil {
		t.Fatalf("shred after the hold was lifted: %v", err)
	}
	if err := readCase(ctx, cache, sc); tma.ErrorCode(err) != tma.EGONE {
		t.Fatalf("read after shred: %v, want EGONE", err)
	}
	events, err := audit.FindAuditEvents(ctx, w.tenant.ID, tma.AuditFilter{Limit: 10})
	if err != nil {
		t.Fatal(err)
	}
	var actions []string
	for _, e := range events {
		actions = append(actions, e.Action)
	}
	if got, want := strings.Join(actions[:3], " "), "case.shredded case.legal_hold_lifted case.legal_hold_set"; got != want {
		t.Fatalf("newest audit actions = %q, want %q", got, want)
	}
}

// cliEnv is the environment of a CLI test: its own database and data
// directory, with a local keyring and the filesystem blob store.
type cliEnv struct {
	env     map[string]string
	dataDir string
	db      *postgres.DB
}

func newCLIEnv(t *testing.T) *cliEnv {
	t.Helper()
	url := pgtest.URL(t)
	e := &cliEnv{env: map[string]string{"TMA_DATABASE_URL": url, "TMA_DATA_DIR": t.TempDir()}}
	e.dataDir = e.env["TMA_DATA_DIR"]
	db, err := postgres.Open(context.Background(), url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(db.Close)
	e.db = db
	return e
}

// run runs the tma command line and returns its standard output.
func (e *cliEnv) run(t *testing.T, args ...string) (string, error) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	err := run(context.Background(), args, func(k string) string { return e.env[k] }, &stdout, &stderr)
	return stdout.String(), err
}

func (e *cliEnv) mustRun(t *testing.T, args ...string) string {
	t.Helper()
	out, err := e.run(t, args...)
	if err != nil {
		t.Fatalf("tma %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return out
}

func TestCLIBlobsGC(t *testing.T) {
	ctx := context.Background()
	e := newCLIEnv(t)
	e.mustRun(t, "init")
	store, err := blob.NewFS(filepath.Join(e.dataDir, "blobs"))
	if err != nil {
		t.Fatal(err)
	}
	tenant, err := postgres.NewTenantService(e.db).FindTenantBySlug(ctx, "demo")
	if err != nil {
		t.Fatal(err)
	}
	put := func(age time.Duration) string {
		t.Helper()
		id := tma.NewID()
		if _, err := store.Put(ctx, id, strings.NewReader("ciphertext")); err != nil {
			t.Fatal(err)
		}
		p := filepath.Join(e.dataDir, "blobs", id[0:2], id[2:4], id)
		old := time.Now().Add(-age)
		if err := os.Chtimes(p, old, old); err != nil {
			t.Fatal(err)
		}
		return id
	}
	oldOrphan, youngOrphan, oldOwned := put(48*time.Hour), put(time.Hour), put(48*time.Hour)
	if err := postgres.NewBlobRegistry(e.db).RegisterBlob(ctx, postgres.BlobInfo{TenantID: tenant.ID, ID: oldOwned, Size: 10}); err != nil {
		t.Fatal(err)
	}
	exists := func(id string) bool {
		_, err := store.Stat(ctx, id)
		if err != nil && tma.ErrorCode(err) != tma.ENOTFOUND {
			t.Fatal(err)
		}
		return err == nil
	}

	out := e.mustRun(t, "blobs", "gc", "--dry-run")
	if !strings.Contains(out, "would delete "+oldOrphan) || !strings.Contains(out, "would delete 1 orphaned blob(s), kept 2") {
		t.Fatalf("dry run output:\n%s", out)
	}
	if !exists(oldOrphan) {
		t.Fatal("dry run deleted a blob")
	}

	out = e.mustRun(t, "blobs", "gc", "--grace", "24h")
	if !strings.Contains(out, "deleted "+oldOrphan) || !strings.Contains(out, "deleted 1 orphaned blob(s), kept 2") {
		t.Fatalf("gc output:\n%s", out)
	}
	if strings.Contains(out, youngOrphan) || strings.Contains(out, oldOwned) {
		t.Fatalf("gc reported a blob it must keep:\n%s", out)
	}
	if exists(oldOrphan) || !exists(youngOrphan) || !exists(oldOwned) {
		t.Fatalf("after gc: old orphan %v (want gone), young orphan %v, owned %v (want both kept)",
			exists(oldOrphan), exists(youngOrphan), exists(oldOwned))
	}
	if _, err := e.run(t, "blobs", "gc", "--grace", "1s"); err == nil || !strings.Contains(err.Error(), "grace period must be at least") {
		t.Fatalf("gc with a 1s grace: %v, want a refusal", err)
	}
}

func TestCLIKeysRotateAndShred(t *testing.T) {
	ctx := context.Background()
	e := newCLIEnv(t)
	out := e.mustRun(t, "init")
	kekFile := filepath.Join(e.dataDir, "keys", "kek")
	if !strings.Contains(out, "created local key file "+kekFile) {
		t.Fatalf("init output:\n%s", out)
	}
	if fi, err := os.Stat(kekFile); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("key file: %v, %v; want mode 0600", fi, err)
	}
	if out := e.mustRun(t, "init"); strings.Contains(out, "created local key file") {
		t.Fatalf("second init created the key file again:\n%s", out)
	}

	tenant, err := postgres.NewTenantService(e.db).FindTenantBySlug(ctx, "demo")
	if err != nil {
		t.Fatal(err)
	}
	keys := postgres.NewCaseKeyService(e.db, loadKeyring(t, kekFile))
	w := &keysWorld{db: e.db, tenant: tenant}
	if w.store, err = blob.NewFS(filepath.Join(e.dataDir, "blobs")); err != nil {
		t.Fatal(err)
	}
	w.addCases(t, keys, 3)

	out = e.mustRun(t, "keys", "rotate", "--tenant", "demo")
	if !strings.Contains(out, "version 2; 3 case key(s) rewrapped in this run") || !strings.Contains(out, "rewrapped 3 of 3 case key(s)") {
		t.Fatalf("rotate output:\n%s", out)
	}
	if strings.ContainsAny(out, "\r\x1b█") {
		t.Fatalf("rotate drew a progress bar into a non-terminal:\n%q", out)
	}
	if got := kekVersions(t, e.db, tenant.ID); got[2] != 3 {
		t.Fatalf("keys by version after CLI rotation = %v, want 3 on v2", got)
	}

	held, free, unconfirmed := w.cases[0], w.cases[1], w.cases[2]
	if err := keys.SetLegalHold(ctx, tenant.ID, held.c.ID, true); err != nil {
		t.Fatal(err)
	}
	_, err = e.run(t, "keys", "shred", "--tenant", "demo", "--case", held.c.Reference, "--yes")
	if err == nil || !strings.Contains(err.Error(), "The case is under legal hold; lift the hold before shredding.") {
		t.Fatalf("shred under legal hold: %v", err)
	}
	// Tests run without a terminal on stdin, so there is nobody to ask.
	if _, err := e.run(t, "keys", "shred", "--tenant", "demo", "--case", unconfirmed.c.ID); err == nil || !strings.Contains(err.Error(), "--yes") {
		t.Fatalf("shred without --yes and without a terminal: %v, want a refusal", err)
	}
	out = e.mustRun(t, "keys", "shred", "--tenant", "demo", "--case", free.c.ID, "--yes")
	if !strings.Contains(out, "case "+free.c.Reference+" ("+free.c.ID+") of tenant demo shredded") {
		t.Fatalf("shred output:\n%s", out)
	}

	fresh := postgres.NewCaseKeyService(e.db, loadKeyring(t, kekFile))
	for _, tc := range []struct {
		sc   *sealedCase
		code string
	}{{held, ""}, {free, tma.EGONE}, {unconfirmed, ""}} {
		if err := readCase(ctx, fresh, tc.sc); tma.ErrorCode(err) != tc.code {
			t.Errorf("case %s: read error %v, want code %q", tc.sc.c.Reference, err, tc.code)
		}
	}
	if _, err := e.run(t, "keys", "shred", "--tenant", "demo", "--case", "TM-none", "--yes"); tma.ErrorCode(err) != tma.ENOTFOUND {
		t.Fatalf("shred unknown case: %v, want ENOTFOUND", err)
	}
}

func TestConfirmShred(t *testing.T) {
	c := &tma.Case{ID: tma.NewID(), Reference: "TM-2026-0042"}
	tests := []struct {
		name, input string
		ok          bool
	}{
		{"reference", "TM-2026-0042\n", true},
		{"reference without newline", "TM-2026-0042", true},
		{"yes is not enough", "y\n", false},
		{"other reference", "TM-2026-0043\n", false},
		{"nothing", "", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var out bytes.Buffer
			err := confirmShred(strings.NewReader(tc.input), &out, c)
			if (err == nil) != tc.ok {
				t.Fatalf("confirmShred(%q) = %v, want ok %v", tc.input, err, tc.ok)
			}
			if !strings.Contains(out.String(), c.Reference) {
				t.Fatalf("prompt does not name the case:\n%s", out.String())
			}
		})
	}
}

func TestKeyProviderSources(t *testing.T) {
	ctx := context.Background()
	path := newKeyringFile(t)
	want, _ := loadKeyring(t, path).Current(ctx, "tenant-1") // adds the tenant's first version
	content, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		c    Config
	}{
		{"file", Config{KeyProvider: "local", KEKFile: path}},
		{"base64 in TMA_KEK", Config{KeyProvider: "local", KEK: base64.StdEncoding.EncodeToString(content)}},
		{"text in TMA_KEK", Config{KeyProvider: "local", KEK: string(content)}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			kp, err := keyProvider(ctx, &tc.c)
			if err != nil {
				t.Fatal(err)
			}
			if got, _ := kp.Current(ctx, "tenant-1"); got != want {
				t.Fatalf("current KEK = %+v, want %+v (the same keyring)", got, want)
			}
		})
	}
	missing := filepath.Join(t.TempDir(), "kek")
	_, err = keyProvider(ctx, &Config{KeyProvider: "local", KEKFile: missing})
	if err == nil || !strings.Contains(err.Error(), "no key file at "+missing+": run `tma init` or set TMA_KEK_FILE") {
		t.Fatalf("missing key file: %v", err)
	}
}

func TestRotateProgress(t *testing.T) {
	t.Run("lines when not a terminal", func(t *testing.T) {
		var out bytes.Buffer
		p := newRotateProgress(&out, false)
		for done := 100; done <= 1000; done += 100 {
			p.update(done, 1000)
		}
		p.update(1000, 1500) // keys created meanwhile under the old KEK
		p.update(1500, 1500)
		p.stop(true)
		lines := strings.Split(strings.TrimSpace(out.String()), "\n")
		if len(lines) != 11 || lines[0] != "rewrapped 100 of 1000 case key(s)" || lines[10] != "rewrapped 1500 of 1500 case key(s)" {
			t.Fatalf("output:\n%s", out.String())
		}
	})
	t.Run("bar on a terminal", func(t *testing.T) {
		var out bytes.Buffer
		p := newRotateProgress(&out, true)
		p.update(50, 100)
		p.update(100, 150)
		p.update(150, 150)
		p.stop(true)
		if s := out.String(); !strings.Contains(s, "rewrapping case keys") || !strings.Contains(s, "150/150") {
			t.Fatalf("bar output:\n%q", s)
		}
	})
}
