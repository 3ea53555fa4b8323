package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/ssm"
)

// Config is all of TMA's configuration. Each field comes from the
// environment variable TMA_<env>. Secrets may instead come from a file named
// by TMA_<env>_FILE or, when TMA_SSM_PREFIX is set, from the SSM Parameter
// Store SecureString <prefix>/<env>.
type Config struct {
	Listen          string        `env:"LISTEN" default:"127.0.0.1:8080" help:"address to serve on"`
	DataDir         string        `env:"DATA_DIR" default:"./var" help:"local state: keys, blobs, search index"`
	DatabaseURL     string        `env:"DATABASE_URL" secret:"true" help:"PostgreSQL URL"`
	TLSCert         string        `env:"TLS_CERT" help:"certificate file; TLS is on when set"`
	TLSKey          string        `env:"TLS_KEY" help:"private key file"`
	SecureCookies   bool          `env:"SECURE_COOKIES" help:"Secure cookies behind a TLS load balancer"`
	TrustProxy      bool          `env:"TRUST_PROXY" help:"take the client address from X-Forwarded-For"`
	BodyLimit       int           `env:"BODY_LIMIT" default:"1048576" help:"largest request body in bytes (uploads excepted)"`
	UploadLimit     int64         `env:"UPLOAD_LIMIT" default:"536870912" help:"largest uploaded file (request body of an upload) in bytes"`
	ReadTimeout     time.Duration `env:"READ_TIMEOUT" default:"30s"`
	ShutdownTimeout time.Duration `env:"SHUTDOWN_TIMEOUT" default:"30s" help:"how long SIGTERM waits for requests in flight"`
	SessionIdle     time.Duration `env:"SESSION_IDLE" default:"30m"`
	SessionAbsolute time.Duration `env:"SESSION_ABSOLUTE" default:"12h"`
	SessionCache    int           `env:"SESSION_CACHE" default:"10000" help:"validated sessions kept in memory per process; 0 turns the cache off"`
	KeyCacheTTL     time.Duration `env:"KEY_CACHE_TTL" default:"5m" help:"how long an unwrapped case key stays in memory after it was fetched"`
	ThrottleAccount int           `env:"THROTTLE_ACCOUNT" default:"5" help:"failed sign-ins per account before lockout"`
	ThrottleAddress int           `env:"THROTTLE_ADDRESS" default:"20" help:"failed sign-ins per client address before lockout"`
	ThrottleWindow  time.Duration `env:"THROTTLE_WINDOW" default:"15m"`
	ThrottleLockout time.Duration `env:"THROTTLE_LOCKOUT" default:"15m"`
	DefaultTenant   string        `env:"DEFAULT_TENANT" help:"organisation pre-filled on the login page"`
	LogLevel        string        `env:"LOG_LEVEL" default:"info"`

	KeyProvider string `env:"KEY_PROVIDER" default:"local" help:"local or kms"`
	KEKFile     string `env:"KEK_FILE" help:"local keyring file (default <data>/keys/kek)"`
	KEK         string `env:"KEK" secret:"true" help:"local keyring content instead of a file"`
	KMSKeyID    string `env:"KMS_KEY_ID" help:"AWS KMS key id or ARN shared by all tenants, or an alias template with {tenant} for a key per tenant"`
	KMSEndpoint string `env:"KMS_ENDPOINT"`
	AWSRegion   string `env:"AWS_REGION" default:"eu-central-1"`

	BackupRetention time.Duration `env:"BACKUP_RETENTION" default:"840h" help:"how long the oldest backup of the database or the keyring is kept; old KEK versions are destroyed only after it"`

	SearchDir string `env:"SEARCH_DIR" help:"this process's search index (default <data>/search); never shared between processes"`

	BlobStore   string `env:"BLOB_STORE" default:"fs" help:"fs or s3"`
	BlobDir     string `env:"BLOB_DIR" help:"filesystem blob root (default <data>/blobs)"`
	S3Bucket    string `env:"S3_BUCKET"`
	S3Prefix    string `env:"S3_PREFIX"`
	S3Endpoint  string `env:"S3_ENDPOINT"`
	S3PathStyle bool   `env:"S3_PATH_STYLE"`
	S3AccessKey string `env:"S3_ACCESS_KEY" secret:"true"`
	S3SecretKey string `env:"S3_SECRET_KEY" secret:"true"`

	PDFToText  string        `env:"PDFTOTEXT" help:"poppler's pdftotext, for the text of PDFs in search (default: pdftotext in PATH)"`
	PDFTimeout time.Duration `env:"PDF_TIMEOUT" default:"20s" help:"how long pdftotext may read one PDF before it is killed"`

	SSMPrefix   string `env:"SSM_PREFIX" help:"load secrets from SSM Parameter Store under this path"`
	SSMEndpoint string `env:"SSM_ENDPOINT"`
}

