package handlers

import (
	"crypto/sha256"
	"crypto/subtle"
	"net/http"
	"strings"
)

// credentials is one immutable set of accepted secrets, swapped as a whole
// by SetCredentials. Only SHA-256 digests are kept: comparing digests of
// equal length means neither the length of a configured secret nor how
// much of it a guess got right shows in the timing.
type credentials struct {
	tokens [][sha256.Size]byte
	basic  []basicCredential
}

type basicCredential struct {
	user, password [sha256.Size]byte
}

// newCredentials digests tokens and basic credentials. Empty tokens, users
// and passwords are dropped: an empty secret would let in whoever sends
// nothing.
func newCredentials(tokens []string, basic map[string]string) *credentials {
	c := &credentials{}
	for _, t := range tokens {
		if t != "" {
			c.tokens = append(c.tokens, sha256.Sum256([]byte(t)))
		}
	}
	for u, p := range basic {
		if u != "" && p != "" {
			c.basic = append(c.basic, basicCredential{user: sha256.Sum256([]byte(u)), password: sha256.Sum256([]byte(p))})
		}
	}
	return c
}

func (c *credentials) empty() bool { return len(c.tokens) == 0 && len(c.basic) == 0 }

// tokenOK compares token with every configured token, without stopping at
// a match, so the time taken does not tell which one (if any) matched.
func (c *credentials) tokenOK(token string) bool {
	got := sha256.Sum256([]byte(token))
	match := 0
	for i := range c.tokens {
		match |= subtle.ConstantTimeCompare(got[:], c.tokens[i][:])
	}
	return match == 1
}

// basicOK is tokenOK for a user and password pair.
func (c *credentials) basicOK(user, password string) bool {
	u, p := sha256.Sum256([]byte(user)), sha256.Sum256([]byte(password))
	match := 0
	for i := range c.basic {
		match |= subtle.ConstantTimeCompare(u[:], c.basic[i].user[:]) & subtle.ConstantTimeCompare(p[:], c.basic[i].password[:])
	}
	return match == 1
}

// authenticate checks the request's Authorization header. The reason it
// returns on failure is for the log: it never contains anything the client
// sent, because what a client sends there may be a secret (a token pasted
// without its "Bearer " is one).
func (c *credentials) authenticate(r *http.Request) (ok bool, reason string) {
	h := r.Header.Get("Authorization")
	if h == "" {
		return false, "no credentials"
	}
	scheme, rest, _ := strings.Cut(h, " ")
	switch {
	case strings.EqualFold(scheme, "Bearer"):
		if c.tokenOK(strings.TrimSpace(rest)) {
			return true, ""
		}
		return false, "wrong bearer token"
	case strings.EqualFold(scheme, "Basic"):
		if len(c.basic) == 0 {
			return false, "basic credentials sent but none are configured"
		}
		user, password, parsed := r.BasicAuth()
		if !parsed {
			return false, "malformed basic credentials"
		}
		if c.basicOK(user, password) {
			return true, ""
		}
		return false, "wrong basic credentials"
	default:
		return false, "unsupported authorization scheme"
	}
}
