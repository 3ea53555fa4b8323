package web

import (
	"html/template"
	"strconv"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/tma-portal/tma/server/tma"
)

type noteData struct {
	caseData
	Note     *tma.Note
	HTML     template.HTML // the note's body, rendered
	Versions []int         // newest first
	Latest   bool          // the note is shown at its latest version
	Form     tma.NoteInput // what the edit form shows
}

// noteView loads the case in the URL and one version of the note (?v=,
// latest if none). A restricted note comes back Hidden, without title or
// body, to a viewer who may not read it.
func (s *Server) noteView(c *fiber.Ctx, version int) (*view, error) {
	p := principal(c)
	ctx, tenantID, caseID := c.UserContext(), p.Tenant.ID, c.Params("id")
	kase, err := s.deps.Cases.FindCase(ctx, tenantID, caseID)
	if err != nil {
		return nil, err
	}
	d := noteData{caseData: caseData{Case: kase, Now: time.Now(), Closed: kase.Status == tma.StatusClosed}}
	s.caseRights(c, &d.caseData)
	if d.Note, err = s.deps.Notes.Note(ctx, tenantID, caseID, c.Params("note"), version, d.Restricted); err != nil {
		return nil, err
	}
	if d.Members, err = s.deps.Cases.Members(ctx, tenantID, caseID); err != nil {
		return nil, err
	}
	if !d.Note.Hidden {
		d.HTML = renderMarkdown(d.Note.Body)
		d.Form = tma.NoteInput{Title: d.Note.Title, Body: d.Note.Body, Restricted: d.Note.Restricted, Version: d.Note.Versions}
	}
	for v := d.Note.Versions; v >= 1; v-- {
		d.Versions = append(d.Versions, v)
	}
	d.Latest = d.Note.Version == d.Note.Versions
	v := s.newView(c, "note.title", "cases", d)
	v.TitleArg = kase.Reference
	return v, nil
}

func (s *Server) handleNotePage(c *fiber.Ctx) error {
	version := 0
	if q := c.Query("v"); q != "" {
		n, err := strconv.Atoi(q)
		if err != nil || n < 1 {
			return tma.Errorf(tma.ENOTFOUND, "No such note.")
		}
		version = n
	}
	v, err := s.noteView(c, version)
	if err != nil {
		return err
	}
	return s.render(c, fiber.StatusOK, "note", v)
}

func formNote(c *fiber.Ctx) tma.NoteInput {
	version, _ := strconv.Atoi(bodyValue(c, "version"))
	return tma.NoteInput{Title: bodyValue(c, "title"), Body: bodyValue(c, "body"), Restricted: bodyValue(c, "restricted") == "on", Version: version}
}

func (s *Server) handleNoteAdd(c *fiber.Ctx) error {
	p := principal(c)
	in := formNote(c)
	if err := tma.CheckText("restricted", bodyValue(c, "restricted")); err != nil {
		return err
	}
	n, aerr := s.deps.Notes.AddNote(c.UserContext(), p.Tenant.ID, c.Params("id"), in)
	if aerr == nil {
		return c.Redirect("/cases/"+c.Params("id")+"/notes/"+n.ID, fiber.StatusSeeOther)
	}
	if tma.ErrorCode(aerr) == tma.ENOTFOUND {
		return aerr
	}
	v, err := s.caseView(c)
	if err != nil {
		return err
	}
	return s.outcome(c, v, "case", aerr, "")
}

func (s *Server) handleNoteEdit(c *fiber.Ctx) error {
	p := principal(c)
	in := formNote(c)
	if err := tma.CheckText("restricted", bodyValue(c, "restricted")); err != nil {
		return err
	}
	a := caseAccess(c)
	restricted := tma.CanReadRestricted(s.deps.Authz, p.User, a.Roles(time.Now()))
	_, aerr := s.deps.Notes.EditNote(c.UserContext(), p.Tenant.ID, c.Params("id"), c.Params("note"), in, restricted)
	if aerr == nil {
		return c.Redirect("/cases/"+c.Params("id")+"/notes/"+c.Params("note"), fiber.StatusSeeOther)
	}
	if tma.ErrorCode(aerr) == tma.ENOTFOUND {
		return aerr
	}
	v, err := s.noteView(c, 0)
	if err != nil {
		return err
	}
	if d, ok := v.Data.(noteData); ok && !d.Note.Hidden {
		d.Form = in // keep what was typed
		d.Form.Version = d.Note.Versions
		v.Data = d
	}
	return s.outcome(c, v, "note", aerr, "")
}
