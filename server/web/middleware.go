package web

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"log/slog"
	"net/netip"
	"net/url"
	"runtime/debug"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/gofiber/fiber/v2"

	"github.com/tma-portal/tma/server/tma"
)

const (
	localPrincipal  = "tma.principal"
	localLogger     = "tma.logger"
	localLocale     = "tma.locale"
	localRequestID  = "tma.rid"
	localClientIP   = "tma.ip"
	localExpired    = "tma.expired" // the request carried a dead session cookie
	localCaseAccess = "tma.case"    // the user's access to the case in the URL
	localAnonymous  = "tma.anon"    // an anonymous report page: no session, no cookie

	preCookie = "tma_pre" // pre-session CSRF secret for the login form
	csrfField = "_csrf"
	csrfHdr   = "X-CSRF-Token"
)

// cookieName adds the __Host- prefix whenever cookies are Secure (TLS here
// or at the load balancer): browsers then refuse a cookie of that name set
// by a sibling subdomain or without Secure, Path=/ and no Domain.
func (s *Server) cookieName(name string) string {
	if s.secure() {
		return "__Host-" + name
	}
	return name
}

func (s *Server) sessionCookie() string { return s.cookieName("tma_session") }

func (s *Server) deviceCookie() string { return s.cookieName("tma_device") }

func (s *Server) secure() bool { return s.cfg.TLS != nil || s.cfg.SecureCookies }

// requestContext gives every request an id and a logger that carries it,
// turns panics into 500s without showing a stack trace, runs the error
// handler so that the access log sees the final status, and logs the
// request.
func (s *Server) requestContext(c *fiber.Ctx) (err error) {
	start := time.Now()
	s.identify(c)
	log := logger(c)
	// Every request has a deadline, so that nothing (a slow database, an
	// exhausted pool) can hold a request and its connection forever.
	ctx, cancel := context.WithTimeout(c.UserContext(), 2*s.cfg.ReadTimeout)
	defer cancel()
	c.SetUserContext(ctx)
	defer func() {
		if r := recover(); r != nil {
			log.Error("panic", "panic", fmt.Sprint(r), "stack", string(debug.Stack()))
			err = tma.Errorf(tma.EINTERNAL, "panic")
		}
		if err != nil {
			if herr := s.handleError(c, err); herr != nil {
				log.Error("error handler failed", "err", herr)
			}
			err = nil
		}
		s.logRequest(c, start)
	}()
	if err := s.checkHeaderSize(c); err != nil {
		return err
	}
	return c.Next()
}

// identify gives the request its id, logger, client address and a first
// guess at its language, once. It runs first in requestContext, and in the
// error handler for the requests that fail before any handler runs (a body
// over the limit, an unknown method).
func (s *Server) identify(c *fiber.Ctx) (first bool) {
	if _, ok := c.Locals(localRequestID).(string); ok {
		return false
	}
	rid := c.Get(fiber.HeaderXRequestID)
	if !validRequestID(rid) {
		var b [12]byte
		_, _ = rand.Read(b[:])
		rid = hex.EncodeToString(b[:])
	}
	c.Set(fiber.HeaderXRequestID, rid)
	c.Locals(localRequestID, rid)
	c.Locals(localLogger, s.log.With("request_id", rid))
	c.Locals(localClientIP, s.clientAddress(c))
	c.Locals(localLocale, negotiateLocale(c.Get(fiber.HeaderAcceptLanguage)))
	return true
}

func (s *Server) logRequest(c *fiber.Ctx, start time.Time) {
	logger(c).Info("request", "method", c.Method(), "route", c.Route().Path, "status", c.Response().StatusCode(),
		"duration_ms", time.Since(start).Milliseconds(), "bytes", responseSize(c))
}

// responseSize is the size of the response body. A streamed body (a
// document download) is not touched: Response.Body would read the whole
// stream into a pooled buffer, a decrypted document in memory.
func responseSize(c *fiber.Ctx) int {
	if r := c.Response(); r.IsBodyStream() {
		return r.Header.ContentLength()
	}
	return len(c.Response().Body())
}

// Limits of the request line and headers. Fasthttp refuses what does not fit
// its read buffer (readBufferSize, see server.go) before any handler runs,
// when the language of the request is still unknown; these smaller limits
// catch the usual oversized requests here, where the refusal is localized.
const (
	maxURILength  = 4 << 10
	maxHeaderSize = 8 << 10
)

func (s *Server) checkHeaderSize(c *fiber.Ctx) error {
	if len(c.Request().Header.RequestURI()) > maxURILength {
		return fiber.ErrRequestURITooLong
	}
	if len(c.Request().Header.RawHeaders()) > maxHeaderSize {
		return fiber.ErrRequestHeaderFieldsTooLarge
	}
	return nil
}

