package extract_test

import (
	"bytes"
	"context"
	"testing"

	"github.com/tma-portal/tma/server/extract"
	"github.com/tma-portal/tma/server/tma"
)

// FuzzExtract feeds arbitrary bytes to the in-process readers (all but
// PDF, which runs in its own process): whatever the input, they return
// normalised text or a coded error, never panic, and stay in bounds.
func FuzzExtract(f *testing.F) {
	types := []string{"text/plain", "text/markdown", "text/html", "message/rfc822", docxType, odtType, xlsxType}
	f.Add(uint8(2), []byte("<p>a<script>b</script><td>c"))
	f.Add(uint8(3), makeEML("Subject: =?utf-8?Q?=C3=BC?=", "Content-Type: multipart/mixed; boundary=x", "", "--x", "", "t", "--x--"))
	f.Add(uint8(4), makeDOCX(f, "<w:p><w:r><w:t>a</w:t><w:tab/></w:r></w:p>"))
	f.Add(uint8(5), makeODT(f, "<text:p>a<text:s/>b</text:p>"))
	f.Add(uint8(1), []byte("# a\n\n**b** [c](http://x)"))
	x := extract.New(extract.Config{})
	f.Fuzz(func(t *testing.T, kind uint8, data []byte) {
		ct := types[int(kind)%len(types)]
		got, err := x.Extract(context.Background(), ct, bytes.NewReader(data), int64(len(data)))
		if err != nil {
			if code := tma.ErrorCode(err); code != tma.EINVALID && code != tma.ETOOLARGE {
				t.Fatalf("%s: error %v with code %s", ct, err, code)
			}
			return
		}
		if got != "" {
			checkNormalised(t, got)
		}
	})
}
