package main

import (
	"bufio"
	"context"
	"encoding/base64"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	"golang.org/x/term"

	"github.com/tma-portal/tma/server/blob"
	"github.com/tma-portal/tma/server/crypt"
	"github.com/tma-portal/tma/server/postgres"
	"github.com/tma-portal/tma/server/tma"
)

// keyProvider returns the configured KEK provider. A local keyring comes
// from TMA_KEK (set directly or through SSM) if set, else from the key file.
func keyProvider(ctx context.Context, c *Config) (tma.KeyProvider, error) {
	switch c.KeyProvider {
	case "local":
		if c.KEK != "" {
			return crypt.ParseKeyring(keyringBytes(c.KEK))
		}
		if _, err := os.Stat(c.KEKFile); errors.Is(err, fs.ErrNotExist) {
			return nil, tma.Errorf(tma.ENOTFOUND, "no key file at %s: run `tma init` or set TMA_KEK_FILE", c.KEKFile)
		}
		return crypt.LoadKeyring(c.KEKFile)
	case "kms":
		cfg, err := c.awsConfig(ctx)
		if err != nil {
			return nil, fmt.Errorf("KMS: AWS configuration: %w", err)
		}
		client := kms.NewFromConfig(cfg, func(o *kms.Options) {
			if c.KMSEndpoint != "" {
				o.BaseEndpoint = aws.String(c.KMSEndpoint)
			}
		})
		return crypt.NewKMSProvider(client, c.KMSKeyID), nil // per tenant if the id has {tenant}
	}
	return nil, fmt.Errorf("unknown key provider %q", c.KeyProvider)
}

// keyringBytes accepts TMA_KEK either as the base64 of a keyring file, which
// survives environment variables and SSM on one line, or as the keyring text
// itself. Keyring text never decodes as base64: it contains spaces.
func keyringBytes(s string) []byte {
	s = strings.TrimSpace(s)
	if b, err := base64.StdEncoding.DecodeString(s); err == nil {
		return b
	}
	return []byte(s)
}

// blobStore returns the configured blob store.
func blobStore(ctx context.Context, c *Config) (tma.BlobStore, error) {
	switch c.BlobStore {
	case "fs":
		return blob.NewFS(c.BlobDir)
	case "s3":
		client, err := blob.NewS3Client(ctx, blob.S3Config{
			Endpoint: c.S3Endpoint, Region: c.AWSRegion, PathStyle: c.S3PathStyle,
			AccessKey: c.S3AccessKey, SecretKey: c.S3SecretKey,
		})
		if err != nil {
			return nil, err
		}
		return blob.NewS3(client, c.S3Bucket, c.S3Prefix)
	}
	return nil, fmt.Errorf("unknown blob store %q", c.BlobStore)
}

// initKeysAndBlobs creates what a local installation keeps on disk: the
// keyring file (unless the keyring comes from TMA_KEK) and the blob
// directory. Existing files are left alone, and the keyring is loaded once
// so that a file with loose permissions is reported now, not at the first
// upload.
func initKeysAndBlobs(_ context.Context, c *Config, w io.Writer) error {
	if c.KeyProvider == "local" && c.KEK == "" {
		_, err := os.Lstat(c.KEKFile)
		switch {
		case errors.Is(err, fs.ErrNotExist):
			if err := os.MkdirAll(filepath.Dir(c.KEKFile), 0o700); err != nil {
				return fmt.Errorf("key directory: %w", err)
			}
			if err := crypt.GenerateKeyringFile(c.KEKFile); err != nil {
				return err
			}
			fmt.Fprintln(w, "created local key file", c.KEKFile)
		case err != nil:
			return fmt.Errorf("key file: %w", err)
		}
		if _, err := crypt.LoadKeyring(c.KEKFile); err != nil {
			return err
		}
	}
	if c.BlobStore == "fs" {
		if _, err := blob.NewFS(c.BlobDir); err != nil { // creates it, mode 0700
			return err
		}
	}
	return nil
}