// clientAddress is the address failed sign-ins are counted against and
// the audit log records. Behind a trusted load balancer it is the right-most
// entry of X-Forwarded-For, which the balancer appended; the entries left of
// it are whatever the client sent and are ignored.
func (s *Server) clientAddress(c *fiber.Ctx) string {
	remote := c.Context().RemoteIP().String()
	if !s.cfg.TrustProxy {
		return remote
	}
	xff := c.Get(fiber.HeaderXForwardedFor)
	last := strings.TrimSpace(xff[strings.LastIndex(xff, ",")+1:])
	if addr, err := netip.ParseAddr(last); err == nil {
		return addr.Unmap().String()
	}
	return remote
}

// clientIP returns the request's client address (see clientAddress).
func clientIP(c *fiber.Ctx) string {
	ip, _ := c.Locals(localClientIP).(string)
	return ip
}

func validRequestID(s string) bool {
	if len(s) < 8 || len(s) > 64 {
		return false
	}
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_') {
			return false
		}
	}
	return true
}

// logger returns the request's logger.
func logger(c *fiber.Ctx) *slog.Logger {
	if l, ok := c.Locals(localLogger).(*slog.Logger); ok {
		return l
	}
	return slog.Default()
}

const csp = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; font-src 'self'; " +
	"connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"

func (s *Server) securityHeaders(c *fiber.Ctx) error {
	s.setSecurityHeaders(c)
	return c.Next()
}

// setSecurityHeaders sets the headers that every response carries, pages,
// assets and errors alike (the error handler sets them again, for the
// errors that come before any middleware).
func (s *Server) setSecurityHeaders(c *fiber.Ctx) {
	c.Set(fiber.HeaderContentSecurityPolicy, csp)
	c.Set(fiber.HeaderXContentTypeOptions, "nosniff")
	c.Set(fiber.HeaderReferrerPolicy, "no-referrer")
	c.Set(fiber.HeaderXFrameOptions, "DENY")
	c.Set("Cross-Origin-Opener-Policy", "same-origin")
	c.Set("Cross-Origin-Resource-Policy", "same-origin")
	c.Set("Permissions-Policy", "camera=(), microphone=(), geolocation=(), interest-cohort=()")
	if s.cfg.TLS != nil {
		c.Set(fiber.HeaderStrictTransportSecurity, "max-age=63072000; includeSubDomains")
	}
	// Pages hold sensitive data: no caching anywhere. Assets override this.
	c.Set(fiber.HeaderCacheControl, "no-store")
}

// session loads the principal if the request carries a session cookie. A
// dead session's cookie is cleared; authorization decides what that means.
func (s *Server) session(c *fiber.Ctx) error {
	ctx := tma.NewContextWithActor(c.UserContext(), tma.Actor{Label: "anonymous", IP: clientIP(c)})
	c.SetUserContext(ctx)
	c.Locals(localLocale, negotiateLocale(c.Get(fiber.HeaderAcceptLanguage)))

	tok := c.Cookies(s.sessionCookie())
	if tok == "" {
		return c.Next()
	}
	p, err := s.deps.Auth.Authenticate(ctx, tok)
	switch tma.ErrorCode(err) {
	case "":
	case tma.EUNAUTHORIZED:
		s.clearSessionCookie(c)
		c.Locals(localExpired, true)
		return c.Next()
	default:
		return err
	}
	c.Locals(localPrincipal, p)
	if p.User.Locale != "" {
		c.Locals(localLocale, p.User.Locale)
	}
	c.SetUserContext(tma.NewContextWithActor(ctx, tma.Actor{UserID: p.User.ID, TenantID: p.Tenant.ID, Label: p.User.Email, IP: clientIP(c)}))
	return c.Next()
}

func principal(c *fiber.Ctx) *tma.Principal {
	p, _ := c.Locals(localPrincipal).(*tma.Principal)
	return p
}

func (s *Server) setSessionCookie(c *fiber.Ctx, token string) {
	c.Cookie(&fiber.Cookie{
		Name: s.sessionCookie(), Value: token, Path: "/",
		HTTPOnly: true, Secure: s.secure(), SameSite: fiber.CookieSameSiteStrictMode,
		SessionOnly: true,
	})
}

func (s *Server) clearSessionCookie(c *fiber.Ctx) {
	c.Cookie(&fiber.Cookie{
		Name: s.sessionCookie(), Value: "", Path: "/", Expires: time.Unix(1, 0), MaxAge: -1,
		HTTPOnly: true, Secure: s.secure(), SameSite: fiber.CookieSameSiteStrictMode,
	})
}

