package handlers

import (
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net/http"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/rs/zerolog"
)

// EdgeConfig configures who may call the write endpoints (/activations,
// /events).
type EdgeConfig struct {
	// Tokens are the accepted bearer tokens (Authorization: Bearer T).
	// Several are accepted at once so a key can be rotated without
	// downtime: add the new one, move the senders, drop the old one.
	Tokens []string
	// Basic maps each accepted HTTP basic user to its password.
	Basic map[string]string
	// InsecureNoAuth lets Tokens and Basic both be empty, which lets
	// everyone in. It never overrides credentials that are configured:
	// when any are, they are enforced.
	InsecureNoAuth bool
	// Allow lists the client networks allowed in (single addresses are
	// /32 or /128); empty allows all. The client is r.RemoteAddr, or, when
	// r.RemoteAddr is in TrustProxy, the address X-Forwarded-For names
	// behind the trusted proxies.
	Allow []netip.Prefix
	// TrustProxy lists the networks of reverse proxies whose
	// X-Forwarded-For is believed. Empty: the header is ignored, since
	// anyone can send it.
	TrustProxy []netip.Prefix
	// RatePerSecond is the request rate allowed per client (per IPv4
	// address or IPv6 /64), with bursts of up to Burst requests. 0 disables
	// rate limiting. Burst 0 means one second's worth of requests.
	RatePerSecond float64
	Burst         int
}

// ErrNoCredentials is NewEdge's refusal to run the write endpoints open
// by accident.
var ErrNoCredentials = errors.New("no ingest credentials: set --ingest-token-file (or --insecure-no-auth to run without authentication)")

// ParseAllowList parses the --allow flag: comma-separated CIDR networks or
// single IP addresses, e.g. "10.0.0.0/8, 192.168.1.5, 2001:db8::/32".
// Empty means no list (everyone allowed).
func ParseAllowList(s string) ([]netip.Prefix, error) {
	return parseNetworks("--allow", s)
}

// ParseTrustProxy parses the --trust-proxy flag, in ParseAllowList's format.
func ParseTrustProxy(s string) ([]netip.Prefix, error) {
	return parseNetworks("--trust-proxy", s)
}

func parseNetworks(flag, s string) ([]netip.Prefix, error) {
	var out []netip.Prefix
	for entry := range strings.SplitSeq(s, ",") {
		entry = strings.TrimSpace(entry)
		if entry == "" {
			continue
		}
		p, err := parseNetwork(entry)
		if err != nil {
			return nil, fmt.Errorf("%s: %q is not an IP address or CIDR network (want e.g. 10.0.0.0/8 or 192.168.1.5)", flag, entry)
		}
		out = append(out, p)
	}
	return out, nil
}

func parseNetwork(s string) (netip.Prefix, error) {
	if strings.Contains(s, "/") {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			return netip.Prefix{}, err
		}
		// Client addresses are unmapped (::ffff:10.1.2.3 is 10.1.2.3), so
		// a mapped network must be unmapped too to ever match.
		if p.Addr().Is4In6() && p.Bits() >= 96 {
			p = netip.PrefixFrom(p.Addr().Unmap(), p.Bits()-96)
		}
		return p.Masked(), nil
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Prefix{}, err
	}
	if a.Zone() != "" {
		return netip.Prefix{}, errors.New("zoned address")
	}
	a = a.Unmap()
	return netip.PrefixFrom(a, a.BitLen()), nil
}

// Edge guards the write endpoints: client allowlist, then per-client rate
// limit, then authentication. The cheap, credential-free checks come first
// so a flood is turned away before any secret is compared.
type Edge struct {
	allow    []netip.Prefix
	trust    []netip.Prefix
	insecure bool
	creds    atomic.Pointer[credentials]
	limiter  *rateLimiter // nil: no rate limit
	rateMsg  string
	logs     *logLimiter
	log      zerolog.Logger
}

// NewEdge validates cfg and returns the middleware. Without credentials it
// returns ErrNoCredentials unless cfg.InsecureNoAuth is set, in which case
// it logs a warning that authentication is off.
func NewEdge(cfg EdgeConfig, log zerolog.Logger) (*Edge, error) {
	return newEdge(cfg, log, time.Now)
}

