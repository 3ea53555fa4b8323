package crypt

import (
	"bytes"
	"io"
	"testing"

	"github.com/tma-portal/tma/server/tma"
)

// editSeg is the segment size of FuzzStreamEdits' streams: small, so that a
// stream of a few hundred bytes has several segments to edit.
const editSeg = 32

// streamSegments splits a format 2 stream of editSeg segments into its
// header and segments (the last one possibly short). ok is false if ct is
// shorter than a header.
func streamSegments(ct []byte) (hdr []byte, segs [][]byte, ok bool) {
	if len(ct) < headerSize {
		return nil, nil, false
	}
	hdr = ct[:headerSize:headerSize]
	for body := ct[headerSize:]; len(body) > 0; {
		n := min(len(body), editSeg+tagSize)
		segs = append(segs, body[:n:n])
		body = body[n:]
	}
	return hdr, segs, true
}

// editor applies structural edits to a stream, each chosen by the fuzz
// input: an opcode byte and argument bytes.
type editor struct {
	args  []byte
	other [][]byte // streams to splice from: another sealing of the same version, another document
}

func (e *editor) arg() int {
	if len(e.args) == 0 {
		return 0
	}
	a := int(e.args[0])
	e.args = e.args[1:]
	return a
}

// apply makes one edit to ct and returns the result (ct is not changed).
func (e *editor) apply(op int, ct []byte) []byte {
	hdr, segs, ok := streamSegments(ct)
	pick := func() int { return e.arg() % max(1, len(segs)) }
	join := func(segs [][]byte) []byte { return cat(append([][]byte{hdr}, segs...)...) }
	switch op % 8 {
	case 0: // truncate at any byte
		return bytes.Clone(ct[:(e.arg()<<8|e.arg())%(len(ct)+1)])
	case 1: // drop a segment
		if ok && len(segs) > 0 {
			i := pick()
			return join(append(segs[:i:i], segs[i+1:]...))
		}
	case 2: // duplicate a segment
		if ok && len(segs) > 0 {
			i := pick()
			return join(append(append(segs[:i+1:i+1], segs[i]), segs[i+1:]...))
		}
	case 3: // swap two segments
		if ok && len(segs) > 1 {
			i, j := pick(), pick()
			s := append([][]byte(nil), segs...)
			s[i], s[j] = s[j], s[i]
			return join(s)
		}
	case 4: // replace a segment by one from another stream
		o := e.other[e.arg()%len(e.other)]
		if _, osegs, ook := streamSegments(o); ok && ook && len(segs) > 0 && len(osegs) > 0 {
			i := pick()
			s := append([][]byte(nil), segs...)
			s[i] = osegs[min(i, len(osegs)-1)]
			return join(s)
		}
	case 5: // put another stream's header in front
		o := e.other[e.arg()%len(e.other)]
		if ok && len(o) >= headerSize {
			hdr = o[:headerSize]
			return join(segs)
		}
	case 6: // flip one bit
		if len(ct) > 0 {
			c := bytes.Clone(ct)
			c[(e.arg()<<8|e.arg())%len(c)] ^= 1 << (e.arg() % 8)
			return c
		}
	case 7: // append bytes, or a segment of another stream
		if a := e.arg(); a%2 == 0 {
			return cat(ct, make([]byte, 1+a%40))
		}
		o := e.other[e.arg()%len(e.other)]
		if _, osegs, ook := streamSegments(o); ook && len(osegs) > 0 {
			return cat(ct, osegs[len(osegs)-1])
		}
	}
	return bytes.Clone(ct)
}

