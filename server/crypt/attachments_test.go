package crypt

import (
	"bytes"
	"io"
	"path/filepath"
	"testing"

	"github.com/tma-portal/tma/server/tma"
)

// TestAttachmentTextBinding: an attachment's text is sealed under its own
// data key and opens only for the attachment, space and tenant it was
// sealed for; under another attachment's key it does not open either.
func TestAttachmentTextBinding(t *testing.T) {
	ctx := t.Context()
	path := filepath.Join(t.TempDir(), "kek")
	if err := GenerateKeyringFile(path); err != nil {
		t.Fatal(err)
	}
	a := NewAttachments(mustLoadKeyring(t, path))
	seal := func(ref tma.AttachmentRef) tma.WrappedKey {
		w, err := a.Seal(ctx, ref, io.Discard)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := w.Write([]byte("bytes")); err != nil {
			t.Fatal(err)
		}
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
		return w.WrappedKey()
	}
	ref := tma.AttachmentRef{TenantID: "tenant-1", SpaceID: "space-1", AttachmentID: "att-1"}
	other := tma.AttachmentRef{TenantID: "tenant-1", SpaceID: "space-1", AttachmentID: "att-2"}
	key, otherKey := seal(ref), seal(other)
	text := []byte("Der Sammelpunkt ist am Tor 3.")
	sealed, err := a.SealText(ctx, ref, key, text)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(sealed, text[:12]) {
		t.Fatal("the sealed text holds the plaintext")
	}
	got, err := a.OpenText(ctx, ref, key, sealed)
	if err != nil || !bytes.Equal(got, text) {
		t.Fatalf("OpenText = %q, %v", got, err)
	}
	for name, tc := range map[string]struct {
		ref tma.AttachmentRef
		key tma.WrappedKey
	}{
		"another attachment, its key":  {other, otherKey},
		"another space":                {tma.AttachmentRef{TenantID: "tenant-1", SpaceID: "space-2", AttachmentID: "att-1"}, key},
		"another attachment, this key": {other, key},
		"this attachment, another key": {ref, otherKey},
		"another tenant, same ids":     {tma.AttachmentRef{TenantID: "tenant-2", SpaceID: "space-1", AttachmentID: "att-1"}, key},
	} {
		if got, err := a.OpenText(ctx, tc.ref, tc.key, sealed); err == nil {
			t.Errorf("%s: opened %q", name, got)
		}
	}
}
