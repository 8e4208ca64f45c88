package watcherclient

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"syscall"
	"time"
	"unicode/utf8"
)

const (
	maxExcerpt = 512
	redacted   = "[REDACTED]"
)

// APIError is a non-2xx reply from Watcher. It carries enough to decide
// between retrying (Transient) and dead-lettering, and a body excerpt for the
// operator; the API key is redacted from it.
type APIError struct {
	Op         string        // what the client was doing, e.g. "import cameras"
	Method     string        // HTTP method
	Path       string        // request path, e.g. /vsaas/api/v2/cameras/import
	Status     int           // HTTP status code
	Body       string        // reply excerpt, at most 512 bytes, key redacted
	RetryAfter time.Duration // from Retry-After (seconds or HTTP date); 0 if absent
}

// Error renders the failure with a hint where the fix is obvious.
func (e *APIError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "watcher %s: %s %s: HTTP %d", e.Op, e.Method, e.Path, e.Status)
	if e.Body != "" {
		b.WriteString(": ")
		b.WriteString(e.Body)
	}
	switch {
	case e.Status == http.StatusForbidden:
		b.WriteString(" (Watcher rejected the API key: check --watcher-api-key)")
	case e.Status == http.StatusNotFound && strings.HasPrefix(e.Body, "<"):
		b.WriteString(" (reply is not from the Watcher API: check --watcher-url)")
	case e.RetryAfter > 0:
		fmt.Fprintf(&b, " (retry after %s)", e.RetryAfter)
	}
	return b.String()
}

// Transient reports whether the same request may succeed later: server
// errors, request timeouts and rate limiting.
func (e *APIError) Transient() bool {
	return e.Status >= 500 || e.Status == http.StatusRequestTimeout || e.Status == http.StatusTooManyRequests
}

// decodeError is a 2xx reply whose body did not parse. Repeating the request
// would get the same reply, so it is permanent.
type decodeError struct {
	op, method, path string
	err              error
}

func (e *decodeError) Error() string {
	return fmt.Sprintf("watcher %s: %s %s: decode reply: %v", e.op, e.method, e.path, e.err)
}

func (e *decodeError) Unwrap() error { return e.err }

// redactedError replaces the message of a transport error that happened to
// contain the API key, keeping the original for errors.Is/As.
type redactedError struct {
	msg string
	err error
}

func (e *redactedError) Error() string { return e.msg }
func (e *redactedError) Unwrap() error { return e.err }

// IsTransient reports whether err is worth retrying: transient API errors,
// network failures (refused, reset, timeouts, a reply cut short) and deadline
// expiry. A caller's cancellation, other 4xx replies and undecodable 2xx
// replies are permanent.
func IsTransient(err error) bool {
	if err == nil {
		return false
	}
	if apiErr, ok := errors.AsType[*APIError](err); ok {
		return apiErr.Transient()
	}
	if _, ok := errors.AsType[*decodeError](err); ok {
		return false
	}
	if errors.Is(err, context.Canceled) {
		return false
	}
	if errors.Is(err, context.DeadlineExceeded) ||
		errors.Is(err, io.EOF) ||
		errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, syscall.ECONNREFUSED) ||
		errors.Is(err, syscall.ECONNRESET) ||
		errors.Is(err, syscall.ECONNABORTED) ||
		errors.Is(err, syscall.EPIPE) ||
		errors.Is(err, syscall.EHOSTUNREACH) ||
		errors.Is(err, syscall.ENETUNREACH) {
		return true
	}
	if netErr, ok := errors.AsType[net.Error](err); ok && netErr.Timeout() {
		return true
	}
	_, isOp := errors.AsType[*net.OpError](err)
	return isOp
}

// IsNotFound reports whether Watcher answered 404, e.g. for an unknown camera
// name or user id.
func IsNotFound(err error) bool {
	apiErr, ok := errors.AsType[*APIError](err)
	return ok && apiErr.Status == http.StatusNotFound
}

// RetryAfter returns the delay Watcher asked for, or 0, so a retry layer can
// honour it instead of its own backoff.
func RetryAfter(err error) time.Duration {
	if apiErr, ok := errors.AsType[*APIError](err); ok {
		return apiErr.RetryAfter
	}
	return 0
}

// parseRetryAfter accepts delta-seconds or an HTTP date.
func parseRetryAfter(v string, now time.Time) time.Duration {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0
	}
	if secs, err := strconv.ParseInt(v, 10, 64); err == nil {
		if secs <= 0 {
			return 0
		}
		return time.Duration(secs) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil && t.After(now) {
		return t.Sub(now).Round(time.Second)
	}
	return 0
}

// excerpt makes a one-line, size-capped, key-free copy of a reply body.
func excerpt(body []byte, key string) string {
	s := strings.TrimSpace(string(body))
	if key != "" {
		s = strings.ReplaceAll(s, key, redacted)
	}
	return truncate(strings.Join(strings.Fields(s), " "), maxExcerpt)
}

// truncate cuts s to at most n bytes on a rune boundary, marking the cut
// with an ellipsis that counts towards n.
func truncate(s string, n int) string {
	const mark = "…"
	if len(s) <= n {
		return s
	}
	cut := n - len(mark)
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + mark
}
