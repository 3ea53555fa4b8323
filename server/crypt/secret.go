package crypt

import (
	"context"
	"encoding/binary"
	"fmt"

	"github.com/tma-portal/tma/server/tma"
)

// secretFormat is the first byte of a sealed secret.
const secretFormat byte = 1

// SecretBox seals server-side credentials (TOTP seeds) with envelope
// encryption: a fresh data key per sealing, wrapped by the tenant KEK of the
// key provider for the scope "user:<id>:<purpose>", and the secret sealed
// under it with the record format, bound to tenant, user and purpose.
//
// Layout: format (1) || provider || key id || version (uint32) || wrapped key
// || sealed record, where each variable field has a uint32 length prefix.
type SecretBox struct{ keys tma.KeyProvider }

var _ tma.SecretSealer = (*SecretBox)(nil)

// NewSecretBox returns a SecretBox on the key provider.
func NewSecretBox(keys tma.KeyProvider) *SecretBox { return &SecretBox{keys: keys} }

// secretKeyScope is the key scope of a secret's data key: KMS sees it as the
// encryption context, the local provider as associated data.
func secretKeyScope(s tma.SecretScope) tma.KeyScope {
	return tma.KeyScope{TenantID: s.TenantID, CaseID: "user:" + s.UserID + ":" + s.Purpose}
}

func secretBinding(s tma.SecretScope) RecordBinding {
	return RecordBinding{TenantID: s.TenantID, Table: "users", RowID: s.UserID, Field: s.Purpose}
}

// SealSecret implements tma.SecretSealer.
func (b *SecretBox) SealSecret(ctx context.Context, scope tma.SecretScope, plaintext []byte) ([]byte, error) {
	if scope.TenantID == "" || scope.UserID == "" || scope.Purpose == "" {
		return nil, tma.Errorf(tma.EINTERNAL, "secret scope needs a tenant, a user and a purpose")
	}
	key, wrapped, err := b.keys.GenerateKey(ctx, secretKeyScope(scope))
	if err != nil {
		return nil, tma.Wrap("crypt.SealSecret", err)
	}
	defer wipe(key)
	rec, err := SealRecord(key, secretBinding(scope), plaintext)
	if err != nil {
		return nil, err
	}
	return formatSecret(wrapped, rec), nil
}

// parseSecret splits a sealed secret into its wrapped data key and the
// sealed record.
func parseSecret(sealed []byte) (tma.WrappedKey, []byte, bool) {
	var w tma.WrappedKey
	if len(sealed) == 0 || sealed[0] != secretFormat {
		return w, nil, false
	}
	rest := sealed[1:]
	field := func() (string, bool) {
		if len(rest) < 4 {
			return "", false
		}
		n := binary.BigEndian.Uint32(rest)
		if uint64(len(rest)-4) < uint64(n) {
			return "", false
		}
		f := string(rest[4 : 4+n])
		rest = rest[4+n:]
		return f, true
	}
	var ok1, ok2, ok3 bool
	w.KEK.Provider, ok1 = field()
	w.KEK.KeyID, ok2 = field()
	if !ok1 || !ok2 || len(rest) < 4 {
		return w, nil, false
	}
	w.KEK.Version = int(binary.BigEndian.Uint32(rest))
	rest = rest[4:]
	var ct string
	if ct, ok3 = field(); !ok3 {
		return w, nil, false
	}
	w.Ciphertext = []byte(ct)
	return w, rest, true
}

func formatSecret(w tma.WrappedKey, rec []byte) []byte {
	out := []byte{secretFormat}
	out = appendField(out, w.KEK.Provider)
	out = appendField(out, w.KEK.KeyID)
	out = binary.BigEndian.AppendUint32(out, uint32(w.KEK.Version))
	out = appendField(out, string(w.Ciphertext))
	return append(out, rec...)
}

// errSecretCorrupt names the user only in the logged part.
func errSecretCorrupt(op, userID string) error {
	return keyErr(tma.ECORRUPT, "A sealed secret is damaged.", op, fmt.Errorf("sealed secret of user %s does not parse", userID))
}

// OpenSecret implements tma.SecretSealer.
func (b *SecretBox) OpenSecret(ctx context.Context, scope tma.SecretScope, sealed []byte) ([]byte, error) {
	w, rec, ok := parseSecret(sealed)
	if !ok {
		return nil, errSecretCorrupt("crypt.OpenSecret", scope.UserID)
	}
	key, err := b.keys.Unwrap(ctx, secretKeyScope(scope), w)
	if err != nil {
		return nil, tma.Wrap("crypt.OpenSecret", err)
	}
	defer wipe(key)
	return OpenRecord(key, secretBinding(scope), rec)
}

// SecretKEK implements tma.SecretSealer.
func (b *SecretBox) SecretKEK(sealed []byte) (tma.KEKRef, error) {
	w, _, ok := parseSecret(sealed)
	if !ok {
		return tma.KEKRef{}, errSecretCorrupt("crypt.SecretKEK", "?")
	}
	return w.KEK, nil
}

// RewrapSecret implements tma.SecretSealer: only the data key is rewrapped
// (with the provider's Rewrap, which KMS does without revealing it).
func (b *SecretBox) RewrapSecret(ctx context.Context, scope tma.SecretScope, sealed []byte, to tma.KEKRef) ([]byte, error) {
	w, rec, ok := parseSecret(sealed)
	if !ok {
		return nil, errSecretCorrupt("crypt.RewrapSecret", scope.UserID)
	}
	nw, err := b.keys.Rewrap(ctx, secretKeyScope(scope), w, to)
	if err != nil {
		return nil, tma.Wrap("crypt.RewrapSecret", err)
	}
	return formatSecret(nw, rec), nil
}
