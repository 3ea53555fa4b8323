package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"io"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/tma-portal/tma/server/blob"
	"github.com/tma-portal/tma/server/crypt"
	"github.com/tma-portal/tma/server/postgres"
	"github.com/tma-portal/tma/server/postgres/pgtest"
	"github.com/tma-portal/tma/server/tma"
)

// storeDocument stores one version of a document the way an upload does:
// the stream under the case key into the blob store, then the blobs row
// with the sealing id and the plaintext's digest sealed with the case key.
// It returns the sealing id.
func storeDocument(t *testing.T, keys tma.CaseKeyService, reg *postgres.BlobRegistry, store tma.BlobStore, c *tma.Case, blobID string, b crypt.DocBinding, text []byte) []byte {
	t.Helper()
	ctx := context.Background()
	key, err := keys.CaseKey(ctx, c.TenantID, c.ID)
	if err != nil {
		t.Fatal(err)
	}
	defer clear(key)
	var buf bytes.Buffer
	w, err := crypt.NewWriter(&buf, key, b)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Write(text); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	size, err := store.Put(ctx, blobID, &buf)
	if err != nil {
		t.Fatal(err)
	}
	digest, err := crypt.SealRecord(key, crypt.DigestBinding(c.TenantID, c.ID, blobID), w.Sum())
	if err != nil {
		t.Fatal(err)
	}
	if err := reg.RegisterBlob(ctx, postgres.BlobInfo{
		TenantID: c.TenantID, CaseID: c.ID, ID: blobID, Size: size,
		SealingID: w.SealingID(), SealedDigest: digest,
	}); err != nil {
		t.Fatal(err)
	}
	return w.SealingID()
}

