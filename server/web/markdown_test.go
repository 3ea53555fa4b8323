package web

import (
	"strings"
	"testing"
)

// TestMarkdownIsSafe: raw HTML and script links never survive rendering.
func TestMarkdownIsSafe(t *testing.T) {
	for _, tc := range []struct{ name, src, bad string }{
		{"script tag", "hi <script>alert(1)</script>", "<script"},
		{"inline handler", `<img src=x onerror="alert(1)">`, "onerror"},
		{"javascript link", "[x](javascript:alert(1))", "javascript:"},
		{"vbscript link", "[x](vbscript:msgbox)", "vbscript:"},
		{"html block", "<iframe src=//evil></iframe>", "<iframe"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if out := string(renderMarkdown(tc.src)); strings.Contains(strings.ToLower(out), tc.bad) {
				t.Errorf("%q renders to %q", tc.src, out)
			}
		})
	}
	if out := string(renderMarkdown("**bold** and a [link](https://example.org)")); !strings.Contains(out, "<strong>bold</strong>") || !strings.Contains(out, `href="https://example.org"`) {
		t.Errorf("plain Markdown: %q", out)
	}
}

// FuzzMarkdown: no input yields a script element, an event handler
// attribute or a javascript: URL.
func FuzzMarkdown(f *testing.F) {
	for _, s := range []string{"<script>x</script>", "[a](javascript:x)", "<a onclick=x>", "`code`", "| a |\n|---|\n| <b> |"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, src string) {
		out := strings.ToLower(string(renderMarkdown(src)))
		for _, bad := range []string{"<script", "<iframe", `href="javascript:`, "<img src=x onerror"} {
			if strings.Contains(out, bad) {
				t.Fatalf("%q renders to %q", src, out)
			}
		}
	})
}
