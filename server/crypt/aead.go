package crypt

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
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
// safe where a key seals far fewer than 2^32 messages (a KEK wrapping case
// keys). Case keys seal with sealSalted instead; record and stream format 1
// used sealRandom and are still read with openRandom.
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

// Salted messages (record format 2, stream format 2) are sealed under a
// subkey of their own and carry a key commitment:
//
//	salt (32, random) || commitment (32) || AES-256-GCM ciphertext || tag (16)
//
// where subkey || commitment = HKDF-SHA256(secret = key, salt = salt,
// info = label || ad, 64 bytes), and the GCM nonce is 12 zero bytes: each
// subkey seals exactly one message, so a nonce cannot repeat under it.
const (
	saltSize   = 32
	commitSize = 32
	saltedSize = saltSize + commitSize + tagSize // overhead of a salted message
)

var zeroNonce [12]byte

// deriveSubkey returns the one-message subkey and its commitment.
func deriveSubkey(key, salt []byte, label string, ad []byte) (subkey, commitment []byte, err error) {
	if len(key) != KeySize {
		return nil, nil, tma.Errorf(tma.EINVALID, "key must be %d bytes, not %d", KeySize, len(key))
	}
	okm, err := hkdf.Key(sha256.New, key, salt, label+string(ad), KeySize+commitSize)
	if err != nil {
		return nil, nil, tma.Wrap("crypt.deriveSubkey", err)
	}
	return okm[:KeySize], okm[KeySize:], nil
}

// sealSalted encrypts plaintext under a fresh subkey of key and appends
// salt || commitment || ciphertext || tag to dst. ad is authenticated by
// GCM and is part of the derivation, so the commitment binds key, salt,
// label and ad.
func sealSalted(dst, key []byte, label string, plaintext, ad []byte) ([]byte, error) {
	var salt [saltSize]byte
	_, _ = rand.Read(salt[:]) // never fails (crypto/rand panics on failure)
	subkey, commitment, err := deriveSubkey(key, salt[:], label, ad)
	if err != nil {
		return nil, err
	}
	defer wipe(subkey)
	aead, err := newGCM(subkey)
	if err != nil {
		return nil, err
	}
	dst = append(append(dst, salt[:]...), commitment...)
	return aead.Seal(dst, zeroNonce[:], plaintext, ad), nil
}

// openSalted reverses sealSalted. The commitment is compared (in constant
// time) before anything is decrypted, so a message opens under one key
// only. Any failure to authenticate, including a too short input, is
// ok == false; a bad key is an error.
func openSalted(key []byte, label string, sealed, ad []byte) (plaintext []byte, ok bool, err error) {
	if len(key) != KeySize {
		return nil, false, tma.Errorf(tma.EINVALID, "key must be %d bytes, not %d", KeySize, len(key))
	}
	if len(sealed) < saltedSize {
		return nil, false, nil
	}
	subkey, commitment, err := deriveSubkey(key, sealed[:saltSize], label, ad)
	if err != nil {
		return nil, false, err
	}
	defer wipe(subkey)
	if subtle.ConstantTimeCompare(commitment, sealed[saltSize:saltSize+commitSize]) != 1 {
		return nil, false, nil
	}
	aead, err := newGCM(subkey)
	if err != nil {
		return nil, false, err
	}
	plaintext, err = aead.Open(nil, zeroNonce[:], sealed[saltSize+commitSize:], ad)
	return plaintext, err == nil, nil
}

// appendField appends s with a 32-bit length prefix. Associated data is
// built only from such fields, so that no two different lists of values
// can encode to the same bytes ("ab"+"c" never equals "a"+"bc").
func appendField(dst []byte, s string) []byte {
	dst = binary.BigEndian.AppendUint32(dst, uint32(len(s)))
	return append(dst, s...)
}

// wipe zeroes a key's bytes that are no longer needed. It cannot reach the
// copies that cipher.AEAD objects keep (the AES key schedule) or that the
// runtime made; doc.go says what that means.
func wipe(b []byte) { clear(b) }
