// Package watcherclient is a typed client of the Flussonic Watcher Admin API
// v2 (/vsaas/api/v2). It maps replies to Go types and errors to *APIError so
// that callers can tell permanent from transient failures; it never retries,
// logs or caches on its own.
//
// API reference: https://flussonic.github.io/watcher-docs/api.html
package watcherclient

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync/atomic"
	"time"
)

// APIPrefix is the path every Admin API v2 route lives under. It is exported
// so that fakes and tests build the same URLs the client sends.
const APIPrefix = "/vsaas/api/v2"

// DefaultTimeout bounds one request when Config.Timeout is zero; Watcher
// answers small admin calls in milliseconds, so 15s only trips on outages.
const DefaultTimeout = 15 * time.Second

// maxReplyBytes caps how much of a reply is read, so a broken proxy cannot
// exhaust memory; a full camera list of a large install stays well below it.
const maxReplyBytes = 64 << 20

// Config holds what New needs. Only BaseURL is mandatory.
type Config struct {
	BaseURL    string        // e.g. "https://watcher.example"; the client appends /vsaas/api/v2/...
	APIKey     string        // system API key, sent as header x-vsaas-api-key
	Timeout    time.Duration // per request; DefaultTimeout when zero
	HTTPClient *http.Client  // optional; default a new client with Timeout
}

// Client talks to one Watcher. It is safe for concurrent use; the API key can
// be swapped at run time with SetAPIKey.
type Client struct {
	base    string // scheme://host[/path] without trailing slash
	key     atomic.Pointer[string]
	timeout time.Duration
	hc      *http.Client
}

// New validates cfg and returns a Client. URL problems name the
// --watcher-url flag because that is where the operator fixes them. An empty
// APIKey is accepted so that a key can be loaded later with SetAPIKey.
func New(cfg Config) (*Client, error) {
	base, err := parseBaseURL(cfg.BaseURL)
	if err != nil {
		return nil, err
	}
	if cfg.Timeout < 0 {
		return nil, fmt.Errorf("watcher timeout %s is negative", cfg.Timeout)
	}
	if cfg.Timeout == 0 {
		cfg.Timeout = DefaultTimeout
	}
	hc := cfg.HTTPClient
	if hc == nil {
		hc = &http.Client{Timeout: cfg.Timeout}
	}
	c := &Client{base: base, timeout: cfg.Timeout, hc: hc}
	c.SetAPIKey(cfg.APIKey)
	return c, nil
}

func parseBaseURL(raw string) (string, error) {
	raw = strings.TrimSpace(raw)
	if raw == "" {
		return "", errors.New("watcher URL is empty: set --watcher-url, e.g. https://watcher.example")
	}
	u, err := url.Parse(raw)
	if err != nil {
		return "", fmt.Errorf("invalid --watcher-url: %w", err)
	}
	switch {
	case u.Scheme != "http" && u.Scheme != "https":
		return "", fmt.Errorf("invalid --watcher-url %q: scheme must be http or https", raw)
	case u.Host == "":
		return "", fmt.Errorf("invalid --watcher-url %q: host is missing", raw)
	case u.User != nil:
		return "", errors.New("invalid --watcher-url: remove the user:password part, the API key goes in --watcher-api-key")
	case u.RawQuery != "" || u.Fragment != "":
		return "", fmt.Errorf("invalid --watcher-url %q: remove the query and fragment", raw)
	}
	return strings.TrimRight(u.Scheme+"://"+u.Host+u.EscapedPath(), "/"), nil
}

// SetAPIKey replaces the system API key used by subsequent requests, so a
// SIGHUP can reload a rotated key without rebuilding the client.
func (c *Client) SetAPIKey(key string) {
	c.key.Store(&key)
}

func (c *Client) apiKey() string {
	return *c.key.Load()
}

// BaseURL returns the normalised Watcher URL (without /vsaas/api/v2), for
// startup logs and error messages.
func (c *Client) BaseURL() string {
	return c.base
}

// encodedBody is a request body already encoded as JSON; do sends it as
// is, where json.Marshal would validate and compact it once more.
type encodedBody []byte

// do sends one request and decodes a 2xx JSON reply into out (when non-nil).
// path is relative to APIPrefix and already escaped.
func (c *Client) do(ctx context.Context, op, method, path string, query url.Values, in, out any) error {
	var body io.Reader
	switch in := in.(type) {
	case nil:
	case encodedBody:
		body = bytes.NewReader(in)
	default:
		b, err := json.Marshal(in)
		if err != nil {
			return fmt.Errorf("watcher %s: encode request: %w", op, err)
		}
		body = bytes.NewReader(b)
	}
	target := c.base + APIPrefix + path
	if len(query) > 0 {
		target += "?" + query.Encode()
	}

	rctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(rctx, method, target, body)
	if err != nil {
		return fmt.Errorf("watcher %s: %w", op, err)
	}
	key := c.apiKey()
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", "watcherbridge")
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if key != "" {
		req.Header.Set("x-vsaas-api-key", key)
	}

	resp, err := c.hc.Do(req)
	if err != nil {
		return c.transportError(ctx, op, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxReplyBytes))
	if err != nil {
		return c.transportError(ctx, op, fmt.Errorf("read reply: %w", err))
	}

	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return &APIError{
			Op:         op,
			Method:     method,
			Path:       APIPrefix + path,
			Status:     resp.StatusCode,
			Body:       excerpt(data, key),
			RetryAfter: parseRetryAfter(resp.Header.Get("Retry-After"), time.Now()),
		}
	}
	if out == nil {
		return nil
	}
	if err := json.Unmarshal(data, out); err != nil {
		return &decodeError{op: op, method: method, path: APIPrefix + path, err: err}
	}
	return nil
}

// transportError wraps a failure to get a reply. A caller that cancelled
// gets its own context error back so IsTransient reports it as final.
func (c *Client) transportError(ctx context.Context, op string, err error) error {
	if ctx.Err() != nil {
		return fmt.Errorf("watcher %s: %w", op, ctx.Err())
	}
	// url.Error quotes the URL, which never carries the key; redact anyway in
	// case a transport echoes request headers.
	if key := c.apiKey(); key != "" && strings.Contains(err.Error(), key) {
		return fmt.Errorf("watcher %s: %w", op, &redactedError{msg: strings.ReplaceAll(err.Error(), key, redacted), err: err})
	}
	return fmt.Errorf("watcher %s: %w", op, err)
}

// pathID renders an integer id as a path segment.
func pathID(id int64) string {
	return fmt.Sprint(id)
}
