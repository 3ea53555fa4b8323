package main

import (
	"context"
	"net/http"
	"net/url"
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/tma-portal/tma/server/crypt"
	"github.com/tma-portal/tma/server/postgres"
	"github.com/tma-portal/tma/server/tma"
	"github.com/tma-portal/tma/server/web"
)

// caseWorld is a tenant with one user per persona, a case, and a second
// tenant, for the authorization matrices.
type caseWorld struct {
	srv       *testServer
	tenant    *tma.Tenant
	users     map[string]*tma.User // persona → user
	kase      *tma.Case
	bystander *tma.User // a member that routes with :user name
	note      string    // a note on kase, for :note
	action    string    // an action on kase, for :action
	approval  string    // a pending request of the lead on kase, for :approval
	person    string    // a person involved in kase, for :person
	document  string    // a text document on kase (version 1), for :doc and :v
	wikiPage  string    // a process page's id, for :page on case routes (its address is "escalation")
	// assessment is a final assessment of kase (with the instrument
	// workplace-check, version 1), for :assessment.
	assessment string
}

// work puts a note, an action owned by lead and a four-eyes request of
// lead (to close the case) on the case, for routes that name them.
func (w *caseWorld) work(t *testing.T, lead *tma.User) {
	t.Helper()
	ctx := tma.NewContextWithActor(context.Background(), tma.Actor{UserID: lead.ID, TenantID: w.tenant.ID, Label: lead.Email})
	sealer := crypt.NewCaseRecords(w.srv.CaseKeys)
	n, err := postgres.NewNoteService(w.srv.DB, sealer).AddNote(ctx, w.tenant.ID, w.kase.ID, tma.NoteInput{Title: "First talk", Body: "Went *well*."})
	if err != nil {
		t.Fatal(err)
	}
	a, err := postgres.NewActionService(w.srv.DB, sealer).AddAction(ctx, w.tenant.ID, w.kase.ID, tma.ActionInput{Title: "Talk to HR", OwnerID: lead.ID})
	if err != nil {
		t.Fatal(err)
	}
	ap, err := postgres.NewCaseService(w.srv.DB).SetState(ctx, w.tenant.ID, w.kase.ID, tma.StatusClosed, w.kase.Risk)
	if err != nil || ap == nil {
		t.Fatalf("close request: %v, %v", ap, err)
	}
	p, err := postgres.NewPersonService(w.srv.DB, sealer).AddPerson(ctx, w.tenant.ID, w.kase.ID, tma.PersonInput{Kind: tma.PersonWitness, Name: "A. Witness"})
	if err != nil {
		t.Fatal(err)
	}
	w.note, w.action, w.approval, w.person = n.ID, a.ID, ap.ID, p.ID
	wp, err := postgres.NewWikiService(w.srv.DB, sealer, web.NewWikiMarkup()).CreatePage(ctx, w.tenant.ID, "process",
		tma.WikiPageInput{Title: "Escalation", Body: "# Escalation\n\n- [ ] Call the lead\n"}, lead)
	if err != nil {
		t.Fatal(err)
	}
	w.wikiPage = wp.ID
	c := w.srv.client(t)
	c.login(w.tenant.Slug, lead.Email)
	w.document = uploadDocument(t, c, w.kase.ID, "", "notes.txt", []byte("Talked to the team lead.\n")).ID
	// A final assessment: a rerun of any route on it changes nothing.
	importInstrument(t, c, checkInstrument(1))
	w.assessment = startAssessment(t, c, w.kase.ID, "workplace-check:1")
	_, rev := assessmentPage(t, c, w.kase.ID, w.assessment)
	if status, body := c.post("/cases/"+w.kase.ID+"/assessments/"+w.assessment+"/submit",
		rated(rev, map[string]string{"threat": "absent", "grievance": "absent", "weapons": "absent"}, "moderate", "Nothing present.")); status != http.StatusOK {
		t.Fatalf("submit the assessment: status %d: %.300s", status, body)
	}
}

// replacer fills a case route's parameters with the world's objects.
func (w *caseWorld) replacer(caseID string) *strings.Replacer {
	return strings.NewReplacer(":id", caseID, ":user", w.bystander.ID, ":note", w.note, ":action", w.action, ":approval", w.approval, ":person", w.person, ":name", "app.css", ":doc", w.document, ":v", "1", ":page", w.wikiPage,
		":assessment", w.assessment)
}

