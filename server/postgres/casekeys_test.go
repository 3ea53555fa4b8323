package postgres_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/tma-portal/tma/server/postgres"
	"github.com/tma-portal/tma/server/tma"
)

// fakeKeys is a tma.KeyProvider that "wraps" by prefixing the KEK version.
// It stands in at the seam so that these tests check the service's SQL and
// concurrency; server/cmd/tma tests the service with the real providers.
type fakeKeys struct {
	mu        sync.Mutex
	version   int
	generated int
}

func (f *fakeKeys) ref() tma.KEKRef {
	return tma.KEKRef{Provider: "fake", KeyID: "k", Version: f.version}
}

func (f *fakeKeys) Current(context.Context, string) (tma.KEKRef, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.ref(), nil
}

func (f *fakeKeys) Retire(context.Context, string, tma.KEKRef) error { return nil }

// Rotate counts versions over all tenants, like a shared key would.
func (f *fakeKeys) Rotate(context.Context, string) (tma.KEKRef, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.version++
	return f.ref(), nil
}

func (f *fakeKeys) GenerateKey(_ context.Context, scope tma.KeyScope) ([]byte, tma.WrappedKey, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.generated++
	key := make([]byte, 32)
	_, _ = rand.Read(key)
	return key, tma.WrappedKey{KEK: f.ref(), Ciphertext: append([]byte(scope.CaseID), key...)}, nil
}

func (f *fakeKeys) Unwrap(_ context.Context, scope tma.KeyScope, w tma.WrappedKey) ([]byte, error) {
	key, ok := bytes.CutPrefix(w.Ciphertext, []byte(scope.CaseID))
	if !ok {
		return nil, tma.Errorf(tma.ECORRUPT, "wrong scope")
	}
	return bytes.Clone(key), nil
}

func (f *fakeKeys) Rewrap(_ context.Context, _ tma.KeyScope, w tma.WrappedKey, to tma.KEKRef) (tma.WrappedKey, error) {
	return tma.WrappedKey{KEK: to, Ciphertext: w.Ciphertext}, nil
}

func (f *fakeKeys) generatedCount() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.generated
}

func newCaseKeys(t *testing.T) (*env, *postgres.CaseKeyService, *fakeKeys) {
	t.Helper()
	e := newEnv(t)
	kp := &fakeKeys{version: 1}
	return e, postgres.NewCaseKeyService(e.db, kp), kp
}

func mustCase(t *testing.T, s *postgres.CaseKeyService, tenantID, ref string) *tma.Case {
	t.Helper()
	c, err := s.CreateCase(context.Background(), tenantID, ref)
	if err != nil {
		t.Fatalf("create case %s: %v", ref, err)
	}
	return c
}

func TestCaseKeyCreatedOnceUnderConcurrentFirstUse(t *testing.T) {
	e, s, kp := newCaseKeys(t)
	ctx := context.Background()
	tn, _ := e.mustTenant(t, "acme")
	c := mustCase(t, s, tn.ID, "TM-1")

	const n = 16
	keys := make([][]byte, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() { keys[i], errs[i] = s.CaseKey(ctx, tn.ID, c.ID) })
	}
	wg.Wait()
	for i := range n {
		if errs[i] != nil {
			t.Fatalf("CaseKey %d: %v", i, errs[i])
		}
		if !bytes.Equal(keys[i], keys[0]) {
			t.Fatalf("CaseKey %d returned another key than CaseKey 0: concurrent first use made two keys", i)
		}
	}
	var rows int
	if err := e.db.Pool.QueryRow(ctx, `SELECT count(*) FROM case_keys WHERE case_id = $1`, c.ID).Scan(&rows); err != nil || rows != 1 {
		t.Fatalf("case_keys rows = %d (%v), want 1", rows, err)
	}
	before := kp.generatedCount()
	again, err := s.CaseKey(ctx, tn.ID, c.ID)
	if err != nil || !bytes.Equal(again, keys[0]) || kp.generatedCount() != before {
		t.Fatalf("second use: key equal %v, err %v, generated %d -> %d", bytes.Equal(again, keys[0]), err, before, kp.generatedCount())
	}
}

