package handlers

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"io"
	"log"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"
)

// fakeClock is the injected clock of the rate limiter: tests move time by
// hand instead of sleeping.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func newFakeClock() *fakeClock { return &fakeClock{t: time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)} }

func (c *fakeClock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// syncBuffer is a log sink safe for concurrent writers.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

var okHandler = http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write([]byte("ok"))
})

// testEdge builds an Edge with a fake clock and a captured log.
func testEdge(t *testing.T, cfg EdgeConfig) (http.Handler, *Edge, *fakeClock, *syncBuffer) {
	t.Helper()
	clock := newFakeClock()
	logs := &syncBuffer{}
	e, err := newEdge(cfg, zerolog.New(logs), clock.now)
	if err != nil {
		t.Fatalf("newEdge: %v", err)
	}
	return e.Wrap(okHandler), e, clock, logs
}

func call(h http.Handler, remote string, header http.Header) *httptest.ResponseRecorder {
	r := httptest.NewRequest(http.MethodPost, "/activations", strings.NewReader("serial\n"))
	r.RemoteAddr = remote
	for k, vs := range header {
		for _, v := range vs {
			r.Header.Add(k, v)
		}
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	return w
}

func bearer(tok string) http.Header { return http.Header{"Authorization": {"Bearer " + tok}} }

func basicAuth(user, password string) http.Header {
	r := httptest.NewRequest(http.MethodGet, "/", nil)
	r.SetBasicAuth(user, password)
	return r.Header
}

func mustPrefixes(t *testing.T, s string) []netip.Prefix {
	t.Helper()
	ps, err := ParseAllowList(s)
	if err != nil {
		t.Fatal(err)
	}
	return ps
}

func TestParseAllowList(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		give string
		want []string
	}{
		{name: "empty", give: "", want: nil},
		{name: "network and single IP", give: "10.0.0.0/8, 192.168.1.5", want: []string{"10.0.0.0/8", "192.168.1.5/32"}},
		{name: "IPv6", give: "2001:db8::/32,::1", want: []string{"2001:db8::/32", "::1/128"}},
		{name: "host bits masked", give: "10.1.2.3/8", want: []string{"10.0.0.0/8"}},
		{name: "mapped IPv4 unmapped", give: "::ffff:10.0.0.0/104,::ffff:1.2.3.4", want: []string{"10.0.0.0/8", "1.2.3.4/32"}},
		{name: "blanks and trailing comma", give: " 1.2.3.4 ,, ", want: []string{"1.2.3.4/32"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			ps, err := ParseAllowList(tt.give)
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, p := range ps {
				got = append(got, p.String())
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("ParseAllowList(%q) = %v, want %v", tt.give, got, tt.want)
			}
		})
	}
}

func TestParseAllowListErrorNamesEntryAndFlag(t *testing.T) {
	t.Parallel()
	tests := []struct {
		give    string
		wantBad string
	}{
		{give: "10.0.0.0/8, 10.0.0.300", wantBad: `"10.0.0.300"`},
		{give: "10.0.0.0/33", wantBad: `"10.0.0.0/33"`},
		{give: "example.com", wantBad: `"example.com"`},
		{give: "fe80::1%eth0", wantBad: `"fe80::1%eth0"`},
	}
	for _, tt := range tests {
		t.Run(tt.give, func(t *testing.T) {
			t.Parallel()
			_, err := ParseAllowList(tt.give)
			if err == nil || !strings.Contains(err.Error(), "--allow") || !strings.Contains(err.Error(), tt.wantBad) {
				t.Errorf("ParseAllowList(%q) error = %v, want one naming --allow and %s", tt.give, err, tt.wantBad)
			}
		})
	}
	if _, err := ParseTrustProxy("nope"); err == nil || !strings.Contains(err.Error(), "--trust-proxy") {
		t.Errorf("ParseTrustProxy error = %v, want one naming --trust-proxy", err)
	}
}