// newCaseWorld creates tenant acme with a user for each of the personas
// named in roles, and tenant other with a threat manager ("other tenant").
func newCaseWorld(t *testing.T, srv *testServer, roles map[string]tma.Role) *caseWorld {
	t.Helper()
	ctx := context.Background()
	w := &caseWorld{srv: srv, users: map[string]*tma.User{}}
	tn := &tma.Tenant{Slug: "acme", Name: "Org acme"}
	if err := postgres.NewTenantService(srv.DB).CreateTenant(ctx, tn); err != nil {
		t.Fatal(err)
	}
	w.tenant = tn
	users := postgres.NewUserService(srv.DB)
	add := func(tenantID, slug, persona string, role tma.Role) *tma.User {
		u, err := users.CreateUser(systemCtx(ctx, tenantID), tenantID, tma.NewUser{
			Email: strings.ReplaceAll(persona, " ", "-") + "@" + slug + ".example", DisplayName: "User " + persona, Password: testPassword,
			Roles: []tma.Role{role},
		})
		if err != nil {
			t.Fatal(err)
		}
		return u
	}
	for persona, role := range roles {
		w.users[persona] = add(tn.ID, "acme", persona, role)
	}
	w.bystander = add(tn.ID, "acme", "bystander", tma.RoleLegal)
	other := &tma.Tenant{Slug: "other", Name: "Org other"}
	if err := postgres.NewTenantService(srv.DB).CreateTenant(ctx, other); err != nil {
		t.Fatal(err)
	}
	w.users["other tenant"] = add(other.ID, "other", "other tenant", tma.RoleThreatManager)
	return w
}