// LoadConfig reads the configuration from getenv (os.Getenv in production).
func LoadConfig(ctx context.Context, getenv func(string) string) (*Config, error) {
	var c Config
	var fromSSM []string
	v := reflect.ValueOf(&c).Elem()
	for i := range v.NumField() {
		f := v.Type().Field(i)
		name := "TMA_" + f.Tag.Get("env")
		raw := getenv(name)
		if f.Tag.Get("secret") == "true" && raw == "" {
			if path := getenv(name + "_FILE"); path != "" {
				b, err := os.ReadFile(path)
				if err != nil {
					return nil, fmt.Errorf("config: %s_FILE: %w", name, err)
				}
				raw = strings.TrimSpace(string(b))
			} else {
				fromSSM = append(fromSSM, f.Tag.Get("env"))
			}
		}
		if raw == "" {
			raw = f.Tag.Get("default")
		}
		if err := setField(v.Field(i), raw); err != nil {
			return nil, fmt.Errorf("config: %s: %w", name, err)
		}
	}
	if c.SSMPrefix != "" && len(fromSSM) > 0 {
		if err := c.loadSSM(ctx, fromSSM); err != nil {
			return nil, err
		}
	}
	if c.KEKFile == "" {
		c.KEKFile = filepath.Join(c.DataDir, "keys", "kek")
	}
	if c.BlobDir == "" {
		c.BlobDir = filepath.Join(c.DataDir, "blobs")
	}
	if c.SearchDir == "" {
		c.SearchDir = filepath.Join(c.DataDir, "search")
	}
	if c.DatabaseURL == "" {
		c.DatabaseURL = localClusterURL(c.DataDir)
	}
	return &c, c.validate()
}

// localClusterURL is the URL of the private cluster that `make run` keeps
// under the data folder (scripts/pg.sh), if there is one, so that the CLI
// works next to `make run` without any setting. "" otherwise.
func localClusterURL(dataDir string) string {
	run, err := filepath.Abs(filepath.Join(dataDir, "pg", "run"))
	if err != nil {
		return ""
	}
	if _, err := os.Stat(filepath.Join(dataDir, "pg", "data", "PG_VERSION")); err != nil {
		return ""
	}
	return "postgres:///tma?host=" + url.QueryEscape(run) + "&user=tma&sslmode=disable"
}

func setField(f reflect.Value, raw string) error {
	switch f.Interface().(type) {
	case string:
		f.SetString(raw)
	case bool:
		b := false
		if raw != "" {
			var err error
			if b, err = strconv.ParseBool(raw); err != nil {
				return fmt.Errorf("want true or false, got %q", raw)
			}
		}
		f.SetBool(b)
	case int:
		n, err := strconv.Atoi(raw)
		if err != nil {
			return fmt.Errorf("want a whole number, got %q", raw)
		}
		f.SetInt(int64(n))
	case int64:
		n, err := strconv.ParseInt(raw, 10, 64)
		if err != nil {
			return fmt.Errorf("want a whole number, got %q", raw)
		}
		f.SetInt(n)
	case time.Duration:
		d, err := time.ParseDuration(raw)
		if err != nil {
			return fmt.Errorf("want a duration such as 30s or 15m, got %q", raw)
		}
		f.SetInt(int64(d))
	default:
		return fmt.Errorf("unsupported type %s", f.Type())
	}
	return nil
}

