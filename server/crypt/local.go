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

// LocalProvider wraps case keys with per-tenant KEKs derived from a local
// keyring of versioned 256-bit master keys:
//
//	KEK(tenant, v) = HKDF-SHA256(secret = master_v, salt = none, info = "tma kek v1 " + tenant)
//
// so that no two tenants share a KEK although one secret is configured.
// The keyring's id (KEKRef.KeyID) is derived from its lowest version, so the
// same keyring keeps its id whether it comes from a file, an environment
// variable or SSM; versions must therefore never be removed.
type LocalProvider struct {
	path string // "" for a keyring given as bytes, which cannot rotate

	mu      sync.RWMutex
	id      string
	keys    map[int][]byte
	current int
	stamp   fileStamp // of the file when it was last read
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

// LoadKeyring reads a keyring file. The file must be a regular file that
// neither group nor others may access (mode 0600 or stricter). Each line
// is "v<version> <base64 of 32 bytes>"; blank lines and lines starting
// with # are ignored.
func LoadKeyring(path string) (*LocalProvider, error) {
	p := &LocalProvider{path: path}
	if err := p.reload(); err != nil {
		return nil, err
	}
	return p, nil
}

// ParseKeyring reads a keyring from bytes in the file format, for a
// keyring held in an environment variable or an SSM SecureString. Such a
// keyring cannot rotate: its source must be edited instead.
func ParseKeyring(data []byte) (*LocalProvider, error) {
	keys, err := parseKeyring(data)
	if err != nil {
		return nil, err
	}
	p := &LocalProvider{}
	p.set(keys)
	return p, nil
}

// GenerateKeyringFile creates a keyring file with one random version, if
// no file exists at path. An existing file is left alone.
func GenerateKeyringFile(path string) error {
	if _, err := os.Lstat(path); err == nil || !errors.Is(err, fs.ErrNotExist) {
		return tma.Wrap("crypt.GenerateKeyringFile", err)
	}
	key := make([]byte, KeySize)
	_, _ = rand.Read(key) // never fails
	defer wipe(key)
	// Exclusive: if two first starts race, the loser keeps the winner's
	// keyring instead of replacing one that may already wrap keys.
	err := writeFileAtomic(path, formatKeyring(map[int][]byte{1: key}), true)
	if errors.Is(err, fs.ErrExist) {
		return nil
	}
	return err
}

// Current implements tma.KeyProvider. A file keyring is read again when
// the file changed, so that a long-running server wraps new keys under the
// version that `tma keys rotate` in another process just added.
func (p *LocalProvider) Current(context.Context) (tma.KEKRef, error) {
	if p.path != "" {
		p.mu.RLock()
		changed := stampOf(p.path) != p.stamp
		p.mu.RUnlock()
		if changed {
			if err := p.reload(); err != nil {
				return tma.KEKRef{}, err
			}
		}
	}
	p.mu.RLock()
	defer p.mu.RUnlock()
	return p.ref(p.current), nil
}

func (p *LocalProvider) ref(version int) tma.KEKRef {
	return tma.KEKRef{Provider: ProviderLocal, KeyID: p.id, Version: version}
}

// Rotate appends a new master key version to the keyring file and makes it
// current. The file is replaced atomically, so a crash leaves the old or
// the new keyring, never a torn one.
func (p *LocalProvider) Rotate(context.Context) (tma.KEKRef, error) {
	if p.path == "" {
		return tma.KEKRef{}, tma.Errorf(tma.EINVALID,
			"a keyring from an environment variable or SSM cannot rotate itself; add a version to its source and restart")
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	// Other processes may rotate too: the read-modify-write of the file
	// happens under an exclusive lock, so no version is ever lost.
	unlock, err := lockFile(p.path + ".lock")
	if err != nil {
		return tma.KEKRef{}, err
	}
	defer unlock()
	keys, err := readKeyringFile(p.path) // another process may have rotated it
	if err != nil {
		return tma.KEKRef{}, err
	}
	if id := keyringID(keys); id != p.id {
		return tma.KEKRef{}, tma.Errorf(tma.ECONFLICT, "keyring file %s was replaced by another keyring (%s, loaded %s)", p.path, id, p.id)
	}
	version := slices.Max(slices.Collect(maps.Keys(keys))) + 1
	keys[version] = make([]byte, KeySize)
	_, _ = rand.Read(keys[version])
	if err := writeFileAtomic(p.path, formatKeyring(keys), false); err != nil {
		return tma.KEKRef{}, err
	}
	p.set(keys)
	p.stamp = stampOf(p.path)
	return p.ref(version), nil
}

// GenerateKey implements tma.KeyProvider.
func (p *LocalProvider) GenerateKey(ctx context.Context, scope tma.KeyScope) ([]byte, tma.WrappedKey, error) {
	ref, err := p.Current(ctx)
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
	kek, err := p.kek(scope, w.KEK)
	if err != nil {
		return nil, err
	}
	defer wipe(kek)
	key, ok, err := openRandom(kek, w.Ciphertext, wrapAD(w.KEK, scope))
	switch {
	case err != nil:
		return nil, tma.Wrap("crypt.LocalProvider.Unwrap", err)
	case !ok || len(key) != KeySize:
		return nil, tma.Errorf(tma.ECORRUPT, "wrapped key of case %s does not authenticate", scope.CaseID)
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

// kek derives the tenant's KEK for ref. The caller wipes it.
func (p *LocalProvider) kek(scope tma.KeyScope, ref tma.KEKRef) ([]byte, error) {
	if err := validScope(scope); err != nil {
		return nil, err
	}
	if ref.Provider != ProviderLocal {
		return nil, tma.Errorf(tma.EINVALID, "key is wrapped by provider %q, not %q", ref.Provider, ProviderLocal)
	}
	master, err := p.master(ref)
	if err != nil {
		return nil, err
	}
	kek, err := hkdf.Key(sha256.New, master, nil, "tma kek v1 "+scope.TenantID, KeySize)
	return kek, tma.Wrap("crypt.LocalProvider.kek", err)
}

// master returns the master key of ref. A file keyring is read again once
// for an unknown version, which another process may have just added.
func (p *LocalProvider) master(ref tma.KEKRef) ([]byte, error) {
	lookup := func() ([]byte, bool) {
		p.mu.RLock()
		defer p.mu.RUnlock()
		k, ok := p.keys[ref.Version]
		return k, ok && ref.KeyID == p.id
	}
	k, ok := lookup()
	if !ok && p.path != "" {
		if err := p.reload(); err != nil {
			return nil, err
		}
		k, ok = lookup()
	}
	if ok {
		return k, nil
	}
	p.mu.RLock()
	defer p.mu.RUnlock()
	if ref.KeyID != p.id {
		return nil, tma.Errorf(tma.ENOTFOUND, "keyring %s is not loaded (the loaded keyring is %s)", ref.KeyID, p.id)
	}
	return nil, tma.Errorf(tma.ENOTFOUND, "keyring %s has no version %d", ref.KeyID, ref.Version)
}

func (p *LocalProvider) reload() error {
	stamp := stampOf(p.path)
	keys, err := readKeyringFile(p.path)
	if err != nil {
		return err
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.id != "" && keyringID(keys) != p.id {
		return tma.Errorf(tma.ECONFLICT, "keyring file %s was replaced by another keyring", p.path)
	}
	p.set(keys)
	p.stamp = stamp
	return nil
}

func (p *LocalProvider) set(keys map[int][]byte) {
	p.keys, p.id = keys, keyringID(keys)
	p.current = slices.Max(slices.Collect(maps.Keys(keys)))
}

func validScope(s tma.KeyScope) error {
	if s.TenantID == "" || s.CaseID == "" {
		return tma.Errorf(tma.EINVALID, "key scope needs a tenant and a case")
	}
	return nil
}

func readKeyringFile(path string) (map[int][]byte, error) {
	f, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, tma.Errorf(tma.ENOTFOUND, "keyring file %s does not exist", path)
	} else if err != nil {
		return nil, tma.Wrap("crypt.LoadKeyring", err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, tma.Wrap("crypt.LoadKeyring", err)
	}
	if !fi.Mode().IsRegular() {
		return nil, tma.Errorf(tma.EINVALID, "keyring %s is not a regular file", path)
	}
	if perm := fi.Mode().Perm(); perm&0o077 != 0 {
		return nil, tma.Errorf(tma.EINVALID, "keyring file %s has mode %04o; it must not be accessible by group or others (chmod 600)", path, perm)
	}
	var buf bytes.Buffer
	if _, err := buf.ReadFrom(f); err != nil {
		return nil, tma.Wrap("crypt.LoadKeyring", err)
	}
	defer wipe(buf.Bytes())
	keys, err := parseKeyring(buf.Bytes())
	if err != nil {
		return nil, tma.Wrap("crypt.LoadKeyring "+path, err)
	}
	return keys, nil
}

// parseKeyring parses the keyring format. Errors name the line, never the
// key material.
func parseKeyring(data []byte) (map[int][]byte, error) {
	keys := make(map[int][]byte)
	sc := bufio.NewScanner(bytes.NewReader(data))
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || line[0] == '#' {
			continue
		}
		name, b64, _ := strings.Cut(line, " ")
		v, err := strconv.Atoi(strings.TrimPrefix(name, "v"))
		if !strings.HasPrefix(name, "v") || err != nil || v < 1 {
			return nil, tma.Errorf(tma.EINVALID, "keyring line %d: want \"v<version> <base64 key>\"", n)
		}
		key, err := base64.StdEncoding.DecodeString(strings.TrimSpace(b64))
		if err != nil || len(key) != KeySize {
			return nil, tma.Errorf(tma.EINVALID, "keyring line %d: key must be %d bytes in base64", n, KeySize)
		}
		if keys[v] != nil {
			return nil, tma.Errorf(tma.EINVALID, "keyring line %d: version %d appears twice", n, v)
		}
		keys[v] = key
	}
	if len(keys) == 0 {
		return nil, tma.Errorf(tma.EINVALID, "keyring has no keys")
	}
	return keys, nil
}

func formatKeyring(keys map[int][]byte) []byte {
	var b bytes.Buffer
	b.WriteString("# TMA keyring: 256-bit master keys by version. Keep it secret (mode 0600).\n")
	b.WriteString("# Never change or remove a version: keys wrapped under it would be lost.\n")
	for _, v := range slices.Sorted(maps.Keys(keys)) {
		fmt.Fprintf(&b, "v%d %s\n", v, base64.StdEncoding.EncodeToString(keys[v]))
	}
	return b.Bytes()
}

// keyringID names a keyring by a MAC of its lowest version, which reveals
// nothing about the key.
func keyringID(keys map[int][]byte) string {
	m := hmac.New(sha256.New, keys[slices.Min(slices.Collect(maps.Keys(keys)))])
	m.Write([]byte("tma keyring id v1"))
	return "keyring-" + hex.EncodeToString(m.Sum(nil)[:8])
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