func TestAllowList(t *testing.T) {
	t.Parallel()
	h, _, _, _ := testEdge(t, EdgeConfig{InsecureNoAuth: true, Allow: mustPrefixes(t, "10.0.0.0/8, 192.168.1.5, 2001:db8::/32, ::1")})
	tests := []struct {
		name     string
		give     string
		want     int
		wantBody string
	}{
		{name: "in IPv4 network", give: "10.20.30.40:5555", want: 200, wantBody: "ok"},
		{name: "single IP", give: "192.168.1.5:1", want: 200, wantBody: "ok"},
		{name: "neighbour of single IP", give: "192.168.1.6:1", want: 403, wantBody: `"client 192.168.1.6 is not in --allow"`},
		{name: "outside", give: "1.2.3.4:80", want: 403, wantBody: `"client 1.2.3.4 is not in --allow"`},
		{name: "IPv6 network", give: "[2001:db8:1::7]:443", want: 200, wantBody: "ok"},
		{name: "IPv6 single", give: "[::1]:443", want: 200, wantBody: "ok"},
		{name: "IPv6 outside", give: "[2001:db9::1]:443", want: 403, wantBody: `"client 2001:db9::1 is not in --allow"`},
		{name: "IPv4-mapped IPv6 peer", give: "[::ffff:10.1.2.3]:80", want: 200, wantBody: "ok"},
		{name: "unparseable peer", give: "@", want: 403, wantBody: "not in --allow"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			w := call(h, tt.give, nil)
			if w.Code != tt.want || !strings.Contains(w.Body.String(), tt.wantBody) {
				t.Errorf("from %s: %d %s, want %d containing %s", tt.give, w.Code, w.Body, tt.want, tt.wantBody)
			}
		})
	}
}

func TestAllowListEmptyAllowsAll(t *testing.T) {
	t.Parallel()
	h, _, _, _ := testEdge(t, EdgeConfig{InsecureNoAuth: true})
	if w := call(h, "203.0.113.9:1", nil); w.Code != http.StatusOK {
		t.Errorf("status %d, want 200", w.Code)
	}
}

func TestClientAddrTrustsOnlyListedProxies(t *testing.T) {
	t.Parallel()
	_, e, _, _ := testEdge(t, EdgeConfig{InsecureNoAuth: true, TrustProxy: mustPrefixes(t, "10.0.0.0/8")})
	tests := []struct {
		name      string
		give      string
		giveXFF   []string
		want      string
		wantKnown bool
	}{
		{name: "untrusted peer's header ignored", give: "198.51.100.7:1", giveXFF: []string{"203.0.113.9"}, want: "198.51.100.7", wantKnown: true},
		{name: "trusted proxy", give: "10.0.0.1:1", giveXFF: []string{"203.0.113.9"}, want: "203.0.113.9", wantKnown: true},
		{name: "spoofed entries left of the real client", give: "10.0.0.1:1", giveXFF: []string{"1.1.1.1, 203.0.113.9, 10.0.0.2"}, want: "203.0.113.9", wantKnown: true},
		{name: "several header lines", give: "10.0.0.1:1", giveXFF: []string{"1.1.1.1", "203.0.113.9"}, want: "203.0.113.9", wantKnown: true},
		{name: "trusted proxy without header", give: "10.0.0.1:1", want: "10.0.0.1", wantKnown: true},
		{name: "only proxies", give: "10.0.0.1:1", giveXFF: []string{"10.0.0.3, 10.0.0.2"}, want: "10.0.0.3", wantKnown: true},
		{name: "entry with port", give: "10.0.0.1:1", giveXFF: []string{"[2001:db8::1]:4711"}, want: "2001:db8::1", wantKnown: true},
		{name: "garbage from a trusted proxy", give: "10.0.0.1:1", giveXFF: []string{"unknown"}, want: "invalid IP", wantKnown: false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			r := httptest.NewRequest(http.MethodPost, "/", nil)
			r.RemoteAddr = tt.give
			r.Header["X-Forwarded-For"] = tt.giveXFF
			got, known := e.clientAddr(r)
			if got.String() != tt.want || known != tt.wantKnown {
				t.Errorf("clientAddr = %v, %v; want %v, %v", got, known, tt.want, tt.wantKnown)
			}
		})
	}
}

