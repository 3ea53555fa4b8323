package main

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"
)

// rawRequest sends raw bytes, which may be a request no HTTP client would
// send, and reads one response.
func rawRequest(t *testing.T, addr, raw string) (*http.Response, string) {
	t.Helper()
	conn, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
	// The server may answer and close before it has read everything (a body
	// over the limit): a failed write is expected then.
	_, _ = io.WriteString(conn, raw)
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatalf("read response: %v", err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}

// TestErrorResponsesCarryHeaders sends requests that fail at every stage
// (in fasthttp before Fiber runs, in Fiber before any handler, in the
// middleware, in the router) and checks that each refusal carries the
// security headers and the request id, in the language asked for.
func TestErrorResponsesCarryHeaders(t *testing.T) {
	srv := startServer(t, map[string]string{"TMA_BODY_LIMIT": "4096"})
	addr := strings.TrimPrefix(srv.URL, "http://")
	head := func(method, target, lang string, extra ...string) string {
		h := method + " " + target + " HTTP/1.1\r\nHost: " + addr + "\r\nAccept: text/html\r\nAccept-Language: " + lang + "\r\nConnection: close\r\n"
		for _, e := range extra {
			h += e + "\r\n"
		}
		return h + "\r\n"
	}
	long := strings.Repeat("a", 5000)
	big := strings.Repeat("b", 9000)
	tests := []struct {
		name   string
		req    func(lang string) string
		status int
		// German text of the message; "" when the request fails before its
		// language is known (fasthttp could not read its headers).
		de string
		en string
	}{
		{"body over the limit",
			func(lang string) string {
				return head("POST", "/login", lang, "Content-Type: application/x-www-form-urlencoded", "Content-Length: 8192") + strings.Repeat("x", 8192)
			},
			413, "Die Anfrage ist zu groß.", "The request is too large."},
		{"long URL",
			func(lang string) string { return head("GET", "/"+long, lang) },
			414, "Die Adresse ist zu lang.", "The address is too long."},
		{"huge header",
			func(lang string) string { return head("GET", "/login", lang, "X-Big: "+big) },
			431, "Die Kopfzeilen der Anfrage sind zu groß.", "The request headers are too large."},
		{"huge cookie",
			func(lang string) string { return head("GET", "/login", lang, "Cookie: tma_session="+big) },
			431, "Die Kopfzeilen der Anfrage sind zu groß.", "The request headers are too large."},
		{"headers beyond the read buffer",
			func(lang string) string { return head("GET", "/login", lang, "X-Big: "+strings.Repeat("c", 40000)) },
			431, "", "The request headers are too large."},
		{"unknown method",
			func(lang string) string { return head("FOO", "/", lang) },
			501, "Diese Anfragemethode wird nicht unterstützt.", "The request method is not supported."},
		{"unknown page",
			func(lang string) string { return head("GET", "/no-such-page", lang) },
			404, "Diese Seite gibt es nicht.", "This page does not exist."},
		{"GET on a POST-only route",
			func(lang string) string { return head("GET", "/logout", lang) },
			404, "Diese Seite gibt es nicht.", "This page does not exist."},
		{"DELETE without a CSRF token",
			func(lang string) string { return head("DELETE", "/login", lang) },
			403, "Das Formular ist abgelaufen", "The form has expired"},
		{"malformed request line",
			func(lang string) string { return " /login HTTP/1.1\r\nAccept-Language: " + lang + "\r\n\r\n" },
			400, "", "The request could not be understood."},
		{"TLS spoken to the plain port",
			func(string) string { return "\x16\x03\x01\x00\xa5\x01\x00\x00\xa1\x03\x03\r\n\r\n" },
			400, "", "The request could not be understood."},
		{"malformed Content-Length",
			func(lang string) string { return head("POST", "/login", lang, "Content-Length: ten") },
			400, "", "The request could not be understood."},
	}
	for _, tc := range tests {
		for _, lang := range []string{"en", "de"} {
			t.Run(tc.name+"/"+lang, func(t *testing.T) {
				resp, body := rawRequest(t, addr, tc.req(lang))
				if resp.StatusCode != tc.status {
					t.Errorf("status %d, want %d; body %.300q", resp.StatusCode, tc.status, body)
				}
				for h, want := range map[string]string{
					"X-Frame-Options":         "DENY",
					"X-Content-Type-Options":  "nosniff",
					"Cache-Control":           "no-store",
					"Referrer-Policy":         "no-referrer",
					"Content-Security-Policy": "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; font-src 'self'; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
				} {
					if got := resp.Header.Get(h); got != want {
						t.Errorf("%s = %q, want %q", h, got, want)
					}
				}
				rid := resp.Header.Get("X-Request-Id")
				if len(rid) < 8 {
					t.Errorf("X-Request-Id = %q", rid)
				}
				if !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/html") {
					t.Fatalf("Content-Type %q, want a page", resp.Header.Get("Content-Type"))
				}
				if rid == "" || !strings.Contains(body, rid) {
					t.Errorf("the page does not show the request id %q: %.300q", rid, body)
				}
				want, wantLang := tc.en, "en"
				if lang == "de" && tc.de != "" {
					want, wantLang = tc.de, "de"
				}
				if !strings.Contains(body, want) || !strings.Contains(body, `<html lang="`+wantLang+`"`) {
					t.Errorf("the page lacks %q in %s: %.600q", want, wantLang, body)
				}
			})
		}
	}

	// The API answers in JSON, with the request id.
	resp, body := rawRequest(t, addr, "FOO /api/v1/me HTTP/1.1\r\nHost: x\r\nAccept: application/json\r\nConnection: close\r\n\r\n")
	rid := resp.Header.Get("X-Request-Id")
	if resp.StatusCode != 501 || resp.Header.Get("X-Frame-Options") != "DENY" || rid == "" ||
		!strings.Contains(body, `"request_id":"`+rid+`"`) {
		t.Errorf("API: status %d, request id %q, body %q", resp.StatusCode, rid, body)
	}
}
