package crypt

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"math/rand/v2"
	"strings"
	"testing"
	"testing/iotest"

	"github.com/tma-portal/tma/server/tma"
)

const seg = DefaultSegmentSize

// testKey returns a fixed key derived from name.
func testKey(name string) []byte {
	k := sha256.Sum256([]byte("test key " + name))
	return k[:]
}

func testDoc(id string) DocBinding {
	return DocBinding{TenantID: "tenant-1", CaseID: "case-1", DocumentID: id, Version: 1}
}

// randomBytes returns n bytes that are the same for the same seed.
func randomBytes(n int, seed uint64) []byte {
	b := make([]byte, n)
	var s [32]byte
	s[0] = byte(seed)
	_, _ = rand.NewChaCha8(s).Read(b)
	return b
}

// mustSeal encrypts plaintext, writing it in chunks of chunk bytes (0: one
// Write), and checks Sum and Size.
func mustSeal(tb testing.TB, key []byte, b DocBinding, plaintext []byte, chunk int, opts ...WriterOption) []byte {
	tb.Helper()
	var ct bytes.Buffer
	w, err := NewWriter(&ct, key, b, opts...)
	if err != nil {
		tb.Fatal(err)
	}
	for p := plaintext; len(p) > 0; {
		n := len(p)
		if chunk > 0 {
			n = min(n, chunk)
		}
		if _, err := w.Write(p[:n]); err != nil {
			tb.Fatal(err)
		}
		p = p[n:]
	}
	if err := w.Close(); err != nil {
		tb.Fatal(err)
	}
	if sum := sha256.Sum256(plaintext); !bytes.Equal(w.Sum(), sum[:]) || w.Size() != int64(len(plaintext)) {
		tb.Fatalf("Sum/Size = %x/%d, want %x/%d", w.Sum(), w.Size(), sum, len(plaintext))
	}
	if id := idOf(ct.Bytes(), b); !bytes.Equal(w.SealingID(), id) {
		tb.Fatalf("SealingID = %x, want SHA-256(header || binding) = %x", w.SealingID(), id)
	}
	return ct.Bytes()
}

// idOf computes the sealing id of the stream ct starts with, as doc.go
// defines it, independently of the code under test: SHA-256 of the header
// (whatever of it is there) and the binding. For an altered stream it is the
// id that someone who can also change the database would record.
func idOf(ct []byte, b DocBinding) []byte {
	n := headerSize
	if len(ct) > offFormat && ct[offFormat] == streamFormatV1 {
		n = v1HeaderSize
	}
	sum := sha256.Sum256(cat(ct[:min(n, len(ct))], b.encode()))
	return sum[:]
}

// openAll decrypts ct through Read calls; got is what the reader returned
// before failing.
func openAll(key []byte, b DocBinding, id []byte, src io.Reader) (got []byte, err error) {
	r, err := NewReader(src, key, b, id)
	if err != nil {
		return nil, err
	}
	return io.ReadAll(r)
}

func TestStreamRoundTrip(t *testing.T) {
	key, b := testKey("case"), testDoc("doc-1")
	for _, size := range []int{0, 1, seg - 1, seg, seg + 1, 3*seg + 17, parallelHashN + 5} {
		for _, chunk := range []int{0, 1000, seg} {
			plaintext := randomBytes(size, uint64(size))
			ct := mustSeal(t, key, b, plaintext, chunk)
			id := idOf(ct, b)
			if n, err := PlaintextSize(int64(len(ct)), seg); err != nil || n != int64(size) {
				t.Errorf("size %d: PlaintextSize = %d, %v", size, n, err)
			}
			reads := []struct {
				name string
				read func() ([]byte, error)
			}{
				{"Read", func() ([]byte, error) { return openAll(key, b, id, bytes.NewReader(ct)) }},
				{"HalfReader", func() ([]byte, error) { return openAll(key, b, id, iotest.HalfReader(bytes.NewReader(ct))) }},
				{"WriteTo", func() ([]byte, error) {
					r, err := NewReader(bytes.NewReader(ct), key, b, id)
					if err != nil {
						return nil, err
					}
					var out bytes.Buffer
					_, err = io.Copy(&out, r)
					return out.Bytes(), err
				}},
			}
			for _, rd := range reads {
				got, err := rd.read()
				if err != nil || !bytes.Equal(got, plaintext) {
					t.Errorf("size %d, chunk %d, %s: got %d bytes, %v", size, chunk, rd.name, len(got), err)
				}
			}
		}
	}
}