func TestForwardedClientCheckedAgainstAllowList(t *testing.T) {
	t.Parallel()
	h, _, _, _ := testEdge(t, EdgeConfig{InsecureNoAuth: true, Allow: mustPrefixes(t, "203.0.113.0/24"), TrustProxy: mustPrefixes(t, "10.0.0.1")})
	tests := []struct {
		name    string
		give    string
		giveXFF string
		want    int
	}{
		{name: "via trusted proxy", give: "10.0.0.1:1", giveXFF: "203.0.113.9", want: 200},
		{name: "via trusted proxy, client outside", give: "10.0.0.1:1", giveXFF: "198.51.100.1", want: 403},
		{name: "direct client spoofing the header", give: "198.51.100.1:1", giveXFF: "203.0.113.9", want: 403},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if w := call(h, tt.give, http.Header{"X-Forwarded-For": {tt.giveXFF}}); w.Code != tt.want {
				t.Errorf("status %d, want %d (%s)", w.Code, tt.want, w.Body)
			}
		})
	}
}

func TestAuthentication(t *testing.T) {
	t.Parallel()
	h, _, _, _ := testEdge(t, EdgeConfig{Tokens: []string{"tok-a", "tok-b", "tok-c"}, Basic: map[string]string{"alice": "pw-alice", "bob": "pw-bob"}})
	tests := []struct {
		name string
		give http.Header
		want int
	}{
		{name: "first token", give: bearer("tok-a"), want: 200},
		{name: "second token", give: bearer("tok-b"), want: 200},
		{name: "third token", give: bearer("tok-c"), want: 200},
		{name: "scheme is case-insensitive", give: http.Header{"Authorization": {"bearer tok-a"}}, want: 200},
		{name: "wrong token", give: bearer("tok-x"), want: 401},
		{name: "prefix of a token", give: bearer("tok"), want: 401},
		{name: "token with extra", give: bearer("tok-aa"), want: 401},
		{name: "empty bearer", give: bearer(""), want: 401},
		{name: "missing", give: nil, want: 401},
		{name: "other scheme", give: http.Header{"Authorization": {"Token tok-a"}}, want: 401},
		{name: "token without scheme", give: http.Header{"Authorization": {"tok-a"}}, want: 401},
		{name: "basic ok", give: basicAuth("alice", "pw-alice"), want: 200},
		{name: "basic second user", give: basicAuth("bob", "pw-bob"), want: 200},
		{name: "basic wrong password", give: basicAuth("alice", "pw-bob"), want: 401},
		{name: "basic unknown user", give: basicAuth("mallory", "pw-alice"), want: 401},
		{name: "basic malformed", give: http.Header{"Authorization": {"Basic !!!"}}, want: 401},
		{name: "token as basic password", give: basicAuth("alice", "tok-a"), want: 401},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if w := call(h, "192.0.2.1:1", tt.give); w.Code != tt.want {
				t.Errorf("status %d, want %d (%s)", w.Code, tt.want, w.Body)
			}
		})
	}
}

func TestUnauthorizedReply(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		give     EdgeConfig
		wantAuth []string
	}{
		{name: "tokens only", give: EdgeConfig{Tokens: []string{"t"}}, wantAuth: []string{`Bearer realm="watcherbridge"`}},
		{name: "with basic", give: EdgeConfig{Tokens: []string{"t"}, Basic: map[string]string{"u": "p"}},
			wantAuth: []string{`Bearer realm="watcherbridge"`, `Basic realm="watcherbridge", charset="UTF-8"`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			h, _, _, _ := testEdge(t, tt.give)
			w := call(h, "192.0.2.1:1", nil)
			if w.Code != http.StatusUnauthorized || !slices.Equal(w.Header().Values("WWW-Authenticate"), tt.wantAuth) ||
				!strings.Contains(w.Body.String(), "missing or wrong credentials: send Authorization: Bearer <token>") ||
				w.Header().Get("Content-Type") != "application/json" {
				t.Errorf("got %d %v %s, want 401 with WWW-Authenticate %v and a JSON error", w.Code, w.Header(), w.Body, tt.wantAuth)
			}
		})
	}
}

func TestBasicRefusedWhenOnlyTokensConfigured(t *testing.T) {
	t.Parallel()
	h, _, _, _ := testEdge(t, EdgeConfig{Tokens: []string{"tok-a"}})
	if w := call(h, "192.0.2.1:1", basicAuth("tok-a", "tok-a")); w.Code != http.StatusUnauthorized {
		t.Errorf("status %d, want 401", w.Code)
	}
}

