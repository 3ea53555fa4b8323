package crypt

import (
	"crypto/cipher"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/binary"
	"fmt"
	"hash"
	"io"
	"math"

	"github.com/tma-portal/tma/server/tma"
)

// Segment sizes, in plaintext bytes. Larger segments cost memory per open
// stream; smaller ones cost tag overhead and per-segment work.
const (
	DefaultSegmentSize = 64 << 10
	MinSegmentSize     = 64 << 10
	MaxSegmentSize     = 16 << 20
)

// The stream header. doc.go describes both formats byte by byte. Writers
// write format 2; readers read both.
const (
	streamMagic  = "TMAS"
	offFormat    = 4
	offKeyScheme = 5
	offSegSize   = 6
	offPrefix    = 10

	// Format 2: the data key is wrapped under a subkey of the case key made
	// for this stream (HKDF with a random salt), with a key commitment.
	streamFormat    = 2
	keySchemeSubkey = 2
	streamLabel     = "tma stream v2 subkey"
	offSalt         = 17
	offCommit       = offSalt + saltSize                // 49
	offWrappedKey   = offCommit + commitSize            // 81
	headerSize      = offWrappedKey + KeySize + tagSize // 129

	// Format 1: the data key is wrapped under the case key itself with a
	// random nonce. Read only.
	streamFormatV1   = 1
	keySchemeCaseKey = 1
	v1OffWrapNonce   = 17
	v1OffWrappedKey  = 29
	v1HeaderSize     = v1OffWrappedKey + KeySize + tagSize // 77

	// SealingIDSize is the size of a stream's sealing id (Writer.SealingID).
	SealingIDSize = sha256.Size

	tagSize         = 16
	noncePrefixSize = offSalt - offPrefix // 7
	segNonceSize    = 12
	segADSize       = sha256.Size + 4 + 1
	maxSegments     = math.MaxUint32 + 1
	parallelHashN   = 1 << 20 // writes at least this large hash on a second core
)

// DocBinding names one version of one document. A stream opens only for the
// binding it was written for, so a blob copied to another document, case
// or tenant does not decrypt.
type DocBinding struct {
	TenantID   string
	CaseID     string
	DocumentID string
	Version    int
}

func (b DocBinding) encode() []byte {
	e := append(make([]byte, 0, 160), "tma document v1"...)
	for _, s := range [...]string{b.TenantID, b.CaseID, b.DocumentID} {
		e = appendField(e, s)
	}
	return binary.BigEndian.AppendUint64(e, uint64(b.Version))
}

func (b DocBinding) validate() error {
	if b.TenantID == "" || b.CaseID == "" || b.DocumentID == "" {
		return tma.Errorf(tma.EINVALID, "document binding needs a tenant, a case and a document id")
	}
	return nil
}

// corrupt returns the error for a stream that failed an integrity check. It
// names the document so that the audit trail shows which blob is damaged.
func (b DocBinding) corrupt(format string, args ...any) error {
	return &tma.Error{
		Code:    tma.ECORRUPT,
		Op:      "crypt.Reader",
		Message: "document " + b.DocumentID + ": " + fmt.Sprintf(format, args...),
	}
}

// stream is the per-document state shared by Writer and Reader: the data
// key's AEAD and the nonce and associated data of the current segment.
type stream struct {
	aead   cipher.AEAD
	seg    int
	hdrLen int                // bytes before the first segment
	nonce  [segNonceSize]byte // prefix(7) || index(4) || final(1)
	ad     [segADSize]byte    // sealing id || index(4) || final(1)
}

// sealingID returns SHA-256(header || binding): the id of one sealing of
// one document version, and the first part of every segment's associated
// data.
func sealingID(header, binding []byte) [SealingIDSize]byte {
	h := sha256.New()
	h.Write(header)
	h.Write(binding)
	var id [SealingIDSize]byte
	h.Sum(id[:0])
	return id
}

func newStream(dataKey, header []byte, id [SealingIDSize]byte) (*stream, error) {
	aead, err := newGCM(dataKey)
	if err != nil {
		return nil, err
	}
	s := &stream{aead: aead, seg: int(binary.BigEndian.Uint32(header[offSegSize:])), hdrLen: len(header)}
	copy(s.nonce[:], header[offPrefix:offPrefix+noncePrefixSize])
	copy(s.ad[:], id[:])
	return s, nil
}

