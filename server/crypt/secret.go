package crypt

import (
	"context"
	"encoding/binary"

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
	out := []byte{secretFormat}
	out = appendField(out, wrapped.KEK.Provider)
	out = appendField(out, wrapped.KEK.KeyID)
	out = binary.BigEndian.AppendUint32(out, uint32(wrapped.KEK.Version))
	out = appendField(out, string(wrapped.Ciphertext))
	return append(out, rec...), nil
}

// OpenSecret implements tma.SecretSealer.
func (b *SecretBox) OpenSecret(ctx context.Context, scope tma.SecretScope, sealed []byte) ([]byte, error) {
	corrupt := &tma.Error{Code: tma.ECORRUPT, Op: "crypt.OpenSecret", Message: "A sealed secret of user " + scope.UserID + " is damaged."}
	if len(sealed) == 0 || sealed[0] != secretFormat {
		return nil, corrupt
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
	var w tma.WrappedKey
	var ok1, ok2, ok3 bool
	w.KEK.Provider, ok1 = field()
	w.KEK.KeyID, ok2 = field()
	if !ok1 || !ok2 || len(rest) < 4 {
		return nil, corrupt
	}
	w.KEK.Version = int(binary.BigEndian.Uint32(rest))
	rest = rest[4:]
	var ct string
	ct, ok3 = field()
	if !ok3 {
		return nil, corrupt
	}
	w.Ciphertext = []byte(ct)
	key, err := b.keys.Unwrap(ctx, secretKeyScope(scope), w)
	if err != nil {
		return nil, tma.Wrap("crypt.OpenSecret", err)
	}
	defer wipe(key)
	return OpenRecord(key, secretBinding(scope), rest)
}
