package docsengine

import (
	"net/url"
	"sort"
	"strings"
	"testing"

	"golang.org/x/net/html"
)

// unsafeHTML returns why out would be unsafe in a page, or "" if it is
// safe: script-capable or style elements, event handlers, style attributes,
// or URLs that are not relative, http, https or mailto.
func unsafeHTML(tb testing.TB, out string) string {
	tb.Helper()
	z := html.NewTokenizer(strings.NewReader(out))
	for {
		switch z.Next() {
		case html.ErrorToken:
			return ""
		case html.StartTagToken, html.SelfClosingTagToken:
			tok := z.Token()
			switch tok.Data {
			case "script", "iframe", "object", "embed", "style", "svg", "math", "frame", "frameset", "base", "link", "meta", "form":
				return "element " + tok.Data
			}
			for _, a := range tok.Attr {
				key := strings.ToLower(a.Key)
				if strings.HasPrefix(key, "on") || key == "style" || key == "srcdoc" || key == "formaction" {
					return "attribute " + key + " on " + tok.Data
				}
				switch key {
				case "href", "src", "action", "cite", "background", "poster", "srcset", "xlink:href", "data":
					if !safeTestURL(a.Val) {
						return "URL " + key + "=" + a.Val
					}
				}
			}
		}
	}
}

// safeTestURL is independent of the engine's own safeURL on purpose.
func safeTestURL(raw string) bool {
	s := strings.TrimSpace(raw)
	u, err := url.Parse(s)
	if err != nil {
		return false
	}
	switch strings.ToLower(u.Scheme) {
	case "http", "https", "mailto":
		return true
	case "":
		// A relative URL must not smuggle a scheme past the parser.
		lower := strings.ToLower(strings.Map(func(r rune) rune {
			if r <= ' ' {
				return -1
			}
			return r
		}, s))
		head := lower
		if i := strings.IndexAny(head, "/?#"); i >= 0 {
			head = head[:i]
		}
		return !strings.Contains(head, ":")
	}
	return false
}

// normalizeHTML turns HTML into a canonical token string for comparison:
// text unescaped with whitespace collapsed, tags with sorted attributes,
// self-closing tags as start tags, comments dropped.
func normalizeHTML(s string) string {
	var b strings.Builder
	z := html.NewTokenizer(strings.NewReader(s))
	for {
		tt := z.Next()
		switch tt {
		case html.ErrorToken:
			return strings.TrimSpace(b.String())
		case html.TextToken:
			t := strings.Join(strings.Fields(string(z.Text())), " ")
			if t != "" {
				b.WriteString(html.EscapeString(t))
			}
		case html.StartTagToken, html.SelfClosingTagToken, html.EndTagToken:
			tok := z.Token()
			if tt == html.EndTagToken {
				b.WriteString("</" + tok.Data + ">")
				continue
			}
			attrs := make([]string, 0, len(tok.Attr))
			for _, a := range tok.Attr {
				attrs = append(attrs, a.Key+"="+`"`+html.EscapeString(a.Val)+`"`)
			}
			sort.Strings(attrs)
			b.WriteString("<" + tok.Data)
			for _, a := range attrs {
				b.WriteString(" " + a)
			}
			b.WriteString(">")
		}
	}
}
