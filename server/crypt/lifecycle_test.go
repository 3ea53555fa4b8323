package crypt

import (
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tma-portal/tma/server/tma"
)

// A format 1 keyring (shared masters, id derived from the lowest) keeps
// working: keys wrapped under it open, its id stays, and the first change
// writes format 2 with per-tenant keys above the masters.
func TestKeyringFormat1StillReads(t *testing.T) {
	ctx := t.Context()
	master := make([]byte, KeySize)
	_, _ = rand.Read(master)
	old := "v1 " + base64.StdEncoding.EncodeToString(master) + "\n"
	path := filepath.Join(t.TempDir(), "kek")
	if err := os.WriteFile(path, []byte(old), 0o600); err != nil {
		t.Fatal(err)
	}
	wantID := legacyKeyringID(map[int][]byte{1: master})
	scope := tma.KeyScope{TenantID: "tenant-1", CaseID: "case-1"}

	// A key wrapped by the old code: KEK = HKDF(master, tenant).
	ref := tma.KEKRef{Provider: ProviderLocal, KeyID: wantID, Version: 1}
	legacy, err := ParseKeyring([]byte(old))
	if err != nil {
		t.Fatal(err)
	}
	key := make([]byte, KeySize)
	_, _ = rand.Read(key)
	w, err := legacy.wrap(scope, key, ref)
	if err != nil {
		t.Fatal(err)
	}
	if cur, err := legacy.Current(ctx, scope.TenantID); err != nil || cur != ref {
		t.Fatalf("format 1 keyring from bytes: current %+v, %v; want %+v", cur, err, ref)
	}

	p := mustLoadKeyring(t, path)
	mustUnwrap(t, p, scope, w, key)
	next, err := p.Rotate(ctx, scope.TenantID)
	if err != nil {
		t.Fatal(err)
	}
	if next.KeyID != wantID || next.Version != 2 {
		t.Fatalf("rotation of a format 1 keyring = %+v, want %s version 2", next, wantID)
	}
	data, _ := os.ReadFile(path)
	if !bytes.Contains(data, []byte("format 2\nid "+wantID+"\n")) || !bytes.Contains(data, []byte("master v1 ")) {
		t.Fatalf("rewritten keyring does not keep the id and master:\n%s", redactKeys(data))
	}
	fresh := mustLoadKeyring(t, path)
	mustUnwrap(t, fresh, scope, w, key)
	moved, err := fresh.Rewrap(ctx, scope, w, next)
	if err != nil {
		t.Fatal(err)
	}
	mustUnwrap(t, fresh, scope, moved, key)

	// The shared master cannot be destroyed by one tenant.
	if err := fresh.Retire(ctx, scope.TenantID, ref); tma.ErrorCode(err) != tma.ECONFLICT {
		t.Fatalf("retire of a shared master by a tenant: %v, want ECONFLICT", err)
	}
	// Another tenant starts above the masters too.
	if other, err := fresh.Current(ctx, "tenant-2"); err != nil || other.Version != 2 {
		t.Fatalf("new tenant's first version = %+v, %v; want 2", other, err)
	}
}

// Retire removes exactly one tenant's version from the file: what it
// wrapped no longer opens, in any process; other tenants are untouched.
func TestKeyringRetire(t *testing.T) {
	ctx := t.Context()
	path := newKeyringFile(t)
	p := mustLoadKeyring(t, path)
	a := tma.KeyScope{TenantID: "tenant-a", CaseID: "case-1"}
	b := tma.KeyScope{TenantID: "tenant-b", CaseID: "case-1"}
	keyA, wA, err := p.GenerateKey(ctx, a)
	if err != nil {
		t.Fatal(err)
	}
	keyB, wB, err := p.GenerateKey(ctx, b)
	if err != nil {
		t.Fatal(err)
	}
	copyOfFile, _ := os.ReadFile(path)
	running := mustLoadKeyring(t, path) // another process

	if err := p.Retire(ctx, a.TenantID, wA.KEK); tma.ErrorCode(err) != tma.ECONFLICT {
		t.Fatalf("retire of the current version: %v, want ECONFLICT", err)
	}
	next, err := p.Rotate(ctx, a.TenantID)
	if err != nil {
		t.Fatal(err)
	}
	moved, _ := p.Rewrap(ctx, a, wA, next)
	if err := p.Retire(ctx, a.TenantID, wA.KEK); err != nil {
		t.Fatal(err)
	}
	if err := p.Retire(ctx, a.TenantID, wA.KEK); err != nil {
		t.Fatalf("retiring again: %v, want nil", err)
	}
	for name, kp := range map[string]*LocalProvider{"retiring": p, "running": running, "fresh": mustLoadKeyring(t, path)} {
		if _, err := kp.Unwrap(ctx, a, wA); tma.ErrorCode(err) != tma.ENOTFOUND {
			t.Errorf("%s: unwrap under the retired version: %v, want ENOTFOUND", name, err)
		}
		mustUnwrap(t, kp, a, moved, keyA)
		mustUnwrap(t, kp, b, wB, keyB)
	}
	// The copy taken before the retirement (a backup of the keyring) still
	// opens it: keyring backups must expire like database backups.
	old, err := ParseKeyring(copyOfFile)
	if err != nil {
		t.Fatal(err)
	}
	mustUnwrap(t, old, a, wA, keyA)
}