// FuzzStreamEdits makes structural edits to a valid stream and reads the
// result in full and as a range, with the sealing id recorded for the
// original and with the id of the edited bytes.
//
// The oracle. With the recorded id, every byte a reader returns is the
// document's true byte at that position, and a stream whose bytes changed
// never reads to a clean end. With the id of the edited bytes (someone who
// can change the database as well as the blob), the only other text that
// may come out is that of another whole sealing of the same version, which
// such an attacker can put back: returned bytes are a prefix of one
// sealing's text, never a mix, never another document's.
func FuzzStreamEdits(f *testing.F) {
	key, b := testKey("case"), testDoc("doc-1")
	f.Add(uint16(100), []byte{}, int64(0), int64(-1))
	for op := range byte(8) {
		f.Add(uint16(150), []byte{op, 1, 2, 3, 4}, int64(40), int64(50))
		f.Add(uint16(150), []byte{op, 3, 200, 1, op + 1, 0, 7, 5}, int64(0), int64(-1))
	}
	f.Add(uint16(0), []byte{6, 0, 5, 3}, int64(0), int64(-1))
	f.Add(uint16(150), []byte("$02000%"), int64(-31), int64(-1)) // older sealing's header and first segment
	f.Fuzz(func(t *testing.T, size uint16, edits []byte, off, n int64) {
		plaintext := randomBytes(int(size)%300, uint64(size))
		ct := mustSeal(t, key, b, plaintext, 0, withTinySegments(editSeg))
		olderText := randomBytes(len(plaintext)+editSeg, 99)
		older := mustSeal(t, key, b, olderText, 0, withTinySegments(editSeg))
		e := &editor{other: [][]byte{
			older, // another sealing of the same version
			mustSeal(t, key, testDoc("doc-2"), plaintext, 0, withTinySegments(editSeg)), // another document, same key
		}}
		edited := ct
		for i := 0; i < len(edits) && i < 4*6; i += 6 {
			e.args = edits[i+1 : min(len(edits), i+6)]
			edited = e.apply(int(edits[i]), edited)
		}

		type sealing struct{ ct, text []byte }
		mine := sealing{ct, plaintext}
		for _, c := range []struct {
			id      []byte
			allowed []sealing
		}{
			{idOf(ct, b), []sealing{mine}},
			{idOf(edited, b), []sealing{mine, {older, olderText}}},
		} {
			o := off % (int64(len(plaintext)) + 1)
			if o < 0 {
				o = -o
			}
			var whole *sealing // the sealing edited is, byte for byte
			for i := range c.allowed {
				if bytes.Equal(edited, c.allowed[i].ct) {
					whole = &c.allowed[i]
				}
			}
			prefixOfOne := func(got []byte, at int64) bool {
				for _, s := range c.allowed {
					if at <= int64(len(s.text)) && bytes.HasPrefix(s.text[at:], got) {
						return true
					}
				}
				return false
			}

			// Full read.
			var got []byte
			r, err := newReaderMin(bytes.NewReader(edited), key, b, c.id, 1)
			if err == nil {
				got, err = io.ReadAll(r)
			}
			if !prefixOfOne(got, 0) {
				t.Fatalf("full read returned %d bytes that are not the document's", len(got))
			}
			switch {
			case whole == nil && err == nil:
				t.Fatalf("edited stream (%d -> %d bytes) read to a clean end", len(ct), len(edited))
			case whole == nil && tma.ErrorCode(err) != tma.ECORRUPT:
				t.Fatalf("edited stream: %v, want ECORRUPT", err)
			case whole != nil && (err != nil || !bytes.Equal(got, whole.text)):
				t.Fatalf("whole sealing: %d bytes, %v", len(got), err)
			}

			// Range read.
			got = nil
			rr, err := newRangeReaderMin(bytes.NewReader(edited), int64(len(edited)), key, b, c.id, o, n, 1)
			if err == nil {
				got, err = io.ReadAll(rr)
			}
			if !prefixOfOne(got, o) {
				t.Fatalf("range read at %d returned %d bytes that are not the document's", o, len(got))
			}
			if code := tma.ErrorCode(err); err != nil && code != tma.ECORRUPT && !(whole == nil && code == tma.EINVALID) {
				t.Fatalf("range read: %v, want ECORRUPT", err)
			}
			if whole != nil {
				want := whole.text[o:]
				if n >= 0 && n < int64(len(want)) {
					want = want[:n]
				}
				if err != nil || !bytes.Equal(got, want) {
					t.Fatalf("whole sealing, range [%d, +%d): %d bytes, %v", o, n, len(got), err)
				}
			}
		}
	})
}