func TestCaseKeyStaysInItsTenant(t *testing.T) {
	e, s, _ := newCaseKeys(t)
	ctx := context.Background()
	acme, _ := e.mustTenant(t, "acme")
	other, _ := e.mustTenant(t, "other")
	c := mustCase(t, s, acme.ID, "TM-1")

	tests := []struct {
		name             string
		tenantID, caseID string
	}{
		{"other tenant", other.ID, c.ID},
		{"unknown case", acme.ID, tma.NewID()},
		{"malformed id", acme.ID, "1; DROP TABLE cases"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := s.CaseKey(ctx, tc.tenantID, tc.caseID)
			wantCode(t, err, tma.ENOTFOUND)
			wantCode(t, s.ShredCase(ctx, tc.tenantID, tc.caseID), tma.ENOTFOUND)
			wantCode(t, s.SetLegalHold(ctx, tc.tenantID, tc.caseID, true), tma.ENOTFOUND)
			_, err = s.FindCaseByID(ctx, tc.tenantID, tc.caseID)
			wantCode(t, err, tma.ENOTFOUND)
		})
	}
	if _, err := s.FindCaseByReference(ctx, other.ID, "TM-1"); tma.ErrorCode(err) != tma.ENOTFOUND {
		t.Fatalf("reference of another tenant: %v, want ENOTFOUND", err)
	}
	if _, err := s.CreateCase(ctx, acme.ID, "TM-1"); tma.ErrorCode(err) != tma.ECONFLICT {
		t.Fatalf("duplicate reference: %v, want ECONFLICT", err)
	}
	if _, err := s.CreateCase(ctx, other.ID, "TM-1"); err != nil {
		t.Fatalf("same reference in another tenant: %v", err)
	}
}

func TestShredTombstoneStopsKeyCreation(t *testing.T) {
	e, s, kp := newCaseKeys(t)
	ctx := context.Background()
	tn, _ := e.mustTenant(t, "acme")
	c := mustCase(t, s, tn.ID, "TM-1")

	if err := s.ShredCase(ctx, tn.ID, c.ID); err != nil {
		t.Fatalf("shred a case without key: %v", err)
	}
	_, err := s.CaseKey(ctx, tn.ID, c.ID)
	wantCode(t, err, tma.EGONE)
	if kp.generatedCount() != 0 {
		t.Fatalf("a key was generated for a shredded case")
	}
	wantCode(t, s.ShredCase(ctx, tn.ID, c.ID), tma.EGONE)
	events, err := e.audit.FindAuditEvents(ctx, tn.ID, tma.AuditFilter{Action: tma.AuditCaseShredded})
	if err != nil || len(events) != 1 {
		t.Fatalf("shred events = %d (%v), want 1 (a repeated shred records nothing)", len(events), err)
	}
}

