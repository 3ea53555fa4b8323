package main

import (
	"context"
	"encoding/base64"
	"os"
	"path/filepath"
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

// testClock is a settable clock for DB.Now.
type testClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *testClock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.now }
func (c *testClock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// backupRow is a case_keys row as a database backup holds it.
type backupRow struct {
	caseID  string
	wrapped tma.WrappedKey
}

func backupCaseKeys(t *testing.T, db *postgres.DB, tenantID string) []backupRow {
	t.Helper()
	rows, err := db.Pool.Query(context.Background(), `SELECT case_id::text, kek_provider, kek_id, kek_version, wrapped
		FROM case_keys WHERE tenant_id = $1 AND wrapped IS NOT NULL ORDER BY case_id`, tenantID)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []backupRow
	for rows.Next() {
		var r backupRow
		if err := rows.Scan(&r.caseID, &r.wrapped.KEK.Provider, &r.wrapped.KEK.KeyID, &r.wrapped.KEK.Version, &r.wrapped.Ciphertext); err != nil {
			t.Fatal(err)
		}
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// sealSeed stores a sealed TOTP seed for a new user of the tenant, as the
// sign-in code does, and returns the user id and the stored value.
func sealSeed(t *testing.T, db *postgres.DB, box tma.SecretSealer, tenantID, email string) (string, string) {
	t.Helper()
	ctx := context.Background()
	u, err := postgres.NewUserService(db).CreateUser(systemCtx(ctx, tenantID), tenantID,
		tma.NewUser{Email: email, DisplayName: "Seed Holder", Password: "a long enough password 1", Roles: []tma.Role{tma.RoleThreatManager}})
	if err != nil {
		t.Fatal(err)
	}
	sealed, err := box.SealSecret(ctx, tma.SecretScope{TenantID: tenantID, UserID: u.ID, Purpose: "totp"}, []byte("JBSWY3DPEHPK3PXP"))
	if err != nil {
		t.Fatal(err)
	}
	stored := "sealed:" + base64.RawStdEncoding.EncodeToString(sealed)
	if _, err := db.Pool.Exec(ctx, `UPDATE users SET totp_secret = $3 WHERE tenant_id = $1 AND id = $2`, tenantID, u.ID, stored); err != nil {
		t.Fatal(err)
	}
	return u.ID, stored
}

func openSeed(ctx context.Context, box tma.SecretSealer, tenantID, userID, stored string) error {
	raw, err := base64.RawStdEncoding.DecodeString(strings.TrimPrefix(stored, "sealed:"))
	if err != nil {
		return err
	}
	_, err = box.OpenSecret(ctx, tma.SecretScope{TenantID: tenantID, UserID: userID, Purpose: "totp"}, raw)
	return err
}

// TestShredOutlivesBackups: a backup's copy of the case keys (and of a
// sealed TOTP seed) opens nothing once the shred epoch is complete: the
// tenant's KEK rotated, every live key and seed was rewrapped, and after
// the backup retention the old KEK version was destroyed. Retiring earlier
// is refused with the date from which it is possible. Live cases, and the
// other tenant, are untouched.
func TestShredOutlivesBackups(t *testing.T) {
	t.Run("local keyring", func(t *testing.T) {
		path := newKeyringFile(t)
		testShredOutlivesBackups(t, loadKeyring(t, path), func(t *testing.T) tma.KeyProvider {
			// What a backup of the data folder taken from now on holds.
			data, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			kp, err := crypt.ParseKeyring(data)
			if err != nil {
				t.Fatal(err)
			}
			return kp
		}, nil)
	})
	t.Run("kms", func(t *testing.T) {
		srv := kmstest.NewServer(t)
		kp := crypt.NewKMSProvider(srv.Client(context.Background()), "alias/tma/{tenant}")
		testShredOutlivesBackups(t, kp, func(*testing.T) tma.KeyProvider {
			return crypt.NewKMSProvider(srv.Client(context.Background()), "alias/tma/{tenant}")
		}, func(t *testing.T) {
			// KMS deletes the key when the waiting period ends.
			if n := srv.DeleteScheduled(); n != 1 {
				t.Fatalf("KMS keys deleted = %d, want 1 (the tenant's old key)", n)
			}
		})
	})
}

func testShredOutlivesBackups(t *testing.T, kp tma.KeyProvider, copyKeys func(*testing.T) tma.KeyProvider, afterRetire func(*testing.T)) {
	ctx := context.Background()
	db := pgtest.Open(t)
	clock := &testClock{now: time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)}
	db.Now = clock.Now
	box := crypt.NewSecretBox(kp)
	keys := postgres.NewCaseKeyService(db, kp).WithSecrets(box)
	w := newKeysWorld(t, db, "acme")
	w.addCases(t, keys, 3)
	other := newKeysWorld(t, db, "other")
	other.addCases(t, keys, 1)
	userID, seed := sealSeed(t, db, box, w.tenant.ID, "seed@acme.example")
	victim, live := w.cases[0], w.cases[1:]

	// The backup: case key rows and the seed as they are now.
	backup := backupCaseKeys(t, db, w.tenant.ID)
	if len(backup) != 3 {
		t.Fatalf("backup holds %d case keys, want 3", len(backup))
	}
	oldKEK := backup[0].wrapped.KEK

	clock.Add(time.Hour)
	if err := keys.ShredCase(systemCtx(ctx, w.tenant.ID), w.tenant.ID, victim.c.ID); err != nil {
		t.Fatal(err)
	}
	// The shred alone does not reach the backup.
	for _, r := range backup {
		if _, err := kp.Unwrap(ctx, tma.KeyScope{TenantID: w.tenant.ID, CaseID: r.caseID}, r.wrapped); err != nil {
			t.Fatalf("before the epoch, the backup's key of case %s should still open (that is the problem): %v", r.caseID, err)
		}
	}

	// The epoch: rotate, which rewraps every live key and the seed.
	clock.Add(time.Hour)
	rotatedAt := clock.Now()
	target, err := keys.RotateTenant(systemCtx(ctx, w.tenant.ID), w.tenant.ID, nil)
	if err != nil {
		t.Fatal(err)
	}
	if target == oldKEK || target.Version != oldKEK.Version+1 {
		t.Fatalf("rotation target %+v, old %+v", target, oldKEK)
	}
	var storedSeed string
	if err := db.Pool.QueryRow(ctx, `SELECT totp_secret FROM users WHERE id = $1`, userID).Scan(&storedSeed); err != nil {
		t.Fatal(err)
	}
	raw, _ := base64.RawStdEncoding.DecodeString(strings.TrimPrefix(storedSeed, "sealed:"))
	if ref, err := box.SecretKEK(raw); err != nil || ref != target {
		t.Fatalf("seed after rotation is wrapped under %+v (%v), want %+v", ref, err, target)
	}

	// Too early: a backup from before the rotation may still be restored.
	const retention = 35 * 24 * time.Hour
	clock.Add(retention - time.Hour)
	_, err = keys.RetireTenant(systemCtx(ctx, w.tenant.ID), w.tenant.ID, retention)
	possible := rotatedAt.Add(retention).Format("2006-01-02 15:04")
	if tma.ErrorCode(err) != tma.ECONFLICT || !strings.Contains(tma.ErrorMessage(err), possible) {
		t.Fatalf("retire before the retention: %v, want ECONFLICT naming %s", err, possible)
	}
	if _, err := kp.Unwrap(ctx, tma.KeyScope{TenantID: w.tenant.ID, CaseID: backup[1].caseID}, backup[1].wrapped); err != nil {
		t.Fatalf("a refused retirement destroyed something: %v", err)
	}

	clock.Add(2 * time.Hour)
	rep, err := keys.RetireTenant(systemCtx(ctx, w.tenant.ID), w.tenant.ID, retention)
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Retired) != 1 || rep.Retired[0].KEK != oldKEK {
		t.Fatalf("retired %+v, want exactly %+v", rep, oldKEK)
	}
	if afterRetire != nil {
		afterRetire(t)
	}

	// The backup's copies open nothing now, with the keys as they are
	// from now on (the keyring file, or KMS).
	copied := copyKeys(t)
	for _, r := range backup {
		scope := tma.KeyScope{TenantID: w.tenant.ID, CaseID: r.caseID}
		if k, err := copied.Unwrap(ctx, scope, r.wrapped); err == nil {
			clear(k)
			t.Errorf("the backup's key of case %s still opens after the retirement", r.caseID)
		}
	}
	if err := openSeed(ctx, crypt.NewSecretBox(copied), w.tenant.ID, userID, seed); err == nil {
		t.Error("the backup's TOTP seed still opens after the retirement")
	}

	// Live data opens with the current keys, through a fresh process.
	fresh := postgres.NewCaseKeyService(db, copied)
	for _, sc := range append(live, other.cases...) {
		if err := readCase(ctx, fresh, sc); err != nil {
			t.Errorf("case %s after the epoch: %v", sc.c.Reference, err)
		}
	}
	if err := readCase(ctx, fresh, victim); tma.ErrorCode(err) != tma.EGONE {
		t.Errorf("shredded case: %v, want EGONE", err)
	}
	if err := openSeed(ctx, crypt.NewSecretBox(copied), w.tenant.ID, userID, storedSeed); err != nil {
		t.Errorf("live TOTP seed after the epoch: %v", err)
	}

	// Audited, and nothing left to do.
	audit := postgres.NewAuditService(db)
	for action, n := range map[string]int{tma.AuditKeyRetired: 1, tma.AuditKeyRetireRefused: 1, tma.AuditKeyRotated: 1, tma.AuditCaseShredded: 1} {
		if events, err := audit.FindAuditEvents(ctx, w.tenant.ID, tma.AuditFilter{Action: action}); err != nil || len(events) != n {
			t.Errorf("%s events = %d (%v), want %d", action, len(events), err, n)
		}
	}
	if _, err := audit.VerifyChain(ctx, w.tenant.ID); err != nil {
		t.Fatal(err)
	}
	if rep, err := keys.RetireTenant(systemCtx(ctx, w.tenant.ID), w.tenant.ID, retention); err != nil || len(rep.Retired)+len(rep.Waiting)+len(rep.InUse) != 0 {
		t.Fatalf("second retirement = %+v, %v; want nothing to do", rep, err)
	}
	if rep, err := keys.RetireTenant(systemCtx(ctx, other.tenant.ID), other.tenant.ID, retention); err != nil || len(rep.Retired) != 0 {
		t.Fatalf("other tenant's retirement = %+v, %v; want nothing retired", rep, err)
	}
}

// TestRotationNeverDowngrades: with a KMS key shared by all tenants, one
// tenant's rotation to v2 is pending while another tenant's rotation moves
// the key to v3, and the first tenant's new keys are wrapped under v3.
// Resuming the first rotation rewraps only its keys under v1, never those
// under v3: only older versions are stale.
func TestRotationNeverDowngrades(t *testing.T) {
	ctx := context.Background()
	db := pgtest.Open(t)
	srv := kmstest.NewServer(t)
	keyID := srv.CreateKey()
	kp := crypt.NewKMSProvider(srv.Client(ctx), keyID)
	keys := postgres.NewCaseKeyService(db, kp)
	keys.BatchSize = 2
	acme, other := newKeysWorld(t, db, "acme"), newKeysWorld(t, db, "other")
	acme.addCases(t, keys, 6)
	other.addCases(t, keys, 2)

	target := interruptedRotation(t, keys, acme.tenant.ID, 2)
	if target.Version != 2 {
		t.Fatalf("pending target = %+v, want version 2", target)
	}
	if v3, err := keys.RotateTenant(ctx, other.tenant.ID, nil); err != nil || v3.Version != 3 {
		t.Fatalf("other tenant's rotation = %+v, %v; want version 3", v3, err)
	}
	acme.addCases(t, keys, 3) // wrapped under v3, the key's current version
	if got := kekVersions(t, db, acme.tenant.ID); got[3] != 3 {
		t.Fatalf("acme's keys by version before resuming = %v, want 3 on v3", got)
	}

	if ref, err := keys.RotateTenant(ctx, acme.tenant.ID, nil); err != nil || ref != target {
		t.Fatalf("resumed rotation = %+v, %v; want %+v", ref, err, target)
	}
	if got := kekVersions(t, db, acme.tenant.ID); got[1] != 0 || got[2] != 6 || got[3] != 3 {
		t.Fatalf("acme's keys by version after resuming = %v, want 6 on v2 and 3 still on v3", got)
	}
	fresh := postgres.NewCaseKeyService(db, crypt.NewKMSProvider(srv.Client(ctx), keyID))
	for _, sc := range append(acme.cases, other.cases...) {
		if err := readCase(ctx, fresh, sc); err != nil {
			t.Fatalf("case %s: %v", sc.c.Reference, err)
		}
	}
}

func TestCLIKeysRetire(t *testing.T) {
	ctx := context.Background()
	e := newCLIEnv(t)
	e.mustRun(t, "init")
	tenant, err := postgres.NewTenantService(e.db).FindTenantBySlug(ctx, "demo")
	if err != nil {
		t.Fatal(err)
	}
	keys := postgres.NewCaseKeyService(e.db, loadKeyring(t, filepath.Join(e.dataDir, "keys", "kek")))
	w := &keysWorld{db: e.db, tenant: tenant}
	if w.store, err = blob.NewFS(filepath.Join(e.dataDir, "blobs")); err != nil {
		t.Fatal(err)
	}
	w.addCases(t, keys, 2)

	if out := e.mustRun(t, "keys", "retire", "--tenant", "demo"); !strings.Contains(out, "no old key versions to retire") {
		t.Fatalf("retire before any rotation:\n%s", out)
	}
	out := e.mustRun(t, "keys", "shred", "--tenant", "demo", "--case", w.cases[0].c.Reference, "--yes")
	if !strings.Contains(out, "Backups taken before now still hold the key") || !strings.Contains(out, "tma keys retire --tenant demo") {
		t.Fatalf("shred output does not say what reaches backups:\n%s", out)
	}
	e.mustRun(t, "keys", "rotate", "--tenant", "demo")
	e.env["TMA_BACKUP_RETENTION"] = "24h"
	out, err = e.run(t, "keys", "retire", "--tenant", "demo")
	possible := time.Now().Add(24 * time.Hour).UTC().Format("2006-01-02")
	if tma.ErrorCode(err) != tma.ECONFLICT || !strings.Contains(err.Error(), possible) || !strings.Contains(out, "is kept until "+possible) {
		t.Fatalf("retire within the retention: %v, want ECONFLICT naming %s\n%s", err, possible, out)
	}
	e.env["TMA_BACKUP_RETENTION"] = "0s"
	if _, err := e.run(t, "keys", "retire", "--tenant", "demo"); err == nil || !strings.Contains(err.Error(), "TMA_BACKUP_RETENTION must be positive") {
		t.Fatalf("zero retention: %v", err)
	}
}