func newEdge(cfg EdgeConfig, log zerolog.Logger, now func() time.Time) (*Edge, error) {
	for _, p := range append(append([]netip.Prefix(nil), cfg.Allow...), cfg.TrustProxy...) {
		if !p.IsValid() {
			return nil, fmt.Errorf("edge: invalid network %v in the allow or trusted proxy list", p)
		}
	}
	if math.IsNaN(cfg.RatePerSecond) || math.IsInf(cfg.RatePerSecond, 0) || cfg.RatePerSecond < 0 || cfg.Burst < 0 {
		return nil, fmt.Errorf("edge: rate limit %v requests/s with burst %d: want a finite rate >= 0 (0 disables) and burst >= 0", cfg.RatePerSecond, cfg.Burst)
	}
	e := &Edge{
		allow:    canonical(cfg.Allow),
		trust:    canonical(cfg.TrustProxy),
		insecure: cfg.InsecureNoAuth,
		logs:     newLogLimiter(now),
		log:      log,
	}
	creds := newCredentials(cfg.Tokens, cfg.Basic)
	switch {
	case creds.empty() && !cfg.InsecureNoAuth:
		return nil, ErrNoCredentials
	case creds.empty():
		log.Warn().Msg("authentication disabled by --insecure-no-auth")
	case cfg.InsecureNoAuth:
		log.Warn().Msg("--insecure-no-auth ignored: credentials are configured and enforced")
	}
	e.creds.Store(creds)
	if cfg.RatePerSecond > 0 {
		burst := cfg.Burst
		if burst == 0 {
			burst = max(1, int(math.Ceil(cfg.RatePerSecond)))
		}
		e.limiter = newRateLimiter(cfg.RatePerSecond, burst, maxRateClients, now)
		e.rateMsg = fmt.Sprintf("rate limit of %s requests/s (burst %d) exceeded", strconv.FormatFloat(cfg.RatePerSecond, 'f', -1, 64), burst)
	}
	return e, nil
}

// canonical masks prefixes and unmaps IPv4-in-IPv6 ones, so that Contains
// matches the unmapped client addresses.
func canonical(ps []netip.Prefix) []netip.Prefix {
	out := make([]netip.Prefix, 0, len(ps))
	for _, p := range ps {
		if p.Addr().Is4In6() && p.Bits() >= 96 {
			p = netip.PrefixFrom(p.Addr().Unmap(), p.Bits()-96)
		}
		out = append(out, p.Masked())
	}
	return out
}

// SetCredentials replaces the accepted tokens and basic credentials at
// once; requests already past the check are not affected. It is safe to
// call while serving (on SIGHUP, after re-reading the token files). Empty
// tokens and passwords are ignored. Swapping in no credentials at all
// refuses every request with 401 unless the Edge was built with
// InsecureNoAuth: a token file emptied by mistake must not open the door.
func (e *Edge) SetCredentials(tokens []string, basic map[string]string) {
	c := newCredentials(tokens, basic)
	e.creds.Store(c)
	if c.empty() && !e.insecure {
		e.log.Warn().Msg("no ingest credentials left: every request is refused with 401 until some are set")
		return
	}
	e.log.Info().Int("tokens", len(c.tokens)).Int("basic_users", len(c.basic)).Msg("ingest credentials replaced")
}

// Wrap returns next guarded by the allowlist, the rate limit and
// authentication, in that order.
func (e *Edge) Wrap(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		client, known := e.clientAddr(r)
		name := r.RemoteAddr
		if known {
			name = client.String()
		}
		if len(e.allow) > 0 && !(known && containsAddr(e.allow, client)) {
			e.refused(r, name, "not in --allow")
			edgeError(w, http.StatusForbidden, "client "+name+" is not in --allow")
			return
		}
		if e.limiter != nil {
			if ok, wait := e.limiter.allow(client); !ok {
				secs := retryAfterSeconds(wait)
				e.refused(r, name, "rate limited")
				w.Header().Set("Retry-After", strconv.Itoa(secs))
				edgeError(w, http.StatusTooManyRequests, fmt.Sprintf("%s for client %s: retry in %ds", e.rateMsg, name, secs))
				return
			}
		}
		creds := e.creds.Load()
		if creds.empty() && e.insecure {
			next.ServeHTTP(w, r)
			return
		}
		if ok, reason := creds.authenticate(r); !ok {
			e.refused(r, name, reason)
			w.Header().Add("WWW-Authenticate", `Bearer realm="watcherbridge"`)
			msg := "missing or wrong credentials: send Authorization: Bearer <token>"
			if len(creds.basic) > 0 {
				w.Header().Add("WWW-Authenticate", `Basic realm="watcherbridge", charset="UTF-8"`)
				msg += " or HTTP basic credentials"
			}
			edgeError(w, http.StatusUnauthorized, msg)
			return
		}
		next.ServeHTTP(w, r)
	})
}

// edgeError writes a JSON error like writeError, but leaves <token> and
// the like unescaped: these replies are read by people running curl.
func edgeError(w http.ResponseWriter, status int, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	_ = enc.Encode(map[string]string{"error": msg})
}