// openTenant opens the database and finds the tenant of a --tenant flag.
// The caller closes the database.
func openTenant(ctx context.Context, c *Config, slug string) (*postgres.DB, *tma.Tenant, error) {
	if slug == "" {
		return nil, nil, errors.New("--tenant is required")
	}
	db, err := openDB(ctx, c)
	if err != nil {
		return nil, nil, err
	}
	t, err := postgres.NewTenantService(db).FindTenantBySlug(ctx, slug)
	if err != nil {
		db.Close()
		return nil, nil, err
	}
	return db, t, nil
}

// formatKEK names a KEK version for operators; it holds no secret.
func formatKEK(r tma.KEKRef) string {
	return fmt.Sprintf("%s key %s version %d", r.Provider, r.KeyID, r.Version)
}

// cmdKeysRotate makes a new KEK version and rewraps the tenant's case keys
// under it. Interrupted (Ctrl-C, crash), it resumes with the same target
// when run again.
func cmdKeysRotate(ctx context.Context, c *Config, args []string, w io.Writer) error {
	fs := flag.NewFlagSet("keys rotate", flag.ContinueOnError)
	tenant := fs.String("tenant", "", "tenant slug")
	if err := fs.Parse(args); err != nil {
		return err
	}
	db, t, err := openTenant(ctx, c, *tenant)
	if err != nil {
		return err
	}
	defer db.Close()
	keys, err := keyService(ctx, c, db)
	if err != nil {
		return err
	}
	pending, err := keys.PendingRotation(ctx, t.ID)
	if err != nil {
		return err
	}
	if pending != nil {
		fmt.Fprintf(w, "tenant %s: resuming the interrupted rotation to %s\n", t.Slug, formatKEK(*pending))
	}
	p := newRotateProgress(w, isTerminal(w))
	ref, err := keys.RotateTenant(systemCtx(ctx, t.ID), t.ID, p.update)
	p.stop(err == nil)
	if err != nil {
		if ref.Provider != "" {
			return fmt.Errorf("rotation to %s stopped after %d case key(s); run the command again to resume: %w",
				formatKEK(ref), p.done, err)
		}
		return err
	}
	fmt.Fprintf(w, "tenant %s: case keys are wrapped under %s; %d case key(s) rewrapped in this run\n",
		t.Slug, formatKEK(ref), p.done)
	fmt.Fprintf(w, "Older key versions can be destroyed with `tma keys retire --tenant %s` once backups older than now have expired (TMA_BACKUP_RETENTION=%s).\n",
		t.Slug, c.BackupRetention)
	return nil
}

// keyService is the case-key service of the key commands: the configured
// key provider, with sealed secrets (TOTP seeds) handled by rotation and
// retirement.
func keyService(ctx context.Context, c *Config, db *postgres.DB) (*postgres.CaseKeyService, error) {
	kp, err := keyProvider(ctx, c)
	if err != nil {
		return nil, err
	}
	return postgres.NewCaseKeyService(db, kp).WithSecrets(crypt.NewSecretBox(kp)), nil
}

