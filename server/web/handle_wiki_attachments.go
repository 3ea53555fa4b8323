package web

import (
	"context"
	"encoding/hex"
	"io"
	"net/url"

	"github.com/gofiber/fiber/v2"

	"github.com/tma-portal/tma/server/tma"
)

// attachmentURL is the address of the file name on a wiki page; Markdown's
// "attachment:<name>" becomes it (renderWiki).
func attachmentURL(space, slug, name string) string {
	return wikiURL(space, slug) + "/attachments/" + url.PathEscape(name)
}

// handleWikiAttachmentUpload stores the one file of a streamed multipart
// body on the page (replacing a file of the same name). The service checks
// that the viewer may edit the page.
func (s *Server) handleWikiAttachmentUpload(c *fiber.Ctx) error {
	p := principal(c)
	space, slug := c.Params("space"), c.Params("page")
	// A page the viewer may not read answers 404 before the body is read.
	sp, page, err := s.deps.Wiki.Page(c.UserContext(), p.Tenant.ID, space, slug, 0, p.User)
	if err != nil {
		return err
	}
	if !tma.CanEditPage(sp, page, p.User) {
		return tma.Errorf(tma.EFORBIDDEN, "You may not edit this space.")
	}
	var a *tma.WikiAttachment
	uerr := s.uploadOne(c, func(ctx context.Context, up tma.Upload) error {
		var err error
		a, err = s.deps.WikiAttachments.Upload(ctx, p.Tenant.ID, space, slug, up, p.User)
		return err
	})
	pageURL := wikiURL(sp.Slug, page.Slug)
	if wantsJSON(c) {
		if uerr != nil {
			return uerr // handleError answers JSON, translated
		}
		u := attachmentURL(sp.Slug, page.Slug, a.Name)
		return c.Status(fiber.StatusCreated).JSON(fiber.Map{"id": a.ID, "name": a.Name, "url": u,
			"documents": []uploadedJSON{{ID: a.ID, Version: 1, Name: a.Name, URL: u}}})
	}
	if uerr == nil {
		return c.Redirect(pageURL+"#attachments-heading", fiber.StatusSeeOther)
	}
	if code := tma.ErrorCode(uerr); code == tma.ENOTFOUND || code == tma.EFORBIDDEN {
		return uerr
	}
	v, err := s.wikiPageView(c, 0)
	if err != nil {
		return err
	}
	return s.outcome(c, v, "wiki_page", uerr, "")
}

// handleWikiAttachment sends a page's file: a raster image that
// tma.PreviewOf allows inline (so that the page can show it, with
// previewCSP), anything else as a download. A page the viewer may not read
// answers exactly like a missing page or file.
func (s *Server) handleWikiAttachment(c *fiber.Ctx) error {
	p := principal(c)
	space, slug := c.Params("space"), c.Params("page")
	name, err := url.PathUnescape(c.Params("name"))
	if err != nil || tma.CheckText("name", name) != nil {
		return tma.Errorf(tma.ENOTFOUND, "No such attachment.")
	}
	a, err := s.deps.WikiAttachments.Attachment(c.UserContext(), p.Tenant.ID, space, slug, name, p.User)
	if err != nil {
		return err
	}
	inline := tma.PreviewOf(a.Name, a.ContentType) == tma.PreviewImage
	why := tma.AccessDownload
	if inline {
		why = tma.AccessPreview
	}
	return s.sendFile(c, sentFile{Name: a.Name, ContentType: a.ContentType, Size: a.Size, ETag: `"` + hex.EncodeToString(a.SealingID) + `"`,
		Modified: a.UploadedAt, Inline: inline,
		Open: func(ctx context.Context, off, n int64) (io.ReadCloser, error) {
			return s.deps.WikiAttachments.Open(ctx, p.Tenant.ID, space, slug, a.ID, off, n, why, p.User)
		}})
}
