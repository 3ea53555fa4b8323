package web

import (
	"strconv"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/tma-portal/tma/server/tma"
)

// The form of an assessment names its fields after the item or summary
// judgment they belong to: rating.<item>, evidence.<item>,
// rationale.<item>, links.<item> (several values: ids of the case's notes
// and documents), judgment.<id>, judgment_rationale.<id>, and the hidden
// revision the edit started from. An instrument of 500 items makes some
// 2,000 fields: the form is sent URL-encoded (the page's form and its
// autosave both), which fasthttp parses without a limit on the number of
// fields; Go's multipart reader would stop at 1,000 parts.
const (
	fieldRating            = "rating."
	fieldEvidence          = "evidence."
	fieldRationale         = "rationale."
	fieldLinks             = "links."
	fieldJudgment          = "judgment."
	fieldJudgmentRationale = "judgment_rationale."
	// fieldRestrictedHidden ("1") marks a form drawn without inputs for
	// the restricted items, for a viewer who could not read them then.
	fieldRestrictedHidden = "restricted_hidden"
)

// savesRestricted reports whether a save or submission writes the
// ratings of restricted items from what it sends: its sender may read
// them now, and the form they send showed them. A form drawn before the
// sender got the right has no inputs for them, and taking their absence
// for "unrated" would wipe ratings the sender never saw.
func (s *Server) savesRestricted(c *fiber.Ctx) bool {
	return s.readsRestricted(c) && bodyValue(c, fieldRestrictedHidden) != "1"
}

// formAssessment reads an assessment form. Ratings and judgments with
// nothing filled in are left out; which items and values exist is the
// service's to check (EINVALID for an item the instrument lacks).
func formAssessment(c *fiber.Ctx) (tma.AssessmentInput, error) {
	in := tma.AssessmentInput{Ratings: map[string]tma.Rating{}, Judgments: map[string]tma.Judgment{}}
	rev := bodyValue(c, "revision")
	n, err := strconv.Atoi(rev)
	if err != nil || n < 1 {
		return in, tma.Errorf(tma.EINVALID, "The form is incomplete: its revision is missing. Reload the page and enter your changes again.")
	}
	in.Revision = n
	visit := func(k, v string) {
		switch {
		case strings.HasPrefix(k, fieldRating):
			id := k[len(fieldRating):]
			r := in.Ratings[id]
			r.Value = v
			in.Ratings[id] = r
		case strings.HasPrefix(k, fieldEvidence):
			id := k[len(fieldEvidence):]
			r := in.Ratings[id]
			r.Evidence = v
			in.Ratings[id] = r
		case strings.HasPrefix(k, fieldRationale):
			id := k[len(fieldRationale):]
			r := in.Ratings[id]
			r.Rationale = v
			in.Ratings[id] = r
		case strings.HasPrefix(k, fieldLinks):
			id := k[len(fieldLinks):]
			r := in.Ratings[id]
			if v != "" {
				r.Links = append(r.Links, v)
			}
			in.Ratings[id] = r
		case strings.HasPrefix(k, fieldJudgmentRationale):
			id := k[len(fieldJudgmentRationale):]
			j := in.Judgments[id]
			j.Rationale = v
			in.Judgments[id] = j
		case strings.HasPrefix(k, fieldJudgment):
			id := k[len(fieldJudgment):]
			j := in.Judgments[id]
			j.Value = v
			in.Judgments[id] = j
		}
	}
	if strings.HasPrefix(strings.ToLower(c.Get(fiber.HeaderContentType)), fiber.MIMEMultipartForm) {
		form, err := c.MultipartForm()
		if err != nil {
			return in, tma.Errorf(tma.EINVALID, "The form could not be read.")
		}
		for k, vs := range form.Value {
			for _, v := range vs {
				visit(k, v)
			}
		}
	} else {
		c.Request().PostArgs().VisitAll(func(k, v []byte) { visit(string(k), string(v)) })
	}
	for id, r := range in.Ratings {
		if r.Value == "" && strings.TrimSpace(r.Evidence) == "" && strings.TrimSpace(r.Rationale) == "" && len(r.Links) == 0 {
			delete(in.Ratings, id)
		}
	}
	for id, j := range in.Judgments {
		if j.Value == "" && strings.TrimSpace(j.Rationale) == "" {
			delete(in.Judgments, id)
		}
	}
	return in, nil
}

