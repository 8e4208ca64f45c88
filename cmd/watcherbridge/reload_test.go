package main

import (
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/watcherbridge/watcherbridge/handlers"
	"github.com/watcherbridge/watcherbridge/watcherclient"
)

// TestKeyRotationWithoutRestart: with a key Watcher refuses, events wait
// (they are not dead-lettered) and /readyz says why; once the key file holds
// the right key and the bridge is told to reload, the waiting camera
// arrives without a restart.
func TestKeyRotationWithoutRestart(t *testing.T) {
	integration(t)
	fake, url := fakeWatcher(t, false)
	keyFile := filepath.Join(t.TempDir(), "key")
	if err := os.WriteFile(keyFile, []byte("old-rotated-key\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	reload := make(chan os.Signal, 1)
	cfg := testConfig(t, url)
	cfg.Unassigned = handlers.Default
	cfg.WatcherAPIKeyFile = keyFile
	cfg.watcherAPIKey = "old-rotated-key"
	cfg.reload = reload
	b := startBridge(t, cfg, "rotation")

	push(t, b, "application/json", []byte(`[{"agent_serial":"ROT-1","agent_id":"a","agent_key":"k","stream_url":"rtsp://127.0.0.1/r"}]`))
	eventually(t, settle, "readyz reports the refused key", func() error {
		r := doHTTP(t, http.MethodGet, b.url("/readyz"), "", nil)
		if r.Status != http.StatusServiceUnavailable || !strings.Contains(string(r.Body), "--watcher-api-key-file") {
			return errors.New(string(r.Body))
		}
		return nil
	})
	if _, ok := fake.Camera(handlers.CameraName("ROT-1")); ok {
		t.Fatal("camera reached Watcher with a refused key")
	}

	if err := os.WriteFile(keyFile, []byte(testAPIKey+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	reload <- os.Interrupt // any value: serve only waits for one
	eventually(t, settle, "camera after the key was rotated", hasCamera(fake, "ROT-1", func(watcherclient.Camera) error { return nil }))
	eventually(t, settle, "readyz ready again", func() error {
		if r := doHTTP(t, http.MethodGet, b.url("/readyz"), "", nil); r.Status != http.StatusOK {
			return errors.New(string(r.Body))
		}
		return nil
	})
	if n := deadLetterCount(t, jsClient(t, b.NATS)); n != 0 {
		t.Errorf("%d dead letters: a refused key must not dead-letter events", n)
	}
}
