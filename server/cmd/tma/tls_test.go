package main

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tma-portal/tma/server/tma"
)

// selfSigned writes a certificate for 127.0.0.1 and its key.
func selfSigned(t *testing.T) (certFile, keyFile string, pool *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "tma test"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, KeyUsage: x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kb, _ := x509.MarshalECPrivateKey(key)
	dir := t.TempDir()
	certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kb}), 0o600); err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	pool = x509.NewCertPool()
	pool.AddCert(cert)
	return certFile, keyFile, pool
}

func TestTLSHardening(t *testing.T) {
	certFile, keyFile, pool := selfSigned(t)
	srv := startServer(t, map[string]string{"TMA_TLS_CERT": certFile, "TMA_TLS_KEY": keyFile})
	srv.mustTenant(t, "acme", tma.RoleLegal)
	c := srv.client(t)
	c.base = strings.Replace(srv.URL, "http://", "https://", 1)
	c.http.Transport = &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}

	status, _, h := c.do(http.MethodGet, "/login", nil, nil)
	if status != http.StatusOK {
		t.Fatalf("GET /login over TLS: %d", status)
	}
	if hsts := h.Get("Strict-Transport-Security"); !strings.Contains(hsts, "max-age=") {
		t.Fatalf("no HSTS with TLS: %q", hsts)
	}
	for _, want := range []string{"frame-ancestors 'none'", "script-src 'self'", "default-src 'none'"} {
		if !strings.Contains(h.Get("Content-Security-Policy"), want) {
			t.Fatalf("CSP lacks %q", want)
		}
	}
	form := url.Values{"tenant": {"acme"}, "email": {"legal@acme.example"}, "password": {testPassword}, "_csrf": {c.csrf}}
	status, _, h = c.do(http.MethodPost, "/login", form, nil)
	if status != http.StatusSeeOther {
		t.Fatalf("login over TLS: %d", status)
	}
	var session *http.Cookie
	for _, ck := range (&http.Response{Header: h}).Cookies() {
		if ck.Name == "__Host-tma_session" {
			session = ck
		}
	}
	if session == nil || !session.Secure || !session.HttpOnly || session.SameSite != http.SameSiteStrictMode || session.Path != "/" {
		t.Fatalf("session cookie over TLS: %+v", session)
	}
}
