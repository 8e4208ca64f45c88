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
	if err == nil || watcherclient.IsTransient(err) {
		return err
	}
	var api *watcherclient.APIError
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
