package web

import (
	"errors"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/tma-portal/tma/server/tma"
)

// statusOf is the one mapping from error codes to HTTP status codes.
var statusOf = map[string]int{
	tma.EINVALID:      fiber.StatusBadRequest,
	tma.EUNAUTHORIZED: fiber.StatusUnauthorized,
	tma.EFORBIDDEN:    fiber.StatusForbidden,
	tma.ENOTFOUND:     fiber.StatusNotFound,
	tma.ECONFLICT:     fiber.StatusConflict,
	tma.EGONE:         fiber.StatusGone,
	tma.ETOOLARGE:     fiber.StatusRequestEntityTooLarge,
	tma.ETHROTTLED:    fiber.StatusTooManyRequests,
	tma.EUNAVAILABLE:  fiber.StatusServiceUnavailable,
	tma.ECORRUPT:      fiber.StatusInternalServerError,
	tma.EINTERNAL:     fiber.StatusInternalServerError,
}

// fromFiber turns Fiber's own errors (unknown route, body too large, bad
// method) into domain errors with friendly messages.
func fromFiber(fe *fiber.Error) error {
	switch fe.Code {
	case fiber.StatusNotFound, fiber.StatusMethodNotAllowed:
		return tma.Errorf(tma.ENOTFOUND, "This page does not exist.")
	case fiber.StatusRequestEntityTooLarge:
		return tma.Errorf(tma.ETOOLARGE, "The request is too large.")
	case fiber.StatusRequestURITooLong:
		return tma.Errorf(tma.EINVALID, "The address is too long.")
	case fiber.StatusRequestHeaderFieldsTooLarge:
		return tma.Errorf(tma.EINVALID, "The request headers are too large. Deleting this site's cookies may help.")
	case fiber.StatusNotImplemented:
		return tma.Errorf(tma.EINVALID, "The request method is not supported.")
	case fiber.StatusRequestTimeout:
		return tma.Errorf(tma.EINVALID, "The request took too long to arrive.")
	}
	if fe.Code >= 400 && fe.Code < 500 {
		return tma.Errorf(tma.EINVALID, "The request could not be understood.")
	}
	return &tma.Error{Code: tma.EINTERNAL, Err: fe}
}

// handleError renders err as a page or, for the API, as JSON. Internal
// errors are logged with their details and shown without them.
//
// It is also Fiber's error handler for requests that fail before any
// middleware runs: fasthttp refuses a body over the limit or headers over
// its buffer, and Fiber an unknown method (see New). Such a request gets
// its id and the security headers here, and is logged here.
func (s *Server) handleError(c *fiber.Ctx, err error) error {
	if s.identify(c) {
		defer s.logRequest(c, time.Now())
	}
	s.setSecurityHeaders(c)
	status := 0
	var fe *fiber.Error
	if errors.As(err, &fe) {
		if fe.Code >= 400 && fe.Code < 500 || fe.Code == fiber.StatusNotImplemented {
			status = fe.Code // more precise than the code's status: 414, 431
		}
		err = fromFiber(fe)
	}
	code := tma.ErrorCode(err)
	if status == 0 {
		var ok bool
		if status, ok = statusOf[code]; !ok {
			status = fiber.StatusInternalServerError
		}
	}
	if status >= 500 && status != fiber.StatusNotImplemented {
		logger(c).Error("request failed", "code", code, "err", err)
	}
	v := s.newView(c, "error.title", "", nil)
	v.Error = v.msg(err)
	rid, _ := c.Locals(localRequestID).(string)
	if isAPI(c) || c.Accepts(fiber.MIMETextHTML, fiber.MIMEApplicationJSON) == fiber.MIMEApplicationJSON {
		return c.Status(status).JSON(fiber.Map{"error": fiber.Map{"code": code, "message": v.Error, "request_id": rid}})
	}
	v.Data = struct {
		Status    int
		RequestID string
	}{status, rid}
	if rerr := s.render(c, status, "error", v); rerr != nil {
		c.Type("txt", "utf-8")
		return c.Status(status).SendString(v.Error)
	}
	return nil
}

func (s *Server) handleNotFound(c *fiber.Ctx) error {
	return tma.Errorf(tma.ENOTFOUND, "This page does not exist.")
}
