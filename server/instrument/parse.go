// Package instrument reads and writes instrument files: one version of a
// structured professional judgment (SPJ) instrument as a YAML document
// (README.md documents the format). It is the adapter of
// github.com/goccy/go-yaml, chosen because it keeps the position of every
// node, so that every problem in a file names its line.
//
// Parse never returns a partial instrument: a file is either valid as a
// whole (tma.Instrument.Validate finds nothing) or refused with every
// problem found (tma.InvalidInstrument), each with its field path and line.
package instrument

import (
	"bytes"
	"errors"
	"fmt"
	"math"
	"reflect"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/goccy/go-yaml"
	"github.com/goccy/go-yaml/ast"
	"github.com/goccy/go-yaml/lexer"
	"github.com/goccy/go-yaml/parser"
	"github.com/goccy/go-yaml/token"

	"github.com/tma-portal/tma/server/tma"
)

// maxProblems is how many problems Parse lists; a file with more is far
// from an instrument, and the rest are counted.
const maxProblems = 100

// maxDepth bounds how deeply a file may nest (mappings in lists in
// mappings …), as the lexer's tokens show it. An instrument needs six
// levels; the YAML parser keeps a path string per node, so a file of a
// megabyte nested a hundred thousand levels deep would cost it gigabytes.
const maxDepth = 24

// problemf is a Problem at field; its line is found later from field.
func problemf(field, format string, args ...any) tma.Problem {
	return tma.Problem{Field: field, Format: format, Args: args}
}

// Parse reads an instrument file. It refuses the whole file, with an
// EINVALID error listing every problem (tma.InvalidInstrument, the
// problems sorted by line), if the file is too large, is not YAML, has a
// field the format does not know or a value of the wrong type, or fails
// tma.Instrument.Validate. Anchors, aliases and tags are refused: an
// instrument file writes every value out.
func Parse(src []byte) (*tma.Instrument, error) {
	if len(src) > tma.MaxInstrumentFile {
		return nil, tma.InvalidInstrument(tma.Problems{problemf("", "The file is larger than %d bytes.", tma.MaxInstrumentFile)})
	}
	src = bytes.TrimPrefix(src, []byte("\uFEFF"))
	if !utf8.Valid(src) {
		p := problemf("", "The file is not UTF-8 text.")
		p.Line = 1 + bytes.Count(src[:firstInvalidUTF8(src)], []byte("\n"))
		return nil, tma.InvalidInstrument(tma.Problems{p})
	}
	d := &decoder{lines: map[string]int{}}
	body := d.parse(src)
	if len(d.problems) > 0 {
		return nil, tma.InvalidInstrument(capProblems(d.problems))
	}
	var inst tma.Instrument
	d.lines[""] = firstLine(body)
	d.value(body, reflect.ValueOf(&inst).Elem(), "")
	// Validate's problems at a field that could not be read repeat the
	// reading problem ("version must be 1 or more" after "expected a
	// whole number"), so they are left out.
	for _, p := range inst.Validate() {
		if !slices.ContainsFunc(d.unread, func(f string) bool { return within(p.Field, f) }) {
			d.problems = append(d.problems, p)
		}
	}
	if len(d.problems) == 0 {
		return &inst, nil
	}
	for i := range d.problems {
		if d.problems[i].Line == 0 {
			d.problems[i].Line = d.line(d.problems[i].Field)
		}
	}
	slices.SortStableFunc(d.problems, func(a, b tma.Problem) int { return a.Line - b.Line })
	return nil, tma.InvalidInstrument(capProblems(d.problems))
}

// capProblems keeps the first maxProblems problems and counts the rest.
func capProblems(ps tma.Problems) tma.Problems {
	if n := len(ps) - maxProblems; n > 0 {
		return append(ps[:maxProblems:maxProblems], problemf("", "%d more problems are not listed.", n))
	}
	return ps
}

// decoder reads a YAML node tree into the domain types, by their JSON
// names, and notes the line of every field it meets.
type decoder struct {
	lines    map[string]int // field path → line of its key or list entry
	problems tma.Problems
	unread   []string // field paths whose value could not be read
}

// add records a problem at a line.
func (d *decoder) add(line int, p tma.Problem) {
	p.Line = line
	d.problems = append(d.problems, p)
}

