package crypt

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/aws-sdk-go-v2/service/kms/types"
	"github.com/aws/smithy-go"

	"github.com/tma-portal/tma/server/tma"
)

// ProviderKMS is the KEKRef.Provider of keys wrapped by a KMSProvider.
const ProviderKMS = "kms"

// KMSProvider wraps case keys with AWS KMS keys. Every wrapped key is
// bound to its tenant and case through the KMS encryption context
// {"tenant_id", "case_id"}, so KMS itself refuses to unwrap it for another
// case, and CloudTrail records which case each decryption was for.
//
// It works in one of two modes, chosen by the configured key id:
//
//   - Per tenant (the key id contains "{tenant}", e.g. "alias/tma/{tenant}"):
//     each tenant has its own KMS key, found through that alias, which
//     Current creates on the tenant's first use. A rotation creates a NEW key
//     and moves the alias to it (KMS on-demand rotation would keep the old
//     material inside the same key, and deleting that key would destroy the
//     current material too). Retire schedules the deletion of an old key.
//     KEKRef.KeyID is the key's ARN and KEKRef.Version is the tenant's key
//     generation, recorded in the key's description "tma tenant <id>
//     version <n>".
//   - Shared (any other key id): one key for every tenant, rotated on demand;
//     KMS keeps all its material versions and picks the right one from the
//     ciphertext, so KEKRef.Version is informational (1 + the number of
//     completed rotations when the key was wrapped). A shared key cannot be
//     retired for one tenant.
type KMSProvider struct {
	client *kms.Client
	keyID  string

	// DeletionWindowDays is the waiting period of ScheduleKeyDeletion when a
	// key is retired (7 to 30; 7 if 0). KMS deletes the key after it, and it
	// can be cancelled until then.
	DeletionWindowDays int32
}

var _ tma.KeyProvider = (*KMSProvider)(nil)

// tenantPlaceholder in a configured key id selects the per-tenant mode.
const tenantPlaceholder = "{tenant}"

// NewKMSProvider returns a provider for the KMS key keyID (a key id, ARN or
// alias, shared by all tenants), or for per-tenant keys if keyID is an
// alias template containing "{tenant}".
func NewKMSProvider(client *kms.Client, keyID string) *KMSProvider {
	return &KMSProvider{client: client, keyID: keyID}
}

func (p *KMSProvider) perTenant() bool { return strings.Contains(p.keyID, tenantPlaceholder) }

// keyFor is the configured key id or alias of the tenant.
func (p *KMSProvider) keyFor(tenantID string) string {
	return strings.ReplaceAll(p.keyID, tenantPlaceholder, tenantID)
}

func tenantKeyDescription(tenantID string, version int) string {
	return fmt.Sprintf("tma tenant %s version %d", tenantID, version)
}

// tenantKeyVersion reads the version from a per-tenant key's description,
// and whether the key belongs to the tenant.
func tenantKeyVersion(tenantID, description string) (int, bool) {
	rest, ok := strings.CutPrefix(description, "tma tenant "+tenantID+" version ")
	if !ok {
		return 0, false
	}
	v, err := strconv.Atoi(rest)
	return v, err == nil && v > 0
}

// Current implements tma.KeyProvider. KeyID is the key's ARN, so that
// wrapped keys stay readable when the alias moves on. In the per-tenant
// mode a tenant without a key gets one.
func (p *KMSProvider) Current(ctx context.Context, tenantID string) (tma.KEKRef, error) {
	const op = "crypt.KMSProvider.Current"
	if !p.perTenant() {
		d, err := p.client.DescribeKey(ctx, &kms.DescribeKeyInput{KeyId: &p.keyID})
		if err != nil {
			return tma.KEKRef{}, kmsError(op, err)
		}
		return p.ref(ctx, aws.ToString(d.KeyMetadata.Arn))
	}
	if tenantID == "" {
		return tma.KEKRef{}, keyErr(tma.EINTERNAL, "", op, errors.New("no tenant"))
	}
	alias := p.keyFor(tenantID)
	d, err := p.client.DescribeKey(ctx, &kms.DescribeKeyInput{KeyId: &alias})
	var notFound *types.NotFoundException
	if errors.As(err, &notFound) {
		return p.newTenantKey(ctx, tenantID, 1, false)
	} else if err != nil {
		return tma.KEKRef{}, kmsError(op, err)
	}
	return tenantRef(tenantID, d.KeyMetadata)
}

