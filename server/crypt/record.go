package crypt

import "github.com/tma-portal/tma/server/tma"

// Record formats: the first byte of every sealed record, so that the format
// can change without guessing. SealRecord writes format 2; OpenRecord reads
// both. doc.go describes them byte by byte.
const (
	recordFormatV1 byte = 1 // random nonce under the case key; read only
	recordFormat   byte = 2 // salted subkey of the case key with a key commitment
	recordLabel         = "tma record v2 subkey"
)

// RecordBinding names the one place a sealed field may live. A ciphertext
// copied to another tenant, case, table, row or field does not open. Records
// that keep versions put the version into RowID (for example "<id>@3").
type RecordBinding struct {
	TenantID string
	CaseID   string
	Table    string
	RowID    string
	Field    string
}

// ad returns the associated data of a record of the given format.
func (b RecordBinding) ad(format byte) []byte {
	ad := append(make([]byte, 0, 64), "tma record v"...)
	ad = append(ad, '0'+format, format)
	for _, s := range [...]string{b.TenantID, b.CaseID, b.Table, b.RowID, b.Field} {
		ad = appendField(ad, s)
	}
	return ad
}

// SealRecord encrypts a short field (report text, a note, a rationale) under
// a subkey of the case key made for this one record. The result is
// 0x02 || salt || commitment || ciphertext || tag.
func SealRecord(caseKey []byte, b RecordBinding, plaintext []byte) ([]byte, error) {
	sealed, err := sealSalted([]byte{recordFormat}, caseKey, recordLabel, plaintext, b.ad(recordFormat))
	if err != nil {
		return nil, tma.Wrap("crypt.SealRecord", err)
	}
	return sealed, nil
}

// OpenRecord decrypts a field sealed by SealRecord (either format) for the
// same binding. ECORRUPT if it was altered, moved or sealed under another key.
func OpenRecord(caseKey []byte, b RecordBinding, sealed []byte) ([]byte, error) {
	var plaintext []byte
	var ok bool
	var err error
	switch {
	case len(sealed) == 0:
		return nil, recordCorrupt(b, "is empty")
	case sealed[0] == recordFormat:
		plaintext, ok, err = openSalted(caseKey, recordLabel, sealed[1:], b.ad(recordFormat))
	case sealed[0] == recordFormatV1:
		plaintext, ok, err = openRandom(caseKey, sealed[1:], b.ad(recordFormatV1))
	default:
		return nil, recordCorrupt(b, "has an unknown format")
	}
	if err != nil {
		return nil, tma.Wrap("crypt.OpenRecord", err)
	}
	if !ok {
		return nil, recordCorrupt(b, "does not authenticate")
	}
	return plaintext, nil
}

func recordCorrupt(b RecordBinding, reason string) error {
	return &tma.Error{
		Code:    tma.ECORRUPT,
		Op:      "crypt.OpenRecord",
		Message: "encrypted field " + b.Table + "." + b.Field + " of row " + b.RowID + " " + reason,
	}
}

// DigestBinding is where the sealed SHA-256 of a blob's plaintext
// (Writer.Sum) lives: the blobs row of the blob, field sha256. A digest of
// plaintext is never stored in clear: sealed, it reveals nothing without the
// case key and is shredded with the case.
func DigestBinding(tenantID, caseID, blobID string) RecordBinding {
	return RecordBinding{TenantID: tenantID, CaseID: caseID, Table: "blobs", RowID: blobID, Field: "sha256"}
}
