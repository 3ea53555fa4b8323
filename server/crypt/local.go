package crypt

import (
	"bufio"
	"bytes"
	"context"
	"crypto/hkdf"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"

	"github.com/tma-portal/tma/server/tma"
)

// ProviderLocal is the KEKRef.Provider of keys wrapped by a LocalProvider.
const ProviderLocal = "local"

// keyringFormat is the version of the keyring file format that is written.
const keyringFormat = 2

// LocalProvider wraps case keys with per-tenant KEKs from a local keyring
// file. Each tenant has versions of its own: independent random 256-bit
// keys, created on the tenant's first use and by Rotate, and destroyed by
// Retire, so one tenant's keys can be destroyed without touching another's.
//
// The keyring has an explicit random id (KEKRef.KeyID) stored in the file,
// so that versions can be removed. A keyring file of format 1 (lines
// "v<n> <key>": master keys shared by all tenants, with
// KEK(tenant, v) = HKDF-SHA256(master_v, info "tma kek v1 " + tenant)) is
// still read: its id is derived as before (a MAC of its lowest version), its
// masters stay usable for keys wrapped under them, and the next change
// writes format 2, keeping that id. New tenant versions are numbered above
// every master version, so a number never means two keys for one tenant.
type LocalProvider struct {
	path string // "" for a keyring given as bytes, which cannot change

	mu    sync.RWMutex
	ring  *keyring
	stamp fileStamp // of the file when it was last read
}

// keyring is the content of a keyring file.
type keyring struct {
	id      string
	format  int
	masters map[int][]byte            // format 1 master keys, shared by tenants
	tenants map[string]map[int][]byte // tenant id → version → KEK
}

// maxVersion is the highest version of the tenant or of any master, 0 if
// there is none.
func (r *keyring) maxVersion(tenantID string) int {
	v := 0
	for k := range r.masters {
		v = max(v, k)
	}
	for k := range r.tenants[tenantID] {
		v = max(v, k)
	}
	return v
}

// fileStamp tells whether a keyring file changed since it was read.
type fileStamp struct {
	size    int64
	modTime int64
}

func stampOf(path string) fileStamp {
	fi, err := os.Stat(path)
	if err != nil {
		return fileStamp{}
	}
	return fileStamp{fi.Size(), fi.ModTime().UnixNano()}
}

var _ tma.KeyProvider = (*LocalProvider)(nil)

// keyErr is an error whose user-facing message is generic: paths, modes,
// tenant, case and keyring ids go into Err, which is only logged.
func keyErr(code, message, op string, detail error) error {
	return &tma.Error{Code: code, Message: message, Op: op, Err: detail}
}

const (
	msgKeyringUnusable = "The local key file cannot be used; the server log names the problem."
	msgKEKNotFound     = "The key that protects this data is not available."
	msgWrapCorrupt     = "A stored key does not authenticate."
)

// LoadKeyring reads a keyring file. The file must be a regular file that
// neither group nor others may access (mode 0600 or stricter).
func LoadKeyring(path string) (*LocalProvider, error) {
	p := &LocalProvider{path: path}
	if err := p.reload(); err != nil {
		return nil, err
	}
	return p, nil
}

// ParseKeyring reads a keyring from bytes in the file format, for a
// keyring held in an environment variable or an SSM SecureString. Such a
// keyring cannot change: it cannot add a tenant, rotate or retire, so its
// source must be edited instead (copy a file that `tma` manages). A tenant
// without a section of its own uses the format 1 masters, if any.
func ParseKeyring(data []byte) (*LocalProvider, error) {
	r, err := parseKeyring(data)
	if err != nil {
		return nil, err
	}
	return &LocalProvider{ring: r}, nil
}