func tenantRef(tenantID string, m *types.KeyMetadata) (tma.KEKRef, error) {
	v, ok := tenantKeyVersion(tenantID, aws.ToString(m.Description))
	if !ok {
		return tma.KEKRef{}, keyErr(tma.EINTERNAL, "", "crypt.KMSProvider",
			fmt.Errorf("KMS key %s behind the alias of tenant %s is not a tma tenant key (description %q)",
				aws.ToString(m.Arn), tenantID, aws.ToString(m.Description)))
	}
	return tma.KEKRef{Provider: ProviderKMS, KeyID: aws.ToString(m.Arn), Version: v}, nil
}

// aliasTarget returns the ARN of the key that alias points to, or "".
func (p *KMSProvider) aliasTarget(ctx context.Context, alias string) string {
	d, err := p.client.DescribeKey(ctx, &kms.DescribeKeyInput{KeyId: &alias})
	if err != nil {
		return ""
	}
	return aws.ToString(d.KeyMetadata.Arn)
}

// newTenantKey creates the tenant's key of the given version and points the
// tenant's alias at it. If the alias does not exist yet (move false) and
// another process creates it first, the new key is scheduled for deletion
// and the winner's key is used.
func (p *KMSProvider) newTenantKey(ctx context.Context, tenantID string, version int, move bool) (tma.KEKRef, error) {
	const op = "crypt.KMSProvider.newTenantKey"
	alias := p.keyFor(tenantID)
	out, err := p.client.CreateKey(ctx, &kms.CreateKeyInput{Description: aws.String(tenantKeyDescription(tenantID, version))})
	if err != nil {
		return tma.KEKRef{}, kmsError(op, err)
	}
	arn := aws.ToString(out.KeyMetadata.Arn)
	if move {
		_, err = p.client.UpdateAlias(ctx, &kms.UpdateAliasInput{AliasName: &alias, TargetKeyId: &arn})
	} else {
		_, err = p.client.CreateAlias(ctx, &kms.CreateAliasInput{AliasName: &alias, TargetKeyId: &arn})
	}
	if err != nil && p.aliasTarget(ctx, alias) == arn {
		// The call did move the alias, and a retry of it failed: the new
		// key is the tenant's key now and must not be deleted.
		err = nil
	}
	if err != nil {
		// The new key wraps nothing: delete it.
		_, _ = p.client.ScheduleKeyDeletion(context.WithoutCancel(ctx), &kms.ScheduleKeyDeletionInput{KeyId: &arn, PendingWindowInDays: aws.Int32(7)})
		var exists *types.AlreadyExistsException
		if !move && errors.As(err, &exists) {
			return p.Current(ctx, tenantID)
		}
		return tma.KEKRef{}, kmsError(op, err)
	}
	return tma.KEKRef{Provider: ProviderKMS, KeyID: arn, Version: version}, nil
}

func (p *KMSProvider) ref(ctx context.Context, arn string) (tma.KEKRef, error) {
	rotations := 0
	pages := kms.NewListKeyRotationsPaginator(p.client, &kms.ListKeyRotationsInput{KeyId: &arn})
	for pages.HasMorePages() {
		page, err := pages.NextPage(ctx)
		if err != nil {
			return tma.KEKRef{}, kmsError("crypt.KMSProvider.ListKeyRotations", err)
		}
		rotations += len(page.Rotations)
	}
	return tma.KEKRef{Provider: ProviderKMS, KeyID: arn, Version: 1 + rotations}, nil
}

// Rotate implements tma.KeyProvider. Per tenant: a new KMS key, and the
// tenant's alias moves to it. Shared: an on-demand rotation; KMS rotates
// asynchronously, and the version returned counts the rotation as done.
func (p *KMSProvider) Rotate(ctx context.Context, tenantID string) (tma.KEKRef, error) {
	ref, err := p.Current(ctx, tenantID)
	if err != nil {
		return tma.KEKRef{}, err
	}
	if p.perTenant() {
		return p.newTenantKey(ctx, tenantID, ref.Version+1, true)
	}
	if _, err := p.client.RotateKeyOnDemand(ctx, &kms.RotateKeyOnDemandInput{KeyId: &ref.KeyID}); err != nil {
		return tma.KEKRef{}, kmsError("crypt.KMSProvider.Rotate", err)
	}
	ref.Version++
	return ref, nil
}