func (s *stream) setSegment(index uint64, final bool) {
	var f byte
	if final {
		f = 1
	}
	binary.BigEndian.PutUint32(s.nonce[noncePrefixSize:], uint32(index))
	s.nonce[segNonceSize-1] = f
	binary.BigEndian.PutUint32(s.ad[sha256.Size:], uint32(index))
	s.ad[segADSize-1] = f
}

// headerAD is the associated data of the data key's wrap: the plain header
// fields before it and the document binding.
func headerAD(plain, binding []byte) []byte {
	return append(append(make([]byte, 0, len(plain)+len(binding)), plain...), binding...)
}

// newHeader makes a fresh data key and returns the format 2 header that
// carries it wrapped under a subkey of the case key, and the stream state to
// seal segments with.
func newHeader(caseKey []byte, b DocBinding, seg int) ([]byte, *stream, error) {
	hdr := make([]byte, offSalt, headerSize)
	copy(hdr, streamMagic)
	hdr[offFormat] = streamFormat
	hdr[offKeyScheme] = keySchemeSubkey
	binary.BigEndian.PutUint32(hdr[offSegSize:], uint32(seg))
	_, _ = rand.Read(hdr[offPrefix:offSalt]) // never fails
	dataKey := make([]byte, KeySize)
	_, _ = rand.Read(dataKey)
	defer wipe(dataKey)
	binding := b.encode()
	hdr, err := sealSalted(hdr, caseKey, streamLabel, dataKey, headerAD(hdr, binding))
	if err != nil {
		return nil, nil, err
	}
	s, err := newStream(dataKey, hdr, sealingID(hdr, binding))
	return hdr, s, err
}

// headerLen returns the size of the header that starts with prefix
// (magic and format byte), or ECORRUPT.
func headerLen(prefix []byte, b DocBinding) (int, error) {
	switch {
	case string(prefix[:offFormat]) != streamMagic:
		return 0, b.corrupt("not an encrypted document stream")
	case prefix[offFormat] == streamFormat:
		return headerSize, nil
	case prefix[offFormat] == streamFormatV1:
		return v1HeaderSize, nil
	}
	return 0, b.corrupt("unsupported stream format %d", prefix[offFormat])
}

// readHeader reads the header of either format from r.
func readHeader(r io.Reader, b DocBinding, op string) ([]byte, error) {
	hdr := make([]byte, offFormat+1, headerSize)
	_, err := io.ReadFull(r, hdr)
	if err == nil {
		var n int
		if n, err = headerLen(hdr, b); err != nil {
			return nil, err
		}
		hdr = hdr[:n]
		_, err = io.ReadFull(r, hdr[offFormat+1:])
	}
	if err == io.EOF || err == io.ErrUnexpectedEOF {
		return nil, b.corrupt("header truncated")
	}
	if err != nil {
		return nil, tma.Wrap(op, err)
	}
	return hdr, nil
}

// openHeader checks that a header is the sealing wantID names and unwraps
// its data key. Every field is authenticated: the plain ones as associated
// data of the key wrap, and all of them by the sealing id.
func openHeader(hdr, caseKey []byte, b DocBinding, wantID []byte, minSeg int) (*stream, error) {
	if len(wantID) != SealingIDSize {
		return nil, tma.Errorf(tma.EINTERNAL, "reading a document needs the sealing id recorded with its version")
	}
	if _, err := headerLen(hdr, b); err != nil {
		return nil, err
	}
	binding := b.encode()
	id := sealingID(hdr, binding)
	if subtle.ConstantTimeCompare(id[:], wantID) != 1 {
		return nil, b.corrupt("stream is not the sealing recorded for this version (an older or another stream was put back, or the binding is wrong)")
	}
	if seg := binary.BigEndian.Uint32(hdr[offSegSize:]); seg < uint32(minSeg) || seg > MaxSegmentSize {
		return nil, b.corrupt("invalid segment size %d", seg)
	}
	var dataKey []byte
	var ok bool
	var err error
	switch {
	case hdr[offFormat] == streamFormat && hdr[offKeyScheme] == keySchemeSubkey:
		dataKey, ok, err = openSalted(caseKey, streamLabel, hdr[offSalt:], headerAD(hdr[:offSalt], binding))
	case hdr[offFormat] == streamFormatV1 && hdr[offKeyScheme] == keySchemeCaseKey:
		dataKey, ok, err = openRandom(caseKey, hdr[v1OffWrapNonce:], headerAD(hdr[:v1OffWrappedKey], binding))
	default:
		return nil, b.corrupt("unsupported key scheme %d", hdr[offKeyScheme])
	}
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, b.corrupt("header does not authenticate (edited, wrong case key, or another document's stream)")
	}
	defer wipe(dataKey)
	return newStream(dataKey, hdr, id)
}