func TestStreamSegmentSize(t *testing.T) {
	key, b := testKey("case"), testDoc("doc-1")
	plaintext := randomBytes(5*seg+3, 1)
	ct := mustSeal(t, key, b, plaintext, 7777, WithSegmentSize(2*seg))
	if got, err := openAll(key, b, idOf(ct, b), bytes.NewReader(ct)); err != nil || !bytes.Equal(got, plaintext) {
		t.Fatalf("round trip with 128 KiB segments: %d bytes, %v", len(got), err)
	}
	for _, n := range []int{0, seg - 1, MaxSegmentSize + 1} {
		if _, err := NewWriter(io.Discard, key, b, WithSegmentSize(n)); tma.ErrorCode(err) != tma.EINVALID {
			t.Errorf("segment size %d: %v, want EINVALID", n, err)
		}
	}
}

func TestStreamRange(t *testing.T) {
	key, b := testKey("case"), testDoc("doc-1")
	size := 3*seg + 17
	plaintext := randomBytes(size, 3)
	ct := mustSeal(t, key, b, plaintext, 0)
	tests := []struct {
		name   string
		off, n int64
		want   []byte
	}{
		{"start", 0, 10, plaintext[:10]},
		{"across a boundary", seg - 5, 10, plaintext[seg-5 : seg+5]},
		{"whole segment", seg, seg, plaintext[seg : 2*seg]},
		{"all", 0, -1, plaintext},
		{"tail", 3*seg + 10, -1, plaintext[3*seg+10:]},
		{"clamped", 2 * seg, 10 * seg, plaintext[2*seg:]},
		{"empty at end", int64(size), -1, nil},
		{"empty", 5, 0, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r, err := NewRangeReader(bytes.NewReader(ct), int64(len(ct)), key, b, idOf(ct, b), tc.off, tc.n)
			if err != nil {
				t.Fatal(err)
			}
			got, err := io.ReadAll(r)
			if err != nil || !bytes.Equal(got, tc.want) {
				t.Fatalf("got %d bytes, %v; want %d bytes", len(got), err, len(tc.want))
			}
		})
	}
	if _, err := NewRangeReader(bytes.NewReader(ct), int64(len(ct)), key, b, idOf(ct, b), int64(size)+1, 1); tma.ErrorCode(err) != tma.EINVALID {
		t.Errorf("range after the end: %v, want EINVALID", err)
	}
}

// segment returns the bounds of ciphertext segment i in a stream of
// DefaultSegmentSize segments.
func segment(i int) (start, end int) {
	start = headerSize + i*(seg+tagSize)
	return start, start + seg + tagSize
}

func cat(parts ...[]byte) []byte { return bytes.Join(parts, nil) }