// assessmentData is the assessment page.
type assessmentData struct {
	caseData
	Assessment *tma.Assessment
	Instrument *tma.Instrument
	Sections   []sectionView
	Judgments  []judgmentView
	// Fired are the rules behind the assessment's reasons for a second
	// approver (and LowersRisk for a lowered risk level).
	Fired      []tma.Rule
	LowersRisk bool
	// Previous is the final assessment this one started from, and
	// Changes its items that changed since (ChangeSame left out); Added
	// and Removed are the items a version change added or removed, to be
	// reviewed.
	Previous           *tma.Assessment
	PreviousInstrument *tma.Instrument
	Changes            []tma.ItemChange
	Added, Removed     []tma.ItemChange
	// Editable: the viewer may change this draft. Decide: the viewer may
	// approve it (a second threat manager); Withdraw: the viewer may send
	// it back to draft.
	Editable, Decide, Withdraw bool
	// Links are the notes and documents an item may cite.
	Links     []linkChoice
	LinkNames map[string]string
	Revision  int // what the form's hidden field holds
	Conflict  bool
	// ConflictItems name the items the stored draft holds differently
	// from the refused input, ConflictJudgments whether a judgment
	// differs: what saving again would replace.
	ConflictItems     []string
	ConflictJudgments bool
}

// sectionView is a section of the instrument with the ratings.
type sectionView struct {
	Section *tma.Section
	Items   []itemView
}

// itemView is an item, its scale and its rating. A Hidden rating (a
// restricted item the viewer may not read) shows neither value nor texts,
// and the draft form has no inputs for it.
type itemView struct {
	Item       *tma.Item
	Values     []tma.ScaleValue
	Rating     tma.Rating
	Hidden     bool
	ValueLabel string // of the rating's value, "" if not rated
	Present    bool   // the value counts as present
	Links      map[string]bool
	Change     *tma.ItemChange // since the previous assessment, nil if none
}

// judgmentView is a summary judgment and its value.
type judgmentView struct {
	Judgment   *tma.SummaryJudgment
	Values     []tma.ScaleValue
	Value      tma.Judgment
	ValueLabel string
}

// linkChoice is a note or document an item's rating may cite.
type linkChoice struct {
	ID, Name string
	Document bool
}

// caseRightsAssess fills what the viewer may do with assessments.
func (s *Server) assessRights(c *fiber.Ctx, now time.Time) (write, approve bool) {
	p := principal(c)
	roles := caseAccess(c).Roles(now)
	return s.deps.Authz.CanCase(p.User, roles, tma.PermAssessmentsWrite, tma.CasePermContribute),
		s.deps.Authz.CanCase(p.User, roles, tma.PermAssessmentsApprove, tma.CasePermContribute)
}

// readsRestricted reports whether the viewer may read the restricted
// (GDPR Art. 9/10) content of the case in the URL: restricted notes and
// the ratings of restricted items.
func (s *Server) readsRestricted(c *fiber.Ctx) bool {
	return tma.CanReadRestricted(s.deps.Authz, principal(c).User, caseAccess(c).Roles(time.Now()))
}