// WriterOption configures NewWriter.
type WriterOption func(*writerConfig)

type writerConfig struct{ segmentSize, minSegment int }

// WithSegmentSize sets the plaintext segment size, between MinSegmentSize
// and MaxSegmentSize. Readers learn it from the header.
func WithSegmentSize(n int) WriterOption {
	return func(c *writerConfig) { c.segmentSize = n }
}

// Writer encrypts one document version as a stream of segments. It holds
// one segment in memory, whatever the size of the document. Close must be
// called to write the final segment; without it the stream does not open.
type Writer struct {
	dst    io.Writer
	s      *stream
	header []byte // written just before the first segment, then nil
	buf    []byte // pending plaintext; capacity seg+tag so a segment seals in place
	index  uint64
	hash   hash.Hash
	size   int64
	sum    []byte // set by Close
	err    error  // sticky: a failed write leaves a stream that must be discarded
}

// NewWriter returns a Writer that encrypts to w under a fresh data key,
// itself wrapped by caseKey and bound to b. Nothing is written to w before
// the first Write or Close, so w may be the write end of a pipe.
func NewWriter(w io.Writer, caseKey []byte, b DocBinding, opts ...WriterOption) (*Writer, error) {
	cfg := writerConfig{segmentSize: DefaultSegmentSize, minSegment: MinSegmentSize}
	for _, o := range opts {
		o(&cfg)
	}
	if cfg.segmentSize < cfg.minSegment || cfg.segmentSize > MaxSegmentSize {
		return nil, tma.Errorf(tma.EINVALID, "segment size must be between %d and %d bytes", MinSegmentSize, MaxSegmentSize)
	}
	if err := b.validate(); err != nil {
		return nil, err
	}
	hdr, s, err := newHeader(caseKey, b, cfg.segmentSize)
	if err != nil {
		return nil, tma.Wrap("crypt.NewWriter", err)
	}
	return &Writer{
		dst:    w,
		s:      s,
		header: hdr,
		buf:    make([]byte, 0, cfg.segmentSize+tagSize),
		hash:   sha256.New(),
	}, nil
}

// Write encrypts p. A full segment is held back until more data arrives,
// because only Close knows which segment is the final one.
func (w *Writer) Write(p []byte) (int, error) {
	if w.err != nil {
		return 0, w.err
	}
	if w.sum != nil {
		return 0, tma.Errorf(tma.EINVALID, "write to a closed document writer")
	}
	if len(p) >= parallelHashN {
		// SHA-256 is slower than AES-GCM; on a large write it runs beside
		// the encryption instead of after it. p is only read by both.
		done := make(chan struct{})
		go func(p []byte) { w.hash.Write(p); close(done) }(p)
		defer func() { <-done }()
	} else {
		w.hash.Write(p)
	}
	n := len(p)
	for len(p) > 0 {
		if len(w.buf) == w.s.seg {
			if err := w.seal(w.buf, false); err != nil {
				return n - len(p), err
			}
		}
		if len(w.buf) == 0 && len(p) > w.s.seg {
			// More data follows this segment: seal it straight from p.
			if err := w.seal(p[:w.s.seg], false); err != nil {
				return n - len(p), err
			}
			p = p[w.s.seg:]
			continue
		}
		k := copy(w.buf[len(w.buf):w.s.seg], p)
		w.buf = w.buf[:len(w.buf)+k]
		p = p[k:]
	}
	w.size += int64(n)
	return n, nil
}

// seal encrypts one segment into w.buf (in place if plaintext is w.buf)
// and writes it.
func (w *Writer) seal(plaintext []byte, final bool) error {
	if w.index >= maxSegments {
		w.err = tma.Errorf(tma.ETOOLARGE, "document exceeds %d segments", uint64(maxSegments))
		return w.err
	}
	w.s.setSegment(w.index, final)
	ct := w.s.aead.Seal(w.buf[:0], w.s.nonce[:], plaintext, w.s.ad[:])
	if w.header != nil {
		if _, err := w.dst.Write(w.header); err != nil {
			w.err = tma.Wrap("crypt.Writer", err)
			return w.err
		}
		w.header = nil
	}
	if _, err := w.dst.Write(ct); err != nil {
		w.err = tma.Wrap("crypt.Writer", err)
		return w.err
	}
	w.index++
	w.buf = w.buf[:0]
	return nil
}

