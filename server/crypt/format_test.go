package crypt

import (
	"bytes"
	"encoding/hex"
	"io"
	"testing"

	"github.com/tma-portal/tma/server/tma"
)

// Format 1 data, written by the code before format 2 (commit ebac66f) under
// testKey("case"): a stream of testDoc("doc-v1") and a record.
const (
	goldenStreamV1     = "544d41530101000100009fe401e0c8c7f64c3cb03af0f33293bc263d841f83b06d222b6aa2a7d11498c866599f281295cc285e5fd1b755109f3c2d9366906da8df6c3e9f19140993ca0051861a66aee6fb85719edbb3c42e6f490e5afbb55e83f46d4d3169e48ef1da0bb2887b36cb612247dac9173cb80641babd142c124b99c764384fe8b2"
	goldenStreamV1Text = "ALLEGATION WITHDRAWN. Sealed by format 1."
	goldenRecordV1     = "01397616d74d952bc72a5d5d5177a0aec8808cdb59e0916ab94880289fb8fe5b2bb7e2197b236e4d8dc46cefb526a9a7c14f01206d4fd9dfabf6468ee2"
	goldenRecordV1Text = "a note sealed by record format 1"
)

var goldenRecordBinding = RecordBinding{TenantID: "tenant-1", CaseID: "case-1", Table: "notes", RowID: "row-1", Field: "body"}

func TestStreamOpensFormat1(t *testing.T) {
	key, b := testKey("case"), testDoc("doc-v1")
	ct, _ := hex.DecodeString(goldenStreamV1)
	id := idOf(ct, b)
	if got, err := openAll(key, b, id, bytes.NewReader(ct)); err != nil || string(got) != goldenStreamV1Text {
		t.Fatalf("format 1 stream: %q, %v", got, err)
	}
	r, err := NewRangeReader(bytes.NewReader(ct), int64(len(ct)), key, b, id, 11, 9)
	if err != nil {
		t.Fatal(err)
	}
	if got, err := io.ReadAll(r); err != nil || string(got) != "WITHDRAWN" {
		t.Fatalf("format 1 range: %q, %v", got, err)
	}
	for _, at := range []int{offFormat, offKeyScheme, v1OffWrapNonce, v1OffWrappedKey, v1HeaderSize - 1, v1HeaderSize, len(ct) - 1} {
		c := bytes.Clone(ct)
		c[at] ^= 1
		for _, id := range [][]byte{id, idOf(c, b)} {
			if got, err := openAll(key, b, id, bytes.NewReader(c)); tma.ErrorCode(err) != tma.ECORRUPT || len(got) > 0 {
				t.Errorf("format 1, bit %d flipped: %d bytes, %v; want ECORRUPT", at, len(got), err)
			}
		}
	}
	if _, err := openAll(key, testDoc("doc-2"), idOf(ct, testDoc("doc-2")), bytes.NewReader(ct)); tma.ErrorCode(err) != tma.ECORRUPT {
		t.Errorf("format 1 stream moved to another document: %v, want ECORRUPT", err)
	}
}

func TestRecordOpensFormat1(t *testing.T) {
	key := testKey("case")
	sealed, _ := hex.DecodeString(goldenRecordV1)
	if got, err := OpenRecord(key, goldenRecordBinding, sealed); err != nil || string(got) != goldenRecordV1Text {
		t.Fatalf("format 1 record: %q, %v", got, err)
	}
	moved := goldenRecordBinding
	moved.RowID = "row-2"
	if _, err := OpenRecord(key, moved, sealed); tma.ErrorCode(err) != tma.ECORRUPT {
		t.Errorf("format 1 record in another row: %v, want ECORRUPT", err)
	}
	// Relabelled as format 2, a format 1 record does not open, and the other way round.
	relabelled := append([]byte{recordFormat}, sealed[1:]...)
	if _, err := OpenRecord(key, goldenRecordBinding, relabelled); tma.ErrorCode(err) != tma.ECORRUPT {
		t.Errorf("format 1 record relabelled as format 2: %v, want ECORRUPT", err)
	}
	v2, err := SealRecord(key, goldenRecordBinding, []byte(goldenRecordV1Text))
	if err != nil {
		t.Fatal(err)
	}
	if v2[0] != 2 || len(v2) != 1+saltSize+commitSize+len(goldenRecordV1Text)+tagSize {
		t.Errorf("SealRecord wrote format %d, %d bytes", v2[0], len(v2))
	}
	v2[0] = recordFormatV1
	if _, err := OpenRecord(key, goldenRecordBinding, v2); tma.ErrorCode(err) != tma.ECORRUPT {
		t.Errorf("format 2 record relabelled as format 1: %v, want ECORRUPT", err)
	}
}

// TestStreamWritesFormat2 pins the header layout of doc.go.
func TestStreamWritesFormat2(t *testing.T) {
	key, b := testKey("case"), testDoc("doc-1")
	ct := mustSeal(t, key, b, []byte("x"), 0)
	if string(ct[:4]) != streamMagic || ct[offFormat] != 2 || ct[offKeyScheme] != 2 || len(ct) != 129+1+16 {
		t.Fatalf("header %x, %d bytes", ct[:offSalt], len(ct))
	}
	subkey, commitment, err := deriveSubkey(key, ct[offSalt:offCommit], streamLabel, headerAD(ct[:offSalt], b.encode()))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(commitment, ct[offCommit:offWrappedKey]) {
		t.Error("the commitment is not HKDF's second 32 bytes")
	}
	aead, _ := newGCM(subkey)
	if _, err := aead.Open(nil, zeroNonce[:], ct[offWrappedKey:headerSize], headerAD(ct[:offSalt], b.encode())); err != nil {
		t.Errorf("the data key does not open under the subkey with a zero nonce: %v", err)
	}
}
