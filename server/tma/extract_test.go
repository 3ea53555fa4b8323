package tma_test

import (
	"testing"

	"github.com/tma-portal/tma/server/tma"
)

func TestExtractType(t *testing.T) {
	tests := []struct{ name, sniffed, want string }{
		{"Notiz.md", "text/plain; charset=utf-8", "text/markdown; charset=utf-8"},
		{"README.MARKDOWN", "text/plain", "text/markdown"},
		{"notes.txt", "text/plain; charset=utf-8", "text/plain; charset=utf-8"},
		{"evil.md", "text/html; charset=utf-8", "text/html; charset=utf-8"}, // the bytes decide, not the name
		{"scan.md", "application/pdf", "application/pdf"},
	}
	for _, tc := range tests {
		if got := tma.ExtractType(tc.name, tc.sniffed); got != tc.want {
			t.Errorf("ExtractType(%q, %q) = %q, want %q", tc.name, tc.sniffed, got, tc.want)
		}
	}
}
