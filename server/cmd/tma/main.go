// Command tma is the single binary of TMA: the web server and the
// operations commands.
package main

import (
	"context"
	"crypto/tls"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/tma-portal/tma/server/authz"
	"github.com/tma-portal/tma/server/crypt"
	"github.com/tma-portal/tma/server/extract"
	"github.com/tma-portal/tma/server/instrument"
	"github.com/tma-portal/tma/server/pdf"
	"github.com/tma-portal/tma/server/postgres"
	"github.com/tma-portal/tma/server/tma"
	"github.com/tma-portal/tma/server/web"
)

const usage = `tma — Threat Management Assistant

Usage: tma <command> [flags]

Commands:
  serve              run the web server (SIGTERM drains requests, then exits)
  init               first start: key file, blob store, migrations, demo tenant and admin
  migrate            apply database migrations (safe to run concurrently)
  tenant create      create a tenant and its first admin
  user create        create a user in a tenant (the only way to create auditors)
  user roles         replace a user's roles (the only way to grant or remove auditor)
  user password      set a new generated password (also for auditors)
  user unlock        lift a sign-in lockout after failed attempts
  audit verify       check the audit hash chains; names the first broken row
  keys rotate        new KEK version for a tenant; rewraps its case keys and TOTP seeds (resumable)
  keys shred         destroy a case key (crypto-shredding); refused under legal hold
  keys retire        destroy a tenant's old KEK versions once backups no longer need them
  blobs gc           delete unreferenced blobs older than a grace period
  wiki import        import a WordPress export (WXR) into a wiki space; safe to run again
  instruments import import an instrument file (YAML); lists every problem with its line
  instruments list   list a tenant's instrument versions
  reindex            rebuild the search index from the database (into a fresh folder, swapped in)
  config             print the effective configuration, secrets redacted
  healthcheck        exit 0 if the local server answers /healthz (for HEALTHCHECK)

Configuration comes from TMA_* environment variables; see README.md.
`

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr); err != nil {
		if errors.Is(err, flag.ErrHelp) && len(os.Args) > 1 {
			return // a command's -h printed its flags
		}
		if !errors.Is(err, flag.ErrHelp) {
			fmt.Fprintln(os.Stderr, "tma:", err)
		}
		os.Exit(1)
	}
}

// run dispatches a command line. Tests call it directly.
func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return flag.ErrHelp
	}
	cmd, rest := args[0], args[1:]
	switch cmd {
	case "help", "-h", "-help", "--help":
		fmt.Fprint(stdout, usage)
		return nil
	}
	if len(rest) > 0 && (cmd == "tenant" || cmd == "user" || cmd == "audit" || cmd == "keys" || cmd == "blobs" || cmd == "wiki" || cmd == "instruments") {
		cmd, rest = cmd+" "+rest[0], rest[1:]
	}
	commands := map[string]func(context.Context, *Config, []string, io.Writer) error{
		"serve":              cmdServe,
		"init":               cmdInit,
		"migrate":            cmdMigrate,
		"tenant create":      cmdTenantCreate,
		"user create":        cmdUserCreate,
		"user roles":         cmdUserRoles,
		"user password":      cmdUserPassword,
		"user unlock":        cmdUserUnlock,
		"audit verify":       cmdAuditVerify,
		"keys rotate":        cmdKeysRotate,
		"keys shred":         cmdKeysShred,
		"keys retire":        cmdKeysRetire,
		"blobs gc":           cmdBlobsGC,
		"wiki import":        cmdWikiImport,
		"instruments import": cmdInstrumentsImport,
		"instruments list":   cmdInstrumentsList,
		"reindex":            cmdReindex,
		"config": func(_ context.Context, c *Config, _ []string, w io.Writer) error {
			c.Print(w)
			return nil
		},
	}
	if cmd == "healthcheck" {
		// Runs in the container every few seconds: no config loading, no SSM.
		return healthcheck(ctx, getenv("TMA_LISTEN"), getenv("TMA_TLS_CERT") != "")
	}
	fn, ok := commands[cmd]
	if !ok {
		fmt.Fprint(stderr, usage)
		return fmt.Errorf("unknown command %q", cmd)
	}
	cfg, err := LoadConfig(ctx, getenv)
	if err != nil {
		return err
	}
	return fn(ctx, cfg, rest, stdout)
}

// newLogger returns the JSON logger; LoadConfig has checked the level.
func newLogger(level string, w io.Writer) *slog.Logger {
	var l slog.Level
	_ = l.UnmarshalText([]byte(level))
	return slog.New(slog.NewJSONHandler(w, &slog.HandlerOptions{Level: l}))
}