func TestStreamDetectsTampering(t *testing.T) {
	key, b := testKey("case"), testDoc("doc-1")
	plaintext := randomBytes(3*seg+17, 4) // segments 0, 1, 2 full; 3 final
	ct := mustSeal(t, key, b, plaintext, 0)
	other := mustSeal(t, key, testDoc("doc-2"), randomBytes(3*seg+17, 5), 0) // same case key
	again := mustSeal(t, key, b, plaintext, 0)                               // same document, sealed twice
	s := func(c []byte, i int) []byte { start, end := segment(i); return c[start:min(end, len(c))] }
	hdr := ct[:headerSize]
	flip := func(at int) []byte { c := bytes.Clone(ct); c[at] ^= 0x01; return c }

	tests := []struct {
		name string
		ct   []byte
	}{
		{"empty", nil},
		{"header only", hdr},
		{"bit flip in a middle segment", flip(headerSize + seg + tagSize + 100)},
		{"bit flip in a tag", flip(headerSize + 2*(seg+tagSize) - 1)},
		{"bit flip in the final segment", flip(len(ct) - 1)},
		{"truncated at a segment boundary", ct[:headerSize+2*(seg+tagSize)]},
		{"truncated mid-segment", ct[:headerSize+2*(seg+tagSize)+1000]},
		{"truncated inside the final segment", ct[:len(ct)-1]},
		{"truncated to less than a tag", ct[:headerSize+3*(seg+tagSize)+5]},
		{"final segment dropped", ct[:headerSize+3*(seg+tagSize)]},
		{"segments swapped", cat(hdr, s(ct, 1), s(ct, 0), s(ct, 2), s(ct, 3))},
		{"segment replayed", cat(hdr, s(ct, 0), s(ct, 1), s(ct, 1), s(ct, 2), s(ct, 3))},
		{"segment replaced by an earlier one", cat(hdr, s(ct, 0), s(ct, 1), s(ct, 1), s(ct, 3))},
		{"segment spliced from another document", cat(hdr, s(ct, 0), s(other, 1), s(ct, 2), s(ct, 3))},
		{"segment spliced from another sealing", cat(hdr, s(ct, 0), s(again, 1), s(ct, 2), s(ct, 3))},
		{"header of another document", cat(other[:headerSize], ct[headerSize:])},
		{"data appended", cat(ct, []byte{0})},
		{"final segment appended twice", cat(ct, s(ct, 3))},
		{"header magic", flip(0)},
		{"header format version", flip(offFormat)},
		{"header key scheme", flip(offKeyScheme)},
		{"header segment size", flip(offSegSize + 1)},
		{"header segment size made larger", flip(offSegSize)},
		{"header nonce prefix", flip(offPrefix)},
		{"header salt", flip(offSalt)},
		{"header commitment", flip(offCommit)},
		{"header commitment, last byte", flip(offWrappedKey - 1)},
		{"header wrapped key", flip(offWrappedKey)},
		{"header wrapped key tag", flip(headerSize - 1)},
	}
	// Each altered stream is read twice: with the sealing id recorded for
	// the original, and with the id of the altered bytes (someone who can
	// also change the database), so that the checks behind the sealing id
	// are tested too.
	for _, tc := range tests {
		for _, id := range []struct {
			name string
			id   []byte
		}{{"recorded id", idOf(ct, b)}, {"id of the altered stream", idOf(tc.ct, b)}} {
			t.Run(tc.name+", "+id.name, func(t *testing.T) {
				got, err := openAll(key, b, id.id, bytes.NewReader(tc.ct))
				checkCorrupt(t, err, b)
				if !bytes.HasPrefix(plaintext, got) {
					t.Errorf("Read returned %d bytes that are not the document's", len(got))
				}
				if r, err := NewReader(bytes.NewReader(tc.ct), key, b, id.id); err == nil {
					var out bytes.Buffer
					_, err = r.WriteTo(&out)
					checkCorrupt(t, err, b)
					if !bytes.HasPrefix(plaintext, out.Bytes()) {
						t.Errorf("WriteTo wrote %d bytes that are not the document's", out.Len())
					}
				}
			})
		}
	}

	t.Run("range to the end of a truncated stream", func(t *testing.T) {
		short := ct[:headerSize+3*(seg+tagSize)]
		r, err := NewRangeReader(bytes.NewReader(short), int64(len(short)), key, b, idOf(ct, b), seg, -1)
		if err == nil {
			_, err = io.ReadAll(r)
		}
		checkCorrupt(t, err, b)
	})
	t.Run("range with a stale size", func(t *testing.T) {
		r, err := NewRangeReader(bytes.NewReader(ct[:len(ct)-1]), int64(len(ct)), key, b, idOf(ct, b), 3*seg, -1)
		if err == nil {
			_, err = io.ReadAll(r)
		}
		checkCorrupt(t, err, b)
	})

	wrong := []struct {
		name string
		key  []byte
		b    DocBinding
	}{
		{"another document id", key, testDoc("doc-2")},
		{"another version", key, DocBinding{TenantID: b.TenantID, CaseID: b.CaseID, DocumentID: b.DocumentID, Version: 2}},
		{"another case", key, DocBinding{TenantID: b.TenantID, CaseID: "case-2", DocumentID: b.DocumentID, Version: 1}},
		{"another tenant", key, DocBinding{TenantID: "tenant-2", CaseID: b.CaseID, DocumentID: b.DocumentID, Version: 1}},
		{"another case key", testKey("other case"), b},
	}
	for _, tc := range wrong {
		t.Run(tc.name, func(t *testing.T) {
			_, err := openAll(tc.key, tc.b, idOf(ct, b), bytes.NewReader(ct))
			checkCorrupt(t, err, tc.b)
			_, err = openAll(tc.key, tc.b, idOf(ct, tc.b), bytes.NewReader(ct))
			checkCorrupt(t, err, tc.b)
		})
	}
	// A reader without the sealing id is a bug in the caller.
	if _, err := NewReader(bytes.NewReader(ct), key, b, nil); tma.ErrorCode(err) != tma.EINTERNAL {
		t.Errorf("no sealing id: %v, want EINTERNAL", err)
	}
}

