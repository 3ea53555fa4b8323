// The KMS provider's tests: one suite (testKMSProvider) against two backends.
//
// TestKMSProviderAgainstLocalKMS runs it against local-kms
// (github.com/nsmithuk/local-kms), a separate emulator process with its own
// implementation of KMS ciphertexts and encryption contexts. It serves these
// calls of the provider: DescribeKey (Current), GenerateDataKey
// (GenerateKey), Decrypt (Unwrap, with the wrong encryption context, the
// wrong key and tampered ciphertext refused) and ReEncrypt (Rewrap, under
// the same key and to another key, with the wrong source context refused);
// the test also uses its CreateKey. For keys per tenant it also serves
// CreateKey, CreateAlias, UpdateAlias (Current, Rotate) and
// ScheduleKeyDeletion (Retire). The version of local-kms that
// scripts/test.sh installs answers 501 to RotateKeyOnDemand and
// ListKeyRotations (the test checks that it still does). Since the provider
// counts rotations with ListKeyRotations on every GenerateKey and Current,
// the test reaches local-kms through a proxy that forwards every call
// unchanged, except that it answers ListKeyRotations itself with the empty
// list that is true of a key that was never rotated on demand. The proxy
// counts what local-kms served, and the test checks that every call above
// reached it.
//
// TestKMSProvider runs the same suite against kmstest, the in-process fake,
// which also covers what local-kms lacks: RotateKeyOnDemand and
// ListKeyRotations (rotation, versions, old wraps readable after a rotation)
// and outages (every call fails as EUNAVAILABLE while the service is down).
package crypt

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/ratelimit"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/kms"

	"github.com/tma-portal/tma/server/crypt/kmstest"
	"github.com/tma-portal/tma/server/tma"
)

// kmsBackend is one KMS endpoint and what the suite may do with it.
type kmsBackend struct {
	client    *kms.Client
	createKey func(t *testing.T) string // returns a new symmetric key's id
	rotates   bool                      // RotateKeyOnDemand and ListKeyRotations work
	setDown   func(down bool)           // simulates an outage; nil if the backend cannot
}