// healthcheck asks the server on listen (default 127.0.0.1:8080) whether it
// is alive. With TLS it speaks TLS to itself; the certificate is for the
// public name, not for the loopback address, so it is not verified.
func healthcheck(ctx context.Context, listen string, tlsOn bool) error {
	if listen == "" {
		listen = "127.0.0.1:8080"
	}
	host, port, err := net.SplitHostPort(listen)
	if err != nil {
		return err
	}
	if host == "" || host == "0.0.0.0" || host == "::" {
		host = "127.0.0.1"
	}
	ctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	scheme, client := "http", http.DefaultClient
	if tlsOn {
		scheme = "https"
		client = &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}} //nolint:gosec // loopback liveness only
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, scheme+"://"+net.JoinHostPort(host, port)+"/healthz", nil)
	if err != nil {
		return err
	}
	resp, err := client.Do(req)
	if err != nil {
		return err
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("healthz: %s", resp.Status)
	}
	return nil
}

// Main is the running server: its configuration, database and HTTP server.
type Main struct {
	Config *Config
	Logger *slog.Logger
	DB     *postgres.DB
	Auth   *postgres.AuthService
	// CaseKeys hands out case keys through a cache that the listener keeps
	// in step with shreds on every process.
	CaseKeys *crypt.KeyCache
	// Blobs is the blob store of document streams.
	Blobs tma.BlobStore
	// Extractor finds the text of documents for search.
	Extractor tma.TextExtractor
	// SearchSource reads searchable content and scopes from the database.
	SearchSource *postgres.SearchSource
	// Indexer keeps this process's search index in step with the outbox;
	// Run opens (or rebuilds) the index and runs it.
	Indexer *indexer
	Web     *web.Server
	// Listener is the bound address; Open binds it, so a test can pass
	// port 0 and read the port here.
	Listener net.Listener

	dbOptions []postgres.Option // tests trace queries with them
}

// Open connects to the database, wires the services and binds the listener.
func (m *Main) Open(ctx context.Context) error {
	if m.Logger == nil {
		m.Logger = newLogger(m.Config.LogLevel, os.Stderr)
	}
	db, err := postgres.Open(ctx, m.Config.DatabaseURL, m.dbOptions...)
	if err != nil {
		return err
	}
	m.DB = db
	db.EnableSessionCache(m.Config.SessionCache) // used while Run listens
	m.seedInstruments(ctx)
	// The local keyring and blob folder are created as `tma init` would,
	// so that a bare `tma serve` works; an existing keyring is only read.
	if err := initKeysAndBlobs(ctx, m.Config, io.Discard); err != nil {
		return err
	}
	keys, err := keyProvider(ctx, m.Config)
	if err != nil {
		return err
	}
	throttle := tma.ThrottlePolicy{AccountFailures: m.Config.ThrottleAccount, AddressFailures: m.Config.ThrottleAddress,
		Window: m.Config.ThrottleWindow, Lockout: m.Config.ThrottleLockout}
	auth := postgres.NewAuthService(db,
		tma.SessionPolicy{Idle: m.Config.SessionIdle, Absolute: m.Config.SessionAbsolute, PendingMFA: 5 * time.Minute},
		throttle, "TMA", crypt.NewSecretBox(keys))
	m.Auth = auth
	m.CaseKeys = crypt.NewKeyCache(postgres.NewCaseKeyService(db, keys), m.Config.KeyCacheTTL, 1000)
	db.WatchCaseKeys(m.CaseKeys)
	if n, err := auth.SealLegacySecrets(ctx); err != nil {
		return fmt.Errorf("seal TOTP seeds stored in clear: %w", err)
	} else if n > 0 {
		m.Logger.Info("sealed TOTP seeds that were stored in clear", "count", n)
	}
	enforcer, err := authz.New()
	if err != nil {
		return err
	}
	var tlsCfg *tls.Config
	if m.Config.TLSCert != "" {
		cert, err := tls.LoadX509KeyPair(m.Config.TLSCert, m.Config.TLSKey)
		if err != nil {
			return fmt.Errorf("TLS: %w", err)
		}
		tlsCfg = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	}
	sealer := crypt.NewCaseRecords(m.CaseKeys)
	if m.Blobs, err = blobStore(ctx, m.Config); err != nil {
		return err
	}
	c := m.Config
	m.Extractor = extract.New(extract.Config{PDFToText: c.PDFToText, PDFTimeout: c.PDFTimeout, Logger: m.Logger})
	// Attachments' data keys are wrapped by the tenant KEK directly (no
	// case key), so they take the key provider, not the cache.
	attachments := crypt.NewAttachments(keys)
	m.SearchSource = postgres.NewSearchSource(db, sealer, attachments, enforcer)
	m.Indexer = newIndexer(m.SearchSource, c.SearchDir, m.Logger)
	db.OnSearchChange(m.Indexer.Wake)
	m.Web, err = web.New(web.Config{
		TLS: tlsCfg, SecureCookies: c.SecureCookies, BodyLimit: c.BodyLimit, UploadLimit: c.UploadLimit, ReadTimeout: c.ReadTimeout,
		DefaultTenant: c.DefaultTenant, TrustProxy: c.TrustProxy,
	}, web.Deps{
		Auth:            auth,
		Users:           postgres.NewUserService(db),
		Tenants:         postgres.NewTenantService(db),
		Audit:           postgres.NewAuditService(db),
		Cases:           postgres.NewCaseService(db),
		Reports:         postgres.NewReportService(db, sealer, m.CaseKeys, throttle),
		Notes:           postgres.NewNoteService(db, sealer),
		Actions:         postgres.NewActionService(db, sealer),
		Persons:         postgres.NewPersonService(db, sealer),
		Documents:       postgres.NewDocumentService(db, sealer, crypt.NewDocuments(m.CaseKeys), m.Blobs, m.Extractor),
		CaseFiles:       pdf.New(),
		Wiki:            postgres.NewWikiService(db, sealer, web.NewWikiMarkup()),
		WikiAttachments: postgres.NewWikiAttachmentService(db, attachments, m.Blobs, m.Extractor),
		Instruments:     postgres.NewInstrumentService(db),
		Assessments:     postgres.NewAssessmentService(db, sealer),
		ParseInstrument: instrument.Parse,
		Authz:           enforcer,
		Search:          liveIndex{m.Indexer},
		SearchSource:    m.SearchSource,
		Ready:           m.ready,
		Logger:          m.Logger,
	})
	if err != nil {
		return err
	}
	if m.Listener == nil {
		if m.Listener, err = net.Listen("tcp", c.Listen); err != nil {
			return err
		}
	}
	return nil
}