// Retire implements tma.KeyProvider by scheduling the deletion of the
// tenant's old KMS key. Only a key that belongs to the tenant (by its
// description) and is not its current key is deleted; a shared key is
// never deleted (ECONFLICT).
func (p *KMSProvider) Retire(ctx context.Context, tenantID string, ref tma.KEKRef) error {
	const op = "crypt.KMSProvider.Retire"
	if ref.Provider != ProviderKMS || ref.KeyID == "" {
		return keyErr(tma.EINVALID, "The key belongs to another key provider.", op, fmt.Errorf("provider %q", ref.Provider))
	}
	d, err := p.client.DescribeKey(ctx, &kms.DescribeKeyInput{KeyId: &ref.KeyID})
	var notFound *types.NotFoundException
	if errors.As(err, &notFound) {
		return nil // deleted already
	} else if err != nil {
		return kmsError(op, err)
	}
	m := d.KeyMetadata
	if m.KeyState == types.KeyStatePendingDeletion {
		return nil
	}
	if tenantID == "" {
		// A key shared by all tenants: deleted only once every tenant has
		// keys of its own, which the caller checked; never the configured
		// shared key, and never a tenant's key.
		if !p.perTenant() {
			return keyErr(tma.ECONFLICT, "The KMS key shared by all tenants is still the configured key.", op,
				fmt.Errorf("KMS key %s is the configured key", ref.KeyID))
		}
		if strings.HasPrefix(aws.ToString(m.Description), "tma tenant ") {
			return keyErr(tma.ENOTFOUND, msgKEKNotFound, op, fmt.Errorf("KMS key %s belongs to a tenant", ref.KeyID))
		}
		window := p.DeletionWindowDays
		if window == 0 {
			window = 7
		}
		_, err = p.client.ScheduleKeyDeletion(ctx, &kms.ScheduleKeyDeletionInput{KeyId: m.Arn, PendingWindowInDays: &window})
		return kmsError(op, err)
	}
	if _, ok := tenantKeyVersion(tenantID, aws.ToString(m.Description)); !ok || !p.perTenant() {
		return keyErr(tma.ECONFLICT, "A KMS key shared by several tenants is not deleted when one tenant retires its keys.", op,
			fmt.Errorf("KMS key %s is not a key of tenant %s", ref.KeyID, tenantID))
	}
	cur, err := p.Current(ctx, tenantID)
	if err != nil {
		return err
	}
	if cur.KeyID == aws.ToString(m.Arn) {
		return tma.Errorf(tma.ECONFLICT, "The current key version of a tenant cannot be retired; rotate first.")
	}
	window := p.DeletionWindowDays
	if window == 0 {
		window = 7
	}
	_, err = p.client.ScheduleKeyDeletion(ctx, &kms.ScheduleKeyDeletionInput{KeyId: m.Arn, PendingWindowInDays: &window})
	return kmsError(op, err)
}

// GenerateKey implements tma.KeyProvider.
func (p *KMSProvider) GenerateKey(ctx context.Context, scope tma.KeyScope) ([]byte, tma.WrappedKey, error) {
	if err := validScope(scope); err != nil {
		return nil, tma.WrappedKey{}, err
	}
	keyID := p.keyID
	if p.perTenant() {
		cur, err := p.Current(ctx, scope.TenantID)
		if err != nil {
			return nil, tma.WrappedKey{}, err
		}
		keyID = cur.KeyID
	}
	out, err := p.client.GenerateDataKey(ctx, &kms.GenerateDataKeyInput{
		KeyId:             &keyID,
		KeySpec:           types.DataKeySpecAes256,
		EncryptionContext: encryptionContext(scope),
	})
	if err != nil {
		return nil, tma.WrappedKey{}, kmsError("crypt.KMSProvider.GenerateKey", err)
	}
	var ref tma.KEKRef
	if p.perTenant() {
		var d *kms.DescribeKeyOutput
		if d, err = p.client.DescribeKey(ctx, &kms.DescribeKeyInput{KeyId: out.KeyId}); err == nil {
			ref, err = tenantRef(scope.TenantID, d.KeyMetadata)
		} else {
			err = kmsError("crypt.KMSProvider.GenerateKey", err)
		}
	} else {
		ref, err = p.ref(ctx, aws.ToString(out.KeyId))
	}
	if err == nil && len(out.Plaintext) != KeySize {
		err = tma.Errorf(tma.EINTERNAL, "KMS returned a %d-byte data key", len(out.Plaintext))
	}
	if err != nil {
		wipe(out.Plaintext)
		return nil, tma.WrappedKey{}, err
	}
	return out.Plaintext, tma.WrappedKey{KEK: ref, Ciphertext: out.CiphertextBlob}, nil
}