// Error messages shown to users name no path, mode, tenant, case or
// keyring id; those go to the logged part of the error.
func TestKeyErrorMessagesAreSafe(t *testing.T) {
	ctx := t.Context()
	dir := t.TempDir()
	path := filepath.Join(dir, "secret-dir", "kek")
	_ = os.MkdirAll(filepath.Dir(path), 0o700)
	if err := GenerateKeyringFile(path); err != nil {
		t.Fatal(err)
	}
	p := mustLoadKeyring(t, path)
	tenant, caseID := tma.NewID(), tma.NewID()
	scope := tma.KeyScope{TenantID: tenant, CaseID: caseID}
	_, w, err := p.GenerateKey(ctx, scope)
	if err != nil {
		t.Fatal(err)
	}
	other := mustLoadKeyring(t, newKeyringFile(t))
	otherRef, _ := other.Current(ctx, tenant)
	var errs = map[string]error{}
	bad := w
	bad.Ciphertext = bytes.Clone(w.Ciphertext)
	bad.Ciphertext[0] ^= 1
	_, errs["corrupt"] = p.Unwrap(ctx, scope, bad)
	unknown := w
	unknown.KEK.Version = 9
	_, errs["unknown version"] = p.Unwrap(ctx, scope, unknown)
	_, errs["other keyring"] = p.Unwrap(ctx, scope, tma.WrappedKey{KEK: otherRef, Ciphertext: w.Ciphertext})
	_, errs["missing file"] = LoadKeyring(filepath.Join(dir, "secret-dir", "none"))
	if err := os.Chmod(path, 0o644); err != nil {
		t.Fatal(err)
	}
	_, errs["mode"] = LoadKeyring(path)
	_ = os.Chmod(path, 0o600)
	_, errs["directory"] = LoadKeyring(filepath.Dir(path))
	replaced := filepath.Join(dir, "replaced")
	if err := GenerateKeyringFile(replaced); err != nil {
		t.Fatal(err)
	}
	stale := mustLoadKeyring(t, replaced)
	_ = os.Remove(replaced)
	if err := GenerateKeyringFile(replaced); err != nil {
		t.Fatal(err)
	}
	_, errs["replaced"] = stale.Rotate(ctx, tenant)
	box := NewSecretBox(p)
	_, errs["secret"] = box.OpenSecret(ctx, tma.SecretScope{TenantID: tenant, UserID: caseID, Purpose: "totp"}, []byte{1, 2})

	for name, err := range errs {
		if err == nil {
			t.Errorf("%s: no error", name)
			continue
		}
		msg := tma.ErrorMessage(err)
		for _, secret := range []string{dir, "secret-dir", tenant, caseID, w.KEK.KeyID, otherRef.KeyID, "0644", "644", "keyring-"} {
			if strings.Contains(msg, secret) {
				t.Errorf("%s: user message %q contains %q", name, msg, secret)
			}
		}
		if name != "secret" && name != "corrupt" && !strings.Contains(err.Error(), "keyring") {
			t.Errorf("%s: the logged error %q lost its detail", name, err.Error())
		}
	}
}

func redactKeys(data []byte) string {
	var out []string
	for _, l := range strings.Split(string(data), "\n") {
		if f := strings.Fields(l); len(f) > 0 && (f[0] == "master" || f[0] == "tenant") {
			l = strings.Join(f[:len(f)-1], " ") + " <key>"
		}
		out = append(out, l)
	}
	return strings.Join(out, "\n")
}