// Close writes the final segment (empty only for an empty document). It
// does not close the underlying writer. Calling it again is a no-op.
func (w *Writer) Close() error {
	if w.err != nil || w.sum != nil {
		return w.err
	}
	if err := w.seal(w.buf, true); err != nil {
		return err
	}
	w.sum = w.hash.Sum(nil)
	w.buf = nil
	return nil
}

// Sum returns the SHA-256 of the plaintext, or nil before Close. It is
// derived from the plaintext without a key: never store it in clear (seal
// it with SealRecord).
func (w *Writer) Sum() []byte { return w.sum }

// SealingID returns the id of this sealing: SHA-256 of the header and the
// binding. Record it with the document version; readers take it and refuse
// any other stream, such as an older sealing of the same version put back.
// It is known from NewWriter on and derived from random values only.
func (w *Writer) SealingID() []byte { return append([]byte(nil), w.s.ad[:SealingIDSize]...) }

// Size returns the number of plaintext bytes written.
func (w *Writer) Size() int64 { return w.size }

// Reader decrypts a stream written by Writer. It returns plaintext only
// from segments that authenticated, and io.EOF only after the final
// segment authenticated: a truncated stream ends in an ECORRUPT error, never
// in a clean EOF. Errors are sticky.
type Reader struct {
	src       io.Reader
	s         *stream
	b         DocBinding
	buf       []byte // one ciphertext segment plus one byte of lookahead
	ahead     int    // 1 if aheadByte was read past the previous segment
	aheadByte byte
	index     uint64
	plain     []byte // authenticated plaintext not yet returned
	skip      int    // plaintext bytes to drop from the next segment (ranges)
	limit     int64  // plaintext bytes still to move into plain; -1: no limit
	done      bool   // the final segment authenticated
	err       error
}

// NewReader reads and authenticates the header of the stream in r, which
// must be the sealing sealingID names (Writer.SealingID, recorded with the
// document version): any other stream fails with ECORRUPT before a byte is
// returned.
func NewReader(r io.Reader, caseKey []byte, b DocBinding, sealingID []byte) (*Reader, error) {
	return newReaderMin(r, caseKey, b, sealingID, MinSegmentSize)
}

// newReaderMin is NewReader accepting segments down to minSeg bytes (tests).
func newReaderMin(r io.Reader, caseKey []byte, b DocBinding, sealingID []byte, minSeg int) (*Reader, error) {
	hdr, err := readHeader(r, b, "crypt.NewReader")
	if err != nil {
		return nil, err
	}
	s, err := openHeader(hdr, caseKey, b, sealingID, minSeg)
	if err != nil {
		return nil, tma.Wrap("crypt.NewReader", err)
	}
	return newReader(r, s, b), nil
}

func newReader(r io.Reader, s *stream, b DocBinding) *Reader {
	return &Reader{src: r, s: s, b: b, buf: make([]byte, s.seg+tagSize+1), limit: -1}
}

// NewRangeReader returns a Reader for n plaintext bytes from offset off (n
// < 0: to the end) of the stream of size bytes in ra, which must be the
// sealing sealingID names, as for NewReader. It reads only the segments the
// range touches. A range that reaches the end checks the final segment, so a
// truncated blob fails there too.
func NewRangeReader(ra io.ReaderAt, size int64, caseKey []byte, b DocBinding, sealingID []byte, off, n int64) (*Reader, error) {
	return newRangeReaderMin(ra, size, caseKey, b, sealingID, off, n, MinSegmentSize)
}

func newRangeReaderMin(ra io.ReaderAt, size int64, caseKey []byte, b DocBinding, sealingID []byte, off, n int64, minSeg int) (*Reader, error) {
	hdr, err := readHeader(io.NewSectionReader(ra, 0, size), b, "crypt.NewRangeReader")
	if err != nil {
		return nil, err
	}
	s, err := openHeader(hdr, caseKey, b, sealingID, minSeg)
	if err != nil {
		return nil, tma.Wrap("crypt.NewRangeReader", err)
	}
	total, err := plaintextSize(size, s.hdrLen, s.seg)
	if err != nil {
		return nil, b.corrupt("ciphertext size %d is not a possible stream size", size)
	}
	if off < 0 || off > total {
		return nil, tma.Errorf(tma.EINVALID, "range starts at %d, outside a document of %d bytes", off, total)
	}
	if n < 0 || n > total-off {
		n = total - off
	}
	seg := int64(s.seg)
	first := off / seg
	start := int64(s.hdrLen) + first*(seg+tagSize)
	r := newReader(io.NewSectionReader(ra, start, size-start), s, b)
	r.index, r.skip, r.limit = uint64(first), int(off-first*seg), n
	return r, nil
}