// cmdKeysRetire destroys the tenant's old KEK versions that nothing live
// uses and that were replaced longer ago than the backup retention. It
// completes a shred epoch: backups that still hold a shredded case key can
// no longer unwrap it.
func cmdKeysRetire(ctx context.Context, c *Config, args []string, w io.Writer) error {
	fs := flag.NewFlagSet("keys retire", flag.ContinueOnError)
	tenant := fs.String("tenant", "", "tenant slug")
	shared := fs.Bool("shared", false, "retire the keys shared by all tenants (old keyring masters, a KMS key of all tenants) that no tenant needs any more")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *shared {
		return retireShared(ctx, c, w)
	}
	db, t, err := openTenant(ctx, c, *tenant)
	if err != nil {
		return err
	}
	defer db.Close()
	keys, err := keyService(ctx, c, db)
	if err != nil {
		return err
	}
	rep, err := keys.RetireTenant(systemCtx(ctx, t.ID), t.ID, c.BackupRetention)
	if rep != nil {
		for _, r := range rep.Retired {
			fmt.Fprintf(w, "tenant %s: destroyed %s (replaced %s)\n", t.Slug, formatKEK(r.KEK), r.ReplacedAt.UTC().Format(time.RFC3339))
		}
		for _, r := range rep.Waiting {
			fmt.Fprintf(w, "tenant %s: %s is kept until %s: backups taken before it was replaced may still need it\n",
				t.Slug, formatKEK(r.KEK), r.Possible.UTC().Format("2006-01-02 15:04 MST"))
		}
		for _, r := range rep.InUse {
			fmt.Fprintf(w, "tenant %s: %s is still in use; run `tma keys rotate --tenant %s` first\n", t.Slug, formatKEK(r), t.Slug)
		}
		for _, r := range rep.Kept {
			fmt.Fprintf(w, "tenant %s: %s is kept: %s\n", t.Slug, formatKEK(r.KEK), r.Reason)
		}
		if err == nil && len(rep.Retired)+len(rep.Waiting)+len(rep.InUse)+len(rep.Kept) == 0 {
			fmt.Fprintf(w, "tenant %s: no old key versions to retire\n", t.Slug)
		}
	}
	return err
}

// retireShared is `tma keys retire --shared`.
func retireShared(ctx context.Context, c *Config, w io.Writer) error {
	db, err := openDB(ctx, c)
	if err != nil {
		return err
	}
	defer db.Close()
	keys, err := keyService(ctx, c, db)
	if err != nil {
		return err
	}
	rep, err := keys.RetireShared(systemCtx(ctx, ""), c.BackupRetention)
	if rep != nil {
		for _, r := range rep.Retired {
			fmt.Fprintf(w, "destroyed shared %s (last replaced %s)\n", formatKEK(r.KEK), r.ReplacedAt.UTC().Format(time.RFC3339))
		}
		for _, r := range rep.Waiting {
			fmt.Fprintf(w, "%s is kept until %s: backups may still need it\n", formatKEK(r.KEK), r.Possible.UTC().Format("2006-01-02 15:04 MST"))
		}
		for _, r := range rep.Kept {
			fmt.Fprintf(w, "%s is kept: %s\n", formatKEK(r.KEK), r.Reason)
		}
		if err == nil && len(rep.Retired) == 0 {
			fmt.Fprintln(w, "no shared key can be retired now (a tenant still uses it, or it was replaced too recently)")
		}
	}
	return err
}

// cmdKeysShred crypto-shreds a case: its key is destroyed, and with it every
// document and encrypted field of the case. The operator confirms by typing
// the case reference, unless --yes is given.
func cmdKeysShred(ctx context.Context, c *Config, args []string, w io.Writer) error {
	fs := flag.NewFlagSet("keys shred", flag.ContinueOnError)
	tenant := fs.String("tenant", "", "tenant slug")
	caseArg := fs.String("case", "", "case id or reference")
	yes := fs.Bool("yes", false, "do not ask for confirmation")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *caseArg == "" {
		return errors.New("keys shred needs --case and --tenant")
	}
	db, t, err := openTenant(ctx, c, *tenant)
	if err != nil {
		return err
	}
	defer db.Close()
	// Shredding needs no key provider: it only destroys the wrapped key.
	keys := postgres.NewCaseKeyService(db, nil)
	cs, err := findCaseArg(ctx, keys, t.ID, *caseArg)
	if err != nil {
		return err
	}
	if cs.LegalHold { // checked again, under lock, by ShredCase
		return tma.Errorf(tma.ECONFLICT, "The case is under legal hold; lift the hold before shredding.")
	}
	if !*yes {
		if !term.IsTerminal(int(os.Stdin.Fd())) {
			return errors.New("keys shred asks for confirmation on a terminal; pass --yes to shred without it")
		}
		if err := confirmShred(os.Stdin, w, cs); err != nil {
			return err
		}
	}
	if err := keys.ShredCase(systemCtx(ctx, t.ID), t.ID, cs.ID); err != nil {
		return err
	}
	fmt.Fprintf(w, "case %s (%s) of tenant %s shredded: its live key is destroyed, so its documents and encrypted fields can no longer be read from the live database.\n",
		cs.Reference, cs.ID, t.Slug)
	fmt.Fprintln(w, "Running servers have dropped any cached copy of the key (LISTEN/NOTIFY).")
	fmt.Fprintf(w, "Backups taken before now still hold the key. To reach them: `tma keys rotate --tenant %s` now, then `tma keys retire --tenant %s` after TMA_BACKUP_RETENTION (%s).\n",
		t.Slug, t.Slug, c.BackupRetention)
	return nil
}

