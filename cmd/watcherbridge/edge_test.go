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
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// selfSigned writes a certificate for 127.0.0.1 and its key, returning the
// paths and a pool that trusts it.
func selfSigned(t *testing.T) (certFile, keyFile string, pool *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "watcherbridge test"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, KeyUsage: x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kder, _ := x509.MarshalECPrivateKey(key)
	dir := t.TempDir()
	certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600)
	os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder}), 0o600)
	cert, _ := x509.ParseCertificate(der)
	pool = x509.NewCertPool()
	pool.AddCert(cert)
	return certFile, keyFile, pool
}

// TestIngestAuthTLSAndRotation runs the bridge as production would: HTTPS
// with a token file. Pushes need a valid token, a wrong one is never echoed
// or logged, and a rotated token file takes effect on reload.
func TestIngestAuthTLSAndRotation(t *testing.T) {
	integration(t)
	_, url := fakeWatcher(t, false)
	certFile, keyFile, pool := selfSigned(t)
	tokenFile := filepath.Join(t.TempDir(), "tokens")
	os.WriteFile(tokenFile, []byte("# ingest tokens\ntoken-one\n"), 0o600)
	reload := make(chan os.Signal, 1)
	cfg := testConfig(t, url)
	cfg.InsecureNoAuth = false
	cfg.IngestTokenFile = tokenFile
	cfg.TLSCert, cfg.TLSKey = certFile, keyFile
	cfg.reload = reload
	b := startBridge(t, cfg, "edge")
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	body := `[{"agent_serial":"EDGE-1","stream_url":"rtsp://127.0.0.1/e"}]`
	pushWith := func(auth string) int {
		req, _ := http.NewRequest(http.MethodPost, "https://"+b.HTTP+"/activations", strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		if auth != "" {
			req.Header.Set("Authorization", auth)
		}
		resp, err := client.Do(req)
		if err != nil {
			t.Fatalf("push over TLS: %v", err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	tests := []struct {
		give string
		want int
	}{
		{give: "", want: http.StatusUnauthorized},
		{give: "Bearer wrong-token-value", want: http.StatusUnauthorized},
		{give: "Bearer token-one", want: http.StatusOK},
	}
	for _, tt := range tests {
		if got := pushWith(tt.give); got != tt.want {
			t.Errorf("push with %q: HTTP %d, want %d", tt.give, got, tt.want)
		}
	}
	resp, err := client.Get("https://" + b.HTTP + "/healthz")
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Errorf("healthz must stay open to probes: %v %v", err, resp)
	}

	os.WriteFile(tokenFile, []byte("token-two\n"), 0o600)
	reload <- os.Interrupt
	eventually(t, settle, "rotated token accepted", func() error {
		if pushWith("Bearer token-two") != http.StatusOK {
			return errSentinel("token-two not accepted yet")
		}
		return nil
	})
	if got := pushWith("Bearer token-one"); got != http.StatusUnauthorized {
		t.Errorf("retired token: HTTP %d, want 401", got)
	}
	// The log is scanned for the tokens at cleanup (testLogger).
}

type errSentinel string

func (e errSentinel) Error() string { return string(e) }

// TestTokenFileChangeNeedsNoSignal: a secret updated in place (as kubelet
// does with mounted secrets) is picked up without SIGHUP.
func TestTokenFileChangeNeedsNoSignal(t *testing.T) {
	integration(t)
	_, url := fakeWatcher(t, false)
	tokenFile := filepath.Join(t.TempDir(), "tokens")
	os.WriteFile(tokenFile, []byte("token-one\n"), 0o600)
	cfg := testConfig(t, url)
	cfg.InsecureNoAuth = false
	cfg.IngestTokenFile = tokenFile
	cfg.ReloadEvery = 20 * time.Millisecond
	b := startBridge(t, cfg, "poll")
	status := func(token string) int {
		req, _ := http.NewRequest(http.MethodPost, b.url("/activations"), strings.NewReader(`[{"agent_serial":"POLL-1"}]`))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Authorization", "Bearer "+token)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if got := status("token-one"); got != http.StatusOK {
		t.Fatalf("initial token: HTTP %d", got)
	}
	os.WriteFile(tokenFile, []byte("token-two\n"), 0o600)
	eventually(t, settle, "new token accepted without a signal", func() error {
		if status("token-two") != http.StatusOK {
			return errSentinel("not yet")
		}
		return nil
	})
	if got := status("token-one"); got != http.StatusUnauthorized {
		t.Errorf("retired token: HTTP %d, want 401", got)
	}
}