// GenerateKeyringFile creates an empty keyring file with a new random id,
// if no file exists at path. An existing file is left alone. Tenants get
// their keys on first use.
func GenerateKeyringFile(path string) error {
	if _, err := os.Lstat(path); err == nil || !errors.Is(err, fs.ErrNotExist) {
		return tma.Wrap("crypt.GenerateKeyringFile", err) // nil if it exists
	}
	id := make([]byte, 16)
	_, _ = rand.Read(id) // never fails
	r := &keyring{id: "keyring-" + hex.EncodeToString(id), format: keyringFormat,
		masters: map[int][]byte{}, tenants: map[string]map[int][]byte{}}
	// Exclusive: if two first starts race, the loser keeps the winner's
	// keyring instead of replacing one that may already wrap keys.
	err := writeFileAtomic(path, formatKeyring(r), true)
	if errors.Is(err, fs.ErrExist) {
		return nil
	}
	return err
}

// refreshIfChanged reads a file keyring again when the file changed, so
// that a long-running server sees versions that another process added or
// retired.
func (p *LocalProvider) refreshIfChanged() error {
	if p.path == "" {
		return nil
	}
	p.mu.RLock()
	changed := stampOf(p.path) != p.stamp
	p.mu.RUnlock()
	if changed {
		return p.reload()
	}
	return nil
}

// Current implements tma.KeyProvider. A tenant that has no version yet gets
// its first one, written to the keyring file; a keyring from bytes falls
// back to its format 1 masters.
func (p *LocalProvider) Current(_ context.Context, tenantID string) (tma.KEKRef, error) {
	const op = "crypt.LocalProvider.Current"
	if tenantID == "" {
		return tma.KEKRef{}, keyErr(tma.EINTERNAL, "", op, errors.New("no tenant"))
	}
	if err := p.refreshIfChanged(); err != nil {
		return tma.KEKRef{}, err
	}
	p.mu.RLock()
	own := p.ring.tenants[tenantID]
	ref := p.ref(0)
	switch {
	case len(own) > 0:
		ref.Version = slices.Max(slices.Collect(maps.Keys(own)))
	case p.path == "" && len(p.ring.masters) > 0:
		ref.Version = slices.Max(slices.Collect(maps.Keys(p.ring.masters)))
	}
	p.mu.RUnlock()
	if ref.Version > 0 {
		return ref, nil
	}
	if p.path == "" {
		return tma.KEKRef{}, keyErr(tma.ENOTFOUND, msgKEKNotFound, op,
			fmt.Errorf("the keyring from bytes has no key for tenant %s and cannot add one", tenantID))
	}
	return p.change(op, func(r *keyring) (tma.KEKRef, error) {
		if own := r.tenants[tenantID]; len(own) > 0 { // another process was first
			return p.refOf(r, slices.Max(slices.Collect(maps.Keys(own)))), nil
		}
		return p.refOf(r, addVersion(r, tenantID)), nil
	})
}

// addVersion adds a new random KEK version for the tenant and returns it.
func addVersion(r *keyring, tenantID string) int {
	v := r.maxVersion(tenantID) + 1
	if r.tenants[tenantID] == nil {
		r.tenants[tenantID] = map[int][]byte{}
	}
	k := make([]byte, KeySize)
	_, _ = rand.Read(k) // never fails
	r.tenants[tenantID][v] = k
	return v
}

func (p *LocalProvider) ref(version int) tma.KEKRef {
	return tma.KEKRef{Provider: ProviderLocal, KeyID: p.ring.id, Version: version}
}

func (p *LocalProvider) refOf(r *keyring, version int) tma.KEKRef {
	return tma.KEKRef{Provider: ProviderLocal, KeyID: r.id, Version: version}
}

