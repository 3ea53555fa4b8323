package crypt

import (
	"bytes"
	"testing"

	"github.com/tma-portal/tma/server/tma"
)

func TestRecordBindsToRow(t *testing.T) {
	key := testKey("case")
	b := RecordBinding{TenantID: "tenant-1", CaseID: "case-1", Table: "notes", RowID: "row-1", Field: "body"}
	plaintext := []byte("the subject was seen at the gate")
	sealed, err := SealRecord(key, b, plaintext)
	if err != nil {
		t.Fatal(err)
	}
	if got, err := OpenRecord(key, b, sealed); err != nil || !bytes.Equal(got, plaintext) {
		t.Fatalf("OpenRecord = %q, %v", got, err)
	}
	if again, _ := SealRecord(key, b, plaintext); bytes.Equal(again, sealed) {
		t.Error("two seals of the same field are equal; salts are not random")
	}

	moved := func(f func(*RecordBinding)) RecordBinding { m := b; f(&m); return m }
	flip := func(i int) []byte { c := bytes.Clone(sealed); c[i] ^= 1; return c }
	tests := []struct {
		name   string
		key    []byte
		b      RecordBinding
		sealed []byte
	}{
		{"another row", key, moved(func(m *RecordBinding) { m.RowID = "row-2" }), sealed},
		{"another field", key, moved(func(m *RecordBinding) { m.Field = "title" }), sealed},
		{"another table", key, moved(func(m *RecordBinding) { m.Table = "reports" }), sealed},
		{"another case", key, moved(func(m *RecordBinding) { m.CaseID = "case-2" }), sealed},
		{"another tenant", key, moved(func(m *RecordBinding) { m.TenantID = "tenant-2" }), sealed},
		{"fields shifted", key, moved(func(m *RecordBinding) { m.Table, m.RowID = "notesrow", "-1" }), sealed},
		{"another case key", testKey("other"), b, sealed},
		{"format byte", key, b, flip(0)},
		{"salt", key, b, flip(1)},
		{"commitment", key, b, flip(1 + saltSize)},
		{"commitment, last byte", key, b, flip(saltSize + commitSize)},
		{"ciphertext", key, b, flip(1 + saltSize + commitSize)},
		{"tag", key, b, flip(len(sealed) - 1)},
		{"truncated", key, b, sealed[:len(sealed)-1]},
		{"shorter than a nonce", key, b, sealed[:5]},
		{"empty", key, b, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got, err := OpenRecord(tc.key, tc.b, tc.sealed); tma.ErrorCode(err) != tma.ECORRUPT {
				t.Fatalf("OpenRecord = %q, %v; want ECORRUPT", got, err)
			}
		})
	}
	if _, err := SealRecord(key[:31], b, plaintext); tma.ErrorCode(err) != tma.EINVALID {
		t.Errorf("31-byte key: %v, want EINVALID", err)
	}
}
