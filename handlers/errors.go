package handlers

import (
	"errors"
	"fmt"

	"github.com/watcherbridge/watcherbridge/watcherclient"
)

// PermanentError is a failure that retrying cannot fix: the message goes to
// the dead letters with this reason and what Watcher answered.
type PermanentError struct {
	Reason        string
	WatcherStatus int    // 0 when Watcher was not involved
	WatcherBody   string // excerpt of Watcher's reply
	Err           error
}

func (e *PermanentError) Error() string {
	if e.Err != nil {
		return e.Reason + ": " + e.Err.Error()
	}
	return e.Reason
}

func (e *PermanentError) Unwrap() error { return e.Err }

// Permanent reports true; it lets callers test with an interface.
func (e *PermanentError) Permanent() bool { return true }

// IsPermanent tells whether err can never succeed on retry.
func IsPermanent(err error) bool {
	var p interface{ Permanent() bool }
	return errors.As(err, &p) && p.Permanent()
}

// classifyWatcher turns a Watcher call's error into a permanent error when
// retrying cannot help, and leaves transient ones as they are.
func classifyWatcher(op string, err error) error {
	if err == nil || watcherclient.IsTransient(err) || errors.Is(err, ErrWatcherUnavailable) {
		return err
	}
	var api *watcherclient.APIError
	if errors.As(err, &api) && (api.Status == 401 || api.Status == 403 || api.Status == 404) {
		// A refused key or a route that does not exist is the bridge's
		// configuration, not the event: dead-lettering every event until
		// someone notices would turn a key rotation into a manual replay.
		return &ConfigError{Err: err, Status: api.Status}
	}
	if errors.As(err, &api) {
		return &PermanentError{
			Reason:        fmt.Sprintf("watcher refused %s with HTTP %d", op, api.Status),
			WatcherStatus: api.Status,
			WatcherBody:   api.Body,
			Err:           err,
		}
	}
	// Anything else (a reply we could not decode, a canceled context) is
	// left unclassified: the worker retries it a bounded number of times.
	return err
}

// ConfigError is a Watcher failure caused by the bridge's own settings (a
// wrong API key or URL). It is retried without limit and makes /readyz
// fail until Watcher accepts a call again.
type ConfigError struct {
	Status int
	Err    error
}

func (e *ConfigError) Error() string {
	fix := "check --watcher-api-key-file"
	if e.Status == 404 {
		fix = "check --watcher-url: give the base URL, without /vsaas/api/v2"
	}
	return fmt.Sprintf("watcher refuses the bridge's configuration (%v): %s", e.Err, fix)
}

func (e *ConfigError) Unwrap() error { return e.Err }

// IsRetryable tells whether err should be retried without limit: Watcher
// is away or busy, or refuses our configuration until an operator fixes it.
func IsRetryable(err error) bool {
	var c *ConfigError
	return watcherclient.IsTransient(err) || errors.As(err, &c) || errors.Is(err, ErrWatcherUnavailable)
}