// csrfToken is the token that unsafe requests must echo. With a session it
// is derived from the session token, so it changes whenever the session is
// rotated and dies with it: a token from an old session is refused. Before
// sign-in it is derived from a random pre-session cookie.
func (s *Server) csrfToken(c *fiber.Ctx) string {
	key := ""
	if p := principal(c); p != nil {
		key = "session:" + p.Token
	} else {
		pre := c.Cookies(s.cookieName(preCookie))
		if len(pre) < 32 {
			var b [32]byte
			_, _ = rand.Read(b[:])
			pre = base64.RawURLEncoding.EncodeToString(b[:])
			c.Cookie(&fiber.Cookie{Name: s.cookieName(preCookie), Value: pre, Path: "/", HTTPOnly: true, Secure: s.secure(),
				SameSite: fiber.CookieSameSiteStrictMode, SessionOnly: true})
			// The request's own cookie jar must agree with what we just set.
			c.Request().Header.SetCookie(s.cookieName(preCookie), pre)
		}
		key = "pre:" + pre
	}
	m := hmac.New(sha256.New, []byte(key))
	m.Write([]byte("tma csrf v1"))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

// csrf refuses unsafe requests without the right token.
func (s *Server) csrf(c *fiber.Ctx) error {
	switch c.Method() {
	case fiber.MethodGet, fiber.MethodHead, fiber.MethodOptions:
		return c.Next()
	}
	// The token travels in a header or the form body, never in the query
	// string: URLs end up in logs, histories and Referer headers.
	// An upload's body is a stream that nobody reads before authorization:
	// its token comes from the header only.
	got := c.Get(csrfHdr)
	if got == "" && uploadBody(c) == nil {
		got = bodyValue(c, csrfField)
	}
	if got == "" || (principal(c) == nil && c.Cookies(s.cookieName(preCookie)) == "") ||
		subtle.ConstantTimeCompare([]byte(got), []byte(s.csrfToken(c))) != 1 {
		if p := principal(c); p != nil {
			s.recordDenied(c, tma.AuditCSRFRejected, c.Path())
		}
		return tma.Errorf(tma.EFORBIDDEN, "The form has expired or did not come from this site. Reload the page and try again.")
	}
	return c.Next()
}

// bodyValue returns a field of a form body (URL-encoded or multipart),
// ignoring the query string.
func bodyValue(c *fiber.Ctx, key string) string {
	if v := c.Request().PostArgs().Peek(key); v != nil {
		return string(v)
	}
	if form, err := c.MultipartForm(); err == nil && len(form.Value[key]) > 0 {
		return form.Value[key][0]
	}
	return ""
}

// checkEncoding refuses compressed request bodies before anything reads
// them: Fiber decompresses them on access, nested encodings included and
// without a limit, so 653 bytes could make the server allocate gigabytes.
// Browsers never compress what they send.
func (s *Server) checkEncoding(c *fiber.Ctx) error {
	if enc := c.Get(fiber.HeaderContentEncoding); enc != "" && !strings.EqualFold(enc, "identity") {
		return tma.Errorf(tma.EINVALID, "Compressed request bodies are not accepted; send the body without Content-Encoding.")
	}
	return c.Next()
}

// checkInput refuses, at the edge and before anything reads it, text that
// nobody can have typed: invalid UTF-8 or a NUL byte in the path, a query
// parameter, a form field or a JSON body. PostgreSQL could not store it
// anyway, and it would fail deep inside a service with a 500.
func (s *Server) checkInput(c *fiber.Ctx) error {
	req := c.Request()
	if err := tma.CheckText("path", string(req.URI().Path())); err != nil {
		return err
	}
	var bad error
	check := func(k, v []byte) {
		if bad == nil {
			if bad = tma.CheckText("parameter", string(k)); bad == nil {
				bad = tma.CheckText(tma.CleanText(string(k), 40), string(v))
			}
		}
	}
	req.URI().QueryArgs().VisitAll(check)
	if uploadBody(c) != nil {
		// An upload's body is streamed to its handler, which checks the
		// file names it reads.
		if bad != nil {
			return bad
		}
		return c.Next()
	}
	switch ct := strings.ToLower(c.Get(fiber.HeaderContentType)); {
	case strings.HasPrefix(ct, fiber.MIMEApplicationForm):
		req.PostArgs().VisitAll(check)
	case strings.HasPrefix(ct, fiber.MIMEMultipartForm):
		if form, err := c.MultipartForm(); err == nil {
			for k, vs := range form.Value {
				for _, v := range vs {
					check([]byte(k), []byte(v))
				}
			}
		}
	case strings.Contains(ct, "json"): // as Fiber's BodyParser decides
		// A JSON string can also spell a NUL as an escape. The raw body:
		// compressed bodies were refused by checkEncoding.
		body := req.Body()
		if !utf8.Valid(body) || bytes.Contains(body, []byte(`\u0000`)) {
			bad = tma.BadText("body")
		}
	}
	if bad != nil {
		return bad
	}
	return c.Next()
}

// authorize enforces r before the handler runs.
func (s *Server) authorize(r rule) fiber.Handler {
	return func(c *fiber.Ctx) error {
		if r.access == accessPublic {
			return c.Next()
		}
		p := principal(c)
		if p == nil {
			if pageRequest(c) {
				next := ""
				if c.Path() != "/" {
					next = "?next=" + url.QueryEscape(c.Path())
				}
				return c.Redirect("/login"+next, fiber.StatusSeeOther)
			}
			return tma.Errorf(tma.EUNAUTHORIZED, "Please sign in.")
		}
		switch {
		case r.access == accessSession:
			return c.Next()
		case p.Session.MFAPending:
			if r.access == accessPendingMFA {
				return c.Next()
			}
			if pageRequest(c) {
				return c.Redirect("/login/mfa", fiber.StatusSeeOther)
			}
			return tma.Errorf(tma.EUNAUTHORIZED, "Complete the sign-in with your second factor.")
		case r.access == accessPendingMFA:
			return c.Redirect("/", fiber.StatusSeeOther)
		case p.Tenant.RequireMFA && !p.User.MFAEnabled && r.access != accessEnrol:
			if pageRequest(c) {
				return c.Redirect("/account/mfa", fiber.StatusSeeOther)
			}
			return tma.Errorf(tma.EFORBIDDEN, "Your organisation requires two-factor authentication. Set it up first.")
		}
		if !s.deps.Authz.Can(p.User, r.perm) {
			s.recordDenied(c, tma.AuditAccessDenied, r.perm.String()+" "+c.Path())
			return tma.Errorf(tma.EFORBIDDEN, "You do not have permission to do this.")
		}
		if r.access == accessCase {
			return s.authorizeCase(c, p, r)
		}
		return c.Next()
	}
}

// authorizeCase loads the user's access to the case in the URL (from the
// session cache or with one statement) and lets the enforcer judge it with
// the tenant roles. A case the user may not see, for whatever reason (no
// membership, an expired one, an exclusion, another tenant's case), gets
// the same answer as a case that does not exist, after the same work.
func (s *Server) authorizeCase(c *fiber.Ctx, p *tma.Principal, r rule) error {
	a, err := s.deps.Cases.Access(c.UserContext(), p.Tenant.ID, p.User.ID, c.Params("id"))
	if err != nil {
		return err
	}
	roles := a.Roles(time.Now())
	if !s.deps.Authz.CanCase(p.User, roles, r.perm, r.casePerm) {
		s.recordDenied(c, tma.AuditAccessDenied, r.casePerm.String()+" "+c.Path())
		if s.deps.Authz.CanCase(p.User, roles, tma.PermCasesRead, tma.CasePermRead) {
			// A member who sees the case but may not do this.
			return tma.Errorf(tma.EFORBIDDEN, "You do not have permission to do this.")
		}
		return tma.Errorf(tma.ENOTFOUND, "No such case.")
	}
	c.Locals(localCaseAccess, a)
	return c.Next()
}

// caseAccess is the access to the case in the URL that authorizeCase
// loaded for this request.
func caseAccess(c *fiber.Ctx) tma.CaseAccess {
	a, _ := c.Locals(localCaseAccess).(tma.CaseAccess)
	return a
}

// recordDenied audits a refused request of a signed-in user (the actor of
// the request's context).
func (s *Server) recordDenied(c *fiber.Ctx, action, detail string) {
	if len(detail) > 200 {
		detail = detail[:200]
	}
	if err := s.deps.Audit.Record(c.UserContext(), action, "", "", tma.CleanText(detail, 200)); err != nil {
		logger(c).Error("audit of a denied request failed", "err", err)
	}
}

// pageRequest reports whether c asks for a page (GET or HEAD, not the API):
// such requests are redirected to where the user can go on.
func pageRequest(c *fiber.Ctx) bool {
	return (c.Method() == fiber.MethodGet || c.Method() == fiber.MethodHead) && !isAPI(c)
}

func isAPI(c *fiber.Ctx) bool { return strings.HasPrefix(c.Path(), "/api/") }
