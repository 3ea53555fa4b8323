package docsengine

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
)

// FuzzRenderIsSafe renders arbitrary Markdown and fails on anything in the
// output that could run script or restyle the page. The seeds are the hand-
// written XSS vectors in testdata/xss.
func FuzzRenderIsSafe(f *testing.F) {
	seeds, err := filepath.Glob(filepath.Join("testdata", "xss", "*.md"))
	if err != nil || len(seeds) < 30 {
		f.Fatalf("want 30+ seeds in testdata/xss, found %d (%v)", len(seeds), err)
	}
	for _, p := range seeds {
		data, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(string(data))
	}
	engine := New(Config{MaxBytes: 64 << 10})
	resolver := mapResolver{"javascript:alert(1)": "javascript:alert(1)", "Page": "/wiki/page"}
	f.Fuzz(func(t *testing.T, src string) {
		res, err := engine.Render([]byte(src), Options{Resolver: resolver})
		var limit *LimitError
		if errors.As(err, &limit) {
			return
		}
		if err != nil {
			t.Fatal(err)
		}
		if why := unsafeHTML(t, res.HTML); why != "" {
			t.Fatalf("unsafe output (%s)\nsource: %q\nhtml: %s", why, src, res.HTML)
		}
	})
}