func TestPresentedSecretsNeverEchoedOrLogged(t *testing.T) {
	t.Parallel()
	const secret = "S3cret-Presented-Value-7f3a"
	h, _, _, logs := testEdge(t, EdgeConfig{Tokens: []string{"the-real-token"}, Basic: map[string]string{"alice": "the-real-password"}})
	headers := []http.Header{
		bearer(secret),
		{"Authorization": {secret}},
		{"Authorization": {secret + " " + secret}},
		basicAuth("alice", secret),
		basicAuth(secret, secret),
		{"Authorization": {"Basic " + secret}},
	}
	var bodies strings.Builder
	for _, hdr := range headers {
		w := call(h, "192.0.2.1:1", hdr)
		if w.Code != http.StatusUnauthorized {
			t.Errorf("status %d for %v, want 401", w.Code, hdr)
		}
		bodies.WriteString(w.Body.String())
		for k, v := range w.Header() {
			bodies.WriteString(k + strings.Join(v, ","))
		}
	}
	call(h, "192.0.2.1:1", bearer("the-real-token"))
	for where, text := range map[string]string{"replies": bodies.String(), "log": logs.String()} {
		for _, s := range []string{secret, "the-real-token", "the-real-password"} {
			if strings.Contains(text, s) {
				t.Errorf("%s contain the secret %q:\n%s", where, s, text)
			}
		}
	}
	if !strings.Contains(logs.String(), `"client":"192.0.2.1"`) || !strings.Contains(logs.String(), `"reason":"wrong bearer token"`) {
		t.Errorf("log lacks the client and reason:\n%s", logs)
	}
}

func TestSetCredentialsSwap(t *testing.T) {
	t.Parallel()
	h, e, _, logs := testEdge(t, EdgeConfig{Tokens: []string{"old"}})
	if w := call(h, "192.0.2.1:1", bearer("old")); w.Code != http.StatusOK {
		t.Fatalf("old token before swap: %d", w.Code)
	}
	e.SetCredentials([]string{"new-1", "new-2"}, map[string]string{"carol": "pw"})
	tests := []struct {
		give http.Header
		want int
	}{
		{give: bearer("old"), want: 401},
		{give: bearer("new-1"), want: 200},
		{give: bearer("new-2"), want: 200},
		{give: basicAuth("carol", "pw"), want: 200},
	}
	for _, tt := range tests {
		if w := call(h, "192.0.2.1:1", tt.give); w.Code != tt.want {
			t.Errorf("%v after swap: %d, want %d", tt.give, w.Code, tt.want)
		}
	}
	e.SetCredentials(nil, map[string]string{"": "x", "y": ""})
	if w := call(h, "192.0.2.1:1", bearer("new-1")); w.Code != http.StatusUnauthorized {
		t.Errorf("after swapping in no credentials: %d, want 401", w.Code)
	}
	if w := call(h, "192.0.2.1:1", bearer("")); w.Code != http.StatusUnauthorized {
		t.Errorf("empty token after swapping in none: %d, want 401", w.Code)
	}
	if !strings.Contains(logs.String(), "every request is refused") {
		t.Errorf("no warning about empty credentials:\n%s", logs)
	}
}

func TestSetCredentialsConcurrentWithRequests(t *testing.T) {
	t.Parallel()
	h, e, _, _ := testEdge(t, EdgeConfig{Tokens: []string{"stable", "a"}})
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			for range 200 {
				if w := call(h, "192.0.2.1:1", bearer("stable")); w.Code != http.StatusOK {
					t.Errorf("stable token refused during rotation: %d", w.Code)
					return
				}
			}
		})
	}
	for i := range 200 {
		e.SetCredentials([]string{"stable", string(rune('a' + i%26))}, nil)
	}
	wg.Wait()
}

func TestInsecureNoAuth(t *testing.T) {
	t.Parallel()
	h, _, _, logs := testEdge(t, EdgeConfig{InsecureNoAuth: true})
	if w := call(h, "192.0.2.1:1", nil); w.Code != http.StatusOK {
		t.Errorf("status %d, want 200", w.Code)
	}
	if n := strings.Count(logs.String(), "authentication disabled by --insecure-no-auth"); n != 1 || !strings.Contains(logs.String(), `"level":"warn"`) {
		t.Errorf("want one warning about disabled authentication, log:\n%s", logs)
	}
}

