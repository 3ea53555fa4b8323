package wxr

import (
	"fmt"
	"net/url"
	"path"
	"regexp"
	"strconv"
	"strings"

	htmltomarkdown "github.com/JohannesKaufmann/html-to-markdown/v2/converter"
	"github.com/JohannesKaufmann/html-to-markdown/v2/plugin/base"
	"github.com/JohannesKaufmann/html-to-markdown/v2/plugin/commonmark"
	"github.com/JohannesKaufmann/html-to-markdown/v2/plugin/strikethrough"
	"github.com/JohannesKaufmann/html-to-markdown/v2/plugin/table"
	"golang.org/x/net/html"
)

// LinkFunc maps a URL found in the content to the wiki target of another
// item of the same export ("path/slug"), or reports false for outside links.
type LinkFunc func(href string) (target string, ok bool)

// Report lists what the conversion could not carry over by itself.
type Report struct {
	Media    []string // image, audio, video and file URLs, not fetched
	Warnings []string // shortcodes removed, and the like
}

var (
	blockComment = regexp.MustCompile(`<!--\s*/?wp:[^>]*?-->`)
	// A shortcode: [name attrs] or [/name]. Only names in shortcodes are
	// touched, plus any [name key=value…] form; "[sic]" stays text.
	shortcode = regexp.MustCompile(`\[(/?)([a-zA-Z_][a-zA-Z0-9_-]*)((?:\s[^\]]*)?)\]`)
	captionRe = regexp.MustCompile(`(?s)\[caption[^\]]*\](.*?)\[/caption\]`)
	mediaExt  = regexp.MustCompile(`(?i)\.(jpe?g|png|gif|webp|svg|pdf|docx?|xlsx?|pptx?|odt|mp3|mp4|m4a|ogg|wav|mov|zip)$`)
)

// ToMarkdown converts the HTML content of an item to Markdown. Gutenberg
// block comments are dropped, [caption] becomes the image followed by its
// caption, other shortcodes are removed with a warning, and links that link
// resolves become wiki links [[target|label]].
func ToMarkdown(content string, link LinkFunc) (string, Report, error) {
	var rep Report
	content = blockComment.ReplaceAllString(content, "")
	content = captionRe.ReplaceAllStringFunc(content, func(m string) string {
		inner := captionRe.FindStringSubmatch(m)[1]
		// The caption text is what follows the image (or its link).
		i := strings.LastIndex(inner, ">")
		return "<figure>" + inner[:i+1] + "<p>" + strings.TrimSpace(inner[i+1:]) + "</p></figure>"
	})
	content = shortcode.ReplaceAllStringFunc(content, func(m string) string {
		sm := shortcode.FindStringSubmatch(m)
		name, attrs := strings.ToLower(sm[2]), sm[3]
		known := map[string]bool{"gallery": true, "audio": true, "video": true, "embed": true, "playlist": true, "wp_caption": true, "caption": true}
		if !known[name] && !strings.Contains(attrs, "=") && sm[1] == "" {
			return m // plain bracketed text
		}
		if sm[1] == "" {
			rep.Warnings = append(rep.Warnings, fmt.Sprintf("shortcode [%s] removed", name))
		}
		return ""
	})

	doc, err := html.Parse(strings.NewReader("<body>" + content + "</body>"))
	if err != nil {
		return "", rep, err
	}
	var wiki []string
	var walk func(n *html.Node)
	walk = func(n *html.Node) {
		for c := n.FirstChild; c != nil; {
			next := c.NextSibling
			if c.Type == html.ElementNode {
				switch c.Data {
				case "img", "audio", "video", "source":
					if src := attr(c, "src"); src != "" {
						rep.Media = appendOnce(rep.Media, src)
					}
				case "a":
					href := attr(c, "href")
					if target, ok := resolve(link, href); ok {
						label := strings.TrimSpace(textOf(c))
						placeholder := "TMAWIKILINK" + strconv.Itoa(len(wiki)) + "X"
						if label == "" || label == target {
							wiki = append(wiki, "[["+target+"]]")
						} else {
							wiki = append(wiki, "[["+target+"|"+strings.NewReplacer("]", "", "|", "", "[", "").Replace(label)+"]]")
						}
						n.InsertBefore(&html.Node{Type: html.TextNode, Data: placeholder}, c)
						n.RemoveChild(c)
						c = next
						continue
					}
					if isMedia(href) {
						rep.Media = appendOnce(rep.Media, href)
					}
				}
			}
			walk(c)
			c = next
		}
	}
	walk(doc)

	conv := htmltomarkdown.NewConverter(htmltomarkdown.WithPlugins(
		base.NewBasePlugin(), commonmark.NewCommonmarkPlugin(), table.NewTablePlugin(), strikethrough.NewStrikethroughPlugin(),
	))
	out, err := conv.ConvertNode(doc)
	if err != nil {
		return "", rep, err
	}
	md := string(out)
	for i := len(wiki) - 1; i >= 0; i-- {
		md = strings.ReplaceAll(md, "TMAWIKILINK"+strconv.Itoa(i)+"X", wiki[i])
	}
	return md, rep, nil
}

