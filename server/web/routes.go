package web

import (
	"strings"

	"github.com/gofiber/fiber/v2"

	"github.com/tma-portal/tma/server/tma"
)

// access says who may call a route. The zero value is invalid, so a route
// registered without a rule cannot exist: deny by default.
type access int

const (
	_ access = iota
	// accessPublic routes need no session. They are all listed in routes().
	accessPublic
	// accessSession routes need any valid session, even one still waiting
	// for its second factor (sign-out).
	accessSession
	// accessPendingMFA routes are the second-factor step of a sign-in.
	accessPendingMFA
	// accessEnrol routes are usable by a signed-in user whose tenant
	// requires MFA before they have set it up.
	accessEnrol
	// accessPermission routes need a complete session and the permission.
	accessPermission
	// accessCase routes are about the case in the URL parameter :id. They
	// need a complete session, the tenant permission perm, and the case
	// permission casePerm from the user's role in that case (membership
	// current, no exclusion), loaded with the request. A case the user may
	// not see answers exactly like a case that does not exist.
	accessCase
)

type rule struct {
	access   access
	perm     tma.Permission
	casePerm tma.Permission // accessCase only
	// stream marks an upload route: its body is not read into memory but
	// streamed to the handler, up to Config.UploadLimit (see limitBody);
	// its CSRF token comes from the X-CSRF-Token header only.
	stream bool
}

// RouteRule describes the authorization of one route, for tests and docs.
type RouteRule struct {
	Method, Path string
	Public       bool
	Rule         string // "public", "session", "pending-mfa" or the tenant permission
	CaseRule     string // for case-scoped routes, the case permission
}