// seedInstruments gives every tenant the instruments shipped with this
// binary. A failure is logged, not fatal: the server still serves, and the
// next start tries again.
func (m *Main) seedInstruments(ctx context.Context) {
	if pending, err := m.DB.Pending(ctx); err != nil || len(pending) > 0 {
		m.Logger.Warn("shipped instruments not imported: database migrations pending", "pending", len(pending), "err", err)
		return
	}
	if err := seedInstruments(ctx, m.DB, m.Logger); err != nil {
		m.Logger.Error("shipped instruments not imported", "err", err)
	}
}

// ready is the readiness check: the database answers and has every
// migration this binary knows, and the search index has caught up with
// the outbox once.
func (m *Main) ready(ctx context.Context) error {
	pending, err := m.DB.Pending(ctx)
	if err != nil {
		return err
	}
	if len(pending) > 0 {
		return tma.Errorf(tma.EUNAVAILABLE, "%d database migration(s) pending", len(pending))
	}
	return m.Indexer.Ready()
}

// Run serves until ctx ends, then drains requests in flight for up to
// ShutdownTimeout. New connections are refused from the moment ctx ends.
func (m *Main) Run(ctx context.Context) error {
	scheme := "http"
	if m.Config.TLSCert != "" {
		scheme = "https"
	}
	// The listener of the session and key caches runs as long as the
	// server, and stops first on shutdown: requests still draining then go
	// to the database.
	lctx, stopListener := context.WithCancel(ctx)
	listening := make(chan struct{})
	go func() {
		defer close(listening)
		m.DB.ListenSessionChanges(lctx, m.Logger)
	}()
	defer func() {
		stopListener()
		<-listening
	}()
	// The indexer opens (or rebuilds) the index in the background: the
	// server answers /healthz meanwhile, and /readyz once it caught up.
	indexing := make(chan struct{})
	go func() {
		defer close(indexing)
		if err := m.Indexer.open(lctx); err != nil {
			if lctx.Err() == nil {
				m.Logger.Error("search index: cannot open or rebuild; search stays unavailable", "err", err)
			}
			return
		}
		m.Indexer.run(lctx)
	}()
	defer func() {
		stopListener()
		<-indexing
		m.Indexer.close()
	}()
	m.Logger.Info("serving", "url", scheme+"://"+m.Listener.Addr().String())
	errc := make(chan error, 1)
	go func() { errc <- m.Web.Serve(m.Listener) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	m.Logger.Info("shutting down: draining requests in flight", "timeout", m.Config.ShutdownTimeout.String())
	sctx, cancel := context.WithTimeout(context.Background(), m.Config.ShutdownTimeout)
	defer cancel()
	if err := m.Web.Shutdown(sctx); err != nil {
		return fmt.Errorf("shutdown: %w", err)
	}
	m.Logger.Info("stopped")
	return nil
}

// Close releases the database.
func (m *Main) Close() {
	if m.DB != nil {
		m.DB.Close()
	}
}

func cmdServe(ctx context.Context, c *Config, args []string, _ io.Writer) error {
	if err := flag.NewFlagSet("serve", flag.ContinueOnError).Parse(args); err != nil {
		return err
	}
	m := &Main{Config: c}
	defer m.Close()
	if err := m.Open(ctx); err != nil {
		return err
	}
	return m.Run(ctx)
}
