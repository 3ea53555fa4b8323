package web

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"html"
	"html/template"
	"io/fs"
	"mime"
	"path"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/tma-portal/tma/assets"
	"github.com/tma-portal/tma/server/tma"
)

// Locales are the UI languages; the first is the default.
var locales = tma.Locales

// pages holds the parsed templates, the message catalogs and the static
// files with their content hashes.
type pages struct {
	tmpl    map[string]map[string]*template.Template // locale → page name → layout + page
	catalog map[string]map[string]string             // locale → key → text
	static  map[string]staticFile                    // file name → content
}

type staticFile struct {
	body        []byte
	contentType string
	hash        string
}

func loadPages() (*pages, error) {
	p := &pages{tmpl: map[string]map[string]*template.Template{}, catalog: map[string]map[string]string{}, static: map[string]staticFile{}}
	for _, loc := range locales {
		b, err := fs.ReadFile(assets.FS, "i18n/"+loc+".json")
		if err != nil {
			return nil, fmt.Errorf("web: catalog %s: %w", loc, err)
		}
		m := map[string]string{}
		if err := json.Unmarshal(b, &m); err != nil {
			return nil, fmt.Errorf("web: catalog %s: %w", loc, err)
		}
		p.catalog[loc] = m
	}
	statics, err := fs.Glob(assets.FS, "static/*")
	if err != nil {
		return nil, err
	}
	for _, name := range statics {
		b, err := fs.ReadFile(assets.FS, name)
		if err != nil {
			return nil, err
		}
		sum := sha256.Sum256(b)
		ct := mime.TypeByExtension(path.Ext(name))
		if ct == "" {
			ct = "application/octet-stream"
		}
		p.static[path.Base(name)] = staticFile{body: b, contentType: ct, hash: hex.EncodeToString(sum[:8])}
	}
	for _, loc := range locales {
		if p.tmpl[loc], err = p.parseTemplates(loc, true); err != nil {
			return nil, err
		}
	}
	return p, nil
}

// funcs are the template functions.
func (p *pages) funcs() template.FuncMap {
	return template.FuncMap{
		"asset": func(name string) string {
			f, ok := p.static[name]
			if !ok {
				panic("web: unknown asset " + name) // caught at parse-time tests
			}
			return "/assets/" + name + "?v=" + f.hash
		},
		"hasRole":        func(u *tma.User, r string) bool { return u != nil && u.HasRole(tma.Role(r)) },
		"roles":          func() []tma.Role { return tma.Roles },
		"auditActions":   func() []string { return tma.AuditActions },
		"caseStatuses":   func() []tma.CaseStatus { return tma.CaseStatuses },
		"riskLevels":     func() []tma.RiskLevel { return tma.RiskLevels },
		"caseRoles":      func() []tma.CaseRole { return tma.CaseRoles },
		"personKinds":    func() []tma.PersonKind { return tma.PersonKinds },
		"urgencies":      func() []tma.Urgency { return tma.Urgencies },
		"categories":     func() []tma.Category { return tma.Categories },
		"hasCategory":    func(cs []tma.Category, c tma.Category) bool { return slices.Contains(cs, c) },
		"actionStatuses": func() []tma.ActionStatus { return tma.ActionStatuses },
		"timelineKinds":  func() []string { return tma.TimelineKinds },
		"hasRoleIn":      func(roles []tma.Role, r tma.Role) bool { return slices.Contains(roles, r) },
		"wikiURL":        wikiURL,
		"uploadForm": func(v *view, action string, multiple bool) uploadForm {
			id := "version"
			if multiple {
				id = "documents"
			}
			return uploadForm{View: v, Action: action, Multiple: multiple, ID: id}
		},
		"attachmentURL": attachmentURL,
		"attachmentUpload": func(v *view, action string) uploadForm {
			return uploadForm{View: v, Action: action, Multiple: true, ID: "attachments", Heading: "wiki.attachments.upload"}
		},
	}
}

