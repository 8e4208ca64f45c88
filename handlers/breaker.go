package handlers

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/sony/gobreaker/v2"

	"github.com/watcherbridge/watcherbridge/watcherclient"
)

// ErrWatcherUnavailable is returned without calling Watcher while the
// circuit is open: Watcher failed repeatedly and is left alone until a
// probe shows it answers again.
var ErrWatcherUnavailable = errors.New("watcher unavailable: circuit open, waiting for a probe to succeed")

// BreakerConfig tunes the circuit breaker in front of Watcher.
type BreakerConfig struct {
	// Failures in a row that open the circuit.
	Failures uint32
	// OpenFor is how long the circuit stays open before a half-open probe.
	OpenFor time.Duration
	// Grace is how long the circuit may stay open before Health reports
	// the bridge unready.
	Grace time.Duration
	// OnStateChange, if set, is told every transition (for logs and metrics).
	OnStateChange func(from, to string)
}

// Breaker guards Watcher imports with a circuit breaker. Only failures
// that say Watcher is away or overloaded count; a refused row or a 400
// means Watcher is up and answering.
type Breaker struct {
	inner Importer
	cb    *gobreaker.CircuitBreaker[watcherclient.ImportResult]
	grace time.Duration

	mu       sync.Mutex
	openedAt time.Time // zero while closed
}

// NewBreaker wraps inner.
func NewBreaker(inner Importer, cfg BreakerConfig) *Breaker {
	if cfg.Failures == 0 {
		cfg.Failures = 5
	}
	if cfg.OpenFor <= 0 {
		cfg.OpenFor = 15 * time.Second
	}
	if cfg.Grace <= 0 {
		cfg.Grace = time.Minute
	}
	b := &Breaker{inner: inner, grace: cfg.Grace}
	b.cb = gobreaker.NewCircuitBreaker[watcherclient.ImportResult](gobreaker.Settings{
		Name:        "watcher",
		MaxRequests: 1,
		Timeout:     cfg.OpenFor,
		ReadyToTrip: func(c gobreaker.Counts) bool { return c.ConsecutiveFailures >= cfg.Failures },
		IsSuccessful: func(err error) bool {
			return err == nil || !watcherclient.IsTransient(err)
		},
		// A shutdown cancelling a call says nothing about Watcher.
		IsExcluded: func(err error) bool { return errors.Is(err, context.Canceled) },
		OnStateChange: func(_ string, from, to gobreaker.State) {
			b.mu.Lock()
			switch to {
			case gobreaker.StateOpen:
				if b.openedAt.IsZero() {
					b.openedAt = time.Now()
				}
			case gobreaker.StateClosed:
				b.openedAt = time.Time{}
			}
			b.mu.Unlock()
			if cfg.OnStateChange != nil {
				cfg.OnStateChange(from.String(), to.String())
			}
		},
	})
	return b
}

// ImportCameras implements Importer through the breaker.
func (b *Breaker) ImportCameras(ctx context.Context, rows []watcherclient.Camera) (watcherclient.ImportResult, error) {
	res, err := b.cb.Execute(func() (watcherclient.ImportResult, error) {
		return b.inner.ImportCameras(ctx, rows)
	})
	if errors.Is(err, gobreaker.ErrOpenState) || errors.Is(err, gobreaker.ErrTooManyRequests) {
		return res, ErrWatcherUnavailable
	}
	return res, err
}

// State is closed, half-open or open.
func (b *Breaker) State() string { return b.cb.State().String() }

// Health fails once the circuit has been open (or probing) longer than the
// grace period.
func (b *Breaker) Health() error {
	b.mu.Lock()
	since := b.openedAt
	b.mu.Unlock()
	if !since.IsZero() && time.Since(since) > b.grace {
		return fmt.Errorf("watcher unreachable since %s (circuit %s)", since.UTC().Format(time.RFC3339), b.State())
	}
	return nil
}
