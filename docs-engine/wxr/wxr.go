// Package wxr reads WordPress eXtended RSS (WXR 1.1 and 1.2) exports as a
// stream and turns their HTML content into Markdown for the wiki. It does not
// fetch anything: attachment and image URLs are only reported.
package wxr

import (
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"
)

// Author is a wp:author of the export.
type Author struct {
	Login       string `xml:"author_login"`
	Email       string `xml:"author_email"`
	DisplayName string `xml:"author_display_name"`
}

// Item is one post, page, attachment or other item of the export.
type Item struct {
	ID       int64
	ParentID int64  // 0 for top-level items
	Type     string // page, post, attachment, nav_menu_item, …
	Status   string // publish, draft, trash, private, future, inherit, …
	Title    string
	Slug     string    // post_name, URL-escaped as WordPress stores it
	Author   string    // author login (dc:creator)
	DateGMT  time.Time // post_date_gmt; zero for drafts that never had one
	// ModifiedGMT is post_modified_gmt; zero if the export has none.
	ModifiedGMT time.Time
	Link        string
	GUID        string
	Content     string // HTML (content:encoded)
	// AttachmentURL is the file of an attachment.
	AttachmentURL string
}

// item mirrors the XML; tags without a namespace match wp: elements of any
// WXR version.
type item struct {
	Title         string `xml:"title"`
	Link          string `xml:"link"`
	GUID          string `xml:"guid"`
	Creator       string `xml:"http://purl.org/dc/elements/1.1/ creator"`
	Content       string `xml:"http://purl.org/rss/1.0/modules/content/ encoded"`
	ID            int64  `xml:"post_id"`
	DateGMT       string `xml:"post_date_gmt"`
	ModifiedGMT   string `xml:"post_modified_gmt"`
	Slug          string `xml:"post_name"`
	Status        string `xml:"status"`
	Parent        int64  `xml:"post_parent"`
	Type          string `xml:"post_type"`
	AttachmentURL string `xml:"attachment_url"`
}

// SyntaxError is a malformed export, with the line where reading stopped.
type SyntaxError struct {
	Line int
	Err  error
}

func (e *SyntaxError) Error() string { return fmt.Sprintf("wxr: line %d: %v", e.Line, e.Err) }
func (e *SyntaxError) Unwrap() error { return e.Err }

// Reader reads an export token by token; only one item is in memory at a
// time.
type Reader struct {
	dec     *xml.Decoder
	authors []Author
	seenRSS bool
	site    string
	blog    string
}

// NewReader returns a Reader of r.
func NewReader(r io.Reader) *Reader {
	dec := xml.NewDecoder(r)
	dec.Strict = true
	return &Reader{dec: dec}
}

// Authors returns the authors read so far; WordPress writes them before the
// items, so after the first Next they are complete.
func (r *Reader) Authors() []Author { return r.authors }

// BaseURL is the address of the exported blog (wp:base_blog_url), or else
// of its site (wp:base_site_url); "" if the export names neither. Like the
// authors, it is complete after the first Next. On a multisite (and on
// wordpress.com) the site URL is shared by every blog, so the blog URL is
// the one that tells exports apart.
func (r *Reader) BaseURL() string {
	if r.blog != "" {
		return r.blog
	}
	return r.site
}

// Next returns the next item, io.EOF after the last one, or a *SyntaxError.
func (r *Reader) Next() (Item, error) {
	for {
		tok, err := r.dec.Token()
		if errors.Is(err, io.EOF) {
			if !r.seenRSS {
				return Item{}, r.syntaxError(errors.New("not a WXR export: no <rss> element"))
			}
			return Item{}, io.EOF
		}
		if err != nil {
			return Item{}, r.syntaxError(err)
		}
		start, ok := tok.(xml.StartElement)
		if !ok {
			continue
		}
		switch start.Name.Local {
		case "rss":
			r.seenRSS = true
		case "base_site_url", "base_blog_url":
			var u string
			if err := r.dec.DecodeElement(&u, &start); err != nil {
				return Item{}, r.syntaxError(err)
			}
			if start.Name.Local == "base_blog_url" {
				r.blog = strings.TrimSpace(u)
			} else {
				r.site = strings.TrimSpace(u)
			}
		case "author":
			var a Author
			if err := r.dec.DecodeElement(&a, &start); err != nil {
				return Item{}, r.syntaxError(err)
			}
			r.authors = append(r.authors, a)
		case "item":
			var it item
			if err := r.dec.DecodeElement(&it, &start); err != nil {
				return Item{}, r.syntaxError(err)
			}
			return it.item(), nil
		}
	}
}

func (r *Reader) syntaxError(err error) error {
	var se *xml.SyntaxError
	if errors.As(err, &se) {
		return &SyntaxError{Line: se.Line, Err: errors.New(se.Msg)}
	}
	line, _ := r.dec.InputPos()
	return &SyntaxError{Line: line, Err: err}
}

func (it item) item() Item {
	out := Item{
		ID: it.ID, ParentID: it.Parent, Type: strings.TrimSpace(it.Type), Status: strings.TrimSpace(it.Status),
		Title: it.Title, Slug: strings.TrimSpace(it.Slug), Author: strings.TrimSpace(it.Creator),
		Link: strings.TrimSpace(it.Link), GUID: strings.TrimSpace(it.GUID), Content: it.Content,
		AttachmentURL: strings.TrimSpace(it.AttachmentURL),
	}
	if d, err := time.Parse("2006-01-02 15:04:05", strings.TrimSpace(it.DateGMT)); err == nil {
		out.DateGMT = d
	}
	if d, err := time.Parse("2006-01-02 15:04:05", strings.TrimSpace(it.ModifiedGMT)); err == nil {
		out.ModifiedGMT = d
	}
	return out
}