// assessmentView loads the case and the assessment in the URL. form, if
// not nil, is what the user sent, shown instead of the stored draft (after
// a refused save), with the stored revision.
func (s *Server) assessmentView(c *fiber.Ctx, form *tma.AssessmentInput) (*view, error) {
	p := principal(c)
	ctx, tenantID, caseID := c.UserContext(), p.Tenant.ID, c.Params("id")
	kase, err := s.deps.Cases.FindCase(ctx, tenantID, caseID)
	if err != nil {
		return nil, err
	}
	restricted := s.readsRestricted(c)
	a, err := s.deps.Assessments.Assessment(ctx, tenantID, caseID, c.Params("assessment"), restricted)
	if err != nil {
		return nil, err
	}
	inst, err := s.deps.Instruments.Instrument(ctx, tenantID, a.InstrumentID, a.InstrumentVersion)
	if err != nil {
		return nil, err
	}
	d := assessmentData{caseData: caseData{Case: kase, Now: time.Now(), Closed: kase.Status == tma.StatusClosed}, Assessment: a, Instrument: inst, Revision: a.Revision}
	s.caseRights(c, &d.caseData)
	write, approve := s.assessRights(c, d.Now)
	d.Editable = write && a.Status == tma.AssessmentDraft && !d.Closed
	author := a.AuthorID == p.User.ID || a.SubmittedBy == p.User.ID
	// The second approver must read everything the judgment rests on.
	d.Decide = approve && a.Status == tma.AssessmentPending && !author && !d.Closed && (restricted || !inst.HasRestricted())
	d.Withdraw = approve && a.Status == tma.AssessmentPending && !d.Closed

	ratings, judgments := a.Ratings, a.Judgments
	if form != nil {
		ratings, judgments = form.Ratings, form.Judgments
		if !s.savesRestricted(c) {
			// The service ignored what the form sent for restricted items
			// too: show the stored ratings, or hide them.
			ratings = inst.KeepRestricted(ratings, a.Ratings)
		}
		if !restricted {
			ratings = inst.HideRestricted(ratings)
		}
	}
	// The notes and documents of the case, to cite and to name.
	d.LinkNames = map[string]string{}
	notes, err := s.deps.Notes.Notes(ctx, tenantID, caseID, d.Restricted)
	if err != nil {
		return nil, err
	}
	for _, n := range notes {
		if !n.Hidden {
			d.Links = append(d.Links, linkChoice{ID: n.ID, Name: n.Title})
			d.LinkNames[n.ID] = n.Title
		}
	}
	docs, err := s.deps.Documents.Documents(ctx, tenantID, caseID)
	if err != nil {
		return nil, err
	}
	for _, doc := range docs {
		if doc.Latest != nil {
			d.Links = append(d.Links, linkChoice{ID: doc.ID, Name: doc.Latest.Name, Document: true})
			d.LinkNames[doc.ID] = doc.Latest.Name
		}
	}

	if a.PreviousID != "" {
		if d.Previous, err = s.deps.Assessments.Assessment(ctx, tenantID, caseID, a.PreviousID, restricted); err != nil {
			return nil, err
		}
		if d.PreviousInstrument, err = s.deps.Instruments.Instrument(ctx, tenantID, d.Previous.InstrumentID, d.Previous.InstrumentVersion); err != nil {
			return nil, err
		}
		cur := *a
		cur.Ratings, cur.Judgments = ratings, judgments
		for _, ch := range tma.DiffAssessments(d.PreviousInstrument, d.Previous, inst, &cur) {
			switch ch.Change {
			case tma.ChangeSame, tma.ChangeHidden:
			case tma.ChangeAdded:
				d.Added = append(d.Added, ch)
			case tma.ChangeRemoved:
				d.Removed = append(d.Removed, ch)
			default:
				d.Changes = append(d.Changes, ch)
			}
		}
	}
	changes := map[string]*tma.ItemChange{}
	for i := range d.Changes {
		changes[d.Changes[i].ItemID] = &d.Changes[i]
	}
	for i := range d.Added {
		changes[d.Added[i].ItemID] = &d.Added[i]
	}

	for si := range inst.Sections {
		sec := &inst.Sections[si]
		sv := sectionView{Section: sec}
		for ii := range sec.Items {
			it := &sec.Items[ii]
			iv := itemView{Item: it, Rating: ratings[it.ID], Links: map[string]bool{}, Change: changes[it.ID]}
			iv.Hidden = iv.Rating.Hidden
			if sc := inst.Scale(it.Scale); sc != nil {
				iv.Values = sc.Values
				if val := sc.Value(iv.Rating.Value); val != nil {
					iv.ValueLabel, iv.Present = val.Label, val.Present
				}
			}
			for _, l := range iv.Rating.Links {
				iv.Links[l] = true
			}
			sv.Items = append(sv.Items, iv)
		}
		d.Sections = append(d.Sections, sv)
	}
	for ji := range inst.Judgments {
		j := &inst.Judgments[ji]
		jv := judgmentView{Judgment: j, Value: judgments[j.ID]}
		if sc := inst.Scale(j.Scale); sc != nil {
			jv.Values = sc.Values
			if val := sc.Value(jv.Value.Value); val != nil {
				jv.ValueLabel = val.Label
			}
		}
		d.Judgments = append(d.Judgments, jv)
	}
	for _, reason := range a.Reasons {
		if reason == tma.ReasonLowersRisk {
			d.LowersRisk = true
			continue
		}
		for _, r := range inst.Rules {
			if r.ID == reason {
				d.Fired = append(d.Fired, r)
			}
		}
	}
	v := s.newView(c, "assessment.title", "cases", d)
	v.TitleArg = kase.Reference
	return v, nil
}