// findCaseArg resolves --case, an id or a reference. A reference may look
// like an id, so an id that is not found is tried as a reference.
func findCaseArg(ctx context.Context, keys *postgres.CaseKeyService, tenantID, arg string) (*tma.Case, error) {
	if tma.ValidID(arg) {
		c, err := keys.FindCaseByID(ctx, tenantID, arg)
		if tma.ErrorCode(err) != tma.ENOTFOUND {
			return c, err
		}
	}
	return keys.FindCaseByReference(ctx, tenantID, arg)
}

// confirmShred asks the operator to type the case reference. Typing it,
// rather than answering y, makes a slip on the wrong case unlikely.
func confirmShred(in io.Reader, w io.Writer, c *tma.Case) error {
	fmt.Fprintf(w, "Shredding destroys the key of case %s (%s): none of its documents or encrypted\n"+
		"fields can be read afterwards from the live database. Backups taken before now still\n"+
		"hold the wrapped key until the tenant's key is rotated (`tma keys rotate`) and the old\n"+
		"key version is retired (`tma keys retire`) after the backup retention has passed.\n"+
		"Type the case reference to confirm: ", c.Reference, c.ID)
	line, err := bufio.NewReader(in).ReadString('\n')
	if err != nil && !(errors.Is(err, io.EOF) && line != "") {
		return errors.New("not confirmed: nothing was shredded")
	}
	if strings.TrimSpace(line) != c.Reference {
		return errors.New("the reference does not match: nothing was shredded")
	}
	return nil
}

func cmdBlobsGC(ctx context.Context, c *Config, args []string, w io.Writer) error {
	fs := flag.NewFlagSet("blobs gc", flag.ContinueOnError)
	grace := fs.Duration("grace", 24*time.Hour, "keep unreferenced blobs younger than this; must exceed the longest upload")
	dryRun := fs.Bool("dry-run", false, "report what would be deleted, delete nothing")
	if err := fs.Parse(args); err != nil {
		return err
	}
	store, err := blobStore(ctx, c)
	if err != nil {
		return err
	}
	db, err := openDB(ctx, c)
	if err != nil {
		return err
	}
	defer db.Close()
	verb := "deleted"
	if *dryRun {
		verb = "would delete"
	}
	gc := &tma.BlobGC{Store: store, Registry: postgres.NewBlobRegistry(db), Grace: *grace, DryRun: *dryRun,
		Deleted: func(b tma.BlobInfo) {
			fmt.Fprintf(w, "%s %s (%d bytes, %s)\n", verb, b.ID, b.Size, b.ModTime.UTC().Format(time.RFC3339))
		}}
	rep, err := gc.Run(ctx)
	if err != nil {
		return err
	}
	if rep.TempRemoved > 0 {
		fmt.Fprintf(w, "removed %d stale temporary file(s)\n", rep.TempRemoved)
	}
	fmt.Fprintf(w, "%s %d orphaned blob(s), kept %d\n", verb, rep.Deleted, rep.Kept)
	return nil
}
