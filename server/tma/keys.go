package tma

import (
	"context"
	"time"
)

// KEKRef names one version of a key-encryption key.
type KEKRef struct {
	Provider string // "local" or "kms"
	KeyID    string // local keyring name, or KMS key id/ARN
	Version  int    // local keyring version; for KMS our own rotation counter
}

// WrappedKey is a key encrypted under a KEK, with the KEK it needs.
type WrappedKey struct {
	KEK        KEKRef
	Ciphertext []byte
}

// KeyScope binds a wrapped case key to its owner. KMS gets it as the
// encryption context; the local provider as associated data.
type KeyScope struct {
	TenantID string
	CaseID   string
}

// KeyProvider wraps and unwraps case keys with a tenant key-encryption key.
// Each tenant has KEK versions of its own, independent random keys (a
// section of the local keyring, or one KMS key per version), so that one
// tenant's keys can be destroyed without touching another's.
// Implementations never fall back to plaintext: every failure is an error
// (EUNAVAILABLE for an outage, ENOTFOUND for an unknown key, ECORRUPT for a
// ciphertext that does not authenticate).
type KeyProvider interface {
	// Current returns the tenant's KEK that new keys are wrapped under.
	Current(ctx context.Context, tenantID string) (KEKRef, error)
	// Rotate makes a new KEK version of the tenant current and returns it.
	// Versions only grow.
	Rotate(ctx context.Context, tenantID string) (KEKRef, error)
	// Retire destroys a KEK version of the tenant for good: everything
	// wrapped under it, including copies in backups, can no longer be
	// unwrapped. The caller checks that nothing live needs it. Retiring a
	// version that is already gone is not an error. With tenantID "", ref
	// is a key shared by all tenants (a master of an old local keyring, a
	// KMS key of all tenants), which the caller has checked no tenant needs;
	// ENOTFOUND if ref is not such a key.
	Retire(ctx context.Context, tenantID string, ref KEKRef) error
	// GenerateKey returns a new random 256-bit key, in plaintext and wrapped
	// under the tenant's current KEK, bound to scope. The caller wipes the
	// plaintext.
	GenerateKey(ctx context.Context, scope KeyScope) ([]byte, WrappedKey, error)
	// Unwrap decrypts w, which must have been wrapped for scope.
	Unwrap(ctx context.Context, scope KeyScope, w WrappedKey) ([]byte, error)
	// Rewrap re-encrypts w under to, a KEK of the same tenant, for the same
	// scope.
	Rewrap(ctx context.Context, scope KeyScope, w WrappedKey, to KEKRef) (WrappedKey, error)
}

// CaseKeyService hands out per-case keys and runs key operations.
type CaseKeyService interface {
	// CaseKey returns the plaintext key of a case, creating it on first use,
	// for reading. EGONE if the case was shredded, ENOTFOUND if the case does
	// not exist.
	CaseKey(ctx context.Context, tenantID, caseID string) ([]byte, error)
	// SealingKey is CaseKey for sealing new content: it is always checked
	// against the stored key, never served from a cache, so that nothing is
	// ever sealed under a key that was destroyed meanwhile.
	SealingKey(ctx context.Context, tenantID, caseID string) ([]byte, error)
	// RotateTenant makes a new KEK version current and rewraps every case
	// key of the tenant under it. A rotation that was interrupted is resumed
	// with its original target before a new one starts. progress, if not nil,
	// is called after each batch.
	RotateTenant(ctx context.Context, tenantID string, progress func(done, total int)) (KEKRef, error)
	// ShredCase destroys the case key, which makes all the case's encrypted
	// content unreadable. ECONFLICT while a legal hold is set. Backups keep
	// the wrapped key until the KEK versions that wrapped it are retired.
	ShredCase(ctx context.Context, tenantID, caseID string) error
}

// RetiredKEK is one KEK version destroyed by a retirement.
type RetiredKEK struct {
	KEK        KEKRef
	ReplacedAt time.Time // when the rotation that replaced it finished
}

// SecretScope binds a sealed server-side secret (a TOTP seed) to its owner
// and purpose: it opens only for the same tenant, user and purpose.
type SecretScope struct {
	TenantID string
	UserID   string
	Purpose  string // e.g. "totp"
}

// SecretSealer seals small credentials that the server must be able to read
// back (unlike passwords, which are hashed). Each sealing uses a fresh data
// key wrapped by the tenant's key-encryption key (local keyring or KMS), so
// a database copy alone reveals nothing.
type SecretSealer interface {
	// SealSecret returns a self-contained sealed form of plaintext.
	SealSecret(ctx context.Context, scope SecretScope, plaintext []byte) ([]byte, error)
	// OpenSecret returns the plaintext of a SealSecret result for the same
	// scope. ECORRUPT if it was altered or belongs to another scope.
	OpenSecret(ctx context.Context, scope SecretScope, sealed []byte) ([]byte, error)
	// SecretKEK returns the KEK that a sealed secret's data key is wrapped
	// under. ECORRUPT if sealed is not a sealed secret.
	SecretKEK(sealed []byte) (KEKRef, error)
	// RewrapSecret returns sealed with its data key rewrapped under to; the
	// secret itself is not decrypted.
	RewrapSecret(ctx context.Context, scope SecretScope, sealed []byte, to KEKRef) ([]byte, error)
}
