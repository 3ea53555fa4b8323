package crypt

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tma-portal/tma/server/tma"
)

// testKeyProvider is the contract every tma.KeyProvider must meet. Rotation
// is checked only if rotates is set: a KMS emulator may lack it.
func testKeyProvider(t *testing.T, p tma.KeyProvider, rotates bool) {
	ctx := t.Context()
	scope := tma.KeyScope{TenantID: "tenant-1", CaseID: "case-1"}
	key, wrapped, err := p.GenerateKey(ctx, scope)
	if err != nil {
		t.Fatal(err)
	}
	if len(key) != KeySize {
		t.Fatalf("GenerateKey returned a %d-byte key", len(key))
	}
	cur, err := p.Current(ctx, scope.TenantID)
	if err != nil || wrapped.KEK != cur {
		t.Fatalf("wrapped under %+v, Current = %+v, %v", wrapped.KEK, cur, err)
	}
	mustUnwrap(t, p, scope, wrapped, key)

	t.Run("bound to its scope", func(t *testing.T) {
		for _, s := range []tma.KeyScope{
			{TenantID: scope.TenantID, CaseID: "case-2"},
			{TenantID: "tenant-2", CaseID: scope.CaseID},
		} {
			// Another tenant has KEKs of its own: the version may not
			// even exist for it.
			if _, err := p.Unwrap(ctx, s, wrapped); tma.ErrorCode(err) != tma.ECORRUPT && (s.TenantID == scope.TenantID || tma.ErrorCode(err) != tma.ENOTFOUND) {
				t.Errorf("Unwrap for %+v: %v, want ECORRUPT", s, err)
			}
		}
	})
	t.Run("tampered", func(t *testing.T) {
		bad := wrapped
		bad.Ciphertext = bytes.Clone(wrapped.Ciphertext)
		bad.Ciphertext[len(bad.Ciphertext)-1] ^= 1
		if _, err := p.Unwrap(ctx, scope, bad); tma.ErrorCode(err) != tma.ECORRUPT {
			t.Errorf("Unwrap of a tampered key: %v, want ECORRUPT", err)
		}
	})
	t.Run("empty scope", func(t *testing.T) {
		if _, _, err := p.GenerateKey(ctx, tma.KeyScope{TenantID: "t"}); tma.ErrorCode(err) != tma.EINVALID {
			t.Errorf("GenerateKey without a case: %v, want EINVALID", err)
		}
	})
	t.Run("rewrap under the same KEK", func(t *testing.T) {
		rewrapped, err := p.Rewrap(ctx, scope, wrapped, cur)
		if err != nil {
			t.Fatal(err)
		}
		if rewrapped.KEK != cur || bytes.Equal(rewrapped.Ciphertext, wrapped.Ciphertext) {
			t.Fatalf("Rewrap = %+v", rewrapped)
		}
		mustUnwrap(t, p, scope, rewrapped, key)
		other := tma.KeyScope{TenantID: scope.TenantID, CaseID: "case-2"}
		if _, err := p.Rewrap(ctx, other, wrapped, cur); tma.ErrorCode(err) != tma.ECORRUPT {
			t.Errorf("Rewrap for %+v: %v, want ECORRUPT", other, err)
		}
		if _, err := p.Unwrap(ctx, other, rewrapped); tma.ErrorCode(err) != tma.ECORRUPT {
			t.Errorf("Unwrap of the rewrapped key for %+v: %v, want ECORRUPT", other, err)
		}
	})
	if !rotates {
		return
	}
	t.Run("rotate and rewrap", func(t *testing.T) {
		next, err := p.Rotate(ctx, scope.TenantID)
		if err != nil {
			t.Fatal(err)
		}
		if next.Version != cur.Version+1 || next.KeyID != cur.KeyID || next.Provider != cur.Provider {
			t.Fatalf("Rotate from %+v = %+v", cur, next)
		}
		if now, err := p.Current(ctx, scope.TenantID); err != nil || now != next {
			t.Fatalf("Current after Rotate = %+v, %v; want %+v", now, err, next)
		}
		rewrapped, err := p.Rewrap(ctx, scope, wrapped, next)
		if err != nil {
			t.Fatal(err)
		}
		if rewrapped.KEK != next || bytes.Equal(rewrapped.Ciphertext, wrapped.Ciphertext) {
			t.Fatalf("Rewrap = %+v", rewrapped)
		}
		mustUnwrap(t, p, scope, rewrapped, key)
		mustUnwrap(t, p, scope, wrapped, key) // old wraps stay readable
		if _, w, err := p.GenerateKey(ctx, scope); err != nil || w.KEK != next {
			t.Fatalf("GenerateKey after Rotate wraps under %+v, %v", w.KEK, err)
		}
	})
}

