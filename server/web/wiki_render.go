package web

import (
	"container/list"
	"context"
	"html/template"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"

	docsengine "github.com/tma-portal/tma/docs-engine"
	"github.com/tma-portal/tma/server/tma"
)

// WikiMarkup implements tma.WikiMarkup with the docs-engine: the same
// engine that renders pages decides what they link to and which tasks
// they hold.
type WikiMarkup struct{ engine *docsengine.Engine }

var _ tma.WikiMarkup = (*WikiMarkup)(nil)

// wikiIDPrefix starts the ids of a page's headings: a heading "Wiki
// backlinks" must not take the id of the portal's own backlinks panel.
const wikiIDPrefix = "h-"

// NewWikiMarkup returns a WikiMarkup with the engine's default limits.
func NewWikiMarkup() *WikiMarkup {
	return &WikiMarkup{engine: docsengine.New(docsengine.Config{IDPrefix: wikiIDPrefix})}
}

// Analyze returns the wiki link targets and task-list items of body.
func (m *WikiMarkup) Analyze(body string) (links []string, tasks []tma.WikiTask, err error) {
	res, err := m.engine.Render([]byte(body), docsengine.Options{})
	if err != nil {
		return nil, nil, err
	}
	for _, t := range res.Tasks {
		tasks = append(tasks, tma.WikiTask{Text: t.Text, Done: t.Checked})
	}
	return res.Links, tasks, nil
}

// renderedPage is a page revision rendered for one set of roles.
type renderedPage struct {
	HTML  template.HTML
	TOC   []docsengine.Heading
	Tasks []docsengine.Task
}

// wikiCache holds rendered page revisions, least recently used out.
//
// Rendering is deterministic given the text and the resolver's answers.
// The resolver's answers (does [[Escalation]] exist, where is it) depend on
// which pages exist with which titles, and on which of them the viewer may
// read: a link to a page the viewer may not read renders as missing, so
// that the marking gives nothing away. The key is therefore the page id,
// the revision, the tenant's wiki epoch (bumped in the same transaction as
// every creation, title change and access change of a page: see
// WikiService.Epoch) and the viewer's sorted role set. Old epochs are never
// hit again and age out. The cache is per process; another process's change
// bumps the epoch in PostgreSQL, which every page view reads with the page.
type wikiCache struct {
	mu    sync.Mutex
	max   int
	ll    *list.List
	items map[string]*list.Element
}

type cacheEntry struct {
	key string
	val *renderedPage
}

func newWikiCache(max int) *wikiCache {
	return &wikiCache{max: max, ll: list.New(), items: map[string]*list.Element{}}
}

func (c *wikiCache) get(key string) (*renderedPage, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if e, ok := c.items[key]; ok {
		c.ll.MoveToFront(e)
		return e.Value.(*cacheEntry).val, true
	}
	return nil, false
}

func (c *wikiCache) put(key string, v *renderedPage) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if e, ok := c.items[key]; ok {
		e.Value.(*cacheEntry).val = v
		c.ll.MoveToFront(e)
		return
	}
	c.items[key] = c.ll.PushFront(&cacheEntry{key: key, val: v})
	for c.ll.Len() > c.max {
		old := c.ll.Back()
		c.ll.Remove(old)
		delete(c.items, old.Value.(*cacheEntry).key)
	}
}

// wikiResolver resolves wiki links for one viewer, from one space.
type wikiResolver struct {
	ctx      context.Context
	wiki     tma.WikiService
	tenantID string
	space    string
	viewer   *tma.User
	err      error
}

// ResolveWikiLink links an existing page to its view and a missing one to
// the form that creates it.
func (r *wikiResolver) ResolveWikiLink(target string) (string, bool) {
	space, slug, ok, err := r.wiki.Resolve(r.ctx, r.tenantID, r.space, target, r.viewer)
	if err != nil {
		r.err = err
		return "", false
	}
	if ok {
		return "/wiki/" + url.PathEscape(space) + "/" + url.PathEscape(slug), true
	}
	if !tma.ValidSlug(space) {
		space = r.space
	}
	return "/wiki/" + url.PathEscape(space) + "/new?title=" + url.QueryEscape(strings.TrimSpace(target)), false
}

func roleKey(u *tma.User) string {
	rs := make([]string, 0, len(u.Roles))
	for _, r := range u.Roles {
		rs = append(rs, string(r))
	}
	slices.Sort(rs)
	return strings.Join(rs, ",")
}

// renderWikiPage renders a page revision for viewer, through the cache.
func (s *Server) renderWikiPage(ctx context.Context, tenantID string, p *tma.WikiPage, viewer *tma.User) (*renderedPage, error) {
	key := p.ID + "@" + strconv.Itoa(p.Revision) + "#" + strconv.FormatInt(p.Epoch, 10) + "|" + roleKey(viewer)
	if r, ok := s.wikiCache.get(key); ok {
		return r, nil
	}
	r, err := s.renderWiki(ctx, tenantID, p.Space, p.Slug, p.Body, viewer)
	if err != nil {
		return nil, err
	}
	s.wikiCache.put(key, r)
	return r, nil
}

// renderWiki renders Markdown for viewer, uncached (the editor's preview).
// "attachment:<name>" destinations become the URL of the file of that name
// on the page slug ("" for a page not created yet: they are dropped). The
// URL depends on nothing but space, slug and name, so rendered pages stay
// cacheable: the attachment route finds the file, and checks the viewer,
// when the browser asks.
func (s *Server) renderWiki(ctx context.Context, tenantID, space, slug, body string, viewer *tma.User) (*renderedPage, error) {
	res := &wikiResolver{ctx: ctx, wiki: s.deps.Wiki, tenantID: tenantID, space: space, viewer: viewer}
	opts := docsengine.Options{Resolver: res}
	if tma.ValidSlug(slug) {
		opts.AttachmentURL = func(name string) string { return attachmentURL(space, slug, name) }
	}
	out, err := s.wikiEngine.Render([]byte(body), opts)
	if err != nil {
		return nil, tma.Errorf(tma.EINVALID, "The page text cannot be rendered: %s", err.Error())
	}
	if res.err != nil {
		return nil, res.err
	}
	// The engine's task-list boxes are disabled inputs without a label: the
	// item's text says what the task is, so they are hidden from assistive
	// technology rather than announced as unlabelled form fields.
	h := taskBox.ReplaceAllString(out.HTML, `<input aria-hidden="true" tabindex="-1" $1>`)
	return &renderedPage{HTML: template.HTML(h), TOC: out.TOC, Tasks: out.Tasks}, nil //nolint:gosec // sanitized by the engine (bluemonday); only attributes added
}

// taskBox matches a task-list checkbox in the engine's output.
var taskBox = regexp.MustCompile(`<input ((?:checked="" )?disabled="" type="checkbox"(?: checked="")?)/?>`)