func TestRotateTenantRewrapsOnlyItsLiveKeys(t *testing.T) {
	e, s, kp := newCaseKeys(t)
	s.BatchSize = 3
	ctx := context.Background()
	acme, _ := e.mustTenant(t, "acme")
	other, _ := e.mustTenant(t, "other")
	var live []*tma.Case
	for i := range 7 {
		c := mustCase(t, s, acme.ID, "TM-"+strings.Repeat("x", i+1))
		if _, err := s.CaseKey(ctx, acme.ID, c.ID); err != nil {
			t.Fatal(err)
		}
		live = append(live, c)
	}
	shredded := live[6]
	live = live[:6]
	if err := s.ShredCase(ctx, acme.ID, shredded.ID); err != nil {
		t.Fatal(err)
	}
	oc := mustCase(t, s, other.ID, "TM-other")
	if _, err := s.CaseKey(ctx, other.ID, oc.ID); err != nil {
		t.Fatal(err)
	}

	var calls [][2]int
	ref, err := s.RotateTenant(ctx, acme.ID, func(done, total int) { calls = append(calls, [2]int{done, total}) })
	if err != nil {
		t.Fatalf("rotate: %v", err)
	}
	if ref.Version != 2 {
		t.Fatalf("target = %+v, want version 2", ref)
	}
	if want := [][2]int{{3, 6}, {6, 6}}; !slices.Equal(calls, want) {
		t.Fatalf("progress calls = %v, want %v", calls, want)
	}
	version := func(tenantID, caseID string) (v int, wrapped bool) {
		t.Helper()
		if err := e.db.Pool.QueryRow(ctx, `SELECT kek_version, wrapped IS NOT NULL FROM case_keys WHERE tenant_id = $1 AND case_id = $2`,
			tenantID, caseID).Scan(&v, &wrapped); err != nil {
			t.Fatal(err)
		}
		return v, wrapped
	}
	for _, c := range live {
		if v, _ := version(acme.ID, c.ID); v != 2 {
			t.Errorf("case %s: version %d, want 2", c.Reference, v)
		}
	}
	if _, wrapped := version(acme.ID, shredded.ID); wrapped {
		t.Errorf("rotation brought a shredded key back")
	}
	if v, _ := version(other.ID, oc.ID); v != 1 {
		t.Errorf("other tenant's key: version %d, want 1 (untouched)", v)
	}
	if p, err := s.PendingRotation(ctx, acme.ID); p != nil || err != nil {
		t.Fatalf("pending rotation after finish: %v, %v", p, err)
	}
	events, err := e.audit.FindAuditEvents(ctx, acme.ID, tma.AuditFilter{Action: tma.AuditKeyRotated})
	if err != nil || len(events) != 1 || events[0].Detail != "provider=fake key=k version=2 rewrapped=6" {
		t.Fatalf("rotation events = %+v (%v)", events, err)
	}
	if _, err := s.RotateTenant(ctx, tma.NewID(), nil); tma.ErrorCode(err) != tma.ENOTFOUND {
		t.Fatalf("rotate unknown tenant: %v, want ENOTFOUND", err)
	}
	if cur, _ := kp.Current(ctx, ""); cur.Version != 2 {
		t.Fatalf("rotating an unknown tenant made a KEK version")
	}
}

func TestBlobRegistry(t *testing.T) {
	e, s, _ := newCaseKeys(t)
	ctx := context.Background()
	acme, _ := e.mustTenant(t, "acme")
	other, _ := e.mustTenant(t, "other")
	c := mustCase(t, s, acme.ID, "TM-1")
	reg := postgres.NewBlobRegistry(e.db)

	owned, orphan := tma.NewID(), tma.NewID()
	sealing := make([]byte, 32)
	if err := reg.RegisterBlob(ctx, postgres.BlobInfo{TenantID: acme.ID, CaseID: c.ID, ID: owned, Size: 42, SealingID: sealing}); err != nil {
		t.Fatalf("register: %v", err)
	}
	wantCode(t, reg.RegisterBlob(ctx, postgres.BlobInfo{TenantID: acme.ID, CaseID: c.ID, ID: owned, Size: 42, SealingID: sealing}), tma.ECONFLICT)
	wantCode(t, reg.RegisterBlob(ctx, postgres.BlobInfo{TenantID: other.ID, CaseID: c.ID, ID: tma.NewID(), Size: 1, SealingID: sealing}), tma.ENOTFOUND)
	wantCode(t, reg.RegisterBlob(ctx, postgres.BlobInfo{TenantID: acme.ID, ID: "../../etc/passwd", Size: 1}), tma.EINVALID)
	// Callers that forget the sealing id or pass a clear digest are bugs.
	wantCode(t, reg.RegisterBlob(ctx, postgres.BlobInfo{TenantID: acme.ID, CaseID: c.ID, ID: tma.NewID(), Size: 1}), tma.EINTERNAL)
	wantCode(t, reg.RegisterBlob(ctx, postgres.BlobInfo{TenantID: acme.ID, CaseID: c.ID, ID: tma.NewID(), Size: 1, SealingID: sealing, SealedDigest: make([]byte, 32)}), tma.EINTERNAL)
	tenantBlob := tma.NewID()
	if err := reg.RegisterBlob(ctx, postgres.BlobInfo{TenantID: other.ID, ID: tenantBlob, Size: 1}); err != nil {
		t.Fatalf("register a tenant blob without case: %v", err)
	}

	refs, err := reg.ReferencedBlobs(ctx, []string{owned, orphan, tenantBlob, "not-an-id"})
	if err != nil {
		t.Fatal(err)
	}
	if !refs[owned] || !refs[tenantBlob] || refs[orphan] || len(refs) != 2 {
		t.Fatalf("referenced = %v, want exactly %s and %s", refs, owned, tenantBlob)
	}
}
