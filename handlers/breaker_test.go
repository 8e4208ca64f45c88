package handlers

import (
	"errors"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/watcherbridge/watcherbridge/watcherclient"
	"github.com/watcherbridge/watcherbridge/watcherclient/watchertest"
)

func TestBreakerStopsCallingDeadWatcherAndRecovers(t *testing.T) {
	fake := watchertest.New(watchertest.Options{APIKey: testKey})
	srv := httptest.NewServer(fake.Handler())
	t.Cleanup(srv.Close)
	wc, _ := watcherclient.New(watcherclient.Config{BaseURL: srv.URL, APIKey: testKey})
	var transitions []string
	b := NewBreaker(wc, BreakerConfig{Failures: 3, OpenFor: 20 * time.Millisecond, Grace: time.Nanosecond,
		OnStateChange: func(from, to string) { transitions = append(transitions, to) }})
	fake.SetFault(watchertest.Fault{Status: 503, PathPrefix: "/cameras/import"})
	rows := []watcherclient.Camera{{Name: "b1", StreamURL: "rtsp://127.0.0.1/x"}}
	for range 3 {
		if _, err := b.ImportCameras(t.Context(), rows); !watcherclient.IsTransient(err) {
			t.Fatalf("503: %v, want transient", err)
		}
	}
	calls := fake.Stats().Requests
	_, err := b.ImportCameras(t.Context(), rows)
	if !errors.Is(err, ErrWatcherUnavailable) || !IsRetryable(err) {
		t.Fatalf("open circuit: %v, want ErrWatcherUnavailable (retryable)", err)
	}
	if got := fake.Stats().Requests; got != calls {
		t.Fatalf("open circuit still called Watcher (%d -> %d requests)", calls, got)
	}
	if b.State() != "open" || b.Health() == nil {
		t.Fatalf("state %s, health %v: want open and unhealthy past the grace period", b.State(), b.Health())
	}
	// Watcher comes back: a half-open probe succeeds and the circuit closes.
	fake.ClearFault()
	deadline := time.Now().Add(10 * time.Second)
	for {
		_, err = b.ImportCameras(t.Context(), rows)
		if err == nil || time.Now().After(deadline) {
			break
		}
		if !errors.Is(err, ErrWatcherUnavailable) {
			t.Fatalf("probe: %v", err)
		}
		select {
		case <-t.Context().Done():
			return
		case <-time.After(5 * time.Millisecond): // poll interval, not a wait for work
		}
	}
	if err != nil || b.State() != "closed" || b.Health() != nil {
		t.Fatalf("after recovery: err %v, state %s, health %v", err, b.State(), b.Health())
	}
	if len(transitions) < 3 || transitions[0] != "open" || transitions[len(transitions)-1] != "closed" {
		t.Errorf("transitions %v, want open ... closed", transitions)
	}
}

func TestBreakerIgnoresRefusals(t *testing.T) {
	fake := watchertest.New(watchertest.Options{APIKey: testKey})
	srv := httptest.NewServer(fake.Handler())
	t.Cleanup(srv.Close)
	wc, _ := watcherclient.New(watcherclient.Config{BaseURL: srv.URL, APIKey: testKey})
	b := NewBreaker(wc, BreakerConfig{Failures: 2})
	fake.SetFault(watchertest.Fault{Status: 400, PathPrefix: "/cameras/import"})
	for range 5 {
		b.ImportCameras(t.Context(), []watcherclient.Camera{{Name: "b2"}})
	}
	if b.State() != "closed" {
		t.Fatalf("state %s after 400s: a Watcher that answers is not down", b.State())
	}
}
