package extract

import (
	"bytes"
	"context"
	"errors"
	"io"
	"strings"

	"golang.org/x/net/html"
	"golang.org/x/net/html/charset"

	"github.com/tma-portal/tma/server/tma"
)

// hiddenElements hold no visible text: scripts, styles, templates, and
// elements whose content the tokenizer returns as raw markup (noscript,
// iframe, noembed, noframes) that a browser does not show as text.
var hiddenElements = map[string]bool{
	"script": true, "style": true, "template": true, "noscript": true,
	"iframe": true, "noembed": true, "noframes": true,
}

// blockElements end a line where they start and end.
var blockElements = map[string]bool{
	"address": true, "article": true, "aside": true, "blockquote": true, "br": true,
	"caption": true, "dd": true, "details": true, "div": true, "dl": true, "dt": true,
	"fieldset": true, "figcaption": true, "figure": true, "footer": true, "form": true,
	"h1": true, "h2": true, "h3": true, "h4": true, "h5": true, "h6": true,
	"header": true, "hr": true, "legend": true, "li": true, "main": true, "nav": true,
	"ol": true, "option": true, "p": true, "pre": true, "section": true, "summary": true,
	"table": true, "title": true, "tr": true, "ul": true,
}

// htmlText extracts the visible text of an HTML document: text outside
// scripts, styles and the like, blocks on lines, table cells separated by
// tabs. The character set comes from contentType, a byte order mark or a
// <meta> tag, as a browser finds it. The tokenizer streams, so a deeply
// nested or unclosed document costs no more than a flat one.
func htmlText(ctx context.Context, contentType string, data []byte, w *textBuilder) error {
	r, err := charset.NewReader(bytes.NewReader(data), contentType)
	if err != nil {
		return tma.Errorf(tma.EINVALID, "The HTML file's character set is unknown.")
	}
	return htmlTokens(ctx, r, w)
}

// htmlTokens writes the visible text of the HTML read from r to w.
func htmlTokens(ctx context.Context, r io.Reader, w *textBuilder) error {
	z := html.NewTokenizer(r)
	hidden, pre := 0, 0
	for i := 0; !w.full; i++ {
		if i%4096 == 0 {
			if err := ctx.Err(); err != nil {
				return err
			}
		}
		tt := z.Next()
		switch tt {
		case html.ErrorToken:
			if errors.Is(z.Err(), io.EOF) {
				return nil
			}
			return tma.Errorf(tma.EINVALID, "The HTML file could not be read.")
		case html.TextToken:
			if hidden > 0 {
				continue
			}
			s := string(z.Text())
			if pre == 0 {
				// Line breaks in the source are spaces on the screen.
				s = strings.NewReplacer("\r\n", " ", "\n", " ", "\r", " ").Replace(s)
			}
			w.write(s)
		case html.StartTagToken, html.SelfClosingTagToken, html.EndTagToken:
			name, _ := z.TagName()
			tag := string(name)
			switch {
			case hiddenElements[tag]:
				if tt == html.StartTagToken {
					hidden++
				} else if tt == html.EndTagToken && hidden > 0 {
					hidden--
				}
			case tag == "pre" && tt == html.StartTagToken:
				pre++
			case tag == "pre" && tt == html.EndTagToken && pre > 0:
				pre--
			}
			switch {
			case tag == "td" || tag == "th":
				w.endCell() // at the start too: </td> is optional
			case blockElements[tag]:
				w.endLine()
			}
		}
	}
	return nil
}