// parseTemplates parses every page for one language, with the constant
// parts filled in first if pre is set (see pretranslate).
func (p *pages) parseTemplates(loc string, pre bool) (map[string]*template.Template, error) {
	names, err := fs.Glob(assets.FS, "templates/*.html")
	if err != nil {
		return nil, err
	}
	read := func(name string) (string, error) {
		b, err := fs.ReadFile(assets.FS, name)
		if !pre {
			return string(b), err
		}
		return p.pretranslate(loc, string(b)), err
	}
	src, err := read("templates/layout.html")
	if err != nil {
		return nil, err
	}
	layout, err := template.New("layout.html").Funcs(p.funcs()).Parse(src)
	if err != nil {
		return nil, fmt.Errorf("web: layout: %w", err)
	}
	// Files named "part_….html" are parts that several pages share: they are
	// parsed with the layout, and are no pages of their own.
	for _, name := range names {
		if strings.HasPrefix(path.Base(name), "part_") {
			if src, err = read(name); err != nil {
				return nil, err
			}
			if _, err := layout.New(path.Base(name)).Parse(src); err != nil {
				return nil, fmt.Errorf("web: template %s: %w", name, err)
			}
		}
	}
	out := map[string]*template.Template{}
	for _, name := range names {
		base := path.Base(name)
		if base == "layout.html" || strings.HasPrefix(base, "part_") {
			continue
		}
		if src, err = read(name); err != nil {
			return nil, err
		}
		t, err := template.Must(layout.Clone()).New(base).Parse(src)
		if err != nil {
			return nil, fmt.Errorf("web: template %s: %w", base, err)
		}
		out[strings.TrimSuffix(base, ".html")] = t
	}
	return out, nil
}

// constantText matches the actions whose output is fixed for a language:
// {{.T "key"}} (also $.T) and {{asset "name"}}.
var constantText = regexp.MustCompile(`\{\{\s*(\$?\.T|asset)\s+"([a-zA-Z0-9._-]+)"\s*\}\}`)

// pretranslate replaces the actions of src whose output is the same on
// every request (a catalog text without arguments, an asset URL) by that
// output, HTML-escaped, which is safe in text and in quoted attributes, the
// only places they are used. Rendering is then mostly copying: this halves
// the cost of a page. Unknown keys stay actions, so they fail or fall back
// exactly as before.
func (p *pages) pretranslate(loc, src string) string {
	v := &view{Locale: loc, catalog: p.catalog}
	return constantText.ReplaceAllStringFunc(src, func(m string) string {
		sub := constantText.FindStringSubmatch(m)
		switch sub[1] {
		case "asset":
			f, ok := p.static[sub[2]]
			if !ok {
				return m
			}
			return "/assets/" + sub[2] + "?v=" + f.hash
		default:
			s, ok := v.lookup(sub[2])
			if !ok {
				return m
			}
			return html.EscapeString(s)
		}
	})
}

// negotiateLocale picks the best supported language of an Accept-Language
// header, e.g. "de-DE,de;q=0.9,en;q=0.8" → "de".
func negotiateLocale(header string) string {
	best, bestQ := locales[0], 0.0
	for _, part := range strings.Split(header, ",") {
		tag, params, _ := strings.Cut(strings.TrimSpace(part), ";")
		q := 1.0
		if v, ok := strings.CutPrefix(strings.TrimSpace(params), "q="); ok {
			if f, err := strconv.ParseFloat(v, 64); err == nil {
				q = f
			}
		}
		lang, _, _ := strings.Cut(strings.ToLower(tag), "-")
		if slices.Contains(locales, lang) && q > bestQ {
			best, bestQ = lang, q
		}
	}
	return best
}