// parse lexes and parses src and returns its one document's body, or nil
// with problems.
func (d *decoder) parse(src []byte) ast.Node {
	tokens := lexer.Tokenize(string(src))
	if !d.checkTokens(tokens) {
		return nil
	}
	file, err := parser.Parse(tokens, 0)
	if err != nil {
		var se *yaml.SyntaxError
		if errors.As(err, &se) && se.Token != nil && se.Token.Position != nil {
			d.add(se.Token.Position.Line, problemf("", "YAML syntax error: %s", se.Message))
		} else {
			msg, _, _ := strings.Cut(err.Error(), "\n")
			d.add(0, problemf("", "YAML syntax error: %s", msg))
		}
		return nil
	}
	var docs []*ast.DocumentNode
	for _, doc := range file.Docs {
		if doc != nil && doc.Body != nil && !isComment(doc.Body) {
			docs = append(docs, doc)
		}
	}
	switch {
	case len(docs) == 0:
		d.add(1, problemf("", "The file is empty."))
		return nil
	case len(docs) > 1:
		d.add(firstLine(docs[1].Body), problemf("", "The file must hold one YAML document, not %d.", len(docs)))
		return nil
	}
	return docs[0].Body
}

// checkTokens refuses anchors, aliases and tags, nesting beyond maxDepth
// and more than one document, before the parser sees the tokens. The
// parser's time grows with the square of the number of documents, so a
// megabyte of "---\na: 1\n" must not reach it.
func (d *decoder) checkTokens(tokens token.Tokens) bool {
	ok := true
	flow := 0       // depth of [ ] and { }
	var block []int // columns of the open block entries and keys
	docs, second := 0, 0
	inDoc := false // a token of the current document's body was seen
	for _, tk := range tokens {
		line := tk.Position.Line
		switch tk.Type {
		case token.DocumentHeaderType, token.DocumentEndType:
			inDoc = false
		case token.CommentType, token.DirectiveType, token.SpaceType:
		default:
			if !inDoc {
				inDoc = true
				if docs++; docs == 2 {
					second = line
				}
			}
		}
		switch tk.Type {
		case token.AnchorType, token.AliasType:
			d.add(line, problemf("", "Anchors (&name) and aliases (*name) are not allowed in an instrument file; write each value out."))
			ok = false
		case token.TagType:
			d.add(line, problemf("", "Tags such as %q are not allowed in an instrument file.", tk.Value))
			ok = false
		case token.SequenceStartType, token.MappingStartType:
			flow++
		case token.SequenceEndType, token.MappingEndType:
			flow = max(flow-1, 0)
		case token.SequenceEntryType, token.MappingKeyType:
			if flow == 0 {
				block = openBlock(block, tk.Position.Column)
			}
		case token.MappingValueType:
			if flow == 0 && tk.Prev != nil {
				block = openBlock(block, tk.Prev.Position.Column)
			}
		}
		if flow+len(block) > maxDepth {
			d.add(line, problemf("", "The file is nested more than %d levels deep.", maxDepth))
			return false
		}
	}
	if ok && docs > 1 {
		d.add(second, problemf("", "The file must hold one YAML document, not %d.", docs))
		return false
	}
	return ok
}

// openBlock closes the block entries at or right of column and opens one
// there.
func openBlock(block []int, column int) []int {
	for len(block) > 0 && block[len(block)-1] >= column {
		block = block[:len(block)-1]
	}
	return append(block, column)
}

// value reads n into v, the field at path.
func (d *decoder) value(n ast.Node, v reflect.Value, path string) {
	if _, null := n.(*ast.NullNode); null || n == nil {
		return // the zero value; Validate says if it is required
	}
	switch v.Kind() {
	case reflect.Struct:
		d.mapping(n, v, path)
	case reflect.Slice:
		seq, ok := n.(*ast.SequenceNode)
		if !ok {
			d.wrongType(n, path, problemf(path, "Expected a list (lines starting with \"- \")."))
			return
		}
		if len(seq.Values) == 0 {
			return // nil, as when the key is left out: "rules: []" reads as no rules
		}
		v.Set(reflect.MakeSlice(v.Type(), len(seq.Values), len(seq.Values)))
		for i, el := range seq.Values {
			p := fmt.Sprintf("%s[%d]", path, i)
			d.lines[p] = firstLine(el)
			d.value(el, v.Index(i), p)
		}
	case reflect.String:
		s, ok := scalarText(n)
		if !ok {
			d.wrongType(n, path, problemf(path, "Expected text, not a list or mapping."))
			return
		}
		v.SetString(s)
	case reflect.Int:
		i, ok := n.(*ast.IntegerNode)
		if !ok {
			d.wrongType(n, path, problemf(path, "Expected a whole number."))
			return
		}
		switch x := i.Value.(type) {
		case int64:
			v.SetInt(x)
		case uint64:
			if x > math.MaxInt64 {
				d.wrongType(n, path, problemf(path, "The number is too large."))
				return
			}
			v.SetInt(int64(x))
		}
	case reflect.Bool:
		b, ok := n.(*ast.BoolNode)
		if !ok {
			d.wrongType(n, path, problemf(path, "Expected true or false."))
			return
		}
		v.SetBool(b.Value)
	default:
		panic("instrument: no YAML decoding for " + v.Type().String())
	}
}

