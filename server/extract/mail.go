package extract

import (
	"bytes"
	"context"
	"strings"

	"github.com/jhillyerd/enmime/v2"

	"github.com/tma-portal/tma/server/tma"
)

// maxMailMultiparts bounds the multipart containers of one message.
// enmime parses nested multiparts recursively without a depth limit, and a
// message of a million nested boundaries would overflow the goroutine's
// stack, which no recover catches; each container needs a Content-Type of
// "multipart/…", so counting those bounds the depth. Real mail nests three
// or four levels.
const maxMailMultiparts = 100

// mailHeaders are the headers indexed, in this order, with their names.
var mailHeaders = []string{"From", "To", "Cc", "Subject", "Date"}

// emlText extracts an e-mail (RFC 5322, MIME): the headers From, To, Cc,
// Subject and Date decoded (RFC 2047, any charset), then the plain text
// body, or the HTML body's visible text if there is no plain one, then the
// names of attachments. Attached files are not opened: a document's
// attachments are documents of their own when they matter.
func emlText(ctx context.Context, data []byte, w *textBuilder) error {
	if countMultiparts(data) > maxMailMultiparts {
		return tma.Errorf(tma.ETOOLARGE, "The e-mail nests more than %d multipart sections; its text is not searched.", maxMailMultiparts)
	}
	// Our own HTML reader, not enmime's conversion, so that HTML mail
	// follows the same rules as HTML files.
	p := enmime.NewParser(enmime.DisableTextConversion(true))
	env, err := p.ReadEnvelope(bytes.NewReader(data))
	if err != nil {
		return tma.Errorf(tma.EINVALID, "The e-mail could not be read.")
	}
	for _, h := range mailHeaders {
		if v := env.GetHeader(h); v != "" {
			w.write(h + ": " + v)
			w.endLine()
		}
	}
	if strings.TrimSpace(env.Text) != "" {
		w.write(env.Text)
	} else if env.HTML != "" {
		if err := htmlTokens(ctx, strings.NewReader(env.HTML), w); err != nil {
			return err
		}
	}
	w.endLine()
	for _, a := range env.Attachments {
		if a.FileName != "" {
			w.write("Attachment: " + a.FileName)
			w.endLine()
		}
	}
	return nil
}

// countMultiparts counts "multipart/" in any case, stopping past the
// limit.
func countMultiparts(data []byte) int {
	const word = "multipart"
	n := 0
	for off := 0; off < len(data); {
		j := bytes.IndexByte(data[off:], '/')
		if j < 0 {
			break
		}
		j += off
		if j >= len(word) && bytes.EqualFold(data[j-len(word):j], []byte(word)) {
			if n++; n > maxMailMultiparts {
				break
			}
		}
		off = j + 1
	}
	return n
}
