package crypt

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/binary"

	"github.com/tma-portal/tma/server/tma"
)

// KeySize is the size of every symmetric key in the hierarchy: KEKs, case
// keys and data keys are all AES-256 keys.
const KeySize = 32

// newGCM returns AES-256-GCM under key. Only 32-byte keys are accepted, so
// that a truncated or mixed-up key can never silently select AES-128.
func newGCM(key []byte) (cipher.AEAD, error) {
	if len(key) != KeySize {
		return nil, tma.Errorf(tma.EINVALID, "key must be %d bytes, not %d", KeySize, len(key))
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, tma.Wrap("crypt.newGCM", err)
	}
	return cipher.NewGCM(block)
}

// sealRandom encrypts plaintext under key with a random 96-bit nonce and
// returns nonce || ciphertext || tag, appended to dst. Random nonces are
// safe here because each key seals far fewer than 2^32 messages.
func sealRandom(dst, key, plaintext, ad []byte) ([]byte, error) {
	aead, err := newGCM(key)
	if err != nil {
		return nil, err
	}
	nonce := make([]byte, aead.NonceSize())
	_, _ = rand.Read(nonce) // never fails (crypto/rand panics on failure)
	dst = append(dst, nonce...)
	return aead.Seal(dst, nonce, plaintext, ad), nil
}

// openRandom reverses sealRandom. Any failure to authenticate, including a
// too short input, is reported as ok == false; a bad key is an error.
func openRandom(key, sealed, ad []byte) (plaintext []byte, ok bool, err error) {
	aead, err := newGCM(key)
	if err != nil {
		return nil, false, err
	}
	if len(sealed) < aead.NonceSize()+aead.Overhead() {
		return nil, false, nil
	}
	n := aead.NonceSize()
	plaintext, err = aead.Open(nil, sealed[:n], sealed[n:], ad)
	return plaintext, err == nil, nil
}

// appendField appends s with a 32-bit length prefix. Associated data is
// built only from such fields, so that no two different lists of values
// can encode to the same bytes ("ab"+"c" never equals "a"+"bc").
func appendField(dst []byte, s string) []byte {
	dst = binary.BigEndian.AppendUint32(dst, uint32(len(s)))
	return append(dst, s...)
}

// wipe zeroes key material that is no longer needed.
func wipe(b []byte) { clear(b) }