// PlaintextSize returns the plaintext size of a stream of ciphertextSize
// bytes in the format Writer writes, with the given segment size, or
// ECORRUPT if no such stream has that size.
func PlaintextSize(ciphertextSize int64, segmentSize int) (int64, error) {
	if segmentSize < MinSegmentSize || segmentSize > MaxSegmentSize {
		return 0, tma.Errorf(tma.EINVALID, "segment size must be between %d and %d bytes", MinSegmentSize, MaxSegmentSize)
	}
	return plaintextSize(ciphertextSize, headerSize, segmentSize)
}

func plaintextSize(ciphertextSize int64, hdrLen, segmentSize int) (int64, error) {
	body := ciphertextSize - int64(hdrLen)
	segCT := int64(segmentSize) + tagSize
	if body < tagSize {
		return 0, tma.Errorf(tma.ECORRUPT, "a stream of %d bytes is truncated", ciphertextSize)
	}
	count := (body + segCT - 1) / segCT
	if last := body - (count-1)*segCT; last < tagSize || count > maxSegments {
		return 0, tma.Errorf(tma.ECORRUPT, "no stream has %d bytes", ciphertextSize)
	}
	return body - count*tagSize, nil
}

// Read implements io.Reader.
func (r *Reader) Read(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	if err := r.fill(); err != nil {
		return 0, err
	}
	n := copy(p, r.plain)
	r.plain = r.plain[n:]
	return n, nil
}

// WriteTo implements io.WriterTo, so that io.Copy writes each segment
// straight from the decryption buffer.
func (r *Reader) WriteTo(w io.Writer) (int64, error) {
	var total int64
	for {
		if err := r.fill(); err == io.EOF {
			return total, nil
		} else if err != nil {
			return total, err
		}
		n, err := w.Write(r.plain)
		total += int64(n)
		r.plain = r.plain[n:]
		if err != nil {
			return total, err
		}
	}
}

// fill makes r.plain non-empty, or returns io.EOF or the sticky error.
func (r *Reader) fill() error {
	for len(r.plain) == 0 {
		switch {
		case r.err != nil:
			return r.err
		case r.done || r.limit == 0:
			return io.EOF
		}
		if r.err = r.next(); r.err != nil {
			r.plain = nil
			return r.err
		}
		if r.limit >= 0 {
			r.plain = r.plain[:min(int64(len(r.plain)), r.limit)]
			r.limit -= int64(len(r.plain))
		}
	}
	return nil
}

// next reads and authenticates one segment.
func (r *Reader) next() error {
	n, final, err := r.readSegment(r.buf)
	if err != nil {
		return err
	}
	return r.openSegment(r.buf, n, final)
}

// readSegment reads the next ciphertext segment into buf. The segment is
// the last one exactly when no byte follows it, so it reads one byte ahead
// and keeps that byte for the next call.
func (r *Reader) readSegment(buf []byte) (n int, final bool, err error) {
	segCT := r.s.seg + tagSize
	if r.ahead == 1 {
		buf[0] = r.aheadByte
	}
	m, err := io.ReadFull(r.src, buf[r.ahead:segCT+1])
	switch err {
	case nil:
		r.ahead, r.aheadByte = 1, buf[segCT]
		return segCT, false, nil
	case io.EOF, io.ErrUnexpectedEOF:
		m += r.ahead
		r.ahead = 0
		return m, true, nil
	}
	return 0, false, tma.Wrap("crypt.Reader", err)
}

// openSegment authenticates the segment in buf[:n] in place and makes its
// plaintext available.
func (r *Reader) openSegment(buf []byte, n int, final bool) error {
	if r.index >= maxSegments {
		return r.b.corrupt("too many segments")
	}
	if n < tagSize {
		return r.b.corrupt("truncated after segment %d", r.index)
	}
	r.s.setSegment(r.index, final)
	pt, err := r.s.aead.Open(buf[:0], r.s.nonce[:], buf[:n], r.s.ad[:])
	if err != nil {
		if final {
			return r.b.corrupt("segment %d does not authenticate as the final segment (truncated or altered)", r.index)
		}
		return r.b.corrupt("segment %d does not authenticate (altered, reordered or from another document)", r.index)
	}
	r.plain = pt[min(r.skip, len(pt)):]
	r.skip = 0
	r.index++
	r.done = final
	return nil
}
