package web

import (
	"fmt"
	"io"
	"net"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/tma-portal/tma/server/tma"
)

// Request bodies arrive as streams (fiber.Config.StreamRequestBody): fasthttp
// reads a few KiB ahead and leaves the rest on the connection. limitBody is
// the one place that bounds them, for every route, before anything reads a
// body:
//
//   - An upload route (rule.stream) is refused with 413 when its
//     Content-Length is over Config.UploadLimit, before a byte of the body is
//     read; otherwise its handler gets the stream through uploadBody, wrapped
//     so that reading past the limit fails with ETOOLARGE (chunked bodies,
//     whose length nobody announced, too). Session, CSRF (header only) and
//     authorization run before the handler reads it.
//   - Every other route is refused with 413 when its Content-Length is over
//     Config.BodyLimit; otherwise the (possibly chunked) body is read with a
//     limit of BodyLimit+1 into the request, so that Body, PostArgs and
//     MultipartForm work as before, and refused with 413 beyond BodyLimit.
//
// A request whose body was not read to its end closes the connection after
// the response: the rest of the body must never be parsed as the next
// request.

const (
	localStream = "tma.stream" // *limitedBody of an upload route
)

// streamRoute is the pattern of an upload route, matched before routing as
// Fiber's router would: literal segments case-insensitively, a :param
// segment against any non-empty segment.
type streamRoute struct {
	method   string
	segments []string
}

func newStreamRoute(method, path string) streamRoute {
	return streamRoute{method: method, segments: strings.Split(strings.Trim(path, "/"), "/")}
}

func (r streamRoute) match(method, path string) bool {
	if method != r.method {
		return false
	}
	segs := strings.Split(strings.Trim(path, "/"), "/")
	if len(segs) != len(r.segments) || !strings.HasPrefix(path, "/") || strings.HasSuffix(path, "/") {
		return false
	}
	for i, want := range r.segments {
		if strings.HasPrefix(want, ":") {
			if segs[i] == "" {
				return false
			}
		} else if !strings.EqualFold(segs[i], want) {
			return false
		}
	}
	return true
}

// isStream reports whether the request goes to an upload route.
func (s *Server) isStream(c *fiber.Ctx) bool {
	for _, r := range s.streams {
		if r.match(c.Method(), c.Path()) {
			return true
		}
	}
	return false
}

// errUploadTooLarge is the refusal of an upload over the limit.
func (s *Server) errUploadTooLarge() error {
	return tma.Errorf(tma.ETOOLARGE, "The file is larger than the limit of %s.", formatSize(s.cfg.UploadLimit))
}

func errBodyTooLarge() error {
	return tma.Errorf(tma.ETOOLARGE, "The request is too large.")
}

// limitBody enforces the body limits; see the comment at the top.
func (s *Server) limitBody(c *fiber.Ctx) error {
	fctx := c.Context()
	length := int64(fctx.Request.Header.ContentLength()) // -1: chunked, -2: none
	if s.isStream(c) {
		if length > s.cfg.UploadLimit {
			fctx.SetConnectionClose()
			return s.errUploadTooLarge()
		}
		body := &limitedBody{limit: s.cfg.UploadLimit, tooLarge: s.errUploadTooLarge, conn: fctx.Conn(), idle: s.cfg.ReadTimeout}
		if r := fctx.RequestBodyStream(); r != nil && length != 0 && length != -2 {
			body.r = r
		} else {
			body.eof = true
		}
		c.Locals(localStream, body)
		err := c.Next()
		if !body.eof {
			fctx.SetConnectionClose()
		}
		return err
	}
	if length > int64(s.cfg.BodyLimit) {
		fctx.SetConnectionClose()
		return errBodyTooLarge()
	}
	if r := fctx.RequestBodyStream(); r != nil {
		b, err := io.ReadAll(io.LimitReader(r, int64(s.cfg.BodyLimit)+1))
		if err != nil {
			fctx.SetConnectionClose()
			return tma.Errorf(tma.EINVALID, "The request body could not be read.")
		}
		if len(b) > s.cfg.BodyLimit {
			fctx.SetConnectionClose()
			return errBodyTooLarge()
		}
		// SetBody replaces (and releases) the stream: from here on the
		// request holds its whole body, as without streaming.
		fctx.Request.SetBody(b)
	}
	return c.Next()
}

// uploadBody is the body of an upload route, limited; nil on any other
// route.
func uploadBody(c *fiber.Ctx) *limitedBody {
	b, _ := c.Locals(localStream).(*limitedBody)
	return b
}

// limitedBody reads an upload's body: at most limit bytes, and then
// tooLarge. Every read pushes the connection's read deadline ReadTimeout
// ahead, so that a large upload may take as long as it keeps moving, and a
// stalled one ends (fasthttp set one deadline for the whole request).
type limitedBody struct {
	r        io.Reader
	n        int64
	limit    int64
	eof      bool // read to its end: the connection may serve the next request
	tooLarge func() error
	conn     net.Conn
	idle     time.Duration
	pushed   time.Time
}

func (b *limitedBody) Read(p []byte) (int, error) {
	if b.eof || b.r == nil {
		return 0, io.EOF
	}
	if b.n > b.limit {
		return 0, b.tooLarge()
	}
	if now := time.Now(); b.conn != nil && b.idle > 0 && now.Sub(b.pushed) > time.Second {
		_ = b.conn.SetReadDeadline(now.Add(b.idle))
		b.pushed = now
	}
	if rest := b.limit + 1 - b.n; int64(len(p)) > rest {
		p = p[:rest]
	}
	n, err := b.r.Read(p)
	b.n += int64(n)
	if b.n > b.limit {
		return n - int(b.n-b.limit), b.tooLarge()
	}
	if err == io.EOF {
		b.eof = true
	}
	return n, err
}

// formatSize shows a byte count as people write it: 512 MiB, 1.5 GiB.
func formatSize(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	v := float64(n) / float64(div)
	if v == float64(int64(v)) {
		return fmt.Sprintf("%d %ciB", int64(v), "KMGTPE"[exp])
	}
	return fmt.Sprintf("%.1f %ciB", v, "KMGTPE"[exp])
}