func (c *Config) validate() error {
	switch {
	case c.DatabaseURL == "":
		return fmt.Errorf("config: TMA_DATABASE_URL is required (or TMA_DATABASE_URL_FILE, or SSM); " +
			"next to `make run` it is found by itself in ./var/pg (run the command from the checkout, or set TMA_DATA_DIR)")
	case (c.TLSCert == "") != (c.TLSKey == ""):
		return fmt.Errorf("config: TMA_TLS_CERT and TMA_TLS_KEY go together")
	case c.KeyProvider != "local" && c.KeyProvider != "kms":
		return fmt.Errorf("config: TMA_KEY_PROVIDER must be local or kms")
	case c.KeyProvider == "kms" && c.KMSKeyID == "":
		return fmt.Errorf("config: TMA_KMS_KEY_ID is required with TMA_KEY_PROVIDER=kms")
	case c.BackupRetention <= 0:
		return fmt.Errorf("config: TMA_BACKUP_RETENTION must be positive (the retention of your backups, e.g. 840h for 35 days)")
	case c.BlobStore != "fs" && c.BlobStore != "s3":
		return fmt.Errorf("config: TMA_BLOB_STORE must be fs or s3")
	case c.BlobStore == "s3" && c.S3Bucket == "":
		return fmt.Errorf("config: TMA_S3_BUCKET is required with TMA_BLOB_STORE=s3")
	case c.BodyLimit < 4096:
		return fmt.Errorf("config: TMA_BODY_LIMIT must be at least 4096")
	case c.UploadLimit < 4096:
		return fmt.Errorf("config: TMA_UPLOAD_LIMIT must be at least 4096")
	case c.SessionIdle <= 0 || c.SessionAbsolute < c.SessionIdle:
		return fmt.Errorf("config: TMA_SESSION_IDLE must be positive and at most TMA_SESSION_ABSOLUTE")
	case c.KeyCacheTTL <= 0:
		return fmt.Errorf("config: TMA_KEY_CACHE_TTL must be positive")
	case c.SessionCache < 0:
		return fmt.Errorf("config: TMA_SESSION_CACHE must be 0 (off) or more")
	case c.ThrottleAccount < 1 || c.ThrottleAddress < 1:
		return fmt.Errorf("config: TMA_THROTTLE_ACCOUNT and TMA_THROTTLE_ADDRESS must be at least 1")
	case c.ThrottleWindow <= 0 || c.ThrottleLockout <= 0 || c.ShutdownTimeout <= 0 || c.ReadTimeout <= 0:
		return fmt.Errorf("config: TMA_THROTTLE_WINDOW, TMA_THROTTLE_LOCKOUT, TMA_SHUTDOWN_TIMEOUT and TMA_READ_TIMEOUT must be positive")
	}
	var level slog.Level
	if err := level.UnmarshalText([]byte(c.LogLevel)); err != nil {
		return fmt.Errorf("config: TMA_LOG_LEVEL must be debug, info, warn or error")
	}
	return nil
}

// awsConfig is the AWS SDK configuration for SSM and KMS.
func (c *Config) awsConfig(ctx context.Context) (aws.Config, error) {
	return awsconfig.LoadDefaultConfig(ctx, awsconfig.WithRegion(c.AWSRegion))
}

// loadSSM fills the named secrets from SSM SecureStrings under SSMPrefix.
// Parameters that do not exist leave the field as it is.
func (c *Config) loadSSM(ctx context.Context, names []string) error {
	cfg, err := c.awsConfig(ctx)
	if err != nil {
		return fmt.Errorf("config: AWS: %w", err)
	}
	client := ssm.NewFromConfig(cfg, func(o *ssm.Options) {
		if c.SSMEndpoint != "" {
			o.BaseEndpoint = aws.String(c.SSMEndpoint)
		}
	})
	byPath := map[string]string{}
	var paths []string
	for _, n := range names {
		p := strings.TrimSuffix(c.SSMPrefix, "/") + "/" + n
		byPath[p] = n
		paths = append(paths, p)
	}
	for len(paths) > 0 {
		batch := paths[:min(10, len(paths))] // GetParameters takes at most 10
		paths = paths[len(batch):]
		out, err := client.GetParameters(ctx, &ssm.GetParametersInput{Names: batch, WithDecryption: aws.Bool(true)})
		if err != nil {
			return fmt.Errorf("config: SSM GetParameters: %w", err)
		}
		for _, p := range out.Parameters {
			n := byPath[aws.ToString(p.Name)]
			v := reflect.ValueOf(c).Elem()
			for i := range v.NumField() {
				if v.Type().Field(i).Tag.Get("env") == n {
					v.Field(i).SetString(aws.ToString(p.Value))
				}
			}
		}
	}
	return nil
}

// Print writes the effective configuration with secrets redacted.
func (c *Config) Print(w io.Writer) {
	v := reflect.ValueOf(c).Elem()
	for i := range v.NumField() {
		f := v.Type().Field(i)
		val := fmt.Sprint(v.Field(i).Interface())
		if f.Tag.Get("secret") == "true" && val != "" {
			val = "[redacted]"
		}
		fmt.Fprintf(w, "TMA_%s=%s\n", f.Tag.Get("env"), val)
	}
}
