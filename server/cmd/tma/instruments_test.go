package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/tma-portal/tma/server/instrument"
	"github.com/tma-portal/tma/server/postgres"
	"github.com/tma-portal/tma/server/tma"
)

// siteCheck is a small valid instrument file, version 2 (the version is
// not a shipped one's).
const siteCheck = `id: site-check
version: 2
title: Site check
license_note: Our own structure.
scales:
  - id: presence
    values:
      - code: absent
        label: Absent
      - code: present
        label: Present
        present: true
sections:
  - id: signs
    title: Signs
    items:
      - id: threat
        name: Threat
        kind: dynamic
        scale: presence
summary_judgments:
  - id: urgency
    title: Urgency
    scale: presence
    rationale_required: true
`

func writeFile(t *testing.T, name, content string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// versions lists a tenant's instrument versions as "id vN".
func versions(t *testing.T, db *postgres.DB, tenantID string) []string {
	t.Helper()
	list, err := postgres.NewInstrumentService(db).Instruments(context.Background(), tenantID)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, in := range list {
		out = append(out, in.ID+" v"+strconv.Itoa(in.Version))
	}
	return out
}

func TestInstrumentsImportCommand(t *testing.T) {
	ctx := context.Background()
	e := newCLIEnv(t)
	e.mustRun(t, "tenant", "create", "--slug", "acme", "--name", "Acme", "--admin-email", "it@acme.example")
	acme, err := postgres.NewTenantService(e.db).FindTenantBySlug(ctx, "acme")
	if err != nil {
		t.Fatal(err)
	}
	shipped := []string{"trap18-screen v1", "workplace-triage v1"}
	if got := versions(t, e.db, acme.ID); strings.Join(got, ",") != strings.Join(shipped, ",") {
		t.Fatalf("a new tenant has %q, want the shipped %q", got, shipped)
	}

	// A broken file imports nothing and names every problem with its line.
	broken := writeFile(t, "broken.yaml", strings.NewReplacer(
		"        scale: presence\n", "        scale: presense\n",
		"    rationale_required: true\n", "    rationale_required: true\n    weight: 2\n",
	).Replace(siteCheck))
	_, err = e.run(t, "instruments", "import", "--tenant", "acme", broken)
	if err == nil {
		t.Fatal("a broken file was imported")
	}
	for _, want := range []string{
		broken + " has 2 problem(s); nothing was imported:",
		"\n" + broken + `:20: sections[0].items[0].scale: Unknown scale "presense".`,
		"\n" + broken + `:26: summary_judgments[0].weight: Unknown field "weight"; the fields here are: id, title, scale, rationale_required, sets_risk.`,
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q:\n%v", want, err)
		}
	}
	if got := versions(t, e.db, acme.ID); len(got) != 2 {
		t.Fatalf("after the broken file: %q", got)
	}

	// A valid file imports (the only tenant is the default), once.
	good := writeFile(t, "site-check.yaml", siteCheck)
	if out := e.mustRun(t, "instruments", "import", good); out != "imported site-check version 2\n" {
		t.Fatalf("import: %q", out)
	}
	if out := e.mustRun(t, "instruments", "import", "--tenant", "acme", good); out != "unchanged site-check version 2\n" {
		t.Fatalf("import again: %q", out)
	}
	// The same version with other content is refused: raise the version.
	changed := writeFile(t, "site-check.yaml", strings.Replace(siteCheck, "title: Site check", "title: Site check (new)", 1))
	if _, err := e.run(t, "instruments", "import", "--tenant", "acme", changed); tma.ErrorCode(err) != tma.ECONFLICT ||
		!strings.Contains(err.Error(), "higher version number") {
		t.Fatalf("changed file, same version: %v", err)
	}
	out := e.mustRun(t, "instruments", "list")
	for _, want := range []string{"site-check  ", "Site check  ", "trap18-screen", "workplace-triage"} {
		if !strings.Contains(out, want) {
			t.Errorf("list lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "(new)") {
		t.Errorf("the refused file shows in the list:\n%s", out)
	}

	// With a second tenant, the tenant must be named.
	e.mustRun(t, "tenant", "create", "--slug", "beta", "--name", "Beta", "--admin-email", "it@beta.example")
	if _, err := e.run(t, "instruments", "list"); err == nil || !strings.Contains(err.Error(), "--tenant is required") {
		t.Fatalf("list without a tenant among two: %v", err)
	}
	if out := e.mustRun(t, "instruments", "list", "--tenant", "beta"); strings.Contains(out, "site-check") || !strings.Contains(out, "trap18-screen") {
		t.Fatalf("beta's list:\n%s", out)
	}
}

// TestShippedInstrumentsSeeded checks that a starting server gives every
// tenant the shipped instruments, and leaves a tenant's own file under a
// shipped id and version alone, saying so in the log without its content.
func TestShippedInstrumentsSeeded(t *testing.T) {
	ctx := context.Background()
	getenv := testEnv(t, nil)
	db, err := postgres.Open(ctx, getenv("TMA_DATABASE_URL"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	tenants := postgres.NewTenantService(db)
	plain, own := &tma.Tenant{Slug: "plain", Name: "Plain"}, &tma.Tenant{Slug: "own", Name: "Own"}
	for _, tn := range []*tma.Tenant{plain, own} {
		if err := tenants.CreateTenant(ctx, tn); err != nil {
			t.Fatal(err)
		}
	}
	// "own" changed the shipped TRAP-18 screen without raising its version.
	var trap instrument.ShippedFile
	for _, f := range instrument.Shipped() {
		if f.Name == "trap18-screen.yaml" {
			trap = f
		}
	}
	src := bytes.Replace(trap.Source, []byte("title: TRAP-18-structured screen"), []byte("title: Our secret variant"), 1)
	inst, err := instrument.Parse(src)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := postgres.NewInstrumentService(db).Import(systemCtx(ctx, own.ID), own.ID, inst, src); err != nil {
		t.Fatal(err)
	}
	if got := versions(t, db, plain.ID); len(got) != 0 {
		t.Fatalf("before the start: %q", got)
	}

	cfg, err := LoadConfig(ctx, getenv)
	if err != nil {
		t.Fatal(err)
	}
	var log bytes.Buffer
	m := &Main{Config: cfg, Logger: newLogger("info", &log)}
	if err := m.Open(ctx); err != nil {
		t.Fatal(err)
	}
	m.Listener.Close()
	m.Close()

	want := "trap18-screen v1,workplace-triage v1"
	for _, tn := range []*tma.Tenant{plain, own} {
		if got := strings.Join(versions(t, db, tn.ID), ","); got != want {
			t.Errorf("tenant %s has %q, want %q", tn.Slug, got, want)
		}
	}
	kept, err := postgres.NewInstrumentService(db).Instrument(ctx, own.ID, "trap18-screen", 1)
	if err != nil || kept.Title != "Our secret variant" {
		t.Errorf("own's version 1: %v %v", kept, err)
	}
	if !strings.Contains(log.String(), "shipped instrument not imported") || !strings.Contains(log.String(), `"tenant":"own"`) {
		t.Errorf("the conflict is not logged:\n%s", log.String())
	}
	if strings.Contains(log.String(), "secret") {
		t.Errorf("the log holds instrument content:\n%s", log.String())
	}

	// A second start changes nothing.
	log.Reset()
	m = &Main{Config: cfg, Logger: newLogger("info", &log)}
	if err := m.Open(ctx); err != nil {
		t.Fatal(err)
	}
	m.Listener.Close()
	m.Close()
	if strings.Contains(log.String(), "shipped instrument imported") {
		t.Errorf("a second start imported again:\n%s", log.String())
	}
}