func TestInsecureNoAuthNeverDropsConfiguredCredentials(t *testing.T) {
	t.Parallel()
	h, e, _, _ := testEdge(t, EdgeConfig{InsecureNoAuth: true, Tokens: []string{"tok"}})
	if w := call(h, "192.0.2.1:1", nil); w.Code != http.StatusUnauthorized {
		t.Errorf("without token: %d, want 401", w.Code)
	}
	if w := call(h, "192.0.2.1:1", bearer("tok")); w.Code != http.StatusOK {
		t.Errorf("with token: %d, want 200", w.Code)
	}
	e.SetCredentials(nil, nil)
	if w := call(h, "192.0.2.1:1", nil); w.Code != http.StatusOK {
		t.Errorf("insecure edge with no credentials left: %d, want 200", w.Code)
	}
}

func TestNewEdgeRefuses(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		give EdgeConfig
		want string
	}{
		{name: "no credentials", give: EdgeConfig{}, want: "set --ingest-token-file (or --insecure-no-auth to run without authentication)"},
		{name: "only empty credentials", give: EdgeConfig{Tokens: []string{""}, Basic: map[string]string{"u": ""}}, want: "--ingest-token-file"},
		{name: "negative rate", give: EdgeConfig{InsecureNoAuth: true, RatePerSecond: -1}, want: "rate limit"},
		{name: "negative burst", give: EdgeConfig{InsecureNoAuth: true, RatePerSecond: 1, Burst: -1}, want: "rate limit"},
		{name: "invalid prefix", give: EdgeConfig{InsecureNoAuth: true, Allow: []netip.Prefix{{}}}, want: "invalid network"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := NewEdge(tt.give, zerolog.Nop())
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("NewEdge error = %v, want one containing %q", err, tt.want)
			}
		})
	}
	if _, err := NewEdge(EdgeConfig{}, zerolog.Nop()); !errors.Is(err, ErrNoCredentials) {
		t.Errorf("error %v is not ErrNoCredentials", err)
	}
}

func TestCheckOrder(t *testing.T) {
	t.Parallel()
	h, _, _, _ := testEdge(t, EdgeConfig{Tokens: []string{"tok"}, Allow: mustPrefixes(t, "192.0.2.0/24"), RatePerSecond: 1, Burst: 1})
	tests := []struct {
		name       string
		giveRemote string
		giveHeader http.Header
		want       int
	}{
		{name: "outsider is refused before anything else", giveRemote: "198.51.100.1:1", giveHeader: bearer("tok"), want: 403},
		{name: "outsider again: still 403, not 429", giveRemote: "198.51.100.1:1", giveHeader: bearer("tok"), want: 403},
		{name: "no token: 401 takes the one token", giveRemote: "192.0.2.1:1", want: 401},
		{name: "rate limited before the credentials are looked at", giveRemote: "192.0.2.1:1", giveHeader: bearer("tok"), want: 429},
	}
	for _, tt := range tests {
		if w := call(h, tt.giveRemote, tt.giveHeader); w.Code != tt.want {
			t.Errorf("%s: %d, want %d", tt.name, w.Code, tt.want)
		}
	}
}

// selfSigned writes a self-signed certificate for 127.0.0.1 and its key to
// dir and returns the certificate.
func selfSigned(t *testing.T, dir string, serial int64) (*x509.Certificate, string, string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(serial),
		Subject:               pkix.Name{CommonName: "watcherbridge test"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
		IPAddresses:           []net.IP{net.ParseIP("127.0.0.1")},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	certFile, keyFile := filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	writeFile(t, certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}))
	writeFile(t, keyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}))
	return cert, certFile, keyFile
}

func writeFile(t *testing.T, path string, data []byte) {
	t.Helper()
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
}

// serveTLS serves okHandler over cfg, the way serve does: a TLS listener
// that leaves the certificate choice to cfg.
func serveTLS(t *testing.T, cfg *tls.Config) string {
	t.Helper()
	srv := httptest.NewUnstartedServer(okHandler)
	srv.Config.ErrorLog = log.New(io.Discard, "", 0) // refused handshakes are expected
	srv.Listener = tls.NewListener(srv.Listener, cfg)
	srv.Start()
	t.Cleanup(srv.Close)
	return "https://" + srv.Listener.Addr().String()
}