// checkCorrupt fails unless err is ECORRUPT and names the document.
func checkCorrupt(t *testing.T, err error, b DocBinding) {
	t.Helper()
	if code := tma.ErrorCode(err); code != tma.ECORRUPT {
		t.Fatalf("error %v (code %q), want ECORRUPT", err, code)
	}
	if !strings.Contains(tma.ErrorMessage(err), b.DocumentID) {
		t.Errorf("message %q does not name document %s", tma.ErrorMessage(err), b.DocumentID)
	}
}

func TestStreamWriterErrors(t *testing.T) {
	key, b := testKey("case"), testDoc("doc-1")
	if _, err := NewWriter(io.Discard, key[:16], b); tma.ErrorCode(err) != tma.EINVALID {
		t.Errorf("16-byte key: %v, want EINVALID", err)
	}
	if _, err := NewWriter(io.Discard, key, DocBinding{TenantID: "t"}); tma.ErrorCode(err) != tma.EINVALID {
		t.Errorf("incomplete binding: %v, want EINVALID", err)
	}
	w, err := NewWriter(failingWriter{}, key, b)
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err == nil {
		t.Error("Close into a failing writer succeeded")
	}
	if _, err := w.Write([]byte("x")); err == nil {
		t.Error("Write after a failed Close succeeded")
	}
	w, _ = NewWriter(io.Discard, key, b)
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := w.Write([]byte("x")); tma.ErrorCode(err) != tma.EINVALID {
		t.Errorf("Write after Close: %v, want EINVALID", err)
	}
}

type failingWriter struct{}

func (failingWriter) Write([]byte) (int, error) { return 0, io.ErrClosedPipe }

// withTinySegments lets tests write segments smaller than MinSegmentSize,
// so that streams of many segments stay a few hundred bytes long.
func withTinySegments(n int) WriterOption {
	return func(c *writerConfig) { c.segmentSize, c.minSegment = n, 1 }
}

// FuzzStreamReader feeds arbitrary bytes to the readers, with the sealing id
// of those bytes (as if the database had been changed too). Seeds are small
// streams of 32-byte segments, and a format 1 stream.
func FuzzStreamReader(f *testing.F) {
	key, b := testKey("case"), testDoc("doc-1")
	for _, size := range []int{0, 1, 32, 100} {
		ct := mustSeal(f, key, b, randomBytes(size, uint64(size)), 0, withTinySegments(32))
		f.Add(ct, int64(0), int64(-1))
		f.Add(ct, int64(size/2), int64(3))
	}
	v1, _ := hex.DecodeString(goldenStreamV1)
	f.Add(v1, int64(3), int64(10))
	f.Add([]byte(streamMagic), int64(0), int64(0))
	f.Fuzz(func(t *testing.T, ct []byte, off, n int64) {
		id := idOf(ct, b)
		if r, err := newReaderMin(bytes.NewReader(ct), key, b, id, 1); err == nil {
			_, _ = io.Copy(io.Discard, r)
		}
		if r, err := newRangeReaderMin(bytes.NewReader(ct), int64(len(ct)), key, b, id, off, n, 1); err == nil {
			_, _ = io.ReadAll(r)
		}
	})
}