func (s *Server) handleAssessmentPage(c *fiber.Ctx) error {
	v, err := s.assessmentView(c, nil)
	if err != nil {
		return err
	}
	if c.Query("saved") == "1" {
		v.Notice = v.T("assessment.saved")
	}
	return s.render(c, fiber.StatusOK, "assessment", v)
}

// assessmentURL is the page of the assessment in the URL.
func assessmentURL(c *fiber.Ctx, id string) string {
	return "/cases/" + c.Params("id") + "/assessments/" + id
}

// handleAssessmentStart starts a draft with the chosen instrument version
// ("id:version", version 0 or none for the latest).
func (s *Server) handleAssessmentStart(c *fiber.Ctx) error {
	id, version, err := parseInstrumentChoice(bodyValue(c, "instrument"))
	var a *tma.Assessment
	if err == nil {
		a, err = s.deps.Assessments.Start(c.UserContext(), principal(c).Tenant.ID, c.Params("id"), id, version)
	}
	if err == nil {
		return c.Redirect(assessmentURL(c, a.ID), fiber.StatusSeeOther)
	}
	return s.caseAction(c, "", func(string, string) error { return err })
}

// parseInstrumentChoice reads "id:version" (or "id" for the latest).
func parseInstrumentChoice(s string) (string, int, error) {
	id, ver, found := strings.Cut(s, ":")
	version := 0
	if found {
		n, err := strconv.Atoi(ver)
		if err != nil || n < 0 {
			return "", 0, tma.Errorf(tma.EINVALID, "Choose an instrument.")
		}
		version = n
	}
	if id == "" {
		return "", 0, tma.Errorf(tma.EINVALID, "Choose an instrument.")
	}
	return id, version, nil
}

// handleAssessmentSave saves a draft: for the autosave a JSON answer with
// the new revision, for the form a redirect to the page. A refused save
// (a stale revision, an invalid value) shows the page again with what the
// user sent, never losing it.
func (s *Server) handleAssessmentSave(c *fiber.Ctx) error {
	in, err := formAssessment(c)
	var a *tma.Assessment
	if err == nil {
		a, err = s.deps.Assessments.Save(c.UserContext(), principal(c).Tenant.ID, c.Params("id"), c.Params("assessment"), in, s.savesRestricted(c))
	}
	if wantsJSON(c) {
		if err != nil {
			return err // the error handler answers JSON
		}
		return c.JSON(fiber.Map{"revision": a.Revision, "saved_at": a.SavedAt.UTC().Format(time.RFC3339)})
	}
	if err == nil {
		return c.Redirect(assessmentURL(c, a.ID)+"?saved=1", fiber.StatusSeeOther)
	}
	return s.assessmentRefused(c, in, err, "")
}