// change runs fn on a fresh copy of the keyring file under an exclusive
// lock, writes the result in the current format and makes it the loaded
// keyring. The file is replaced atomically, so a crash leaves the old or the
// new keyring, never a torn one.
func (p *LocalProvider) change(op string, fn func(*keyring) (tma.KEKRef, error)) (tma.KEKRef, error) {
	if p.path == "" {
		return tma.KEKRef{}, tma.Errorf(tma.EINVALID,
			"A keyring from an environment variable or SSM cannot change itself; change its source and restart.")
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	// Other processes may change it too: the read-modify-write of the file
	// happens under an exclusive lock, so no version is ever lost.
	unlock, err := lockFile(p.path + ".lock")
	if err != nil {
		return tma.KEKRef{}, err
	}
	defer unlock()
	r, err := readKeyringFile(p.path)
	if err != nil {
		return tma.KEKRef{}, err
	}
	if r.id != p.ring.id {
		return tma.KEKRef{}, keyErr(tma.ECONFLICT, msgKeyringUnusable, op,
			fmt.Errorf("keyring file %s was replaced by another keyring (%s, loaded %s)", p.path, r.id, p.ring.id))
	}
	before := r.versions()
	ref, err := fn(r)
	if err != nil {
		return tma.KEKRef{}, err
	}
	// A change adds or retires at most one version; anything else means
	// the keyring was misread, and writing it would destroy keys.
	if after := r.versions(); after < before-1 {
		return tma.KEKRef{}, keyErr(tma.EINTERNAL, msgKeyringUnusable, op,
			fmt.Errorf("keyring change would drop %d versions", before-after))
	}
	r.format = keyringFormat
	if err := writeFileAtomic(p.path, formatKeyring(r), false); err != nil {
		return tma.KEKRef{}, err
	}
	p.ring = r
	p.stamp = stampOf(p.path)
	return ref, nil
}

// Rotate implements tma.KeyProvider: it adds a new random KEK version for
// the tenant to the keyring file and makes it the tenant's current one.
func (p *LocalProvider) Rotate(_ context.Context, tenantID string) (tma.KEKRef, error) {
	if tenantID == "" {
		return tma.KEKRef{}, keyErr(tma.EINTERNAL, "", "crypt.LocalProvider.Rotate", errors.New("no tenant"))
	}
	return p.change("crypt.LocalProvider.Rotate", func(r *keyring) (tma.KEKRef, error) {
		return p.refOf(r, addVersion(r, tenantID)), nil
	})
}

// Retire implements tma.KeyProvider: it removes the tenant's KEK version
// from the keyring file. The tenant's current version is never removed.
// With tenantID "", ref names a format 1 master version, shared by every
// tenant; it is removed too.
func (p *LocalProvider) Retire(_ context.Context, tenantID string, ref tma.KEKRef) error {
	const op = "crypt.LocalProvider.Retire"
	if ref.Provider != ProviderLocal {
		return keyErr(tma.EINVALID, "The key belongs to another key provider.", op, fmt.Errorf("provider %q", ref.Provider))
	}
	_, err := p.change(op, func(r *keyring) (tma.KEKRef, error) {
		if ref.KeyID != r.id {
			return tma.KEKRef{}, keyErr(tma.ENOTFOUND, msgKEKNotFound, op, fmt.Errorf("keyring %s is not loaded (%s is)", ref.KeyID, r.id))
		}
		if tenantID == "" {
			m := r.masters[ref.Version]
			if m == nil {
				return tma.KEKRef{}, keyErr(tma.ENOTFOUND, msgKEKNotFound, op, fmt.Errorf("no master version %d", ref.Version))
			}
			wipe(m)
			delete(r.masters, ref.Version)
			return ref, nil
		}
		own := r.tenants[tenantID]
		if own[ref.Version] == nil && r.masters[ref.Version] != nil {
			return tma.KEKRef{}, tma.Errorf(tma.ECONFLICT,
				"A master key shared by all tenants (keyring format 1) is not destroyed when one tenant retires its keys.")
		}
		if len(own) > 0 && ref.Version >= slices.Max(slices.Collect(maps.Keys(own))) {
			return tma.KEKRef{}, tma.Errorf(tma.ECONFLICT, "The current key version of a tenant cannot be retired; rotate first.")
		}
		if k := own[ref.Version]; k != nil {
			wipe(k)
			delete(own, ref.Version)
		}
		return ref, nil
	})
	return err
}

// GenerateKey implements tma.KeyProvider.
func (p *LocalProvider) GenerateKey(ctx context.Context, scope tma.KeyScope) ([]byte, tma.WrappedKey, error) {
	if err := validScope(scope); err != nil {
		return nil, tma.WrappedKey{}, err
	}
	ref, err := p.Current(ctx, scope.TenantID)
	if err != nil {
		return nil, tma.WrappedKey{}, err
	}
	key := make([]byte, KeySize)
	_, _ = rand.Read(key) // never fails
	w, err := p.wrap(scope, key, ref)
	if err != nil {
		wipe(key)
		return nil, tma.WrappedKey{}, err
	}
	return key, w, nil
}

// Unwrap implements tma.KeyProvider.
func (p *LocalProvider) Unwrap(_ context.Context, scope tma.KeyScope, w tma.WrappedKey) ([]byte, error) {
	const op = "crypt.LocalProvider.Unwrap"
	kek, err := p.kek(scope, w.KEK)
	if err != nil {
		return nil, err
	}
	defer wipe(kek)
	key, ok, err := openRandom(kek, w.Ciphertext, wrapAD(w.KEK, scope))
	switch {
	case err != nil:
		return nil, tma.Wrap(op, err)
	case !ok || len(key) != KeySize:
		return nil, keyErr(tma.ECORRUPT, msgWrapCorrupt, op,
			fmt.Errorf("wrapped key of tenant %s, scope %s does not authenticate", scope.TenantID, scope.CaseID))
	}
	return key, nil
}

// Rewrap implements tma.KeyProvider.
func (p *LocalProvider) Rewrap(ctx context.Context, scope tma.KeyScope, w tma.WrappedKey, to tma.KEKRef) (tma.WrappedKey, error) {
	key, err := p.Unwrap(ctx, scope, w)
	if err != nil {
		return tma.WrappedKey{}, err
	}
	defer wipe(key)
	return p.wrap(scope, key, to)
}

func (p *LocalProvider) wrap(scope tma.KeyScope, key []byte, to tma.KEKRef) (tma.WrappedKey, error) {
	kek, err := p.kek(scope, to)
	if err != nil {
		return tma.WrappedKey{}, err
	}
	defer wipe(kek)
	ct, err := sealRandom(nil, kek, key, wrapAD(to, scope))
	if err != nil {
		return tma.WrappedKey{}, tma.Wrap("crypt.LocalProvider.wrap", err)
	}
	return tma.WrappedKey{KEK: to, Ciphertext: ct}, nil
}

// wrapAD binds a wrapped key to its keyring, KEK version, tenant and case.
func wrapAD(ref tma.KEKRef, scope tma.KeyScope) []byte {
	ad := appendField([]byte("tma local wrap v1"), ref.KeyID)
	ad = binary.BigEndian.AppendUint64(ad, uint64(ref.Version))
	return appendField(appendField(ad, scope.TenantID), scope.CaseID)
}

// kek returns a copy of the tenant's KEK for ref: its own version, or one
// derived from a format 1 master. The caller wipes it. A file keyring is
// read again once for an unknown version, which another process may have
// just added.
func (p *LocalProvider) kek(scope tma.KeyScope, ref tma.KEKRef) ([]byte, error) {
	const op = "crypt.LocalProvider.kek"
	if err := validScope(scope); err != nil {
		return nil, err
	}
	if ref.Provider != ProviderLocal {
		return nil, keyErr(tma.EINVALID, "The key belongs to another key provider.", op, fmt.Errorf("provider %q", ref.Provider))
	}
	// A version retired by another process must stop working here too.
	if err := p.refreshIfChanged(); err != nil {
		return nil, err
	}
	lookup := func() ([]byte, bool, error) {
		p.mu.RLock()
		defer p.mu.RUnlock()
		if ref.KeyID != p.ring.id {
			return nil, false, nil
		}
		if k := p.ring.tenants[scope.TenantID][ref.Version]; k != nil {
			return bytes.Clone(k), true, nil
		}
		if m := p.ring.masters[ref.Version]; m != nil {
			k, err := hkdf.Key(sha256.New, m, nil, "tma kek v1 "+scope.TenantID, KeySize)
			return k, err == nil, err
		}
		return nil, false, nil
	}
	k, ok, err := lookup()
	if err == nil && !ok && p.path != "" {
		if err = p.reload(); err == nil {
			k, ok, err = lookup()
		}
	}
	if err != nil {
		return nil, tma.Wrap(op, err)
	}
	if ok {
		return k, nil
	}
	p.mu.RLock()
	defer p.mu.RUnlock()
	if ref.KeyID != p.ring.id {
		return nil, keyErr(tma.ENOTFOUND, msgKEKNotFound, op, fmt.Errorf("keyring %s is not loaded (the loaded keyring is %s)", ref.KeyID, p.ring.id))
	}
	return nil, keyErr(tma.ENOTFOUND, msgKEKNotFound, op,
		fmt.Errorf("keyring %s has no version %d for tenant %s (never made, or retired)", ref.KeyID, ref.Version, scope.TenantID))
}

func (p *LocalProvider) reload() error {
	stamp := stampOf(p.path)
	r, err := readKeyringFile(p.path)
	if err != nil {
		return err
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.ring != nil && r.id != p.ring.id {
		return keyErr(tma.ECONFLICT, msgKeyringUnusable, "crypt.LocalProvider.reload",
			fmt.Errorf("keyring file %s was replaced by another keyring (%s, loaded %s)", p.path, r.id, p.ring.id))
	}
	p.ring = r
	p.stamp = stamp
	return nil
}

func validScope(s tma.KeyScope) error {
	if s.TenantID == "" || s.CaseID == "" {
		return tma.Errorf(tma.EINVALID, "A key scope needs a tenant and a case.")
	}
	return nil
}

func readKeyringFile(path string) (*keyring, error) {
	const op = "crypt.LoadKeyring"
	f, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, keyErr(tma.ENOTFOUND, "The local key file does not exist; run `tma init`.", op, fmt.Errorf("keyring file %s does not exist", path))
	} else if err != nil {
		return nil, keyErr(tma.EINTERNAL, "", op, err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, keyErr(tma.EINTERNAL, "", op, err)
	}
	if !fi.Mode().IsRegular() {
		return nil, keyErr(tma.EINVALID, msgKeyringUnusable, op, fmt.Errorf("keyring %s is not a regular file", path))
	}
	if perm := fi.Mode().Perm(); perm&0o077 != 0 {
		return nil, keyErr(tma.EINVALID, "The local key file must not be accessible by group or others (chmod 600).", op,
			fmt.Errorf("keyring file %s has mode %04o", path, perm))
	}
	var buf bytes.Buffer
	if _, err := buf.ReadFrom(f); err != nil {
		return nil, keyErr(tma.EINTERNAL, "", op, err)
	}
	defer wipe(buf.Bytes())
	r, err := parseKeyring(buf.Bytes())
	if err != nil {
		return nil, keyErr(tma.ErrorCode(err), tma.ErrorMessage(err), op, fmt.Errorf("keyring file %s: %w", path, err))
	}
	return r, nil
}

// parseKeyring parses both keyring formats. Errors name the line, never the
// key material.
//
// Format 2:
//
//	format 2
//	id keyring-<32 hex digits>
//	master v<n> <base64 of 32 bytes>          (only from a format 1 file)
//	tenant <tenant id> v<n> <base64 of 32 bytes>
//
// Format 1 (no format line): "v<n> <base64 of 32 bytes>" lines, the
// masters; the id is derived from the lowest. Blank lines and lines
// starting with # are ignored in both.
func parseKeyring(data []byte) (*keyring, error) {
	r := &keyring{format: 1, masters: map[int][]byte{}, tenants: map[string]map[int][]byte{}}
	bad := func(n int, what string) error {
		return tma.Errorf(tma.EINVALID, "keyring line %d: %s", n, what)
	}
	key := func(n int, name, b64 string) (int, []byte, error) {
		v, err := strconv.Atoi(strings.TrimPrefix(name, "v"))
		if !strings.HasPrefix(name, "v") || err != nil || v < 1 {
			return 0, nil, bad(n, `want "v<version> <base64 key>"`)
		}
		k, err := base64.StdEncoding.DecodeString(strings.TrimSpace(b64))
		if err != nil || len(k) != KeySize {
			return 0, nil, bad(n, fmt.Sprintf("key must be %d bytes in base64", KeySize))
		}
		return v, k, nil
	}
	sc := bufio.NewScanner(bytes.NewReader(data))
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || line[0] == '#' {
			continue
		}
		f := strings.Fields(line)
		switch {
		case f[0] == "format" && len(f) == 2:
			if n, err := strconv.Atoi(f[1]); err != nil || n != keyringFormat {
				return nil, tma.Errorf(tma.EINVALID, "keyring format %q is not supported", f[1])
			}
			r.format = keyringFormat
		case f[0] == "id" && len(f) == 2:
			r.id = f[1]
		case f[0] == "master" && len(f) == 3:
			v, k, err := key(n, f[1], f[2])
			if err != nil {
				return nil, err
			}
			if r.masters[v] != nil {
				return nil, bad(n, fmt.Sprintf("version %d appears twice", v))
			}
			r.masters[v] = k
		case f[0] == "tenant" && len(f) == 4:
			v, k, err := key(n, f[2], f[3])
			if err != nil {
				return nil, err
			}
			if r.tenants[f[1]] == nil {
				r.tenants[f[1]] = map[int][]byte{}
			}
			if r.tenants[f[1]][v] != nil {
				return nil, bad(n, fmt.Sprintf("version %d appears twice", v))
			}
			r.tenants[f[1]][v] = k
		case strings.HasPrefix(f[0], "v") && len(f) == 2:
			v, k, err := key(n, f[0], f[1])
			if err != nil {
				return nil, err
			}
			if r.masters[v] != nil {
				return nil, bad(n, fmt.Sprintf("version %d appears twice", v))
			}
			r.masters[v] = k
		default:
			return nil, bad(n, "not a keyring line")
		}
	}
	// A line the scanner cannot take (over 64 KiB) must not silently end
	// the file: the next change would write the keyring back without the
	// tenants after it, destroying their keys.
	if err := sc.Err(); err != nil {
		return nil, keyErr(tma.EINVALID, "The keyring has a line that is too long; it cannot be read to its end.", "crypt.parseKeyring", err)
	}
	switch r.format {
	case 1:
		if len(r.masters) == 0 || len(r.tenants) > 0 || r.id != "" {
			return nil, tma.Errorf(tma.EINVALID, "keyring has no keys, or format 2 lines without a format line")
		}
		r.id = legacyKeyringID(r.masters)
	case keyringFormat:
		if !strings.HasPrefix(r.id, "keyring-") {
			return nil, tma.Errorf(tma.EINVALID, "keyring of format 2 has no id line")
		}
	}
	return r, nil
}

// versions counts every key version in r, masters and tenants'.
func (r *keyring) versions() int {
	n := len(r.masters)
	for _, t := range r.tenants {
		n += len(t)
	}
	return n
}

func formatKeyring(r *keyring) []byte {
	var b bytes.Buffer
	b.WriteString("# TMA keyring: 256-bit key-encryption keys by tenant and version. Keep it secret (mode 0600).\n")
	b.WriteString("# Written by tma; never edit a key: what is wrapped under it would be lost. `tma keys retire`\n")
	b.WriteString("# removes versions that nothing needs any more, once backups older than them have expired.\n")
	fmt.Fprintf(&b, "format %d\nid %s\n", keyringFormat, r.id)
	for _, v := range slices.Sorted(maps.Keys(r.masters)) {
		fmt.Fprintf(&b, "master v%d %s\n", v, base64.StdEncoding.EncodeToString(r.masters[v]))
	}
	for _, t := range slices.Sorted(maps.Keys(r.tenants)) {
		for _, v := range slices.Sorted(maps.Keys(r.tenants[t])) {
			fmt.Fprintf(&b, "tenant %s v%d %s\n", t, v, base64.StdEncoding.EncodeToString(r.tenants[t][v]))
		}
	}
	return b.Bytes()
}

// legacyKeyringID names a format 1 keyring by a MAC of its lowest version,
// which reveals nothing about the key.
func legacyKeyringID(keys map[int][]byte) string {
	m := hmac.New(sha256.New, keys[slices.Min(slices.Collect(maps.Keys(keys)))])
	m.Write([]byte("tma keyring id v1"))
	return "keyring-" + hex.EncodeToString(m.Sum(nil)[:8])
}

// KeyringInfo describes a keyring without its keys, for operators and
// tests: its id, format, master versions and each tenant's versions.
type KeyringInfo struct {
	ID      string
	Format  int
	Masters []int
	Tenants map[string][]int
}

// Info returns what the loaded keyring holds, without key material.
func (p *LocalProvider) Info() KeyringInfo {
	_ = p.refreshIfChanged() // on failure, the keyring last read is described
	p.mu.RLock()
	defer p.mu.RUnlock()
	in := KeyringInfo{ID: p.ring.id, Format: p.ring.format, Masters: slices.Sorted(maps.Keys(p.ring.masters)), Tenants: map[string][]int{}}
	for t, vs := range p.ring.tenants {
		in.Tenants[t] = slices.Sorted(maps.Keys(vs))
	}
	return in
}

// writeFileAtomic replaces path with data, mode 0600: temporary file in the
// same directory, fsync, rename, fsync of the directory. With exclusive it
// never replaces an existing file (fs.ErrExist).
func writeFileAtomic(path string, data []byte, exclusive bool) (err error) {
	defer wipe(data)
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, ".keyring-*") // mode 0600
	if err != nil {
		return tma.Wrap("crypt.writeKeyring", err)
	}
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(f.Name())
		}
	}()
	if _, err = f.Write(data); err != nil {
		return tma.Wrap("crypt.writeKeyring", err)
	}
	if err = f.Sync(); err != nil {
		return tma.Wrap("crypt.writeKeyring", err)
	}
	if err = f.Close(); err != nil {
		return tma.Wrap("crypt.writeKeyring", err)
	}
	if exclusive {
		// link(2) fails if path exists, unlike rename(2).
		err = os.Link(f.Name(), path)
		os.Remove(f.Name())
		if errors.Is(err, fs.ErrExist) {
			return err
		}
	} else {
		err = os.Rename(f.Name(), path)
	}
	if err != nil {
		return tma.Wrap("crypt.writeKeyring", err)
	}
	d, err := os.Open(dir)
	if err != nil {
		return tma.Wrap("crypt.writeKeyring", err)
	}
	defer d.Close()
	return tma.Wrap("crypt.writeKeyring", d.Sync())
}

// lockFile takes an exclusive advisory lock on path (created 0600), which
// serialises keyring rotations across processes on one machine.
func lockFile(path string) (unlock func(), err error) {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return nil, tma.Wrap("crypt.lockFile", err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX); err != nil {
		f.Close()
		return nil, tma.Wrap("crypt.lockFile", err)
	}
	return func() {
		_ = syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
		f.Close()
	}, nil
}
