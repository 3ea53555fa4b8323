package web

import (
	"bytes"
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/tma-portal/tma/server/tma"
)

// handleCaseExport sends the case file of the case in the URL as a PDF in
// the viewer's language: what the case page shows them, with the texts of
// the notes they may read (a restricted note they may not read is left
// out and only counted), the timeline and the documents with their
// digests, watermarked with the viewer and the time. The export is audited
// before a byte is sent; HEAD renders and records nothing.
func (s *Server) handleCaseExport(c *fiber.Ctx) error {
	if s.deps.CaseFiles == nil {
		return fmt.Errorf("web: no case-file renderer wired")
	}
	p := principal(c)
	ctx, tenantID, caseID := c.UserContext(), p.Tenant.ID, c.Params("id")
	kase, err := s.deps.Cases.FindCase(ctx, tenantID, caseID)
	if err != nil {
		return err
	}
	f := &tma.CaseFile{Case: kase}
	if c.Method() != fiber.MethodHead {
		if f, err = s.caseFile(c, kase); err != nil {
			return err
		}
	}
	var buf bytes.Buffer
	if c.Method() != fiber.MethodHead {
		if err := s.deps.CaseFiles.RenderCaseFile(&buf, f); err != nil {
			return err
		}
		if err := s.deps.Audit.Record(ctx, tma.AuditCaseExported, "case", caseID, "case "+caseID+" pdf"); err != nil {
			return err
		}
	}
	c.Set(fiber.HeaderContentType, "application/pdf")
	c.Set(fiber.HeaderContentDisposition, `attachment; filename="`+f.FileName()+`"`)
	c.Set(fiber.HeaderCacheControl, "no-store")
	return c.Status(fiber.StatusOK).Send(buf.Bytes())
}

// caseFile gathers the case file of kase for the viewer.
func (s *Server) caseFile(c *fiber.Ctx, kase *tma.Case) (*tma.CaseFile, error) {
	p := principal(c)
	ctx, tenantID, caseID := c.UserContext(), p.Tenant.ID, kase.ID
	now := time.Now()
	v := s.newView(c, "case.title", "cases", nil)
	f := &tma.CaseFile{
		Case:       kase,
		Restricted: tma.CanReadRestricted(s.deps.Authz, p.User, caseAccess(c).Roles(now)),
		ExportedAt: now,
		Locale:     v.Locale,
		T:          func(key string) string { return v.T(key) },
		Date:       v.Date,
		Watermark:  v.T("export.watermark", p.User.DisplayName, p.User.Email, v.Date(now)),
	}
	var err error
	if f.Members, err = s.deps.Cases.Members(ctx, tenantID, caseID); err != nil {
		return nil, err
	}
	if f.Persons, err = s.deps.Persons.Persons(ctx, tenantID, caseID); err != nil {
		return nil, err
	}
	if f.Actions, err = s.deps.Actions.Actions(ctx, tenantID, caseID); err != nil {
		return nil, err
	}
	if f.Timeline, err = s.deps.Cases.Timeline(ctx, tenantID, caseID, ""); err != nil {
		return nil, err
	}
	notes, err := s.deps.Notes.Notes(ctx, tenantID, caseID, f.Restricted)
	if err != nil {
		return nil, err
	}
	for _, n := range notes {
		if !f.MayRead(n) {
			f.AddNote(n) // counted, never loaded
			continue
		}
		full, err := s.deps.Notes.Note(ctx, tenantID, caseID, n.ID, 0, f.Restricted)
		if err != nil {
			return nil, err
		}
		f.AddNote(full)
	}
	if err := s.caseFileAssessments(ctx, tenantID, caseID, f); err != nil {
		return nil, err
	}
	docs, err := s.deps.Documents.Documents(ctx, tenantID, caseID)
	if err != nil {
		return nil, err
	}
	for _, d := range docs {
		full, err := s.deps.Documents.Document(ctx, tenantID, caseID, d.ID)
		if err != nil {
			return nil, err
		}
		f.Documents = append(f.Documents, full)
	}
	return f, nil
}

// caseFileAssessments adds the case's submitted assessments to f, each
// with the instrument version it was made with (f.AddAssessment leaves
// drafts out), the ratings of restricted items hidden unless f.Restricted. A version that is gone (ENOTFOUND) leaves the assessment
// with its codes; without an assessment service there is nothing to add.
func (s *Server) caseFileAssessments(ctx context.Context, tenantID, caseID string, f *tma.CaseFile) error {
	if s.deps.Assessments == nil {
		return nil
	}
	list, err := s.deps.Assessments.Assessments(ctx, tenantID, caseID, f.Restricted)
	if err != nil {
		return err
	}
	versions := map[string]*tma.Instrument{}
	for _, a := range list {
		if a.Status == tma.AssessmentDraft {
			continue
		}
		key := a.InstrumentID + "@" + strconv.Itoa(a.InstrumentVersion)
		in, ok := versions[key]
		if !ok && s.deps.Instruments != nil {
			in, err = s.deps.Instruments.Instrument(ctx, tenantID, a.InstrumentID, a.InstrumentVersion)
			if err != nil {
				if tma.ErrorCode(err) != tma.ENOTFOUND {
					return err
				}
				in = nil
			}
			versions[key] = in
		}
		f.AddAssessment(a, in)
	}
	return nil
}