func mustUnwrap(t *testing.T, p tma.KeyProvider, scope tma.KeyScope, w tma.WrappedKey, want []byte) {
	t.Helper()
	got, err := p.Unwrap(t.Context(), scope, w)
	if err != nil || !bytes.Equal(got, want) {
		t.Fatalf("Unwrap = %x, %v; want %x", got, err, want)
	}
}

// newKeyringFile creates a keyring file in a temporary directory.
func newKeyringFile(t *testing.T) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "keyring")
	if err := GenerateKeyringFile(path); err != nil {
		t.Fatal(err)
	}
	return path
}

func mustLoadKeyring(t *testing.T, path string) *LocalProvider {
	t.Helper()
	p, err := LoadKeyring(path)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func TestLocalProvider(t *testing.T) {
	ctx := t.Context()
	scope := tma.KeyScope{TenantID: "tenant-1", CaseID: "case-1"}

	t.Run("contract", func(t *testing.T) { testKeyProvider(t, mustLoadKeyring(t, newKeyringFile(t)), true) })

	t.Run("file mode", func(t *testing.T) {
		path := newKeyringFile(t)
		if fi, err := os.Stat(path); err != nil || fi.Mode().Perm() != 0o600 {
			t.Fatalf("generated keyring: %v, %v; want mode 0600", fi.Mode(), err)
		}
		for _, tc := range []struct {
			mode os.FileMode
			ok   bool
		}{{0o600, true}, {0o400, true}, {0o640, false}, {0o604, false}, {0o644, false}} {
			if err := os.Chmod(path, tc.mode); err != nil {
				t.Fatal(err)
			}
			_, err := LoadKeyring(path)
			if tc.ok != (err == nil) || !tc.ok && !strings.Contains(tma.ErrorMessage(err), "chmod 600") {
				t.Errorf("mode %04o: %v", tc.mode, err)
			}
		}
	})

	t.Run("generate keeps an existing file", func(t *testing.T) {
		path := newKeyringFile(t)
		before, _ := os.ReadFile(path)
		if err := GenerateKeyringFile(path); err != nil {
			t.Fatal(err)
		}
		if after, _ := os.ReadFile(path); !bytes.Equal(before, after) {
			t.Error("GenerateKeyringFile replaced an existing keyring")
		}
	})

	t.Run("rotate persists", func(t *testing.T) {
		path := newKeyringFile(t)
		p := mustLoadKeyring(t, path)
		key, wrapped, err := p.GenerateKey(ctx, scope)
		if err != nil {
			t.Fatal(err)
		}
		next, err := p.Rotate(ctx, scope.TenantID)
		if err != nil {
			t.Fatal(err)
		}
		rewrapped, _ := p.Rewrap(ctx, scope, wrapped, next)
		reloaded := mustLoadKeyring(t, path)
		if cur, _ := reloaded.Current(ctx, scope.TenantID); cur != next {
			t.Fatalf("reloaded keyring is at %+v, want %+v", cur, next)
		}
		mustUnwrap(t, reloaded, scope, rewrapped, key)
		if fi, _ := os.Stat(path); fi.Mode().Perm() != 0o600 {
			t.Errorf("rotated keyring has mode %04o", fi.Mode().Perm())
		}
		// A process that loaded the keyring earlier picks up a version
		// that another process added.
		other := mustLoadKeyring(t, path)
		v3, err := other.Rotate(ctx, scope.TenantID)
		if err != nil {
			t.Fatal(err)
		}
		w3, _ := other.Rewrap(ctx, scope, wrapped, v3)
		mustUnwrap(t, p, scope, w3, key)
	})

	t.Run("keyring from bytes", func(t *testing.T) {
		path := newKeyringFile(t)
		file := mustLoadKeyring(t, path)
		key, wrapped, _ := file.GenerateKey(ctx, scope)
		data, _ := os.ReadFile(path)
		p, err := ParseKeyring(data)
		if err != nil {
			t.Fatal(err)
		}
		mustUnwrap(t, p, scope, wrapped, key) // same keyring id from any source
		if _, err := p.Rotate(ctx, scope.TenantID); tma.ErrorCode(err) != tma.EINVALID {
			t.Errorf("Rotate of a keyring from bytes: %v, want EINVALID", err)
		}
	})

	t.Run("unknown version or keyring", func(t *testing.T) {
		p := mustLoadKeyring(t, newKeyringFile(t))
		_, wrapped, _ := p.GenerateKey(ctx, scope)
		wrapped.KEK.Version = 7
		if _, err := p.Unwrap(ctx, scope, wrapped); tma.ErrorCode(err) != tma.ENOTFOUND || !strings.Contains(err.Error(), "version 7") {
			t.Errorf("unknown version: %v, want ENOTFOUND naming version 7", err)
		}
		_, wrapped, _ = mustLoadKeyring(t, newKeyringFile(t)).GenerateKey(ctx, scope)
		if _, err := p.Unwrap(ctx, scope, wrapped); tma.ErrorCode(err) != tma.ENOTFOUND {
			t.Errorf("other keyring: %v, want ENOTFOUND", err)
		}
		wrapped.KEK.Provider = ProviderKMS
		if _, err := p.Unwrap(ctx, scope, wrapped); tma.ErrorCode(err) != tma.EINVALID {
			t.Errorf("KMS-wrapped key: %v, want EINVALID", err)
		}
	})

	t.Run("tenants have different KEKs", func(t *testing.T) {
		p := mustLoadKeyring(t, newKeyringFile(t))
		kek := func(tenant, c string) []byte {
			ref, err := p.Current(ctx, tenant)
			if err != nil {
				t.Fatal(err)
			}
			k, err := p.kek(tma.KeyScope{TenantID: tenant, CaseID: c}, ref)
			if err != nil {
				t.Fatal(err)
			}
			return k
		}
		if bytes.Equal(kek("tenant-1", "case-1"), kek("tenant-2", "case-1")) {
			t.Error("two tenants share a KEK")
		}
		if !bytes.Equal(kek("tenant-1", "case-1"), kek("tenant-1", "case-2")) {
			t.Error("the KEK depends on the case")
		}
		// Independent keys, not derived from something shared: the file
		// holds one random key per tenant and version, and no master.
		if in := p.Info(); len(in.Masters) != 0 || len(in.Tenants["tenant-1"]) != 1 || len(in.Tenants["tenant-2"]) != 1 {
			t.Errorf("keyring = %+v, want one version per tenant and no master", in)
		}
	})

	t.Run("parse errors", func(t *testing.T) {
		good := "v1 " + strings.Repeat("A", 43) + "=\n"
		for name, data := range map[string]string{
			"empty":        "# nothing\n",
			"no version":   strings.Replace(good, "v1", "1", 1),
			"version zero": strings.Replace(good, "v1", "v0", 1),
			"short key":    "v1 AAAA\n",
			"not base64":   "v1 !!!!\n",
			"duplicate":    good + good,
			"missing key":  "v1\n",
		} {
			if _, err := ParseKeyring([]byte(data)); tma.ErrorCode(err) != tma.EINVALID {
				t.Errorf("%s: %v, want EINVALID", name, err)
			}
		}
		if _, err := ParseKeyring([]byte(good)); err != nil {
			t.Errorf("valid keyring: %v", err)
		}
		if _, err := LoadKeyring(filepath.Join(t.TempDir(), "missing")); tma.ErrorCode(err) != tma.ENOTFOUND {
			t.Errorf("missing file: %v, want ENOTFOUND", err)
		}
	})
}