// Unwrap implements tma.KeyProvider. The key id is passed to KMS so that a
// ciphertext can only be decrypted by the key its KEKRef names.
func (p *KMSProvider) Unwrap(ctx context.Context, scope tma.KeyScope, w tma.WrappedKey) ([]byte, error) {
	if err := checkKMSRef(scope, w.KEK); err != nil {
		return nil, err
	}
	out, err := p.client.Decrypt(ctx, &kms.DecryptInput{
		CiphertextBlob:    w.Ciphertext,
		KeyId:             &w.KEK.KeyID,
		EncryptionContext: encryptionContext(scope),
	})
	if err != nil {
		return nil, kmsError("crypt.KMSProvider.Unwrap", err)
	}
	if len(out.Plaintext) != KeySize {
		wipe(out.Plaintext)
		return nil, keyErr(tma.ECORRUPT, msgWrapCorrupt, "crypt.KMSProvider.Unwrap",
			fmt.Errorf("wrapped key of tenant %s, scope %s is not a %d-byte key", scope.TenantID, scope.CaseID, KeySize))
	}
	return out.Plaintext, nil
}

// Rewrap implements tma.KeyProvider with ReEncrypt, so the plaintext key
// never leaves KMS.
func (p *KMSProvider) Rewrap(ctx context.Context, scope tma.KeyScope, w tma.WrappedKey, to tma.KEKRef) (tma.WrappedKey, error) {
	if err := cmp.Or(checkKMSRef(scope, w.KEK), checkKMSRef(scope, to)); err != nil {
		return tma.WrappedKey{}, err
	}
	ec := encryptionContext(scope)
	out, err := p.client.ReEncrypt(ctx, &kms.ReEncryptInput{
		CiphertextBlob:               w.Ciphertext,
		SourceKeyId:                  &w.KEK.KeyID,
		SourceEncryptionContext:      ec,
		DestinationKeyId:             &to.KeyID,
		DestinationEncryptionContext: ec,
	})
	if err != nil {
		return tma.WrappedKey{}, kmsError("crypt.KMSProvider.Rewrap", err)
	}
	return tma.WrappedKey{KEK: to, Ciphertext: out.CiphertextBlob}, nil
}

func encryptionContext(s tma.KeyScope) map[string]string {
	return map[string]string{"tenant_id": s.TenantID, "case_id": s.CaseID}
}

func checkKMSRef(scope tma.KeyScope, ref tma.KEKRef) error {
	if err := validScope(scope); err != nil {
		return err
	}
	if ref.Provider != ProviderKMS || ref.KeyID == "" {
		return keyErr(tma.EINVALID, "The key belongs to another key provider.", "crypt.checkKMSRef",
			fmt.Errorf("key is wrapped by provider %q, not %q", ref.Provider, ProviderKMS))
	}
	return nil
}

// kmsError maps a KMS failure to an error code. Failures to reach KMS are
// EUNAVAILABLE, so that callers fail closed and retry later.
func kmsError(op string, err error) error {
	if err == nil {
		return nil
	}
	var (
		notFound  *types.NotFoundException
		badCipher *types.InvalidCiphertextException
		wrongKey  *types.IncorrectKeyException
		api       smithy.APIError
		status    interface{ HTTPStatusCode() int }
	)
	e := &tma.Error{Code: tma.EUNAVAILABLE, Message: "the key management service is unavailable", Op: op, Err: err}
	switch {
	case errors.As(err, &notFound):
		e.Code, e.Message = tma.ENOTFOUND, "KMS key not found"
	case errors.As(err, &badCipher), errors.As(err, &wrongKey):
		e.Code, e.Message = tma.ECORRUPT, "wrapped key does not decrypt under its KMS key and encryption context"
	case errors.Is(err, context.Canceled):
		e.Code, e.Message = tma.EINTERNAL, ""
	case errors.As(err, &status) && status.HTTPStatusCode() >= 500:
	case errors.As(err, &api):
		switch api.ErrorCode() {
		case "ThrottlingException", "DependencyTimeoutException", "KMSInternalException",
			"KeyUnavailableException", "DisabledException", "KMSInvalidStateException":
		default: // access denied, validation: a configuration error, not an outage
			e.Code, e.Message = tma.EINTERNAL, ""
		}
	}
	return e
}
