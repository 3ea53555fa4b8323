package web

import (
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/tma-portal/tma/server/tma"
)

// userMessages walks the Go sources under root and returns every message
// format that can reach a user: the format of each tma.Errorf call (unless
// its code is EINTERNAL or ECORRUPT, whose messages are never shown), the message of each
// notFound call (server/postgres), the format of each problemf call (the
// problems of an instrument file: server/tma, server/instrument), and the
// Message of each tma.Error built by hand. Formats may be string literals or string constants of the same
// package. A format that is neither is reported as an error: it could not
// be looked up in a catalog.
func userMessages(t *testing.T, root string) map[string]string {
	t.Helper()
	msgs := map[string]string{} // format → where
	fset := token.NewFileSet()
	dirs := map[string][]*ast.File{}
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && d.Name() == "testdata" {
			return filepath.SkipDir
		}
		if d.IsDir() || !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return nil
		}
		f, err := parser.ParseFile(fset, path, nil, 0)
		if err != nil {
			return err
		}
		dirs[filepath.Dir(path)] = append(dirs[filepath.Dir(path)], f)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, files := range dirs {
		consts := map[string]string{}
		for _, f := range files {
			for _, decl := range f.Decls {
				gd, ok := decl.(*ast.GenDecl)
				if !ok || gd.Tok != token.CONST {
					continue
				}
				for _, spec := range gd.Specs {
					vs := spec.(*ast.ValueSpec)
					for i, name := range vs.Names {
						if i < len(vs.Values) {
							if lit, ok := vs.Values[i].(*ast.BasicLit); ok && lit.Kind == token.STRING {
								consts[name.Name], _ = strconv.Unquote(lit.Value)
							}
						}
					}
				}
			}
		}
		str := func(e ast.Expr) (string, bool) {
			switch e := e.(type) {
			case *ast.BasicLit:
				if e.Kind == token.STRING {
					s, err := strconv.Unquote(e.Value)
					return s, err == nil
				}
			case *ast.Ident:
				s, ok := consts[e.Name]
				return s, ok
			}
			return "", false
		}
		cur := "" // the package of the file being walked
		isSel := func(e ast.Expr, pkg, name string) bool {
			if id, ok := e.(*ast.Ident); ok && cur == pkg {
				return id.Name == name // inside package tma: Errorf, EINVALID
			}
			sel, ok := e.(*ast.SelectorExpr)
			if !ok || sel.Sel.Name != name {
				return false
			}
			id, ok := sel.X.(*ast.Ident)
			return ok && id.Name == pkg
		}
		// Messages of these codes are never shown (see view.msg).
		hidden := func(e ast.Expr) bool { return isSel(e, "tma", "EINTERNAL") || isSel(e, "tma", "ECORRUPT") }
		add := func(e ast.Expr) {
			where := fset.Position(e.Pos()).String()
			s, ok := str(e)
			if !ok {
				t.Errorf("%s: the message is not a string constant, so no catalog can translate it", where)
				return
			}
			if s != "" {
				msgs[s] = where
			}
		}
		for _, f := range files {
			cur = f.Name.Name
			if cur == "tma" && filepath.Base(fset.Position(f.Pos()).Filename) == "errors.go" {
				continue // the definitions of Errorf and Wrap, not messages
			}
			ast.Inspect(f, func(n ast.Node) bool {
				switch n := n.(type) {
				case *ast.CallExpr:
					fun, ok := n.Fun.(*ast.Ident)
					switch {
					case isSel(n.Fun, "tma", "Errorf") && len(n.Args) >= 2:
						if !hidden(n.Args[0]) {
							add(n.Args[1])
						}
					case ok && fun.Name == "notFound" && len(n.Args) == 2:
						add(n.Args[1])
					case ok && fun.Name == "problemf" && len(n.Args) >= 2:
						add(n.Args[1]) // problemf(field, format, args...)
					}
				case *ast.CompositeLit:
					if isSel(n.Type, "tma", "Error") {
						var code, msg ast.Expr
						for _, el := range n.Elts {
							if kv, ok := el.(*ast.KeyValueExpr); ok {
								switch kv.Key.(*ast.Ident).Name {
								case "Code":
									code = kv.Value
								case "Message":
									msg = kv.Value
								}
							}
						}
						if msg != nil && (code == nil || !hidden(code)) {
							if id, ok := msg.(*ast.Ident); ok && consts[id.Name] == "" {
								return true // a parameter, as in notFound: its callers' constants are collected
							}
							add(msg)
						}
					}
				case *ast.AssignStmt:
					// e.Code, e.Message = tma.ENOTFOUND, "KMS key not found"
					for i, lhs := range n.Lhs {
						sel, ok := lhs.(*ast.SelectorExpr)
						if !ok || sel.Sel.Name != "Message" || len(n.Rhs) != len(n.Lhs) {
							continue
						}
						if !slices.ContainsFunc(n.Rhs, hidden) {
							add(n.Rhs[i])
						}
					}
				}
				return true
			})
		}
	}
	return msgs
}

