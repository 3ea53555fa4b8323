// Package web is the HTTP adapter of TMA: a Fiber app with server-rendered
// pages and a small JSON API. Fiber is used only in this package.
//
// One request: request id → security headers → session → CSRF check →
// route authorization (deny by default) → handler → one error handler.
package web

import (
	"context"
	"crypto/tls"
	"log/slog"
	"net"
	"slices"
	"sync"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/valyala/fasthttp"

	docsengine "github.com/tma-portal/tma/docs-engine"

	"github.com/tma-portal/tma/server/tma"
)

// Config are the HTTP settings.
type Config struct {
	// TLS is on when the server terminates TLS itself; cookies are then
	// Secure and HSTS is sent. Behind a TLS-terminating load balancer set
	// SecureCookies instead.
	TLS           *tls.Config
	SecureCookies bool
	BodyLimit     int // bytes, of every request but uploads
	// UploadLimit bounds the body of an upload route (rule.stream), whose
	// body is streamed to the document store and never held in memory.
	UploadLimit   int64
	ReadTimeout   time.Duration // also bounds slow clients
	DefaultTenant string        // pre-filled on the login page
	// TrustProxy uses X-Forwarded-For for the client address; only set it
	// behind a load balancer that overwrites the header.
	TrustProxy bool
}

// Deps are the services the handlers use.
type Deps struct {
	Auth    tma.AuthService
	Users   tma.UserService
	Tenants tma.TenantService
	Audit   tma.AuditService
	Cases   tma.CaseService
	Reports tma.ReportService
	Notes   tma.NoteService
	Actions tma.ActionService
	Persons tma.PersonService
	// Documents keeps the files of case folders.
	Documents tma.DocumentService
	// CaseFiles renders the case-file export (GET /cases/:id/export.pdf).
	CaseFiles tma.CaseFileRenderer
	// Wiki keeps the process-documentation wiki; WikiAttachments the
	// files of its pages.
	Wiki            tma.WikiService
	WikiAttachments tma.WikiAttachmentService
	// Instruments keeps the tenant's assessment instruments and
	// Assessments the assessments of cases.
	Instruments tma.InstrumentService
	Assessments tma.AssessmentService
	// ParseInstrument reads an uploaded instrument file (YAML). Its
	// problems come as tma.InvalidInstrument, each with line and field.
	ParseInstrument func([]byte) (*tma.Instrument, error)
	Authz           tma.Authorizer
	// Search is this process's full-text index and SearchSource the
	// database behind it (scopes, decrypted content). Either nil: the
	// search page says that search is unavailable.
	Search       tma.SearchIndex
	SearchSource tma.SearchSource
	// Ready reports whether the server can serve: database reachable and
	// migrations current.
	Ready  func(context.Context) error
	Logger *slog.Logger
}

// Server is the HTTP server.
type Server struct {
	cfg   Config
	deps  Deps
	log   *slog.Logger
	app   *fiber.App
	pages *pages
	rules map[string]rule // "METHOD /path" → rule
	// streams are the patterns of the upload routes, which limitBody
	// recognises before routing.
	streams []streamRoute
	// uploadLimitText is Config.UploadLimit as people write it.
	uploadLimitText string
	tags            senderTags // rate-limit tags of anonymous reporters
	// navCache holds the rendered navigation by navKey: a few dozen
	// entries (languages × pages × menus).
	navCache sync.Map
	// menus holds the menu by set of roles (menuOf).
	menus sync.Map
	// wikiEngine renders wiki pages and previews; wikiCache keeps rendered
	// revisions (see wikiCache for its key).
	wikiEngine *docsengine.Engine
	wikiCache  *wikiCache
}

// New builds the app with all routes.
func New(cfg Config, deps Deps) (*Server, error) {
	if cfg.BodyLimit <= 0 {
		cfg.BodyLimit = 1 << 20
	}
	if cfg.UploadLimit <= 0 {
		cfg.UploadLimit = DefaultUploadLimit
	}
	if cfg.ReadTimeout <= 0 {
		cfg.ReadTimeout = 30 * time.Second
	}
	if deps.Logger == nil {
		deps.Logger = slog.Default()
	}
	p, err := loadPages()
	if err != nil {
		return nil, err
	}
	s := &Server{cfg: cfg, deps: deps, log: deps.Logger, pages: p, rules: map[string]rule{}, uploadLimitText: formatSize(cfg.UploadLimit),
		wikiEngine: docsengine.New(docsengine.Config{MaxBytes: tma.MaxWikiBody, IDPrefix: wikiIDPrefix}), wikiCache: newWikiCache(2000)}
	s.app = fiber.New(fiber.Config{
		AppName:               "TMA",
		BodyLimit:             cfg.BodyLimit,
		ReadTimeout:           cfg.ReadTimeout,
		WriteTimeout:          2 * cfg.ReadTimeout,
		IdleTimeout:           2 * cfg.ReadTimeout,
		DisableStartupMessage: true,
		ErrorHandler:          s.handleError,
		// The router is built once; the route table in routes.go is the
		// whole surface.
		StrictRouting: true,
		// Every value read from a request is a copy. By default fasthttp
		// hands out strings that point into its buffers, which the next
		// request on the connection overwrites: a case id kept as a cache
		// key changed under the cache (seen: a named person's stale case
		// access survived its invalidation, because the key had become
		// another case's id). Correctness first, in every handler.
		Immutable: true,
		// Room for the request line and headers up to the limits that
		// requestContext enforces (and answers in the user's language),
		// with some to spare; beyond it fasthttp refuses the request.
		ReadBufferSize: readBufferSize,
		// Request bodies are streamed: fasthttp reads only a few KiB ahead
		// and hands the rest to the handler. BodyLimit is then no longer
		// enforced by fasthttp; limitBody enforces it, and the upload
		// limit, for every route before anything reads a body. Multipart
		// bodies are never parsed before the handler (that is, before
		// session, CSRF and authorization): fasthttp would spool their
		// files to disk without any limit.
		StreamRequestBody:            true,
		DisablePreParseMultipartForm: true,
	})
	s.routes()
	// Fiber answers a method it does not know (FOO / HTTP/1.1) by itself,
	// with a bare text and none of the headers; send it to the error
	// handler like every other refusal.
	fs := s.app.Server()
	next := fs.Handler
	fs.Handler = func(fctx *fasthttp.RequestCtx) {
		if !slices.Contains(fiber.DefaultMethods, string(fctx.Method())) {
			c := s.app.AcquireCtx(fctx)
			defer s.app.ReleaseCtx(c)
			if err := s.handleError(c, fiber.ErrNotImplemented); err != nil {
				s.log.Error("error handler failed", "err", err)
			}
			return
		}
		next(fctx)
	}
	return s, nil
}

// DefaultUploadLimit is the upload limit when Config.UploadLimit is unset.
const DefaultUploadLimit = 512 << 20

// readBufferSize bounds the request line and headers that fasthttp reads;
// see maxHeaderSize.
const readBufferSize = 16 << 10

// Serve serves on ln until Shutdown.
func (s *Server) Serve(ln net.Listener) error {
	if s.cfg.TLS != nil {
		ln = tls.NewListener(ln, s.cfg.TLS)
	}
	return s.app.Listener(ln)
}

// Shutdown stops accepting connections and waits for in-flight requests
// until ctx ends.
func (s *Server) Shutdown(ctx context.Context) error {
	return s.app.ShutdownWithContext(ctx)
}