// routes is the whole HTTP surface of TMA, readable on one screen.
func (s *Server) routes() {
	app := s.app
	app.Use(s.requestContext, s.securityHeaders, s.checkEncoding, s.limitBody, s.checkInput)

	// Public: the only routes reachable without a session. The first three
	// come before the session middleware: they need no session, and they
	// answer even while the database is down.
	s.handle(fiber.MethodGet, "/healthz", rule{access: accessPublic}, s.handleHealthz)
	s.handle(fiber.MethodGet, "/readyz", rule{access: accessPublic}, s.handleReadyz)
	s.handle(fiber.MethodGet, "/assets/:name", rule{access: accessPublic}, s.handleAsset)
	// A tenant's anonymous report page and the reporter's mailbox. They come
	// before the session middleware: whoever uses them is anonymous, even
	// with a session cookie, and gets no cookie (see anonymous).
	s.handle(fiber.MethodGet, "/r/:tenant", rule{access: accessPublic}, s.anonymous(s.handleAnonReportPage))
	s.handle(fiber.MethodPost, "/r/:tenant", rule{access: accessPublic}, s.anonymous(s.handleAnonReportFile))
	s.handle(fiber.MethodGet, "/r/:tenant/mailbox", rule{access: accessPublic}, s.anonymous(s.handleMailboxPage))
	s.handle(fiber.MethodPost, "/r/:tenant/mailbox", rule{access: accessPublic}, s.anonymous(s.handleMailbox))
	s.handle(fiber.MethodPost, "/r/:tenant/mailbox/reply", rule{access: accessPublic}, s.anonymous(s.handleMailboxReply))
	app.Use(s.session, s.csrf)
	s.handle(fiber.MethodGet, "/login", rule{access: accessPublic}, s.handleLoginPage)
	s.handle(fiber.MethodPost, "/login", rule{access: accessPublic}, s.handleLogin)

	// Signing in and out.
	s.handle(fiber.MethodGet, "/login/mfa", rule{access: accessPendingMFA}, s.handleMFAPage)
	s.handle(fiber.MethodPost, "/login/mfa", rule{access: accessPendingMFA}, s.handleMFA)
	s.handle(fiber.MethodPost, "/logout", rule{access: accessSession}, s.handleLogout)

	// Own account.
	account := rule{access: accessPermission, perm: tma.PermAccountManage}
	enrol := rule{access: accessEnrol, perm: tma.PermAccountManage}
	s.handle(fiber.MethodGet, "/account", account, s.handleAccountPage)
	s.handle(fiber.MethodPost, "/account/password", account, s.handlePasswordChange)
	s.handle(fiber.MethodPost, "/account/language", account, s.handleLanguageChange)
	s.handle(fiber.MethodPost, "/account/logout-everywhere", account, s.handleLogoutEverywhere)
	s.handle(fiber.MethodGet, "/account/mfa", enrol, s.handleMFAEnrolPage)
	s.handle(fiber.MethodPost, "/account/mfa", enrol, s.handleMFAEnrol)
	s.handle(fiber.MethodPost, "/account/mfa/remove", account, s.handleMFARemove)

	// Portal.
	s.handle(fiber.MethodGet, "/", rule{access: accessPermission, perm: tma.PermDashboardView}, s.handleDashboard)

	// Administration: users and tenant settings.
	usersRead := rule{access: accessPermission, perm: tma.PermUsersRead}
	usersManage := rule{access: accessPermission, perm: tma.PermUsersManage}
	s.handle(fiber.MethodGet, "/admin/users", usersRead, s.handleUsersPage)
	s.handle(fiber.MethodPost, "/admin/users", usersManage, s.handleUserCreate)
	s.handle(fiber.MethodGet, "/admin/users/:id", usersRead, s.handleUserPage)
	s.handle(fiber.MethodPost, "/admin/users/:id/roles", usersManage, s.handleUserRoles)
	s.handle(fiber.MethodPost, "/admin/users/:id/password", usersManage, s.handleUserPasswordReset)
	s.handle(fiber.MethodPost, "/admin/users/:id/sessions/revoke", usersManage, s.handleUserRevoke)
	s.handle(fiber.MethodPost, "/admin/users/:id/status", usersManage, s.handleUserStatus)
	s.handle(fiber.MethodPost, "/admin/users/:id/unlock", usersManage, s.handleUserUnlock)
	tenant := rule{access: accessPermission, perm: tma.PermTenantManage}
	s.handle(fiber.MethodGet, "/admin/settings", tenant, s.handleSettingsPage)
	s.handle(fiber.MethodPost, "/admin/settings", tenant, s.handleSettingsChange)

	// Case folders. The list shows only the user's own cases; every route
	// with a case id is case-scoped.
	casesRead := rule{access: accessPermission, perm: tma.PermCasesRead}
	casesCreate := rule{access: accessPermission, perm: tma.PermCasesCreate}
	caseRead := rule{access: accessCase, perm: tma.PermCasesRead, casePerm: tma.CasePermRead}
	caseManage := rule{access: accessCase, perm: tma.PermCasesWrite, casePerm: tma.CasePermManage}
	s.handle(fiber.MethodGet, "/cases", casesRead, s.handleCasesPage)
	s.handle(fiber.MethodGet, "/cases/new", casesCreate, s.handleCaseNewPage)
	s.handle(fiber.MethodPost, "/cases", casesCreate, s.handleCaseCreate)
	s.handle(fiber.MethodGet, "/cases/:id", caseRead, s.handleCasePage)
	s.handle(fiber.MethodPost, "/cases/:id/state", caseManage, s.handleCaseState)
	s.handle(fiber.MethodPost, "/cases/:id/members", caseManage, s.handleCaseMemberAdd)
	s.handle(fiber.MethodPost, "/cases/:id/members/:user", caseManage, s.handleCaseMemberChange)
	s.handle(fiber.MethodPost, "/cases/:id/members/:user/remove", caseManage, s.handleCaseMemberRemove)
	s.handle(fiber.MethodPost, "/cases/:id/exclusions", caseManage, s.handleCaseExclude)
	s.handle(fiber.MethodPost, "/cases/:id/exclusions/:user/remove", caseManage, s.handleCaseExclusionLift)
	s.handle(fiber.MethodPost, "/cases/:id/approvals/:approval/approve", caseManage, s.handleApprovalApprove)
	s.handle(fiber.MethodPost, "/cases/:id/approvals/:approval/reject", caseManage, s.handleApprovalReject)
	// The last lead hands the case over: a lead asks, and a threat manager
	// who is a member of the case in any role takes it (the service checks
	// both again; see CaseService.RequestHandover).
	caseTakeOver := rule{access: accessCase, perm: tma.PermCasesWrite, casePerm: tma.CasePermRead}
	s.handle(fiber.MethodPost, "/cases/:id/handover", caseManage, s.handleHandoverRequest)
	s.handle(fiber.MethodPost, "/cases/:id/handover/:approval/accept", caseTakeOver, s.handleHandoverAccept)
	s.handle(fiber.MethodGet, "/cases/:id/timeline", caseRead, s.handleTimelinePage)
	// The case file as a PDF: what the case page shows the viewer, with the
	// note texts they may read; audited.
	s.handle(fiber.MethodGet, "/cases/:id/export.pdf", caseRead, s.handleCaseExport)

	// Case work: notes (restricted ones readable by lead and legal only,
	// decided in the handler with tma.CanReadRestricted) and action plans.
	caseContribute := rule{access: accessCase, perm: tma.PermCasesContribute, casePerm: tma.CasePermContribute}
	s.handle(fiber.MethodPost, "/cases/:id/notes", caseContribute, s.handleNoteAdd)
	s.handle(fiber.MethodGet, "/cases/:id/notes/:note", caseRead, s.handleNotePage)
	s.handle(fiber.MethodPost, "/cases/:id/notes/:note", caseContribute, s.handleNoteEdit)
	s.handle(fiber.MethodPost, "/cases/:id/actions", caseContribute, s.handleActionAdd)
	s.handle(fiber.MethodPost, "/cases/:id/actions/:action", caseContribute, s.handleActionChange)
	s.handle(fiber.MethodPost, "/cases/:id/persons", caseContribute, s.handlePersonAdd)
	s.handle(fiber.MethodPost, "/cases/:id/persons/:person/remove", caseContribute, s.handlePersonRemove)
	s.handle(fiber.MethodGet, "/tasks", casesRead, s.handleTasksPage)
	// A case uses process pages (the wiki); :page is the page id.
	s.handle(fiber.MethodPost, "/cases/:id/wiki", caseContribute, s.handleCaseWikiLink)
	s.handle(fiber.MethodPost, "/cases/:id/wiki/:page/remove", caseContribute, s.handleCaseWikiUnlink)

	// Documents: uploads stream (multipart, one or more files); every read
	// of a document's bytes is audited by DocumentService.Open. Deleting a
	// version is a four-eyes request, decided on the case page.
	caseUpload := caseContribute
	caseUpload.stream = true
	s.handle(fiber.MethodPost, "/cases/:id/documents", caseUpload, s.handleDocumentUpload)
	s.handle(fiber.MethodGet, "/cases/:id/documents/:doc", caseRead, s.handleDocumentPage)
	s.handle(fiber.MethodPost, "/cases/:id/documents/:doc/versions", caseUpload, s.handleDocumentVersionUpload)
	s.handle(fiber.MethodGet, "/cases/:id/documents/:doc/versions/:v/download", caseRead, s.handleDocumentDownload)
	s.handle(fiber.MethodGet, "/cases/:id/documents/:doc/versions/:v/preview", caseRead, s.handleDocumentPreview)
	s.handle(fiber.MethodPost, "/cases/:id/documents/:doc/versions/:v/delete", caseManage, s.handleDocumentDeleteRequest)

	// Assessments (structured professional judgment): a draft is started,
	// saved (the form, or the page's autosave asking for JSON) and
	// submitted by threat managers who contribute to the case; the second
	// approver of a pending one is another threat manager of the case (the
	// service refuses the author and the submitter). Reading one is reading
	// the case. :assessment is the assessment's id.
	assessWrite := rule{access: accessCase, perm: tma.PermAssessmentsWrite, casePerm: tma.CasePermContribute}
	assessApprove := rule{access: accessCase, perm: tma.PermAssessmentsApprove, casePerm: tma.CasePermContribute}
	s.handle(fiber.MethodPost, "/cases/:id/assessments", assessWrite, s.handleAssessmentStart)
	s.handle(fiber.MethodGet, "/cases/:id/assessments/:assessment", caseRead, s.handleAssessmentPage)
	s.handle(fiber.MethodPost, "/cases/:id/assessments/:assessment", assessWrite, s.handleAssessmentSave)
	s.handle(fiber.MethodPost, "/cases/:id/assessments/:assessment/submit", assessWrite, s.handleAssessmentSubmit)
	s.handle(fiber.MethodPost, "/cases/:id/assessments/:assessment/approve", assessApprove, s.handleAssessmentApprove)
	s.handle(fiber.MethodPost, "/cases/:id/assessments/:assessment/reject", assessApprove, s.handleAssessmentReject)
	s.handle(fiber.MethodPost, "/cases/:id/assessments/:assessment/discard", assessWrite, s.handleAssessmentDiscard)

	// Assessment instruments, versioned data: the case-working roles read
	// them; threat managers upload a new version (a small YAML file, read
	// whole and checked before anything is stored). :instrument is the
	// instrument's id and :version its version number.
	instrumentsRead := rule{access: accessPermission, perm: tma.PermInstrumentsRead}
	s.handle(fiber.MethodGet, "/instruments", instrumentsRead, s.handleInstrumentsPage)
	s.handle(fiber.MethodPost, "/instruments", rule{access: accessPermission, perm: tma.PermInstrumentsManage}, s.handleInstrumentImport)
	s.handle(fiber.MethodGet, "/instruments/:instrument/:version", instrumentsRead, s.handleInstrumentPage)
	s.handle(fiber.MethodGet, "/instruments/:instrument/:version/source", instrumentsRead, s.handleInstrumentSource)

	// Reports (intake). Everyone files reports and follows their own; only
	// threat managers triage. A report's :id is checked in the service: the
	// reporter's own, or for the team one that does not name the viewer.
	reportsFile := rule{access: accessPermission, perm: tma.PermReportsFile}
	triage := rule{access: accessPermission, perm: tma.PermReportsTriage}
	s.handle(fiber.MethodGet, "/reports", reportsFile, s.handleReportsPage)
	s.handle(fiber.MethodGet, "/reports/new", reportsFile, s.handleReportNewPage)
	s.handle(fiber.MethodPost, "/reports", reportsFile, s.handleReportFile)
	s.handle(fiber.MethodGet, "/reports/:id", reportsFile, s.handleReportPage)
	s.handle(fiber.MethodPost, "/reports/:id/messages", reportsFile, s.handleReportMessage)
	s.handle(fiber.MethodGet, "/intake", triage, s.handleIntakePage)
	s.handle(fiber.MethodGet, "/intake/:id", triage, s.handleIntakeReportPage)
	s.handle(fiber.MethodPost, "/intake/:id/messages", triage, s.handleIntakeAsk)
	s.handle(fiber.MethodPost, "/intake/:id/open", triage, s.handleIntakeOpen)
	s.handle(fiber.MethodPost, "/intake/:id/merge", triage, s.handleIntakeMerge)
	s.handle(fiber.MethodPost, "/intake/:id/dismiss", triage, s.handleIntakeDismiss)

	// The process-documentation wiki. wiki:read and wiki:edit open the
	// routes; the service then judges every page by the space's grants and
	// the page's narrowing, and a page the viewer may not read answers like
	// one that does not exist. :page is the page's address in its space;
	// "new", "settings", "preview" and "pages" are reserved (tma.WikiPageInput).
	// Applying a checklist needs case contribution: the handler checks the
	// chosen case like a case route (404 for a case the viewer may not
	// contribute to).
	wikiRead := rule{access: accessPermission, perm: tma.PermWikiRead}
	wikiEdit := rule{access: accessPermission, perm: tma.PermWikiEdit}
	wikiManage := rule{access: accessPermission, perm: tma.PermWikiManage}
	s.handle(fiber.MethodGet, "/wiki", wikiRead, s.handleWikiPage)
	s.handle(fiber.MethodPost, "/wiki/preview", wikiEdit, s.handleWikiPreview)
	s.handle(fiber.MethodGet, "/wiki/:space", wikiRead, s.handleWikiSpacePage)
	s.handle(fiber.MethodGet, "/wiki/:space/new", wikiEdit, s.handleWikiNewPage)
	s.handle(fiber.MethodPost, "/wiki/:space/pages", wikiEdit, s.handleWikiCreate)
	s.handle(fiber.MethodGet, "/wiki/:space/settings", wikiManage, s.handleWikiSettingsPage)
	s.handle(fiber.MethodPost, "/wiki/:space/settings", wikiManage, s.handleWikiSettings)
	s.handle(fiber.MethodGet, "/wiki/:space/:page", wikiRead, s.handleWikiPageView)
	s.handle(fiber.MethodPost, "/wiki/:space/:page", wikiEdit, s.handleWikiSave)
	s.handle(fiber.MethodGet, "/wiki/:space/:page/edit", wikiEdit, s.handleWikiEditPage)
	s.handle(fiber.MethodGet, "/wiki/:space/:page/history", wikiRead, s.handleWikiHistoryPage)
	s.handle(fiber.MethodGet, "/wiki/:space/:page/diff", wikiRead, s.handleWikiDiffPage)
	s.handle(fiber.MethodGet, "/wiki/:space/:page/revisions/:rev", wikiRead, s.handleWikiRevisionPage)
	s.handle(fiber.MethodPost, "/wiki/:space/:page/revisions/:rev/restore", wikiEdit, s.handleWikiRestore)
	s.handle(fiber.MethodPost, "/wiki/:space/:page/access", wikiManage, s.handleWikiAccess)
	s.handle(fiber.MethodPost, "/wiki/:space/:page/apply", rule{access: accessPermission, perm: tma.PermCasesContribute}, s.handleWikiApply)
	// A page's files: uploads stream like documents and need the right to
	// edit the page; reading one needs the right to read the page, and is
	// audited. Images are sent inline (for the page to show), anything else
	// as a download. :name is the file's name on the page.
	wikiUpload := wikiEdit
	wikiUpload.stream = true
	s.handle(fiber.MethodPost, "/wiki/:space/:page/attachments", wikiUpload, s.handleWikiAttachmentUpload)
	s.handle(fiber.MethodGet, "/wiki/:space/:page/attachments/:name", wikiRead, s.handleWikiAttachment)

	// Search: the page and the header's quick search (JSON). The route lets
	// in the roles that can have anything to find; what each finds is
	// decided by their scope, from the database with every query, and each
	// hit is checked again before it is shown (see handle_search.go).
	search := rule{access: accessPermission, perm: tma.PermSearch}
	s.handle(fiber.MethodGet, "/search", search, s.handleSearchPage)
	s.handle(fiber.MethodGet, "/search/suggest", search, s.handleSearchSuggest)

	// Audit log: auditors only.
	audit := rule{access: accessPermission, perm: tma.PermAuditRead}
	s.handle(fiber.MethodGet, "/audit", audit, s.handleAuditPage)
	s.handle(fiber.MethodPost, "/audit/verify", audit, s.handleAuditVerify)

	// JSON API (same session and CSRF rules as the pages).
	s.handle(fiber.MethodGet, "/api/v1/me", rule{access: accessPermission, perm: tma.PermAccountManage}, s.handleAPIMe)
	s.handle(fiber.MethodGet, "/api/v1/users", usersRead, s.handleAPIUsers)
	s.handle(fiber.MethodPost, "/api/v1/users", usersManage, s.handleAPIUserCreate)
	s.handle(fiber.MethodGet, "/api/v1/users/:id", usersRead, s.handleAPIUser)
	s.handle(fiber.MethodPut, "/api/v1/users/:id/roles", usersManage, s.handleAPIUserRoles)
	s.handle(fiber.MethodGet, "/api/v1/audit", audit, s.handleAPIAudit)

	app.Use(s.handleNotFound)
}