func TestNoPlaintextDigestInClear(t *testing.T) {
	ctx := context.Background()
	db := pgtest.Open(t)
	keys := postgres.NewCaseKeyService(db, loadKeyring(t, newKeyringFile(t)))
	w := newKeysWorld(t, db, "acme")
	reg := postgres.NewBlobRegistry(db)
	c, err := keys.CreateCase(ctx, w.tenant.ID, "TM-2026-0001")
	if err != nil {
		t.Fatal(err)
	}
	text := []byte("risk note: level=4 (high), DOB 1971-03-02, diagnosis withheld")
	blobID := tma.NewID()
	storeDocument(t, keys, reg, w.store, c, blobID, crypt.DocBinding{TenantID: c.TenantID, CaseID: c.ID, DocumentID: tma.NewID(), Version: 1}, text)

	// The digest is still there for those who hold the case key.
	sum := sha256.Sum256(text)
	info, err := reg.Blob(ctx, c.TenantID, blobID)
	if err != nil {
		t.Fatal(err)
	}
	key, err := keys.CaseKey(ctx, c.TenantID, c.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got, err := crypt.OpenRecord(key, crypt.DigestBinding(c.TenantID, c.ID, blobID), info.SealedDigest); err != nil || !bytes.Equal(got, sum[:]) {
		t.Errorf("sealed digest opens to %x, %v; want %x", got, err, sum)
	}
	clear(key)

	// Every column of every table, every row: the digest in hex (either
	// case), in base64 and as raw bytes, in text and in bytea values.
	lowerHex := hex.EncodeToString(sum[:])
	b64 := base64.StdEncoding.EncodeToString(sum[:])
	cols, tables := clearColumns(t, db)
	for _, col := range cols {
		ident, name := col.ident, col.column
		// text form: bytea shows as \x<hex>, so the hex check covers bytes too.
		cond := fmt.Sprintf(`strpos(lower(%[1]s::text), $1) > 0 OR strpos(%[1]s::text, $2) > 0 OR position($3 IN convert_to(%[1]s::text, 'UTF8')) > 0`, name)
		if col.typ == "bytea" {
			cond += fmt.Sprintf(` OR position($3 IN %[1]s) > 0 OR strpos(lower(encode(%[1]s, 'escape')), $1) > 0 OR strpos(encode(%[1]s, 'escape'), $2) > 0`, name)
		}
		var n int
		if err := db.Pool.QueryRow(ctx, `SELECT count(*) FROM `+ident+` WHERE `+cond, lowerHex, b64, sum[:]).Scan(&n); err != nil {
			t.Fatalf("%s.%s: %v", ident, name, err)
		}
		if n > 0 {
			t.Errorf("%s.%s: %d rows hold the plaintext's SHA-256 in clear", ident, name, n)
		}
	}
	for _, want := range []string{"public.blobs", "public.case_keys", "public.audit_events"} {
		if !tables[want] {
			t.Errorf("the scan did not reach %s (tables: %s)", want, strings.Join(keysOf(tables), ", "))
		}
	}
}

// dbColumn is a column of a table, with its table and its own name quoted
// for SQL.
type dbColumn struct{ ident, column, typ string }

// clearColumns lists every column of every table, where a plaintext could
// hide, and the set of tables ("schema.table") it covers.
func clearColumns(t *testing.T, db *postgres.DB) ([]dbColumn, map[string]bool) {
	t.Helper()
	rows, err := db.Pool.Query(context.Background(), `
		SELECT c.table_schema, c.table_name, c.column_name, c.data_type
		FROM information_schema.columns c
		JOIN information_schema.tables t USING (table_catalog, table_schema, table_name)
		WHERE t.table_type = 'BASE TABLE' AND c.table_schema NOT IN ('pg_catalog', 'information_schema')
		ORDER BY 1, 2, 3`)
	if err != nil {
		t.Fatal(err)
	}
	tables := map[string]bool{}
	cols, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (dbColumn, error) {
		var schema, table, name, typ string
		if err := r.Scan(&schema, &table, &name, &typ); err != nil {
			return dbColumn{}, err
		}
		tables[schema+"."+table] = true
		return dbColumn{pgx.Identifier{schema, table}.Sanitize(), pgx.Identifier{name}.Sanitize(), typ}, nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return cols, tables
}

func keysOf(m map[string]bool) []string {
	var ks []string
	for k := range m {
		ks = append(ks, k)
	}
	return ks
}

// storeRange reads a stored blob at any offset through the blob store's
// range reads, as a download of part of a document does.
type storeRange struct {
	ctx   context.Context
	store tma.BlobStore
	id    string
}

func (s storeRange) ReadAt(p []byte, off int64) (int, error) {
	rc, err := s.store.OpenRange(s.ctx, s.id, off, int64(len(p)))
	if err != nil {
		return 0, err
	}
	defer rc.Close()
	n, err := io.ReadFull(rc, p)
	if err == io.ErrUnexpectedEOF {
		err = io.EOF
	}
	return n, err
}

func TestRollbackCaughtOnRangeRead(t *testing.T) {
	ctx := context.Background()
	db := pgtest.Open(t)
	keys := postgres.NewCaseKeyService(db, loadKeyring(t, newKeyringFile(t)))
	store, err := blob.NewFS(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	w := newKeysWorld(t, db, "acme")
	reg := postgres.NewBlobRegistry(db)
	c, err := keys.CreateCase(ctx, w.tenant.ID, "TM-2026-0001")
	if err != nil {
		t.Fatal(err)
	}
	// Two sealings of the same document version (same binding), in two
	// blobs; several segments each, so that a range read skips the header's
	// neighbourhood.
	doc := crypt.DocBinding{TenantID: c.TenantID, CaseID: c.ID, DocumentID: tma.NewID(), Version: 1}
	older := bytes.Repeat([]byte("ALLEGATION WITHDRAWN. "), 10000)
	newer := bytes.Repeat([]byte("ALLEGATION CONFIRMED. "), 10000)
	olderBlob, newerBlob := tma.NewID(), tma.NewID()
	olderID := storeDocument(t, keys, reg, store, c, olderBlob, doc, older)
	newerID := storeDocument(t, keys, reg, store, c, newerBlob, doc, newer)
	if bytes.Equal(olderID, newerID) {
		t.Fatal("two sealings have the same id")
	}

	key, err := keys.CaseKey(ctx, c.TenantID, c.ID)
	if err != nil {
		t.Fatal(err)
	}
	defer clear(key)
	read := func(blobID string, off, n int64) (full, part []byte, fullErr, partErr error) {
		info, err := reg.Blob(ctx, c.TenantID, blobID)
		if err != nil {
			t.Fatal(err)
		}
		rc, err := store.Open(ctx, blobID)
		if err != nil {
			t.Fatal(err)
		}
		defer rc.Close()
		r, fullErr := crypt.NewReader(rc, key, doc, info.SealingID)
		if fullErr == nil {
			full, fullErr = io.ReadAll(r)
		}
		rr, partErr := crypt.NewRangeReader(storeRange{ctx, store, blobID}, info.Size, key, doc, info.SealingID, off, n)
		if partErr == nil {
			part, partErr = io.ReadAll(rr)
		}
		return full, part, fullErr, partErr
	}
	off, n := int64(22*3200), int64(21) // in the second segment
	full, part, fullErr, partErr := read(newerBlob, off, n)
	if fullErr != nil || partErr != nil || !bytes.Equal(full, newer) || string(part) != "ALLEGATION CONFIRMED." {
		t.Fatalf("newer sealing: %d bytes, %q, %v, %v", len(full), part, fullErr, partErr)
	}

	// Put the older stream back under the newer blob's id.
	oldBytes, err := store.Open(ctx, olderBlob)
	if err != nil {
		t.Fatal(err)
	}
	stale, err := io.ReadAll(oldBytes)
	oldBytes.Close()
	if err != nil {
		t.Fatal(err)
	}
	if err := store.Delete(ctx, newerBlob); err != nil {
		t.Fatal(err)
	}
	if _, err := store.Put(ctx, newerBlob, bytes.NewReader(stale)); err != nil {
		t.Fatal(err)
	}
	// Same sizes, so the registry's size does not give it away.
	full, part, fullErr, partErr = read(newerBlob, off, n)
	if tma.ErrorCode(fullErr) != tma.ECORRUPT || len(full) > 0 {
		t.Errorf("full read of the rolled-back blob: %d bytes (%.21q), %v; want no byte and ECORRUPT", len(full), full, fullErr)
	}
	if tma.ErrorCode(partErr) != tma.ECORRUPT || len(part) > 0 {
		t.Errorf("range read of the rolled-back blob: %q, %v; want no byte and ECORRUPT", part, partErr)
	}
}