// view is what every template gets. Handlers put their own data in Data.
type view struct {
	Locale    string
	Title     string
	TitleArg  string // formatted into Title's text, e.g. a case reference
	TitleText string // Title translated, filled in by render
	Nav       string // the active navigation item
	Principal *tma.Principal
	// SignedIn is a complete session (not waiting for a second factor);
	// the layout then shows the navigation, as Menu allows, with the
	// user's and the tenant's names. Plain fields: the layout is on every
	// page, and each method call or field chain costs reflection there.
	SignedIn             bool
	Menu                 menu
	UserName, TenantName string
	// NavHTML is the navigation, rendered by render once per language,
	// page and menu, and then reused (navCache).
	NavHTML template.HTML
	CSRF    string
	// UploadLimit is the largest file, as people write it (512 MiB).
	UploadLimit string
	Error       string
	Notice      string
	Data        any
	catalog     map[string]map[string]string
	can         func(perm string) bool
}

// T translates key into the view's language, falling back to English and
// then to the key itself, and formats args into it.
func (v *view) T(key string, args ...any) string {
	s, ok := v.lookup(key)
	if !ok {
		s = key
	}
	if len(args) > 0 {
		return fmt.Sprintf(s, args...)
	}
	return s
}

// lookup finds key in the view's language, or else in English.
func (v *view) lookup(key string) (string, bool) {
	if s, ok := v.catalog[v.Locale][key]; ok {
		return s, true
	}
	s, ok := v.catalog[locales[0]][key]
	return s, ok
}

// Label translates a code such as an audit action ("action",
// "login.failed"), or shows the code itself if the catalog lacks it.
func (v *view) Label(kind, code string) string {
	if s, ok := v.lookup(kind + "." + code); ok {
		return s
	}
	return code
}

// Date formats t for the view's language, in UTC and saying so: the team
// may sit in several time zones, and audit times must be unambiguous.
func (v *view) Date(t time.Time) string {
	if t.IsZero() {
		return "—"
	}
	if v.Locale == "de" {
		return t.UTC().Format("02.01.2006 15:04") + " UTC"
	}
	return t.UTC().Format("2006-01-02 15:04") + " UTC"
}

// Day formats an expiry as the date input shows it: the last day the
// membership lasts (ParseExpiry stores the end of that day). "" for none.
func (v *view) Day(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().AddDate(0, 0, -1).Format(time.DateOnly)
}

// Size formats a file size: 12.5 MiB.
func (v *view) Size(n int64) string { return formatSize(n) }

// uploadForm is what part_upload.html gets: the page's view, where the
// files go, and whether several files may be chosen.
type uploadForm struct {
	View     *view
	Action   string
	Multiple bool
	ID       string
	Heading  string // message key of the heading; "" for the documents' own
}

// Can reports whether the signed-in user has the permission "object:action";
// the navigation shows only what the user may open.
func (v *view) Can(perm string) bool { return v.can != nil && v.can(perm) }

func (s *Server) newView(c *fiber.Ctx, title, nav string, data any) *view {
	v := &view{Locale: localeOf(c), Title: title, Nav: nav, Principal: principal(c), Data: data, catalog: s.pages.catalog, UploadLimit: s.uploadLimitText}
	if c.Method() != fiber.MethodHead && c.Locals(localAnonymous) == nil {
		v.CSRF = s.csrfToken(c) // the anonymous report pages need no token, and set no cookie
	}
	if p := v.Principal; p != nil && !p.Session.MFAPending {
		v.can = func(perm string) bool {
			obj, act, _ := strings.Cut(perm, ":")
			return s.deps.Authz.Can(p.User, tma.Permission{Object: obj, Action: act})
		}
		v.SignedIn, v.UserName, v.TenantName = true, p.User.DisplayName, p.Tenant.Name
		v.Menu = s.menuOf(p.User)
	}
	return v
}

// localeOf is the request's language (the middleware negotiates it), the
// default one if none was set.
func localeOf(c *fiber.Ctx) string {
	if loc, _ := c.Locals(localLocale).(string); loc != "" {
		return loc
	}
	return locales[0]
}