// createCase opens a case led by lead.
func (w *caseWorld) createCase(t *testing.T, lead *tma.User) *tma.Case {
	t.Helper()
	ctx := tma.NewContextWithActor(context.Background(), tma.Actor{UserID: lead.ID, TenantID: w.tenant.ID, Label: lead.Email})
	c, err := postgres.NewCaseService(w.srv.DB).CreateCase(ctx, w.tenant.ID, tma.NewCase{Title: "Threats at the depot", Labels: []string{"stalking"}})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// member writes a membership row directly (as a migration or an operator
// in psql could), so that the matrix can hold states the service refuses:
// an expired membership, a member who is also excluded.
func (w *caseWorld) member(t *testing.T, u *tma.User, role tma.CaseRole, expires *time.Time) {
	t.Helper()
	if _, err := w.srv.DB.Pool.Exec(context.Background(), `INSERT INTO case_members (tenant_id, case_id, user_id, role, expires_at)
		VALUES ($1, $2, $3, $4, $5)`, w.tenant.ID, w.kase.ID, u.ID, role, expires); err != nil {
		t.Fatal(err)
	}
}

func (w *caseWorld) exclude(t *testing.T, u *tma.User) {
	t.Helper()
	if _, err := w.srv.DB.Pool.Exec(context.Background(), `INSERT INTO case_exclusions (tenant_id, case_id, user_id) VALUES ($1, $2, $3)`,
		w.tenant.ID, w.kase.ID, u.ID); err != nil {
		t.Fatal(err)
	}
}

// signIn signs every persona in, each with a client of its own.
func (w *caseWorld) signIn(t *testing.T) map[string]*client {
	t.Helper()
	clients := map[string]*client{}
	for persona, u := range w.users {
		c := w.srv.client(t)
		slug := "acme"
		if u.TenantID != w.tenant.ID {
			slug = "other"
		}
		c.login(slug, u.Email)
		clients[persona] = c
	}
	return clients
}

// endsSession are the routes after which a persona signs in again: a new
// sign-in ends the old session first, and so do the sign-outs.
var endsSession = map[string]bool{"POST /login": true, "POST /logout": true, "POST /account/logout-everywhere": true}

func (w *caseWorld) signInAgain(t *testing.T, c *client, persona string) {
	t.Helper()
	slug := "acme"
	if w.users[persona].TenantID != w.tenant.ID {
		slug = "other"
	}
	c.login(slug, w.users[persona].Email)
}

// request sends an empty form (or nothing, for GET and HEAD) with the
// client's CSRF token, asking for HTML.
func request(c *client, method, path string) (int, string, http.Header) {
	c.t.Helper()
	header := map[string]string{"Accept": "text/html", "X-CSRF-Token": c.csrf}
	var form url.Values
	if method != http.MethodGet && method != http.MethodHead {
		form = url.Values{}
	}
	return c.do(method, path, form, header)
}

// Statuses, short, for the tables.
const (
	s200 = http.StatusOK
	s303 = http.StatusSeeOther
	s400 = http.StatusBadRequest
	s403 = http.StatusForbidden
	s404 = http.StatusNotFound
	s409 = http.StatusConflict
)

// rolePersonas are the columns of TestRoleMatrix, in order.
var rolePersonas = []string{"admin", "auditor", "threat manager", "legal", "hr", "compliance", "employee", "other tenant"}

// roleMatrix is the expected status of every route for every persona of
// rolePersonas (same order), with an empty form and a valid CSRF token.
// :id is a case led by the threat manager (legal is expert, hr and
// compliance read-only) on case routes and a spare user on user routes;
// :user is a member of the case; :name is app.css. Written by hand: a
// weakened rule in routes.go changes a cell.
var roleMatrix = map[string][8]int{
	//                                          admin auditor tm   legal hr   compl empl other
	"GET /healthz":                                {s200, s200, s200, s200, s200, s200, s200, s200},
	"HEAD /healthz":                               {s200, s200, s200, s200, s200, s200, s200, s200},
	"GET /readyz":                                 {s200, s200, s200, s200, s200, s200, s200, s200},
	"HEAD /readyz":                                {s200, s200, s200, s200, s200, s200, s200, s200},
	"GET /assets/:name":                           {s200, s200, s200, s200, s200, s200, s200, s200},
	"HEAD /assets/:name":                          {s200, s200, s200, s200, s200, s200, s200, s200},
	"GET /login":                                  {s303, s303, s303, s303, s303, s303, s303, s303},
	"HEAD /login":                                 {s303, s303, s303, s303, s303, s303, s303, s303},
	"POST /login":                                 {s400, s400, s400, s400, s400, s400, s400, s400},
	"GET /login/mfa":                              {s303, s303, s303, s303, s303, s303, s303, s303},
	"HEAD /login/mfa":                             {s303, s303, s303, s303, s303, s303, s303, s303},
	"POST /login/mfa":                             {s303, s303, s303, s303, s303, s303, s303, s303},
	"POST /logout":                                {s303, s303, s303, s303, s303, s303, s303, s303},
	"GET /account":                                {s200, s200, s200, s200, s200, s200, s200, s200},
	"HEAD /account":                               {s200, s200, s200, s200, s200, s200, s200, s200},
	"POST /account/password":                      {s400, s400, s400, s400, s400, s400, s400, s400},
	"POST /account/language":                      {s200, s200, s200, s200, s200, s200, s200, s200},
	"POST /account/logout-everywhere":             {s303, s303, s303, s303, s303, s303, s303, s303},
	"GET /account/mfa":                            {s200, s200, s200, s200, s200, s200, s200, s200},
	"HEAD /account/mfa":                           {s200, s200, s200, s200, s200, s200, s200, s200},
	"POST /account/mfa":                           {s400, s400, s400, s400, s400, s400, s400, s400},
	"POST /account/mfa/remove":                    {s400, s400, s400, s400, s400, s400, s400, s400},
	"GET /":                                       {s200, s200, s200, s200, s200, s200, s200, s200},
	"HEAD /":                                      {s200, s200, s200, s200, s200, s200, s200, s200},
	"GET /cases":                                  {s403, s403, s200, s200, s200, s200, s403, s200},
	"HEAD /cases":                                 {s403, s403, s200, s200, s200, s200, s403, s200},
	"GET /cases/new":                              {s403, s403, s200, s403, s403, s403, s403, s200},
	"HEAD /cases/new":                             {s403, s403, s200, s403, s403, s403, s403, s200},
	"POST /cases":                                 {s403, s403, s400, s403, s403, s403, s403, s400},
	"GET /cases/:id":                              {s403, s403, s200, s200, s200, s200, s403, s404},
	"HEAD /cases/:id":                             {s403, s403, s200, s200, s200, s200, s403, s404},
	"POST /cases/:id/state":                       {s403, s403, s400, s403, s403, s403, s403, s404},
	"POST /cases/:id/members":                     {s403, s403, s400, s403, s403, s403, s403, s404},
	"POST /cases/:id/members/:user":               {s403, s403, s400, s403, s403, s403, s403, s404},
	"POST /cases/:id/members/:user/remove":        {s403, s403, s200, s403, s403, s403, s403, s404},
	"POST /cases/:id/exclusions":                  {s403, s403, s400, s403, s403, s403, s403, s404},
	"POST /cases/:id/exclusions/:user/remove":     {s403, s403, s400, s403, s403, s403, s403, s404},
	"GET /r/:tenant":                              {s200, s200, s200, s200, s200, s200, s200, s200},
	"HEAD /r/:tenant":                             {s200, s200, s200, s200, s200, s200, s200, s200},
	"POST /r/:tenant":                             {s400, s400, s400, s400, s400, s400, s400, s400},
	"GET /r/:tenant/mailbox":                      {s200, s200, s200, s200, s200, s200, s200, s200},
	"HEAD /r/:tenant/mailbox":                     {s200, s200, s200, s200, s200, s200, s200, s200},
	"POST /r/:tenant/mailbox":                     {s400, s400, s400, s400, s400, s400, s400, s400},
	"POST /r/:tenant/mailbox/reply":               {s400, s400, s400, s400, s400, s400, s400, s400},
	"GET /reports":                                {s200, s200, s200, s200, s200, s200, s200, s200},
	"HEAD /reports":                               {s200, s200, s200, s200, s200, s200, s200, s200},
	"GET /reports/new":                            {s200, s200, s200, s200, s200, s200, s200, s200},
	"HEAD /reports/new":                           {s200, s200, s200, s200, s200, s200, s200, s200},
	"POST /reports":                               {s400, s400, s400, s400, s400, s400, s400, s400},
	"GET /reports/:id":                            {s404, s404, s404, s404, s404, s404, s404, s404},
	"HEAD /reports/:id":                           {s404, s404, s404, s404, s404, s404, s404, s404},
	"POST /reports/:id/messages":                  {s404, s404, s404, s404, s404, s404, s404, s404},
	"GET /intake":                                 {s403, s403, s200, s403, s403, s403, s403, s200},
	"HEAD /intake":                                {s403, s403, s200, s403, s403, s403, s403, s200},
	"GET /intake/:id":                             {s403, s403, s404, s403, s403, s403, s403, s404},
	"HEAD /intake/:id":                            {s403, s403, s404, s403, s403, s403, s403, s404},
	"POST /intake/:id/messages":                   {s403, s403, s404, s403, s403, s403, s403, s404},
	"POST /intake/:id/open":                       {s403, s403, s404, s403, s403, s403, s403, s404},
	"POST /intake/:id/merge":                      {s403, s403, s404, s403, s403, s403, s403, s404},
	"POST /intake/:id/dismiss":                    {s403, s403, s404, s403, s403, s403, s403, s404},
	"GET /admin/users":                            {s200, s403, s403, s403, s403, s403, s403, s403},
	"HEAD /admin/users":                           {s200, s403, s403, s403, s403, s403, s403, s403},
	"POST /admin/users":                           {s400, s403, s403, s403, s403, s403, s403, s403},
	"GET /admin/users/:id":                        {s200, s403, s403, s403, s403, s403, s403, s403},
	"HEAD /admin/users/:id":                       {s200, s403, s403, s403, s403, s403, s403, s403},
	"POST /admin/users/:id/roles":                 {s400, s403, s403, s403, s403, s403, s403, s403},
	"POST /admin/users/:id/password":              {s400, s403, s403, s403, s403, s403, s403, s403},
	"POST /admin/users/:id/sessions/revoke":       {s200, s403, s403, s403, s403, s403, s403, s403},
	"POST /admin/users/:id/status":                {s200, s403, s403, s403, s403, s403, s403, s403},
	"POST /admin/users/:id/unlock":                {s200, s403, s403, s403, s403, s403, s403, s403},
	"GET /admin/settings":                         {s200, s403, s403, s403, s403, s403, s403, s403},
	"HEAD /admin/settings":                        {s200, s403, s403, s403, s403, s403, s403, s403},
	"POST /admin/settings":                        {s200, s403, s403, s403, s403, s403, s403, s403},
	"GET /audit":                                  {s403, s200, s403, s403, s403, s403, s403, s403},
	"HEAD /audit":                                 {s403, s200, s403, s403, s403, s403, s403, s403},
	"POST /audit/verify":                          {s403, s200, s403, s403, s403, s403, s403, s403},
	"GET /api/v1/me":                              {s200, s200, s200, s200, s200, s200, s200, s200},
	"HEAD /api/v1/me":                             {s200, s200, s200, s200, s200, s200, s200, s200},
	"GET /api/v1/users":                           {s200, s403, s403, s403, s403, s403, s403, s403},
	"HEAD /api/v1/users":                          {s200, s403, s403, s403, s403, s403, s403, s403},
	"POST /api/v1/users":                          {s400, s403, s403, s403, s403, s403, s403, s403},
	"GET /api/v1/users/:id":                       {s200, s403, s403, s403, s403, s403, s403, s403},
	"HEAD /api/v1/users/:id":                      {s200, s403, s403, s403, s403, s403, s403, s403},
	"PUT /api/v1/users/:id/roles":                 {s400, s403, s403, s403, s403, s403, s403, s403},
	"GET /api/v1/audit":                           {s403, s200, s403, s403, s403, s403, s403, s403},
	"HEAD /api/v1/audit":                          {s403, s200, s403, s403, s403, s403, s403, s403},
	"POST /cases/:id/approvals/:approval/approve": {s403, s403, s403, s403, s403, s403, s403, s404},
	"POST /cases/:id/approvals/:approval/reject":  {s403, s403, s200, s403, s403, s403, s403, s404},
	// The threat manager leads the case and files a hand-over request; the
	// accept route lets threat managers who are members through, and the
	// service answers 400 for :approval, which is a close request.
	"POST /cases/:id/handover":                            {s403, s403, s200, s403, s403, s403, s403, s404},
	"POST /cases/:id/handover/:approval/accept":           {s403, s403, s400, s403, s403, s403, s403, s404},
	"POST /cases/:id/persons":                             {s403, s403, s400, s400, s403, s403, s403, s404},
	"POST /cases/:id/persons/:person/remove":              {s403, s403, s200, s400, s403, s403, s403, s404},
	"GET /cases/:id/timeline":                             {s403, s403, s200, s200, s200, s200, s403, s404},
	"HEAD /cases/:id/timeline":                            {s403, s403, s200, s200, s200, s200, s403, s404},
	"GET /cases/:id/export.pdf":                           {s403, s403, s200, s200, s200, s200, s403, s404},
	"HEAD /cases/:id/export.pdf":                          {s403, s403, s200, s200, s200, s200, s403, s404},
	"POST /cases/:id/notes":                               {s403, s403, s400, s400, s403, s403, s403, s404},
	"GET /cases/:id/notes/:note":                          {s403, s403, s200, s200, s200, s200, s403, s404},
	"HEAD /cases/:id/notes/:note":                         {s403, s403, s200, s200, s200, s200, s403, s404},
	"POST /cases/:id/notes/:note":                         {s403, s403, s400, s400, s403, s403, s403, s404},
	"POST /cases/:id/actions":                             {s403, s403, s400, s400, s403, s403, s403, s404},
	"POST /cases/:id/actions/:action":                     {s403, s403, s400, s400, s403, s403, s403, s404},
	"POST /cases/:id/documents":                           {s403, s403, s400, s400, s403, s403, s403, s404},
	"POST /cases/:id/documents/:doc/versions":             {s403, s403, s400, s400, s403, s403, s403, s404},
	"GET /cases/:id/documents/:doc":                       {s403, s403, s200, s200, s200, s200, s403, s404},
	"HEAD /cases/:id/documents/:doc":                      {s403, s403, s200, s200, s200, s200, s403, s404},
	"GET /cases/:id/documents/:doc/versions/:v/download":  {s403, s403, s200, s200, s200, s200, s403, s404},
	"HEAD /cases/:id/documents/:doc/versions/:v/download": {s403, s403, s200, s200, s200, s200, s403, s404},
	"GET /cases/:id/documents/:doc/versions/:v/preview":   {s403, s403, s200, s200, s200, s200, s403, s404},
	"HEAD /cases/:id/documents/:doc/versions/:v/preview":  {s403, s403, s200, s200, s200, s200, s403, s404},
	"POST /cases/:id/documents/:doc/versions/:v/delete":   {s403, s403, s200, s403, s403, s403, s403, s404},
	"GET /tasks":  {s403, s403, s200, s200, s200, s200, s403, s200},
	"HEAD /tasks": {s403, s403, s200, s200, s200, s200, s403, s200},
	// The wiki: admins manage grants and read no pages, auditors read and
	// never edit, employees see nothing; the process space is edited by
	// threat managers only. "other tenant" has its own process space,
	// without the page "escalation". Empty forms are invalid (400); a
	// restore of revision 1 and an access change with no narrowing succeed.
	"GET /wiki":                                      {s403, s200, s200, s200, s200, s200, s403, s200},
	"HEAD /wiki":                                     {s403, s200, s200, s200, s200, s200, s403, s200},
	"POST /wiki/preview":                             {s403, s403, s200, s200, s200, s200, s403, s200},
	"GET /wiki/:space":                               {s403, s200, s200, s200, s200, s200, s403, s200},
	"HEAD /wiki/:space":                              {s403, s200, s200, s200, s200, s200, s403, s200},
	"GET /wiki/:space/new":                           {s403, s403, s200, s403, s403, s403, s403, s200},
	"HEAD /wiki/:space/new":                          {s403, s403, s200, s403, s403, s403, s403, s200},
	"POST /wiki/:space/pages":                        {s403, s403, s400, s403, s403, s403, s403, s400},
	"GET /wiki/:space/settings":                      {s200, s403, s200, s403, s403, s403, s403, s200},
	"HEAD /wiki/:space/settings":                     {s200, s403, s200, s403, s403, s403, s403, s200},
	"POST /wiki/:space/settings":                     {s400, s403, s400, s403, s403, s403, s403, s400},
	"GET /wiki/:space/:page":                         {s403, s200, s200, s200, s200, s200, s403, s404},
	"HEAD /wiki/:space/:page":                        {s403, s200, s200, s200, s200, s200, s403, s404},
	"POST /wiki/:space/:page":                        {s403, s403, s400, s403, s403, s403, s403, s404},
	"GET /wiki/:space/:page/edit":                    {s403, s403, s200, s403, s403, s403, s403, s404},
	"HEAD /wiki/:space/:page/edit":                   {s403, s403, s200, s403, s403, s403, s403, s404},
	"GET /wiki/:space/:page/history":                 {s403, s200, s200, s200, s200, s200, s403, s404},
	"HEAD /wiki/:space/:page/history":                {s403, s200, s200, s200, s200, s200, s403, s404},
	"GET /wiki/:space/:page/diff":                    {s403, s200, s200, s200, s200, s200, s403, s404},
	"HEAD /wiki/:space/:page/diff":                   {s403, s200, s200, s200, s200, s200, s403, s404},
	"GET /wiki/:space/:page/revisions/:rev":          {s403, s200, s200, s200, s200, s200, s403, s404},
	"HEAD /wiki/:space/:page/revisions/:rev":         {s403, s200, s200, s200, s200, s200, s403, s404},
	"POST /wiki/:space/:page/revisions/:rev/restore": {s403, s403, s303, s403, s403, s403, s403, s404},
	"POST /wiki/:space/:page/access":                 {s404, s403, s200, s403, s403, s403, s403, s404},
	"POST /wiki/:space/:page/apply":                  {s403, s403, s404, s404, s404, s404, s403, s404},
	// A page's files: uploading needs the right to edit the page (an empty
	// body is no multipart form: 400); :name is "app.css", which the page
	// does not have (404 for every reader, as for a page they may not read).
	"POST /wiki/:space/:page/attachments":       {s403, s403, s400, s403, s403, s403, s403, s404},
	"GET /wiki/:space/:page/attachments/:name":  {s403, s404, s404, s404, s404, s404, s403, s404},
	"HEAD /wiki/:space/:page/attachments/:name": {s403, s404, s404, s404, s404, s404, s403, s404},
	// Search: the roles with something to find; an empty query is an empty
	// page (and an empty list of suggestions).
	"GET /search":                       {s403, s200, s200, s200, s200, s200, s403, s200},
	"HEAD /search":                      {s403, s200, s200, s200, s200, s200, s403, s200},
	"GET /search/suggest":               {s403, s200, s200, s200, s200, s200, s403, s200},
	"HEAD /search/suggest":              {s403, s200, s200, s200, s200, s200, s403, s200},
	"POST /cases/:id/wiki":              {s403, s403, s400, s400, s403, s403, s403, s404},
	"POST /cases/:id/wiki/:page/remove": {s403, s403, s404, s404, s403, s403, s403, s404},
	// Assessments: threat managers write and approve, the case's members
	// read. :assessment is final: deciding or discarding it is a conflict,
	// an empty form (no revision, no instrument) is invalid.
	"POST /cases/:id/assessments":                     {s403, s403, s400, s403, s403, s403, s403, s404},
	"GET /cases/:id/assessments/:assessment":          {s403, s403, s200, s200, s200, s200, s403, s404},
	"HEAD /cases/:id/assessments/:assessment":         {s403, s403, s200, s200, s200, s200, s403, s404},
	"POST /cases/:id/assessments/:assessment":         {s403, s403, s400, s403, s403, s403, s403, s404},
	"POST /cases/:id/assessments/:assessment/submit":  {s403, s403, s400, s403, s403, s403, s403, s404},
	"POST /cases/:id/assessments/:assessment/approve": {s403, s403, s409, s403, s403, s403, s403, s404},
	"POST /cases/:id/assessments/:assessment/reject":  {s403, s403, s409, s403, s403, s403, s403, s404},
	"POST /cases/:id/assessments/:assessment/discard": {s403, s403, s409, s403, s403, s403, s403, s404},
	// Instruments: the case-working roles read them, threat managers
	// import; "other tenant" has no workplace-check. An empty form has no
	// file.
	"GET /instruments":                              {s403, s403, s200, s200, s200, s200, s403, s200},
	"HEAD /instruments":                             {s403, s403, s200, s200, s200, s200, s403, s200},
	"POST /instruments":                             {s403, s403, s400, s403, s403, s403, s403, s400},
	"GET /instruments/:instrument/:version":         {s403, s403, s200, s200, s200, s200, s403, s404},
	"HEAD /instruments/:instrument/:version":        {s403, s403, s200, s200, s200, s200, s403, s404},
	"GET /instruments/:instrument/:version/source":  {s403, s403, s200, s200, s200, s200, s403, s404},
	"HEAD /instruments/:instrument/:version/source": {s403, s403, s200, s200, s200, s200, s403, s404},
}

// TestRoleMatrix walks every route of the router as every persona and
// compares the status with roleMatrix. A route without a row fails, so
// does a row without a route.
func TestRoleMatrix(t *testing.T) {
	srv := startServer(t, nil)
	w := newCaseWorld(t, srv, map[string]tma.Role{
		"admin": tma.RoleAdmin, "auditor": tma.RoleAuditor, "threat manager": tma.RoleThreatManager, "legal": tma.RoleLegal,
		"hr": tma.RoleHR, "compliance": tma.RoleCompliance, "employee": tma.RoleEmployee, "spare": tma.RoleLegal,
	})
	w.kase = w.createCase(t, w.users["threat manager"])
	w.member(t, w.users["legal"], tma.CaseExpert, nil)
	w.member(t, w.users["hr"], tma.CaseReadOnly, nil)
	w.member(t, w.users["compliance"], tma.CaseReadOnly, nil)
	w.member(t, w.bystander, tma.CaseExpert, nil)
	w.work(t, w.users["threat manager"])
	spare := w.users["spare"]
	delete(w.users, "spare")
	clients := w.signIn(t)

	seen := map[string]bool{}
	var keys []string
	for _, r := range srv.Web.App().GetRoutes(true) {
		key := r.Method + " " + r.Path
		if !seen[key] {
			seen[key] = true
			keys = append(keys, key)
		}
	}
	for key := range roleMatrix {
		if !seen[key] {
			t.Errorf("roleMatrix has a row for %s, which the router lacks", key)
		}
	}
	for _, key := range keys {
		want, ok := roleMatrix[key]
		if !ok {
			t.Errorf("route %s has no row in roleMatrix: write down what every persona gets", key)
			continue
		}
		method, pattern, _ := strings.Cut(key, " ")
		path := strings.NewReplacer(":id", spare.ID, ":name", "app.css", ":tenant", "acme", ":space", "process", ":page", "escalation", ":rev", "1",
			":instrument", "workplace-check", ":version", "1").Replace(pattern)
		if strings.HasPrefix(pattern, "/cases/") {
			path = w.replacer(w.kase.ID).Replace(pattern)
		}
		for i, persona := range rolePersonas {
			c := clients[persona]
			status, body, _ := request(c, method, path)
			if status != want[i] {
				t.Errorf("%s as %s: status %d, want %d: %.200q", key, persona, status, want[i], body)
			}
			if endsSession[key] {
				w.signInAgain(t, c, persona)
			}
		}
	}
}

// needPersonas are the columns of TestNeedToKnowMatrix, in order; the
// last six may not see the case.
var needPersonas = []string{"lead", "expert", "read-only", "tm expert", "expired", "excluded", "non-member", "admin", "auditor", "other tenant"}

// needMatrix is the expected status of every case-scoped route for every
// persona of needPersonas, with an empty form. The lead is a threat
// manager; expert is legal, read-only is hr; "tm expert" is a threat
// manager (who may write cases) with the expert case role (which may not
// manage the case); the expired member is a threat
// manager whose expert membership has ended; the excluded user is a threat
// manager who is also lead (a row put in by hand: the wall must still
// win); admin and auditor are even leads of the case.
var needMatrix = map[string][10]int{
	//                                          lead  expert ro   tmexp expired excl nonmem admin aud  other
	"GET /cases/:id":                              {s200, s200, s200, s200, s404, s404, s404, s403, s403, s404},
	"HEAD /cases/:id":                             {s200, s200, s200, s200, s404, s404, s404, s403, s403, s404},
	"POST /cases/:id/state":                       {s400, s403, s403, s403, s404, s404, s404, s403, s403, s404},
	"POST /cases/:id/members":                     {s400, s403, s403, s403, s404, s404, s404, s403, s403, s404},
	"POST /cases/:id/members/:user":               {s400, s403, s403, s403, s404, s404, s404, s403, s403, s404},
	"POST /cases/:id/members/:user/remove":        {s200, s403, s403, s403, s404, s404, s404, s403, s403, s404},
	"POST /cases/:id/exclusions":                  {s400, s403, s403, s403, s404, s404, s404, s403, s403, s404},
	"POST /cases/:id/exclusions/:user/remove":     {s400, s403, s403, s403, s404, s404, s404, s403, s403, s404},
	"POST /cases/:id/approvals/:approval/approve": {s403, s403, s403, s403, s404, s404, s404, s403, s403, s404},
	"POST /cases/:id/approvals/:approval/reject":  {s200, s403, s403, s403, s404, s404, s404, s403, s403, s404},
	// The lead files a hand-over; whoever the accept route lets through
	// (threat managers who are members, any case role) gets the service's
	// 400 for :approval, a close request, and not a 403.
	"POST /cases/:id/handover":                            {s200, s403, s403, s403, s404, s404, s404, s403, s403, s404},
	"POST /cases/:id/handover/:approval/accept":           {s400, s403, s403, s400, s404, s404, s404, s403, s403, s404},
	"POST /cases/:id/persons":                             {s400, s400, s403, s400, s404, s404, s404, s403, s403, s404},
	"POST /cases/:id/persons/:person/remove":              {s200, s400, s403, s400, s404, s404, s404, s403, s403, s404},
	"GET /cases/:id/timeline":                             {s200, s200, s200, s200, s404, s404, s404, s403, s403, s404},
	"HEAD /cases/:id/timeline":                            {s200, s200, s200, s200, s404, s404, s404, s403, s403, s404},
	"GET /cases/:id/export.pdf":                           {s200, s200, s200, s200, s404, s404, s404, s403, s403, s404},
	"HEAD /cases/:id/export.pdf":                          {s200, s200, s200, s200, s404, s404, s404, s403, s403, s404},
	"POST /cases/:id/notes":                               {s400, s400, s403, s400, s404, s404, s404, s403, s403, s404},
	"GET /cases/:id/notes/:note":                          {s200, s200, s200, s200, s404, s404, s404, s403, s403, s404},
	"HEAD /cases/:id/notes/:note":                         {s200, s200, s200, s200, s404, s404, s404, s403, s403, s404},
	"POST /cases/:id/notes/:note":                         {s400, s400, s403, s400, s404, s404, s404, s403, s403, s404},
	"POST /cases/:id/actions":                             {s400, s400, s403, s400, s404, s404, s404, s403, s403, s404},
	"POST /cases/:id/actions/:action":                     {s400, s400, s403, s400, s404, s404, s404, s403, s403, s404},
	"POST /cases/:id/documents":                           {s400, s400, s403, s400, s404, s404, s404, s403, s403, s404},
	"POST /cases/:id/documents/:doc/versions":             {s400, s400, s403, s400, s404, s404, s404, s403, s403, s404},
	"GET /cases/:id/documents/:doc":                       {s200, s200, s200, s200, s404, s404, s404, s403, s403, s404},
	"HEAD /cases/:id/documents/:doc":                      {s200, s200, s200, s200, s404, s404, s404, s403, s403, s404},
	"GET /cases/:id/documents/:doc/versions/:v/download":  {s200, s200, s200, s200, s404, s404, s404, s403, s403, s404},
	"HEAD /cases/:id/documents/:doc/versions/:v/download": {s200, s200, s200, s200, s404, s404, s404, s403, s403, s404},
	"GET /cases/:id/documents/:doc/versions/:v/preview":   {s200, s200, s200, s200, s404, s404, s404, s403, s403, s404},
	"HEAD /cases/:id/documents/:doc/versions/:v/preview":  {s200, s200, s200, s200, s404, s404, s404, s403, s403, s404},
	"POST /cases/:id/documents/:doc/versions/:v/delete":   {s200, s403, s403, s403, s404, s404, s404, s403, s403, s404},
	"POST /cases/:id/wiki":                                {s400, s400, s403, s400, s404, s404, s404, s403, s403, s404},
	"POST /cases/:id/wiki/:page/remove":                   {s404, s404, s403, s404, s404, s404, s404, s403, s403, s404},
	// Assessments: threat managers who contribute (the lead, "tm expert")
	// write and approve; every member reads. :assessment is final.
	"POST /cases/:id/assessments":                     {s400, s403, s403, s400, s404, s404, s404, s403, s403, s404},
	"GET /cases/:id/assessments/:assessment":          {s200, s200, s200, s200, s404, s404, s404, s403, s403, s404},
	"HEAD /cases/:id/assessments/:assessment":         {s200, s200, s200, s200, s404, s404, s404, s403, s403, s404},
	"POST /cases/:id/assessments/:assessment":         {s400, s403, s403, s400, s404, s404, s404, s403, s403, s404},
	"POST /cases/:id/assessments/:assessment/submit":  {s400, s403, s403, s400, s404, s404, s404, s403, s403, s404},
	"POST /cases/:id/assessments/:assessment/approve": {s409, s403, s403, s409, s404, s404, s404, s403, s403, s404},
	"POST /cases/:id/assessments/:assessment/reject":  {s409, s403, s403, s409, s404, s404, s404, s403, s403, s404},
	"POST /cases/:id/assessments/:assessment/discard": {s409, s403, s403, s409, s404, s404, s404, s403, s403, s404},
}

var ridAndTokens = regexp.MustCompile(`(name="_csrf" value=")[^"]*(")`)

// normalize removes what differs between any two responses: the request
// id and CSRF tokens.
func normalize(body string, h http.Header) string {
	if rid := h.Get("X-Request-Id"); rid != "" {
		body = strings.ReplaceAll(body, rid, "RID")
	}
	return ridAndTokens.ReplaceAllString(body, "${1}TOKEN${2}")
}

// TestNeedToKnowMatrix: every case-scoped route as each persona. Who may
// not see the case gets exactly the answer (status, body apart from
// request id and tokens, content type) of a case that does not exist.
func TestNeedToKnowMatrix(t *testing.T) {
	srv := startServer(t, nil)
	w := newCaseWorld(t, srv, map[string]tma.Role{
		"lead": tma.RoleThreatManager, "expert": tma.RoleLegal, "read-only": tma.RoleHR, "expired": tma.RoleThreatManager,
		"excluded": tma.RoleThreatManager, "non-member": tma.RoleThreatManager, "tm expert": tma.RoleThreatManager, "admin": tma.RoleAdmin, "auditor": tma.RoleAuditor,
	})
	w.kase = w.createCase(t, w.users["lead"])
	past := time.Now().Add(-time.Hour)
	w.member(t, w.users["expert"], tma.CaseExpert, nil)
	w.member(t, w.users["read-only"], tma.CaseReadOnly, nil)
	w.member(t, w.users["tm expert"], tma.CaseExpert, nil)
	w.member(t, w.users["expired"], tma.CaseExpert, &past)
	w.member(t, w.users["excluded"], tma.CaseLead, nil)
	w.exclude(t, w.users["excluded"])
	w.member(t, w.users["admin"], tma.CaseLead, nil)
	w.member(t, w.users["auditor"], tma.CaseLead, nil)
	w.member(t, w.bystander, tma.CaseExpert, nil)
	w.work(t, w.users["lead"])
	clients := w.signIn(t)

	var keys []string
	seen := map[string]bool{}
	for _, r := range srv.Web.App().GetRoutes(true) {
		key := r.Method + " " + r.Path
		rule, ok := srv.Web.Rule(r.Method, r.Path)
		if !ok || rule.CaseRule == "" || seen[key] {
			continue
		}
		seen[key] = true
		keys = append(keys, key)
	}
	sort.Strings(keys)
	if len(keys) < 8 {
		t.Fatalf("only %d case-scoped routes; is the route walk broken?", len(keys))
	}
	for key := range needMatrix {
		if !seen[key] {
			t.Errorf("needMatrix has a row for %s, which is not a case-scoped route", key)
		}
	}
	missing := tma.NewID()
	for _, key := range keys {
		want, ok := needMatrix[key]
		if !ok {
			t.Errorf("case-scoped route %s has no row in needMatrix", key)
			continue
		}
		method, pattern, _ := strings.Cut(key, " ")
		path := func(caseID string) string { return w.replacer(caseID).Replace(pattern) }
		for i, persona := range needPersonas {
			c := clients[persona]
			status, body, h := request(c, method, path(w.kase.ID))
			if status != want[i] {
				t.Errorf("%s as %s: status %d, want %d: %.200q", key, persona, status, want[i], body)
			}
			if i < 4 {
				continue // members see the case
			}
			ns, nbody, nh := request(c, method, path(missing))
			if ns != status || normalize(nbody, nh) != normalize(body, h) || nh.Get("Content-Type") != h.Get("Content-Type") {
				t.Errorf("%s as %s: the case answers %d %.300q, a missing case %d %.300q", key, persona, status, normalize(body, h), ns, normalize(nbody, nh))
			}
		}
	}
}
