package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"text/tabwriter"

	"github.com/tma-portal/tma/server/instrument"
	"github.com/tma-portal/tma/server/postgres"
	"github.com/tma-portal/tma/server/tma"
)

// cmdInstrumentsImport imports an instrument file (server/instrument/README.md)
// into a tenant. A file with problems imports nothing: the error lists each
// problem as "file:line: field: message", for the operator to fix them all
// in one go.
func cmdInstrumentsImport(ctx context.Context, c *Config, args []string, w io.Writer) error {
	fs := flag.NewFlagSet("instruments import", flag.ContinueOnError)
	tenant := fs.String("tenant", "", "tenant slug (default: TMA_DEFAULT_TENANT, or the only tenant)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() != 1 {
		return errors.New("instruments import needs the instrument file: tma instruments import [--tenant T] file.yaml")
	}
	path := fs.Arg(0)
	src, err := readInstrumentFile(path)
	if err != nil {
		return err
	}
	inst, err := instrument.Parse(src)
	if err != nil {
		return instrumentFileError(path, err)
	}
	db, t, err := openInstrumentTenant(ctx, c, *tenant)
	if err != nil {
		return err
	}
	defer db.Close()
	created, err := postgres.NewInstrumentService(db).Import(systemCtx(ctx, t.ID), t.ID, inst, src)
	if err != nil {
		return err
	}
	verb := "unchanged"
	if created {
		verb = "imported"
	}
	fmt.Fprintf(w, "%s %s version %d\n", verb, inst.ID, inst.Version)
	return nil
}

// cmdInstrumentsList lists a tenant's instrument versions.
func cmdInstrumentsList(ctx context.Context, c *Config, args []string, w io.Writer) error {
	fs := flag.NewFlagSet("instruments list", flag.ContinueOnError)
	tenant := fs.String("tenant", "", "tenant slug (default: TMA_DEFAULT_TENANT, or the only tenant)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	db, t, err := openInstrumentTenant(ctx, c, *tenant)
	if err != nil {
		return err
	}
	defer db.Close()
	list, err := postgres.NewInstrumentService(db).Instruments(systemCtx(ctx, t.ID), t.ID)
	if err != nil {
		return err
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tVERSION\tTITLE\tIMPORTED\tBY\tASSESSMENTS")
	for _, in := range list {
		by := in.ImporterName
		if in.ImportedBy == "" {
			by = "system"
		}
		fmt.Fprintf(tw, "%s\t%d\t%s\t%s\t%s\t%d\n", in.ID, in.Version, tma.CleanText(in.Title, 60),
			in.ImportedAt.UTC().Format("2006-01-02 15:04"), by, in.Assessments)
	}
	return tw.Flush()
}

// readInstrumentFile reads path, refusing files over the limit without
// reading them whole.
func readInstrumentFile(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	// One byte more than allowed, so that Parse reports the size.
	return io.ReadAll(io.LimitReader(f, tma.MaxInstrumentFile+1))
}

// instrumentFileError lists the problems of an invalid file, one per line
// as compilers do ("file:line: field: message").
func instrumentFileError(path string, err error) error {
	var ps tma.Problems
	if !errors.As(err, &ps) {
		return err
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%s has %d problem(s); nothing was imported:", path, len(ps))
	for _, p := range ps {
		b.WriteString("\n" + path)
		if p.Line > 0 {
			fmt.Fprintf(&b, ":%d", p.Line)
		}
		b.WriteString(": ")
		if p.Field != "" {
			b.WriteString(p.Field + ": ")
		}
		b.WriteString(p.Message())
	}
	return errors.New(b.String())
}

// openInstrumentTenant opens the tenant named by slug, else the default
// tenant (TMA_DEFAULT_TENANT), else the only one.
func openInstrumentTenant(ctx context.Context, c *Config, slug string) (*postgres.DB, *tma.Tenant, error) {
	if slug == "" {
		slug = c.DefaultTenant
	}
	if slug != "" {
		return openTenant(ctx, c, slug)
	}
	db, err := openDB(ctx, c)
	if err != nil {
		return nil, nil, err
	}
	list, err := postgres.NewTenantService(db).FindTenants(ctx)
	if err == nil && len(list) != 1 {
		err = fmt.Errorf("--tenant is required: there are %d tenants and no TMA_DEFAULT_TENANT", len(list))
	}
	if err != nil {
		db.Close()
		return nil, nil, err
	}
	return db, list[0], nil
}

// seedInstruments imports the instruments shipped with TMA
// (instrument.Shipped) into the given tenants, or into every tenant if
// none is given. Import changes nothing for a version a tenant has
// already, so this runs at every start of the server and for every new
// tenant. A tenant that imported a different file under a shipped id and
// version keeps its own (ECONFLICT); that is logged, without the content.
func seedInstruments(ctx context.Context, db *postgres.DB, logger *slog.Logger, tenants ...*tma.Tenant) error {
	files := instrument.Shipped()
	insts := make([]*tma.Instrument, len(files))
	for i, f := range files {
		inst, err := instrument.Parse(f.Source)
		if err != nil {
			return fmt.Errorf("shipped instrument %s: %w", f.Name, err)
		}
		insts[i] = inst
	}
	if len(tenants) == 0 {
		var err error
		if tenants, err = postgres.NewTenantService(db).FindTenants(ctx); err != nil {
			return err
		}
	}
	svc := postgres.NewInstrumentService(db)
	for _, t := range tenants {
		actx := tma.NewContextWithActor(ctx, tma.Actor{TenantID: t.ID, Label: "system (shipped instruments)", Operator: true})
		for i, inst := range insts {
			created, err := svc.Import(actx, t.ID, inst, files[i].Source)
			switch {
			case tma.ErrorCode(err) == tma.ECONFLICT:
				logger.Warn("shipped instrument not imported: the tenant has another file with the same id and version",
					"tenant", t.Slug, "instrument", inst.ID, "version", inst.Version)
			case err != nil:
				return fmt.Errorf("shipped instrument %s into tenant %s: %w", inst.ID, t.Slug, err)
			case created:
				logger.Info("shipped instrument imported", "tenant", t.Slug, "instrument", inst.ID, "version", inst.Version)
			}
		}
	}
	return nil
}