// mapping reads a mapping into the struct v by the fields' JSON names.
func (d *decoder) mapping(n ast.Node, v reflect.Value, path string) {
	var pairs []*ast.MappingValueNode
	switch m := n.(type) {
	case *ast.MappingNode:
		pairs = m.Values
	case *ast.MappingValueNode:
		pairs = []*ast.MappingValueNode{m}
	default:
		d.wrongType(n, path, problemf(path, "Expected a mapping (lines of the form \"key: value\")."))
		return
	}
	for _, pair := range pairs {
		key := mapKey(pair.Key)
		p := key
		if path != "" {
			p = path + "." + key
		}
		d.lines[p] = firstLine(pair.Key)
		f, ok := fieldByName(v, key)
		if !ok {
			d.add(d.lines[p], problemf(p, "Unknown field %q; the fields here are: %s.", tma.CleanText(key, 80), strings.Join(fieldNames(v.Type()), ", ")))
			continue
		}
		d.value(pair.Value, f, p)
	}
}

// wrongType records a value of the wrong kind at path.
func (d *decoder) wrongType(n ast.Node, path string, p tma.Problem) {
	d.add(firstLine(n), p)
	d.unread = append(d.unread, path)
}

// line is the line of field, or of its nearest parent in the file (a
// missing key has no line of its own).
func (d *decoder) line(field string) int {
	for {
		if l, ok := d.lines[field]; ok {
			return l
		}
		if field == "" {
			return 0
		}
		field = parentField(field)
	}
}

// parentField is the path of the value that holds field:
// "sections[1].items[0].scale" → "sections[1].items[0]" → "sections[1]"
// → "sections" → "".
func parentField(field string) string {
	if strings.HasSuffix(field, "]") {
		if i := strings.LastIndexByte(field, '['); i >= 0 {
			return field[:i]
		}
	}
	if i := strings.LastIndexByte(field, '.'); i >= 0 {
		return field[:i]
	}
	return ""
}

// within reports whether field is parent or lies inside it.
func within(field, parent string) bool {
	if parent == "" || field == parent {
		return true
	}
	rest, ok := strings.CutPrefix(field, parent)
	return ok && (strings.HasPrefix(rest, ".") || strings.HasPrefix(rest, "["))
}

// scalarText is the text of a scalar as the file writes it: 2024 and true
// are text where text is expected.
func scalarText(n ast.Node) (string, bool) {
	switch n := n.(type) {
	case *ast.StringNode:
		return n.Value, true
	case *ast.LiteralNode:
		return n.Value.Value, true
	case *ast.IntegerNode, *ast.FloatNode, *ast.BoolNode, *ast.InfinityNode, *ast.NanNode:
		return n.GetToken().Value, true
	}
	return "", false
}

// mapKey is the text of a mapping key.
func mapKey(k ast.MapKeyNode) string {
	if mk, ok := k.(*ast.MappingKeyNode); ok && mk.Value != nil {
		if s, ok := scalarText(mk.Value); ok {
			return s
		}
		return mk.Value.String()
	}
	if s, ok := scalarText(k); ok {
		return s
	}
	return k.String()
}

// fieldByName finds the field of struct v whose JSON name is name.
func fieldByName(v reflect.Value, name string) (reflect.Value, bool) {
	t := v.Type()
	for i := range t.NumField() {
		if jsonName(t.Field(i)) == name {
			return v.Field(i), true
		}
	}
	return reflect.Value{}, false
}

func fieldNames(t reflect.Type) []string {
	names := make([]string, t.NumField())
	for i := range names {
		names[i] = jsonName(t.Field(i))
	}
	return names
}

func jsonName(f reflect.StructField) string {
	name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
	return name
}

// firstLine is the line where a node starts.
func firstLine(n ast.Node) int {
	switch m := n.(type) {
	case nil:
		return 0
	case *ast.MappingNode:
		if len(m.Values) > 0 {
			return firstLine(m.Values[0])
		}
	case *ast.MappingValueNode:
		return firstLine(m.Key)
	case *ast.MappingKeyNode:
		if m.Start != nil && m.Start.Position != nil {
			return m.Start.Position.Line
		}
	case *ast.LiteralNode:
		if m.Start != nil && m.Start.Position != nil {
			return m.Start.Position.Line
		}
	}
	if tk := n.GetToken(); tk != nil && tk.Position != nil {
		return tk.Position.Line
	}
	return 0
}

func isComment(n ast.Node) bool {
	_, ok := n.(*ast.CommentGroupNode)
	return ok
}

// firstInvalidUTF8 is the offset of the first byte that is not UTF-8.
func firstInvalidUTF8(b []byte) int {
	for i := 0; i < len(b); {
		r, size := utf8.DecodeRune(b[i:])
		if r == utf8.RuneError && size == 1 {
			return i
		}
		i += size
	}
	return len(b)
}