// testKMSProvider is the suite every KMS backend runs.
func testKMSProvider(t *testing.T, be kmsBackend) {
	ctx := t.Context()
	client := be.client
	scope := tma.KeyScope{TenantID: "tenant-1", CaseID: "case-1"}

	t.Run("contract", func(t *testing.T) {
		testKeyProvider(t, NewKMSProvider(client, be.createKey(t)), be.rotates)
	})

	t.Run("records the key ARN and version", func(t *testing.T) {
		id := be.createKey(t)
		p := NewKMSProvider(client, id)
		_, w, err := p.GenerateKey(ctx, scope)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.HasSuffix(w.KEK.KeyID, ":key/"+id) || w.KEK.Version != 1 || w.KEK.Provider != ProviderKMS {
			t.Errorf("KEK = %+v", w.KEK)
		}
	})

	t.Run("unknown key", func(t *testing.T) {
		p := NewKMSProvider(client, tma.NewID())
		if _, _, err := p.GenerateKey(ctx, scope); tma.ErrorCode(err) != tma.ENOTFOUND {
			t.Errorf("GenerateKey: %v, want ENOTFOUND", err)
		}
		if _, err := p.Current(ctx, scope.TenantID); tma.ErrorCode(err) != tma.ENOTFOUND {
			t.Errorf("Current: %v, want ENOTFOUND", err)
		}
	})

	t.Run("wrapped by another key", func(t *testing.T) {
		_, w, err := NewKMSProvider(client, be.createKey(t)).GenerateKey(ctx, scope)
		if err != nil {
			t.Fatal(err)
		}
		other, err := NewKMSProvider(client, be.createKey(t)).Current(ctx, scope.TenantID)
		if err != nil {
			t.Fatal(err)
		}
		w.KEK = other
		if _, err := NewKMSProvider(client, other.KeyID).Unwrap(ctx, scope, w); tma.ErrorCode(err) != tma.ECORRUPT {
			t.Errorf("Unwrap naming the wrong key: %v, want ECORRUPT", err)
		}
	})

	t.Run("rewrap to another key", func(t *testing.T) {
		from := NewKMSProvider(client, be.createKey(t))
		key, w, err := from.GenerateKey(ctx, scope)
		if err != nil {
			t.Fatal(err)
		}
		to := NewKMSProvider(client, be.createKey(t))
		ref, err := to.Current(ctx, scope.TenantID)
		if err != nil {
			t.Fatal(err)
		}
		moved, err := from.Rewrap(ctx, scope, w, ref)
		if err != nil {
			t.Fatal(err)
		}
		if moved.KEK != ref {
			t.Fatalf("Rewrap wrapped under %+v, want %+v", moved.KEK, ref)
		}
		mustUnwrap(t, to, scope, moved, key)
		stale := moved
		stale.KEK = w.KEK
		if _, err := from.Unwrap(ctx, scope, stale); tma.ErrorCode(err) != tma.ECORRUPT {
			t.Errorf("Unwrap of the moved key under its old key: %v, want ECORRUPT", err)
		}
	})

	t.Run("a key per tenant", func(t *testing.T) {
		p := NewKMSProvider(client, "alias/tma-test/{tenant}")
		a := tma.KeyScope{TenantID: tma.NewID(), CaseID: "case-1"}
		b := tma.KeyScope{TenantID: tma.NewID(), CaseID: "case-1"}
		keyA, wA, err := p.GenerateKey(ctx, a)
		if err != nil {
			t.Fatal(err)
		}
		_, wB, err := p.GenerateKey(ctx, b)
		if err != nil {
			t.Fatal(err)
		}
		if wA.KEK.KeyID == wB.KEK.KeyID || wA.KEK.Version != 1 || !strings.Contains(wA.KEK.KeyID, ":key/") {
			t.Fatalf("tenants' KEKs: %+v and %+v; want two keys (ARNs), version 1", wA.KEK, wB.KEK)
		}
		if cur, err := p.Current(ctx, a.TenantID); err != nil || cur != wA.KEK {
			t.Fatalf("Current = %+v, %v; want %+v", cur, err, wA.KEK)
		}
		if err := p.Retire(ctx, a.TenantID, wA.KEK); tma.ErrorCode(err) != tma.ECONFLICT {
			t.Fatalf("retire of the current key: %v, want ECONFLICT", err)
		}
		next, err := p.Rotate(ctx, a.TenantID)
		if err != nil {
			t.Fatal(err)
		}
		if next.Version != 2 || next.KeyID == wA.KEK.KeyID {
			t.Fatalf("Rotate = %+v; want version 2 on a new key", next)
		}
		if cur, err := p.Current(ctx, a.TenantID); err != nil || cur != next {
			t.Fatalf("Current after Rotate = %+v, %v; want %+v", cur, err, next)
		}
		moved, err := p.Rewrap(ctx, a, wA, next)
		if err != nil {
			t.Fatal(err)
		}
		if err := p.Retire(ctx, b.TenantID, wA.KEK); tma.ErrorCode(err) != tma.ECONFLICT {
			t.Fatalf("retire of another tenant's key: %v, want ECONFLICT", err)
		}
		if err := p.Retire(ctx, a.TenantID, wA.KEK); err != nil {
			t.Fatal(err)
		}
		if err := p.Retire(ctx, a.TenantID, wA.KEK); err != nil {
			t.Fatalf("retiring again: %v", err)
		}
		if _, err := p.Unwrap(ctx, a, wA); err == nil {
			t.Fatal("a key wrapped under a retired KMS key still unwraps")
		}
		mustUnwrap(t, p, a, moved, keyA)
		if _, err := p.Unwrap(ctx, b, wB); err != nil {
			t.Fatalf("the other tenant: %v", err)
		}
		shared := NewKMSProvider(client, be.createKey(t))
		ref, _ := shared.Current(ctx, a.TenantID)
		if err := shared.Retire(ctx, a.TenantID, ref); tma.ErrorCode(err) != tma.ECONFLICT {
			t.Fatalf("retire of a shared key: %v, want ECONFLICT", err)
		}
	})

	if be.setDown == nil {
		return
	}
	t.Run("outage", func(t *testing.T) {
		p := NewKMSProvider(client, be.createKey(t))
		_, w, err := p.GenerateKey(ctx, scope)
		if err != nil {
			t.Fatal(err)
		}
		be.setDown(true)
		defer be.setDown(false)
		calls := map[string]func() error{
			"GenerateKey": func() error { _, _, err := p.GenerateKey(ctx, scope); return err },
			"Unwrap":      func() error { _, err := p.Unwrap(ctx, scope, w); return err },
			"Rewrap":      func() error { _, err := p.Rewrap(ctx, scope, w, w.KEK); return err },
			"Rotate":      func() error { _, err := p.Rotate(ctx, scope.TenantID); return err },
		}
		for name, call := range calls {
			if err := call(); tma.ErrorCode(err) != tma.EUNAVAILABLE {
				t.Errorf("%s during an outage: %v, want EUNAVAILABLE", name, err)
			}
		}
		be.setDown(false)
		if _, err := p.Unwrap(ctx, scope, w); err != nil {
			t.Errorf("Unwrap after the outage: %v", err)
		}
	})
}

