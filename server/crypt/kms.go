package crypt

import (
	"cmp"
	"context"
	"errors"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/aws-sdk-go-v2/service/kms/types"
	"github.com/aws/smithy-go"

	"github.com/tma-portal/tma/server/tma"
)

// ProviderKMS is the KEKRef.Provider of keys wrapped by a KMSProvider.
const ProviderKMS = "kms"

// KMSProvider wraps case keys with an AWS KMS key. Every wrapped key is
// bound to its tenant and case through the KMS encryption context
// {"tenant_id", "case_id"}, so KMS itself refuses to unwrap it for another
// case, and CloudTrail records which case each decryption was for.
//
// KMS keeps all key material versions of a key and picks the right one from
// the ciphertext, so KEKRef.Version is informational: 1 + the number of
// completed rotations when the key was wrapped.
type KMSProvider struct {
	client *kms.Client
	keyID  string
}

var _ tma.KeyProvider = (*KMSProvider)(nil)

// NewKMSProvider returns a provider for the KMS key keyID (a key id, ARN or
// alias) that new keys are wrapped under.
func NewKMSProvider(client *kms.Client, keyID string) *KMSProvider {
	return &KMSProvider{client: client, keyID: keyID}
}

// Current implements tma.KeyProvider. KeyID is the key's ARN, so that
// wrapped keys stay readable if an alias is later moved.
func (p *KMSProvider) Current(ctx context.Context) (tma.KEKRef, error) {
	d, err := p.client.DescribeKey(ctx, &kms.DescribeKeyInput{KeyId: &p.keyID})
	if err != nil {
		return tma.KEKRef{}, kmsError("crypt.KMSProvider.Current", err)
	}
	return p.ref(ctx, aws.ToString(d.KeyMetadata.Arn))
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

// Rotate implements tma.KeyProvider with an on-demand rotation. KMS
// rotates asynchronously; the version returned counts the rotation as done.
func (p *KMSProvider) Rotate(ctx context.Context) (tma.KEKRef, error) {
	ref, err := p.Current(ctx)
	if err != nil {
		return tma.KEKRef{}, err
	}
	if _, err := p.client.RotateKeyOnDemand(ctx, &kms.RotateKeyOnDemandInput{KeyId: &ref.KeyID}); err != nil {
		return tma.KEKRef{}, kmsError("crypt.KMSProvider.Rotate", err)
	}
	ref.Version++
	return ref, nil
}

// GenerateKey implements tma.KeyProvider.
func (p *KMSProvider) GenerateKey(ctx context.Context, scope tma.KeyScope) ([]byte, tma.WrappedKey, error) {
	if err := validScope(scope); err != nil {
		return nil, tma.WrappedKey{}, err
	}
	out, err := p.client.GenerateDataKey(ctx, &kms.GenerateDataKeyInput{
		KeyId:             &p.keyID,
		KeySpec:           types.DataKeySpecAes256,
		EncryptionContext: encryptionContext(scope),
	})
	if err != nil {
		return nil, tma.WrappedKey{}, kmsError("crypt.KMSProvider.GenerateKey", err)
	}
	ref, err := p.ref(ctx, aws.ToString(out.KeyId))
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
		return nil, tma.Errorf(tma.ECORRUPT, "wrapped key of case %s is not a %d-byte key", scope.CaseID, KeySize)
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
		return tma.Errorf(tma.EINVALID, "key is wrapped by provider %q, not %q", ref.Provider, ProviderKMS)
	}
	return nil
}

// kmsError maps a KMS failure to an error code. Failures to reach KMS are
// EUNAVAILABLE, so that callers fail closed and retry later.
func kmsError(op string, err error) error {
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
