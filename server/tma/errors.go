package tma

import (
	"errors"
	"fmt"
	"strings"
)

// Error codes. Each maps to exactly one HTTP status in server/web.
const (
	ECONFLICT     = "conflict"     // the request conflicts with current state (409)
	EINTERNAL     = "internal"     // a bug or an outage; never shown in detail (500)
	EINVALID      = "invalid"      // the input is malformed or fails validation (400)
	ENOTFOUND     = "not_found"    // no such thing, or the caller may not know it exists (404)
	EUNAUTHORIZED = "unauthorized" // no valid session or wrong credentials (401)
	EFORBIDDEN    = "forbidden"    // authenticated but not allowed (403)
	ETHROTTLED    = "throttled"    // too many attempts; try again later (429)
	ETOOLARGE     = "too_large"    // the body exceeds a limit (413)
	ECORRUPT      = "corrupt"      // stored data failed an integrity check (500, audited)
	EUNAVAILABLE  = "unavailable"  // a dependency (KMS, database) is down (503)
	EGONE         = "gone"         // the data existed but was destroyed, e.g. crypto-shredded (410)
	EMFAREQUIRED  = "mfa_required" // password accepted, a second factor is needed (401)
	ENOTIMPL      = "not_implemented"
)

// Error is the error type of the application. Message is safe to show to the
// user; Op and Err are for logs only.
//
// Format and Args are Message before formatting: the web layer looks Format
// up in a message catalog and formats the same Args into the translation, so
// that every language carries the same details (a duration, a name).
type Error struct {
	Code    string
	Message string
	Format  string
	Args    []any
	Op      string
	Err     error
}

func (e *Error) Error() string {
	// A wrapper made by Wrap repeats its inner error's code and message;
	// name them once.
	var inner *Error
	if errors.As(e.Err, &inner) && inner.Code == e.Code && inner.Message == e.Message {
		return e.Op + ": " + e.Err.Error()
	}
	s := e.Code
	if e.Op != "" {
		s = e.Op + ": " + s
	}
	if e.Message != "" {
		s += ": " + e.Message
	}
	if e.Err != nil {
		s += ": " + e.Err.Error()
	}
	return s
}

func (e *Error) Unwrap() error { return e.Err }

// Errorf returns an *Error with the code and a user-safe message.
func Errorf(code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...), Format: format, Args: args}
}

// Wrap returns err with an operation name and, if err carries no code,
// EINTERNAL. A nil err stays nil.
func Wrap(op string, err error) error {
	if err == nil {
		return nil
	}
	var e *Error
	if errors.As(err, &e) {
		return &Error{Code: e.Code, Message: e.Message, Format: e.Format, Args: e.Args, Op: op, Err: err}
	}
	return &Error{Code: EINTERNAL, Op: op, Err: err}
}

// ErrorCode returns the code of the first *Error in err's chain, EINTERNAL
// for any other error and "" for nil.
func ErrorCode(err error) string {
	if err == nil {
		return ""
	}
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return EINTERNAL
}

// ErrorMessage returns the user-safe message of err. Internal errors get a
// generic message so that details never reach the user.
func ErrorMessage(err error) string {
	if err == nil {
		return ""
	}
	var e *Error
	if errors.As(err, &e) && e.Code != EINTERNAL && e.Message != "" {
		return e.Message
	}
	return "An internal error occurred."
}

// ErrorFormat returns the user-safe message of err as a format and its
// arguments, for translation: fmt.Sprintf(format, args...) is ErrorMessage(err).
// A message set without Errorf comes back as a format with no arguments.
func ErrorFormat(err error) (format string, args []any) {
	if err == nil {
		return "", nil
	}
	var e *Error
	if !errors.As(err, &e) || e.Code == EINTERNAL || e.Message == "" {
		return "An internal error occurred.", nil
	}
	if e.Format == "" {
		return strings.ReplaceAll(e.Message, "%", "%%"), nil
	}
	return e.Format, e.Args
}