func TestKMSProvider(t *testing.T) {
	srv := kmstest.NewServer(t)
	testKMSProvider(t, kmsBackend{
		client:    srv.Client(t.Context()),
		createKey: func(*testing.T) string { return srv.CreateKey() },
		rotates:   true,
		setDown:   srv.SetDown,
	})
}

func TestKMSProviderAgainstLocalKMS(t *testing.T) {
	lk := startLocalKMS(t)
	ctx := t.Context()

	// The calls local-kms lacks, asked of it directly, not through the proxy.
	direct := newKMSClient(lk.url, nil)
	key := createKMSKey(t, direct)
	for op, call := range map[string]func() error{
		"RotateKeyOnDemand": func() error {
			_, err := direct.RotateKeyOnDemand(ctx, &kms.RotateKeyOnDemandInput{KeyId: &key})
			return err
		},
		"ListKeyRotations": func() error {
			_, err := direct.ListKeyRotations(ctx, &kms.ListKeyRotationsInput{KeyId: &key})
			return err
		},
	} {
		var status interface{ HTTPStatusCode() int }
		if err := call(); err == nil || !errors.As(err, &status) || status.HTTPStatusCode() != http.StatusNotImplemented {
			t.Errorf("local-kms %s: %v; want 501 Not Implemented. If it now implements it, drop it from the proxy and let the suite rotate", op, err)
		}
	}

	proxy := newLocalKMSProxy(t, lk.url)
	client := newKMSClient(proxy.URL, proxy.Client())
	testKMSProvider(t, kmsBackend{
		client:    client,
		createKey: func(t *testing.T) string { return createKMSKey(t, client) },
	})
	for _, op := range []string{"CreateKey", "DescribeKey", "GenerateDataKey", "Decrypt", "ReEncrypt", "CreateAlias", "UpdateAlias", "ScheduleKeyDeletion"} {
		if proxy.served(op) == 0 {
			t.Errorf("local-kms served no %s call; the suite no longer covers it there", op)
		}
	}
	if t.Failed() {
		t.Logf("local-kms log:\n%s", lk.log())
	}
}

// localKMS is a running local-kms process.
type localKMS struct {
	url string

	mu  sync.Mutex
	out bytes.Buffer
}

func (l *localKMS) log() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.out.String()
}

var localKMSStarted = regexp.MustCompile(`Local KMS started on [^ ]*:(\d+)`)

