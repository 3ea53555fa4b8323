package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/tma-portal/tma/server/crypt"
	"github.com/tma-portal/tma/server/postgres"
	"github.com/tma-portal/tma/server/postgres/pgtest"
	"github.com/tma-portal/tma/server/tma"
)

// staleKP is a server process that read Current just before a rotation
// moved the tenant on: its GenerateKey still wraps under the old version.
type staleKP struct {
	tma.KeyProvider
	old *tma.KEKRef
}

func (p *staleKP) GenerateKey(ctx context.Context, s tma.KeyScope) ([]byte, tma.WrappedKey, error) {
	k, w, err := p.KeyProvider.GenerateKey(ctx, s)
	if err != nil || p.old == nil {
		return k, w, err
	}
	w, err = p.KeyProvider.Rewrap(ctx, s, w, *p.old)
	return k, w, err
}

// TestReview2RetireHonoursLateUse: a live case key that lands under v1
// after the rotation that "replaced" v1 (a process with a stale Current)
// keeps v1 needed by every backup taken until the next rotation moves it.
// Retire must wait for that rotation + retention, not for the first one.
func TestReview2RetireHonoursLateUse(t *testing.T) {
	ctx := context.Background()
	db := pgtest.Open(t)
	clock := &testClock{now: time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)}
	db.Now = clock.Now
	kp := loadKeyring(t, newKeyringFile(t))
	keys := postgres.NewCaseKeyService(db, kp)
	w := newKeysWorld(t, db, "acme")
	w.addCases(t, keys, 2)
	v1 := backupCaseKeys(t, db, w.tenant.ID)[0].wrapped.KEK

	clock.Add(time.Hour)
	if _, err := keys.RotateTenant(ctx, w.tenant.ID, nil); err != nil { // T0: v1 replaced
		t.Fatal(err)
	}
	// T0+1h: a process that had read Current before the rotation creates a
	// case key under v1.
	clock.Add(time.Hour)
	stale := postgres.NewCaseKeyService(db, &staleKP{KeyProvider: kp, old: &v1})
	w.addCases(t, stale, 1)
	late := w.cases[2]

	// T0+2h: the nightly backup. It holds the live key of `late` under v1.
	clock.Add(time.Hour)
	var backup backupRow
	for _, r := range backupCaseKeys(t, db, w.tenant.ID) {
		if r.caseID == late.c.ID {
			backup = r
		}
	}
	if backup.wrapped.KEK != v1 {
		t.Fatalf("setup: late key under %+v, want %+v", backup.wrapped.KEK, v1)
	}
	backupAt := clock.Now()

	// T0+3h: next rotation moves `late` off v1.
	clock.Add(time.Hour)
	if _, err := keys.RotateTenant(ctx, w.tenant.ID, nil); err != nil {
		t.Fatal(err)
	}

	// The backup is still within the retention (1 hour left), yet retire
	// destroys v1 because its replaced_at is still the first rotation's.
	const retention = 35 * 24 * time.Hour
	clock.Add(retention - 3*time.Hour)
	if !clock.Now().Before(backupAt.Add(retention)) {
		t.Fatal("setup: backup should still be within the retention")
	}
	rep, err := keys.RetireTenant(ctx, w.tenant.ID, retention)
	t.Logf("retire: %+v err=%v", rep, err)
	if _, err := kp.Unwrap(ctx, tma.KeyScope{TenantID: w.tenant.ID, CaseID: late.c.ID}, backup.wrapped); err != nil {
		t.Fatalf("a backup taken %s ago (retention %s) can no longer open the LIVE case %s: v1 was retired too early: %v",
			clock.Now().Sub(backupAt), retention, late.c.Reference, err)
	}
	_ = crypt.KeySize
}

// TestReview2MastersNeverRetire: an installation upgraded from a format 1
// keyring. Its existing case keys are under master v1. After a shred, the
// rotation of every tenant and the retention, RetireShared destroys master
// v1, and the backup's copy of the shredded key no longer opens with the
// keyring file. (Found by review: before RetireShared nothing did.)
func TestReview2MastersNeverRetire(t *testing.T) {
	ctx := context.Background()
	db := pgtest.Open(t)
	clock := &testClock{now: time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)}
	db.Now = clock.Now
	legacy := []byte("v1 " + base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{7}, 32)) + "\n")
	old, err := crypt.ParseKeyring(legacy) // the pre-upgrade server: tenants use master v1
	if err != nil {
		t.Fatal(err)
	}
	w := newKeysWorld(t, db, "acme")
	w.addCases(t, postgres.NewCaseKeyService(db, old), 2)
	backup := backupCaseKeys(t, db, w.tenant.ID)
	if backup[0].wrapped.KEK.Version != 1 {
		t.Fatalf("setup: %+v", backup[0].wrapped.KEK)
	}

	// Upgrade: same keyring as a file.
	path := filepath.Join(t.TempDir(), "kek")
	if err := os.WriteFile(path, legacy, 0o600); err != nil {
		t.Fatal(err)
	}
	kp := loadKeyring(t, path)
	keys := postgres.NewCaseKeyService(db, kp)
	victim := w.cases[0]
	if err := keys.ShredCase(systemCtx(ctx, w.tenant.ID), w.tenant.ID, victim.c.ID); err != nil {
		t.Fatal(err)
	}
	// While the tenant's live keys are under the master, it stays.
	if rep, err := keys.RetireShared(ctx, 0); err != nil || len(rep.Retired) != 0 {
		t.Fatalf("retire shared before the rotation: %+v, %v; want nothing destroyed", rep, err)
	}
	clock.Add(time.Hour)
	if _, err := keys.RotateTenant(ctx, w.tenant.ID, nil); err != nil {
		t.Fatal(err)
	}
	const retention = 24 * time.Hour
	// Within the retention after the rotation, it stays too.
	if rep, err := keys.RetireShared(ctx, retention); err != nil || len(rep.Retired) != 0 {
		t.Fatalf("retire shared within the retention: %+v, %v; want nothing destroyed", rep, err)
	}
	clock.Add(2 * retention)
	rep, err := keys.RetireTenant(ctx, w.tenant.ID, retention)
	t.Logf("retire: %+v err=%v; keyring now %+v", rep, err, kp.Info())
	// The shared masters go only with `tma keys retire --shared`, once no
	// tenant needs them.
	shared, err := keys.RetireShared(ctx, retention)
	if err != nil || len(shared.Retired) != 1 {
		t.Fatalf("retire shared: %+v, %v; want master v1 destroyed", shared, err)
	}
	// The only tenant is fully rotated; nothing live is under v1.
	data, _ := os.ReadFile(path)
	copied, err := crypt.ParseKeyring(data)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range backup {
		if r.caseID != victim.c.ID {
			continue
		}
		if k, err := copied.Unwrap(ctx, tma.KeyScope{TenantID: w.tenant.ID, CaseID: r.caseID}, r.wrapped); err == nil {
			clear(k)
			t.Errorf("the backup's copy of the SHREDDED case key still opens with the current keyring file after rotate+retention+retire; master v1 can never be destroyed")
		}
	}
}