// getTLS makes a request on a fresh connection from a client that trusts
// only roots, and returns the serial of the certificate the server showed.
func getTLS(t *testing.T, url string, maxVersion uint16, roots ...*x509.Certificate) (int64, error) {
	t.Helper()
	pool := x509.NewCertPool()
	for _, c := range roots {
		pool.AddCert(c)
	}
	tr := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, MaxVersion: maxVersion}}
	defer tr.CloseIdleConnections()
	resp, err := (&http.Client{Transport: tr, Timeout: 10 * time.Second}).Get(url)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return 0, errors.New(resp.Status)
	}
	return resp.TLS.PeerCertificates[0].SerialNumber.Int64(), nil
}

func TestTLSConfigServes(t *testing.T) {
	t.Parallel()
	cert, certFile, keyFile := selfSigned(t, t.TempDir(), 1)
	cfg, err := TLSConfig(certFile, keyFile)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.MinVersion != tls.VersionTLS12 {
		t.Errorf("MinVersion %x, want TLS 1.2", cfg.MinVersion)
	}
	url := serveTLS(t, cfg)
	if serial, err := getTLS(t, url, 0, cert); err != nil || serial != 1 {
		t.Errorf("trusting client: serial %d, %v; want 1, 200", serial, err)
	}
	if _, err := getTLS(t, url, tls.VersionTLS11, cert); err == nil {
		t.Error("a TLS 1.1 client was served")
	}
	if _, err := getTLS(t, url, 0); err == nil {
		t.Error("a client not trusting the certificate was served")
	}
}

func TestCertReloaderPicksUpNewCert(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	oldCert, certFile, keyFile := selfSigned(t, dir, 1)
	rl, err := NewCertReloader(certFile, keyFile)
	if err != nil {
		t.Fatal(err)
	}
	url := serveTLS(t, rl.TLSConfig())
	if serial, err := getTLS(t, url, 0, oldCert); err != nil || serial != 1 {
		t.Fatalf("before reload: serial %d, %v", serial, err)
	}
	newCert, _, _ := selfSigned(t, dir, 2) // overwrites both files
	if serial, err := getTLS(t, url, 0, oldCert); err != nil || serial != 1 {
		t.Errorf("files replaced but not reloaded: serial %d, %v; want the old certificate", serial, err)
	}
	if err := rl.Reload(); err != nil {
		t.Fatal(err)
	}
	if serial, err := getTLS(t, url, 0, newCert); err != nil || serial != 2 {
		t.Errorf("after reload: serial %d, %v; want 2", serial, err)
	}

	// A broken file on reload keeps the certificate in use.
	writeFile(t, certFile, []byte("not a certificate"))
	if err := rl.Reload(); err == nil || !strings.Contains(err.Error(), "--tls-cert") {
		t.Errorf("Reload of a broken file: %v, want an error naming --tls-cert", err)
	}
	if serial, err := getTLS(t, url, 0, newCert); err != nil || serial != 2 {
		t.Errorf("after failed reload: serial %d, %v; want 2", serial, err)
	}
}

func TestTLSConfigErrorsNameFlags(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	_, certFile, keyFile := selfSigned(t, dir, 1)
	_, otherCert, _ := selfSigned(t, t.TempDir(), 2)
	missing := filepath.Join(dir, "missing.pem")
	tests := []struct {
		name     string
		giveCert string
		giveKey  string
		want     []string
	}{
		{name: "missing cert", giveCert: missing, giveKey: keyFile, want: []string{"--tls-cert", "missing.pem"}},
		{name: "missing key", giveCert: certFile, giveKey: missing, want: []string{"--tls-key", "missing.pem"}},
		{name: "key of another cert", giveCert: otherCert, giveKey: keyFile, want: []string{"--tls-cert", "--tls-key"}},
		{name: "only cert", giveCert: certFile, want: []string{"--tls-cert and --tls-key"}},
		{name: "only key", giveKey: keyFile, want: []string{"--tls-cert and --tls-key"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := TLSConfig(tt.giveCert, tt.giveKey)
			for _, w := range tt.want {
				if err == nil || !strings.Contains(err.Error(), w) {
					t.Errorf("TLSConfig error = %v, want it to contain %q", err, w)
				}
			}
		})
	}
}
