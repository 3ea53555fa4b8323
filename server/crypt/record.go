package crypt

import "github.com/tma-portal/tma/server/tma"

// recordFormat is the first byte of every sealed record, so that the format
// can change without guessing.
const recordFormat byte = 1

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

func (b RecordBinding) ad() []byte {
	ad := append(make([]byte, 0, 64), "tma record v1"...)
	ad = append(ad, recordFormat)
	for _, s := range [...]string{b.TenantID, b.CaseID, b.Table, b.RowID, b.Field} {
		ad = appendField(ad, s)
	}
	return ad
}

// SealRecord encrypts a short field (report text, a note, a rationale) under
// the case key. The result is format byte || nonce || ciphertext || tag.
func SealRecord(caseKey []byte, b RecordBinding, plaintext []byte) ([]byte, error) {
	sealed, err := sealRandom([]byte{recordFormat}, caseKey, plaintext, b.ad())
	if err != nil {
		return nil, tma.Wrap("crypt.SealRecord", err)
	}
	return sealed, nil
}

// OpenRecord decrypts a field sealed by SealRecord for the same binding.
// ECORRUPT if it was altered, moved or sealed under another key.
func OpenRecord(caseKey []byte, b RecordBinding, sealed []byte) ([]byte, error) {
	if len(sealed) == 0 || sealed[0] != recordFormat {
		return nil, recordCorrupt(b, "has an unknown format")
	}
	plaintext, ok, err := openRandom(caseKey, sealed[1:], b.ad())
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