// handle registers a route behind the authorization of r. It is the only
// way routes are added, so every route has a rule.
func (s *Server) handle(method, path string, r rule, h fiber.Handler) {
	if r.access == 0 || (r.access >= accessEnrol && r.perm == (tma.Permission{})) {
		panic("web: route " + method + " " + path + " has no authorization rule")
	}
	if (r.access == accessCase) != (r.casePerm != (tma.Permission{})) || (r.access == accessCase && !strings.Contains(path, "/:id")) {
		panic("web: route " + method + " " + path + ": a case-scoped route needs a case permission and a :id, and only it")
	}
	s.rules[method+" "+path] = r
	if r.stream {
		if method != fiber.MethodPost && method != fiber.MethodPut {
			panic("web: route " + method + " " + path + ": only POST and PUT routes stream")
		}
		s.streams = append(s.streams, newStreamRoute(method, path))
	}
	s.app.Add(method, path, s.authorize(r), h)
	if method == fiber.MethodGet {
		// HEAD answers like GET; fasthttp drops the body.
		s.rules[fiber.MethodHead+" "+path] = r
		s.app.Add(fiber.MethodHead, path, s.authorize(r), h)
	}
}

// App returns the Fiber app, for tests that walk the route stack.
func (s *Server) App() *fiber.App { return s.app }

// Rule returns the authorization rule of a registered route.
func (s *Server) Rule(method, path string) (RouteRule, bool) {
	r, ok := s.rules[method+" "+path]
	if !ok {
		return RouteRule{}, false
	}
	rr := RouteRule{Method: method, Path: path, Public: r.access == accessPublic}
	switch r.access {
	case accessPublic:
		rr.Rule = "public"
	case accessSession:
		rr.Rule = "session"
	case accessPendingMFA:
		rr.Rule = "pending-mfa"
	default:
		rr.Rule = r.perm.String()
	}
	if r.access == accessCase {
		rr.CaseRule = r.casePerm.String()
	}
	return rr, true
}