func resolve(link LinkFunc, href string) (string, bool) {
	if link == nil || href == "" {
		return "", false
	}
	return link(href)
}

func isMedia(href string) bool {
	u, err := url.Parse(href)
	if err != nil {
		return false
	}
	return mediaExt.MatchString(path.Base(u.Path)) || strings.Contains(u.Path, "/wp-content/uploads/")
}

func attr(n *html.Node, key string) string {
	for _, a := range n.Attr {
		if a.Key == key {
			return a.Val
		}
	}
	return ""
}

func textOf(n *html.Node) string {
	var b strings.Builder
	var f func(*html.Node)
	f = func(n *html.Node) {
		if n.Type == html.TextNode {
			b.WriteString(n.Data)
		}
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			f(c)
		}
	}
	f(n)
	return b.String()
}

func appendOnce(list []string, s string) []string {
	for _, x := range list {
		if x == s {
			return list
		}
	}
	return append(list, s)
}

// Index maps the URLs by which an export refers to its own items (link,
// guid, ?p=N, ?page_id=N) to the items, so that a LinkFunc can find them.
// A link whose last path segment is the address (post_name) of exactly one
// item on the same host finds it too: WordPress redirects such links (a
// post whose date or parent changed keeps answering at its old URL).
type Index struct {
	byURL  map[string]Item
	byID   map[int64]Item
	byName map[string][]Item // host + "/" + post_name
}

// NewIndex indexes items.
func NewIndex(items []Item) *Index {
	x := &Index{byURL: map[string]Item{}, byID: map[int64]Item{}, byName: map[string][]Item{}}
	for _, it := range items {
		x.byID[it.ID] = it
		for _, u := range []string{it.Link, it.GUID} {
			if u != "" {
				x.byURL[normalizeURL(u)] = it
			}
		}
		if u, err := url.Parse(it.Link); err == nil && u.Host != "" && it.Slug != "" {
			key := strings.ToLower(u.Host) + "/" + strings.ToLower(it.Slug)
			x.byName[key] = append(x.byName[key], it)
		}
	}
	return x
}

// Lookup returns the item that href points to.
func (x *Index) Lookup(href string) (Item, bool) {
	if it, ok := x.byURL[normalizeURL(href)]; ok {
		return it, true
	}
	u, err := url.Parse(href)
	if err != nil {
		return Item{}, false
	}
	for _, key := range []string{"page_id", "p", "attachment_id"} {
		if id, err := strconv.ParseInt(u.Query().Get(key), 10, 64); err == nil {
			it, ok := x.byID[id]
			return it, ok
		}
	}
	if name := path.Base(strings.TrimSuffix(u.EscapedPath(), "/")); u.Host != "" && name != "." && name != "/" {
		if list := x.byName[strings.ToLower(u.Host)+"/"+strings.ToLower(name)]; len(list) == 1 {
			return list[0], true
		}
	}
	return Item{}, false
}

func normalizeURL(s string) string {
	s = strings.TrimSpace(s)
	s = strings.TrimPrefix(strings.TrimPrefix(s, "https://"), "http://")
	return strings.TrimSuffix(s, "/")
}