// refused logs a refused request: who and why, never what credentials it
// carried. Lines beyond a small rate are dropped and counted.
func (e *Edge) refused(r *http.Request, client, reason string) {
	ok, suppressed := e.logs.allow()
	if !ok {
		return
	}
	ev := e.log.Warn().Str("client", client).Str("remote", r.RemoteAddr).Str("path", r.URL.Path).Str("reason", reason)
	if suppressed > 0 {
		ev = ev.Int("suppressed", suppressed)
	}
	ev.Msg("request refused")
}

// clientAddr is the address of the client: the TCP peer, or, when the peer
// is a trusted proxy, the rightmost X-Forwarded-For entry that is not a
// trusted proxy itself (entries further left were written by the client
// and prove nothing). known is false when no address can be determined;
// such a request never passes an allowlist.
func (e *Edge) clientAddr(r *http.Request) (addr netip.Addr, known bool) {
	peer, ok := parseHostAddr(r.RemoteAddr)
	if !ok || len(e.trust) == 0 || !containsAddr(e.trust, peer) {
		return peer, ok
	}
	hops := strings.Split(strings.Join(r.Header.Values("X-Forwarded-For"), ","), ",")
	client := peer
	for i := len(hops) - 1; i >= 0; i-- {
		hop := strings.TrimSpace(hops[i])
		if hop == "" {
			continue
		}
		a, ok := parseHostAddr(hop)
		if !ok {
			// A trusted proxy vouched for something that is no address.
			return netip.Addr{}, false
		}
		client = a
		if !containsAddr(e.trust, a) {
			break
		}
	}
	return client, true
}

// parseHostAddr parses "ip", "ip:port" or "[ipv6]:port" into an unmapped,
// zoneless address.
func parseHostAddr(s string) (netip.Addr, bool) {
	a, err := netip.ParseAddr(s)
	if err != nil {
		ap, err := netip.ParseAddrPort(s)
		if err != nil {
			return netip.Addr{}, false
		}
		a = ap.Addr()
	}
	return a.Unmap().WithZone(""), true
}

func containsAddr(ps []netip.Prefix, a netip.Addr) bool {
	for _, p := range ps {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// CertReloader serves a TLS certificate that can be replaced while the
// server runs: every handshake takes the current one, and Reload swaps in a
// fresh copy from the files atomically, so SIGHUP can rotate certificates.
type CertReloader struct {
	certFile, keyFile string
	cert              atomic.Pointer[tls.Certificate]
}

// NewCertReloader loads the certificate chain in certFile and its key in
// keyFile (PEM).
func NewCertReloader(certFile, keyFile string) (*CertReloader, error) {
	if certFile == "" || keyFile == "" {
		return nil, errors.New("--tls-cert and --tls-key must be set together")
	}
	c := &CertReloader{certFile: certFile, keyFile: keyFile}
	if err := c.Reload(); err != nil {
		return nil, err
	}
	return c, nil
}

// Reload reads the files again. On error the certificate in use stays.
func (c *CertReloader) Reload() error {
	certPEM, err := os.ReadFile(c.certFile)
	if err != nil {
		return fmt.Errorf("--tls-cert: %w", err)
	}
	keyPEM, err := os.ReadFile(c.keyFile)
	if err != nil {
		return fmt.Errorf("--tls-key: %w", err)
	}
	cert, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		return fmt.Errorf("--tls-cert %s / --tls-key %s: %w", c.certFile, c.keyFile, err)
	}
	c.cert.Store(&cert)
	return nil
}

// GetCertificate is the tls.Config hook returning the current certificate.
func (c *CertReloader) GetCertificate(*tls.ClientHelloInfo) (*tls.Certificate, error) {
	return c.cert.Load(), nil
}

// TLSConfig returns a server configuration that serves the current
// certificate, TLS 1.2 or newer. It leaves Certificates empty on purpose:
// crypto/tls prefers Certificates[0] over GetCertificate when the client
// sends no server name, which would hide a reload. Serve it with
// http.Server{TLSConfig: cfg}.ServeTLS(ln, "", "") or tls.NewListener.
func (c *CertReloader) TLSConfig() *tls.Config {
	return &tls.Config{MinVersion: tls.VersionTLS12, GetCertificate: c.GetCertificate}
}

// TLSConfig loads certFile and keyFile and returns a server configuration
// for them, TLS 1.2 or newer. To rotate certificates without a restart,
// use NewCertReloader, whose Reload the returned configuration follows.
func TLSConfig(certFile, keyFile string) (*tls.Config, error) {
	c, err := NewCertReloader(certFile, keyFile)
	if err != nil {
		return nil, err
	}
	return c.TLSConfig(), nil
}
