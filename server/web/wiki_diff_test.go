package web

import (
	"strings"
	"testing"
)

func TestLineDiff(t *testing.T) {
	rows := lineDiff("# Title\nCall the team lead.\nKeep notes.\n", "# Title\nCall the HR lead.\nKeep notes.\nClose <the> case.\n")
	var kinds []string
	for _, r := range rows {
		kinds = append(kinds, r.Kind)
	}
	if got := strings.Join(kinds, ","); got != "same,changed,same,added" {
		t.Fatalf("kinds %s", got)
	}
	if !strings.Contains(string(rows[1].Left), "<del>team</del>") || !strings.Contains(string(rows[1].Right), "<ins>HR</ins>") {
		t.Fatalf("word diff: %q | %q", rows[1].Left, rows[1].Right)
	}
	if !strings.Contains(string(rows[3].Right), "&lt;the&gt;") {
		t.Fatalf("not escaped: %q", rows[3].Right)
	}
}
