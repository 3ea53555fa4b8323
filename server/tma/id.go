package tma

import (
	"crypto/rand"
	"fmt"
)

// NewID returns a random (version 4) UUID. Identifiers that appear in URLs
// or name blobs are random so that they reveal neither existence nor volume.
func NewID() string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // never fails (crypto/rand panics on failure)
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:])
}

// ValidID reports whether s looks like an id made by NewID or PostgreSQL's
// gen_random_uuid: 36 characters of lower-case hex and dashes.
func ValidID(s string) bool {
	if len(s) != 36 {
		return false
	}
	for i, c := range s {
		switch i {
		case 8, 13, 18, 23:
			if c != '-' {
				return false
			}
		default:
			if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
				return false
			}
		}
	}
	return true
}
