package main

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func envOf(m map[string]string) func(string) string { return func(k string) string { return m[k] } }

func TestLoadConfig(t *testing.T) {
	ctx := context.Background()
	secret := filepath.Join(t.TempDir(), "db")
	if err := os.WriteFile(secret, []byte("postgres://u:hunter2@db/tma\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	// A data folder with the private cluster of `make run` in it.
	runDir := t.TempDir()
	if err := os.MkdirAll(filepath.Join(runDir, "pg", "data"), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(runDir, "pg", "data", "PG_VERSION"), []byte("15\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		env     map[string]string
		wantErr string
		check   func(*Config) bool
	}{
		{"defaults", map[string]string{"TMA_DATABASE_URL": "postgres:///x"}, "", func(c *Config) bool {
			return c.Listen == "127.0.0.1:8080" && c.SessionIdle == 30*time.Minute && c.KEKFile == filepath.Join("var", "keys", "kek")
		}},
		{"secret from file", map[string]string{"TMA_DATABASE_URL_FILE": secret}, "", func(c *Config) bool {
			return c.DatabaseURL == "postgres://u:hunter2@db/tma"
		}},
		{"missing database", map[string]string{}, "TMA_DATABASE_URL is required", nil},
		{"the cluster of make run", map[string]string{"TMA_DATA_DIR": runDir}, "", func(c *Config) bool {
			return c.DatabaseURL == "postgres:///tma?host="+url.QueryEscape(filepath.Join(runDir, "pg", "run"))+"&user=tma&sslmode=disable"
		}},
		{"an explicit URL wins", map[string]string{"TMA_DATA_DIR": runDir, "TMA_DATABASE_URL": "postgres:///other"}, "", func(c *Config) bool {
			return c.DatabaseURL == "postgres:///other"
		}},
		{"bad duration", map[string]string{"TMA_DATABASE_URL": "x", "TMA_SESSION_IDLE": "soon"}, "TMA_SESSION_IDLE", nil},
		{"bad bool", map[string]string{"TMA_DATABASE_URL": "x", "TMA_TRUST_PROXY": "maybe"}, "TMA_TRUST_PROXY", nil},
		{"half TLS", map[string]string{"TMA_DATABASE_URL": "x", "TMA_TLS_CERT": "c.pem"}, "go together", nil},
		{"kms without key", map[string]string{"TMA_DATABASE_URL": "x", "TMA_KEY_PROVIDER": "kms"}, "TMA_KMS_KEY_ID", nil},
		{"missing secret file", map[string]string{"TMA_DATABASE_URL_FILE": "/nonexistent"}, "TMA_DATABASE_URL_FILE", nil},
		{"no tries", map[string]string{"TMA_DATABASE_URL": "x", "TMA_THROTTLE_ACCOUNT": "0"}, "TMA_THROTTLE_ACCOUNT", nil},
		{"zero lockout", map[string]string{"TMA_DATABASE_URL": "x", "TMA_THROTTLE_LOCKOUT": "0s"}, "TMA_THROTTLE_LOCKOUT", nil},
		{"unknown log level", map[string]string{"TMA_DATABASE_URL": "x", "TMA_LOG_LEVEL": "loud"}, "TMA_LOG_LEVEL", nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c, err := LoadConfig(ctx, envOf(tc.env))
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want it to mention %q", err, tc.wantErr)
				}
				return
			}
			if err != nil || !tc.check(c) {
				t.Fatalf("config %+v, err %v", c, err)
			}
		})
	}
}

func TestConfigPrintRedactsSecrets(t *testing.T) {
	c, err := LoadConfig(context.Background(), envOf(map[string]string{
		"TMA_DATABASE_URL": "postgres://u:hunter2@db/tma", "TMA_S3_SECRET_KEY": "s3cr3t", "TMA_KEK": "v1 AAAA",
	}))
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	c.Print(&out)
	for _, s := range []string{"hunter2", "s3cr3t", "AAAA"} {
		if strings.Contains(out.String(), s) {
			t.Fatalf("tma config shows a secret: %s", out.String())
		}
	}
	if !strings.Contains(out.String(), "TMA_DATABASE_URL=[redacted]") || !strings.Contains(out.String(), "TMA_LISTEN=127.0.0.1:8080") {
		t.Fatalf("unexpected output:\n%s", out.String())
	}
}

// TestConfigFromSSM loads secrets through the real SDK from an in-process
// server that speaks the SSM JSON protocol.
func TestConfigFromSSM(t *testing.T) {
	params := map[string]string{"/tma/test/DATABASE_URL": "postgres://from-ssm/tma", "/tma/test/S3_SECRET_KEY": "ssm-secret"}
	var calls int
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls++
		if r.Header.Get("X-Amz-Target") != "AmazonSSM.GetParameters" || !strings.HasPrefix(r.Header.Get("Authorization"), "AWS4-HMAC-SHA256") {
			http.Error(w, `{"__type":"InvalidAction"}`, http.StatusBadRequest)
			return
		}
		var in struct {
			Names          []string
			WithDecryption bool
		}
		if err := json.NewDecoder(r.Body).Decode(&in); err != nil || !in.WithDecryption || len(in.Names) > 10 {
			http.Error(w, `{"__type":"ValidationException"}`, http.StatusBadRequest)
			return
		}
		type param struct{ Name, Type, Value string }
		out := struct {
			Parameters        []param
			InvalidParameters []string
		}{Parameters: []param{}, InvalidParameters: []string{}}
		for _, n := range in.Names {
			if v, ok := params[n]; ok {
				out.Parameters = append(out.Parameters, param{n, "SecureString", v})
			} else {
				out.InvalidParameters = append(out.InvalidParameters, n)
			}
		}
		w.Header().Set("Content-Type", "application/x-amz-json-1.1")
		_ = json.NewEncoder(w).Encode(out)
	}))
	defer srv.Close()
	t.Setenv("AWS_ACCESS_KEY_ID", "AKIDTEST")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "secret")
	c, err := LoadConfig(context.Background(), envOf(map[string]string{
		"TMA_SSM_PREFIX": "/tma/test", "TMA_SSM_ENDPOINT": srv.URL, "TMA_S3_ACCESS_KEY": "from-env",
	}))
	if err != nil {
		t.Fatal(err)
	}
	if c.DatabaseURL != "postgres://from-ssm/tma" || c.S3SecretKey != "ssm-secret" || c.S3AccessKey != "from-env" || calls != 1 {
		t.Fatalf("db=%q s3secret=%q s3access=%q calls=%d", c.DatabaseURL, c.S3SecretKey, c.S3AccessKey, calls)
	}
}