// TestEveryMessageHasGermanText fails when a message that a user can see
// has no German text: German users would get a generic message instead.
func TestEveryMessageHasGermanText(t *testing.T) {
	p, err := loadPages()
	if err != nil {
		t.Fatal(err)
	}
	msgs := userMessages(t, "..")
	if len(msgs) < 40 {
		t.Fatalf("only %d messages found; is the source walk broken?", len(msgs))
	}
	for _, extra := range []string{"An internal error occurred."} {
		msgs[extra] = "tma.ErrorFormat"
	}
	var missing []string
	for m, where := range msgs {
		if _, ok := p.catalog["de"]["msg:"+m]; !ok {
			missing = append(missing, fmt.Sprintf("%s: %q", where, "msg:"+m))
		}
	}
	slices.Sort(missing)
	for _, m := range missing {
		t.Errorf("de.json has no text for %s", m)
	}
	// And no stale texts: every msg: key belongs to a message in the code.
	for key := range p.catalog["de"] {
		if m, ok := strings.CutPrefix(key, "msg:"); ok && msgs[m] == "" {
			t.Errorf("de.json has %q, which no code uses", key)
		}
	}
}

// verbRe matches one printf verb, with an optional explicit argument index.
var verbRe = regexp.MustCompile(`%(\[\d+\])?[-+# 0]*(\d+|\*)?(\.(\d+|\*))?[a-zA-Z%]`)

// placeholders returns the verbs of a format by argument: "%s %d" → ["1:s",
// "2:d"]; "%[2]d %[1]s" → ["1:s", "2:d"]. Flags and widths are ignored,
// because a translation may format differently, but it must use the same
// arguments the same way.
func placeholders(format string) []string {
	var out []string
	arg := 1
	for _, m := range verbRe.FindAllStringSubmatch(format, -1) {
		verb := m[0][len(m[0])-1:]
		if verb == "%" {
			continue
		}
		if m[1] != "" {
			arg, _ = strconv.Atoi(m[1][1 : len(m[1])-1])
		}
		out = append(out, fmt.Sprintf("%d:%s", arg, verb))
		arg++
	}
	slices.Sort(out)
	return slices.Compact(out)
}

func TestPlaceholders(t *testing.T) {
	tests := []struct {
		format string
		want   []string
	}{
		{"no verbs, 100%% sure", nil},
		{"%s and %d", []string{"1:s", "2:d"}},
		{"%[2]d vor %[1]s", []string{"1:s", "2:d"}},
		{"%q at %04o, %5.2f", []string{"1:q", "2:o", "3:f"}},
		{"%v then %v", []string{"1:v", "2:v"}},
	}
	for _, tc := range tests {
		if got := placeholders(tc.format); !slices.Equal(got, tc.want) {
			t.Errorf("placeholders(%q) = %q, want %q", tc.format, got, tc.want)
		}
	}
}

// TestCatalogPlaceholdersMatch checks that every text uses the same
// arguments in English and German. For "msg:" keys the English text is the
// key itself.
func TestCatalogPlaceholdersMatch(t *testing.T) {
	p, err := loadPages()
	if err != nil {
		t.Fatal(err)
	}
	for key, de := range p.catalog["de"] {
		en, ok := p.catalog["en"][key]
		if !ok {
			en, ok = strings.CutPrefix(key, "msg:")
		}
		if !ok {
			continue // TestCatalogsMatch reports it
		}
		if a, b := placeholders(en), placeholders(de); !slices.Equal(a, b) {
			t.Errorf("%q: English uses %q, German %q", key, a, b)
		}
	}
}

// TestMessagesKeepDetails checks that a translated message carries the
// same details as the English one.
func TestMessagesKeepDetails(t *testing.T) {
	p, err := loadPages()
	if err != nil {
		t.Fatal(err)
	}
	lockout := tma.Errorf(tma.ETHROTTLED, "Too many failed sign-in attempts. Sign-in is locked for %d more minute(s); try again later or ask your administrator.", 7)
	tests := []struct {
		name   string
		err    error
		locale string
		want   string
	}{
		{"lockout en", lockout, "en", "Too many failed sign-in attempts. Sign-in is locked for 7 more minute(s); try again later or ask your administrator."},
		{"lockout de", lockout, "de", "Zu viele fehlgeschlagene Anmeldeversuche. Die Anmeldung ist noch 7 Minute(n) gesperrt; versuchen Sie es später noch einmal oder wenden Sie sich an Ihren Administrator."},
		{"wrapped de", tma.Wrap("op", lockout), "de", "Zu viele fehlgeschlagene Anmeldeversuche. Die Anmeldung ist noch 7 Minute(n) gesperrt; versuchen Sie es später noch einmal oder wenden Sie sich an Ihren Administrator."},
		{"own roles de", tma.Errorf(tma.EFORBIDDEN, "You cannot change your own roles; ask another administrator."), "de", "Ihre eigenen Rollen können Sie nicht ändern; bitten Sie einen anderen Administrator darum."},
		{"quoted arg de", tma.Errorf(tma.EINVALID, "Unknown role %q.", "root"), "de", `Unbekannte Rolle "root".`},
		{"unknown message de falls back to the code", tma.Errorf(tma.EINVALID, "Something new."), "de", "Die Eingabe ist ungültig."},
		{"unknown message en", tma.Errorf(tma.EINVALID, "Something %d new.", 5), "en", "Something 5 new."},
		{"internal de", tma.Errorf(tma.EINTERNAL, "pool exhausted"), "de", "Ein interner Fehler ist aufgetreten."},
		{"corrupt hides its detail", &tma.Error{Code: tma.ECORRUPT, Message: "document 42: segment 3 does not authenticate"}, "en",
			"Stored data failed an integrity check. The incident was recorded; please tell your administrator."},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			v := &view{Locale: tc.locale, catalog: p.catalog}
			if got := v.msg(tc.err); got != tc.want {
				t.Fatalf("msg = %q, want %q", got, tc.want)
			}
		})
	}
}