// menuOf is the menu of u, decided once per set of roles (the policy is
// fixed, so the menu depends on nothing else).
func (s *Server) menuOf(u *tma.User) menu {
	var k strings.Builder
	for _, r := range u.Roles {
		k.WriteString(string(r))
		k.WriteByte('|')
	}
	if u.Disabled {
		return menu{}
	}
	if m, ok := s.menus.Load(k.String()); ok {
		return m.(menu)
	}
	can := func(perm tma.Permission) bool { return s.deps.Authz.Can(u, perm) }
	m := menu{Cases: can(tma.PermCasesRead), Reports: can(tma.PermReportsFile), Intake: can(tma.PermReportsTriage),
		Users: can(tma.PermUsersRead), Settings: can(tma.PermTenantManage), Audit: can(tma.PermAuditRead),
		Wiki: can(tma.PermWikiRead), Search: can(tma.PermSearch)}
	s.menus.Store(k.String(), m)
	return m
}

// menu says which navigation items the user may open.
type menu struct{ Cases, Reports, Intake, Users, Settings, Audit, Wiki, Search bool }

// navKey names one rendering of the navigation: it depends on nothing else.
type navKey struct {
	locale, nav string
	menu        menu
}

// nav returns the navigation for v, rendered once per navKey: a dozen
// template actions that are the same for everyone with the same menu on the
// same page.
func (s *Server) nav(t *template.Template, v *view) (template.HTML, error) {
	k := navKey{v.Locale, v.Nav, v.Menu}
	if h, ok := s.navCache.Load(k); ok {
		return h.(template.HTML), nil
	}
	var buf bytes.Buffer
	if err := t.ExecuteTemplate(&buf, "nav", v); err != nil {
		return "", fmt.Errorf("web: render nav: %w", err)
	}
	h := template.HTML(buf.String()) // rendered and escaped by html/template just now
	s.navCache.Store(k, h)
	return h, nil
}

// render writes the page with status.
func (s *Server) render(c *fiber.Ctx, status int, page string, v *view) error {
	t, ok := s.pages.tmpl[v.Locale][page]
	if !ok {
		return fmt.Errorf("web: no template %q", page)
	}
	if v.TitleArg != "" {
		v.TitleText = v.T(v.Title, v.TitleArg)
	} else {
		v.TitleText = v.T(v.Title)
	}
	if v.SignedIn {
		nav, err := s.nav(t, v)
		if err != nil {
			return err
		}
		v.NavHTML = nav
	}
	var buf bytes.Buffer
	if err := t.ExecuteTemplate(&buf, "layout.html", v); err != nil {
		return fmt.Errorf("web: render %s: %w", page, err)
	}
	c.Set(fiber.HeaderContentLanguage, v.Locale)
	c.Type("html", "utf-8")
	return c.Status(status).Send(buf.Bytes())
}

// outcome renders page with status and message for expected errors, and
// passes anything else to the error handler.
func (s *Server) outcome(c *fiber.Ctx, v *view, page string, err error, notice string) error {
	status := fiber.StatusOK
	switch code := tma.ErrorCode(err); code {
	case "":
		if notice != "" {
			v.Notice = v.T(notice)
		}
	case tma.EINVALID, tma.ECONFLICT, tma.EFORBIDDEN:
		status, v.Error = statusOf[code], v.msg(err)
	default:
		return err
	}
	return s.render(c, status, page, v)
}

// msg translates a user-safe error message. The catalog key is the
// message's format ("msg:" + format), and the translation gets the same
// arguments, so that no detail (a duration, a name) is lost in translation.
// TestEveryMessageHasGermanText keeps the catalog complete.
func (v *view) msg(err error) string {
	if tma.ErrorCode(err) == tma.ECORRUPT {
		// The message names rows and documents: that is for the log and the
		// audit trail, not for the page.
		return v.T("error.corrupt")
	}
	format, args := tma.ErrorFormat(err)
	if s, ok := v.catalog[v.Locale]["msg:"+format]; ok {
		return fmt.Sprintf(s, args...)
	}
	if s, ok := v.catalog[v.Locale]["error."+tma.ErrorCode(err)]; ok && v.Locale != locales[0] {
		return s
	}
	return fmt.Sprintf(format, args...)
}