// startLocalKMS starts the local-kms binary named by TMA_LOCAL_KMS (which
// `make test` sets, installing it if needed) on a free port with a fresh
// data directory, and stops it when the test ends.
func startLocalKMS(t *testing.T) *localKMS {
	t.Helper()
	bin := os.Getenv("TMA_LOCAL_KMS")
	if bin == "" {
		t.Fatal("TMA_LOCAL_KMS is not set: run the tests with `make test`, which installs local-kms when it is missing")
	}
	dir := t.TempDir()
	cmd := exec.Command(bin)
	cmd.Env = append(os.Environ(),
		"PORT=0", // local-kms logs the port it bound
		"KMS_DATA_PATH="+filepath.Join(dir, "data"),
		"KMS_SEED_PATH="+filepath.Join(dir, "no-seed.yaml"), // not the default /init/seed.yaml
		"KMS_REGION="+kmstest.Region,
		"KMS_ACCOUNT_ID="+kmstest.Account,
	)
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stdout = cmd.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting local-kms (%s): %v", bin, err)
	}
	l := &localKMS{}
	exited := make(chan struct{})
	port := make(chan string, 1)
	go func() {
		defer close(exited)
		lines := bufio.NewScanner(stderr)
		for lines.Scan() {
			l.mu.Lock()
			l.out.Write(lines.Bytes())
			l.out.WriteByte('\n')
			l.mu.Unlock()
			if m := localKMSStarted.FindSubmatch(lines.Bytes()); m != nil {
				select {
				case port <- string(m[1]):
				default:
				}
			}
		}
		_, _ = io.Copy(io.Discard, stderr)
	}()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-exited
		_ = cmd.Wait()
	})
	select {
	case p := <-port:
		l.url = "http://127.0.0.1:" + p
	case <-exited:
		t.Fatalf("local-kms exited before it served:\n%s", l.log())
	case <-time.After(15 * time.Second):
		t.Fatalf("local-kms did not start within 15s:\n%s", l.log())
	}
	return l
}

// localKMSProxy forwards every KMS call to local-kms, except
// ListKeyRotations, which local-kms does not implement: it answers that
// with an empty list, the truth for a key that cannot be rotated on demand.
type localKMSProxy struct {
	*httptest.Server

	mu     sync.Mutex
	counts map[string]int // calls that local-kms answered, by operation
}

func newLocalKMSProxy(t *testing.T, target string) *localKMSProxy {
	t.Helper()
	u, err := url.Parse(target)
	if err != nil {
		t.Fatal(err)
	}
	p := &localKMSProxy{counts: make(map[string]int)}
	forward := httputil.NewSingleHostReverseProxy(u)
	p.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		op := strings.TrimPrefix(r.Header.Get("X-Amz-Target"), "TrentService.")
		if op == "ListKeyRotations" {
			w.Header().Set("Content-Type", "application/x-amz-json-1.1")
			_, _ = io.WriteString(w, `{"Rotations":[],"Truncated":false}`)
			return
		}
		p.mu.Lock()
		p.counts[op]++
		p.mu.Unlock()
		forward.ServeHTTP(w, r)
	}))
	t.Cleanup(p.Close)
	return p
}

func (p *localKMSProxy) served(op string) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.counts[op]
}

// newKMSClient returns a client for a KMS endpoint at url with static
// credentials and quick retries; it reads nothing from the environment.
func newKMSClient(url string, hc *http.Client) *kms.Client {
	if hc == nil {
		hc = &http.Client{Timeout: 10 * time.Second}
	}
	return kms.New(kms.Options{
		Region:       kmstest.Region,
		BaseEndpoint: aws.String(url),
		Credentials:  credentials.NewStaticCredentialsProvider("AKIDLOCALKMS", "local-kms-secret", ""),
		HTTPClient:   hc,
		Retryer: retry.NewStandard(func(o *retry.StandardOptions) {
			o.MaxBackoff = 5 * time.Millisecond
			o.RateLimiter = ratelimit.None
		}),
	})
}

func createKMSKey(t *testing.T, c *kms.Client) string {
	t.Helper()
	out, err := c.CreateKey(t.Context(), &kms.CreateKeyInput{Description: aws.String("tma test " + t.Name())})
	if err != nil {
		t.Fatalf("CreateKey: %v", err)
	}
	return aws.ToString(out.KeyMetadata.KeyId)
}