// assessmentRefused shows the assessment page after a refused change, with
// what the user sent in the form (if it is still a draft they may edit),
// or passes the error on.
func (s *Server) assessmentRefused(c *fiber.Ctx, in tma.AssessmentInput, aerr error, notice string) error {
	if tma.ErrorCode(aerr) == tma.ENOTFOUND {
		return aerr
	}
	form := &in
	if in.Ratings == nil {
		form = nil
	}
	v, err := s.assessmentView(c, form)
	if err != nil {
		return err
	}
	if d, ok := v.Data.(assessmentData); ok && form != nil {
		if !d.Editable {
			// No draft any more: show what is stored.
			if v, err = s.assessmentView(c, nil); err != nil {
				return err
			}
		} else if tma.ErrorCode(aerr) == tma.ECONFLICT {
			d.Conflict = true
			if !s.savesRestricted(c) {
				in.Ratings = d.Instrument.KeepRestricted(in.Ratings, d.Assessment.Ratings) // as the service would
			}
			d.ConflictItems, d.ConflictJudgments = conflicts(d.Instrument, d.Assessment, in)
			v.Data = d
		}
	}
	return s.outcome(c, v, "assessment", aerr, notice)
}

// conflicts names what the stored draft holds differently from the
// user's input in, so that they see what saving again would replace: the
// items (by name) and whether any summary judgment differs.
func conflicts(inst *tma.Instrument, stored *tma.Assessment, in tma.AssessmentInput) (items []string, judgments bool) {
	mine := *stored
	mine.Ratings, mine.Judgments = in.Ratings, in.Judgments
	for _, ch := range tma.DiffAssessments(inst, stored, inst, &mine) {
		if ch.Change == tma.ChangeValue || ch.Change == tma.ChangeText {
			items = append(items, ch.Name)
		}
	}
	for _, j := range inst.Judgments {
		if stored.Judgments[j.ID] != in.Judgments[j.ID] {
			judgments = true
		}
	}
	return items, judgments
}

// handleAssessmentSubmit saves and submits a draft. It is final at once,
// or waits for a second approver when the instrument's rules say so.
func (s *Server) handleAssessmentSubmit(c *fiber.Ctx) error {
	in, err := formAssessment(c)
	var a *tma.Assessment
	if err == nil {
		a, err = s.deps.Assessments.Submit(c.UserContext(), principal(c).Tenant.ID, c.Params("id"), c.Params("assessment"), in, s.savesRestricted(c))
	}
	if err != nil {
		return s.assessmentRefused(c, in, err, "")
	}
	notice := "assessment.submitted.final"
	if a.Status == tma.AssessmentPending {
		notice = "assessment.submitted.pending"
	}
	v, err := s.assessmentView(c, nil)
	if err != nil {
		return err
	}
	return s.outcome(c, v, "assessment", nil, notice)
}

func (s *Server) handleAssessmentApprove(c *fiber.Ctx) error {
	return s.caseAction(c, "assessment.approved", func(tenantID, caseID string) error {
		_, err := s.deps.Assessments.Decide(c.UserContext(), tenantID, caseID, c.Params("assessment"), true, s.readsRestricted(c))
		return err
	})
}

func (s *Server) handleAssessmentReject(c *fiber.Ctx) error {
	return s.caseAction(c, "assessment.rejected", func(tenantID, caseID string) error {
		_, err := s.deps.Assessments.Decide(c.UserContext(), tenantID, caseID, c.Params("assessment"), false, s.readsRestricted(c))
		return err
	})
}

func (s *Server) handleAssessmentDiscard(c *fiber.Ctx) error {
	return s.caseAction(c, "assessment.discarded", func(tenantID, caseID string) error {
		return s.deps.Assessments.Discard(c.UserContext(), tenantID, caseID, c.Params("assessment"))
	})
}
