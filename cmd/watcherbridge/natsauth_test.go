package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/watcherbridge/watcherbridge/events"
)

func TestWithToken(t *testing.T) {
	tests := []struct{ give, token, want string }{
		{give: "nats://127.0.0.1:4222", token: "t0k", want: "nats://t0k@127.0.0.1:4222"},
		{give: "nats://a:4222, nats://b:4222", token: "t", want: "nats://t@a:4222,nats://t@b:4222"},
		{give: "nats://user:pw@a:4222", token: "t", want: "nats://user:pw@a:4222"},
		{give: "nats://a:4222", token: "", want: "nats://a:4222"},
	}
	for _, tt := range tests {
		if got := withToken(tt.give, tt.token); got != tt.want {
			t.Errorf("withToken(%q, %q) = %q, want %q", tt.give, tt.token, got, tt.want)
		}
	}
}

// TestEmbeddedNATSRequiresToken: with --nats-token-file nobody without the
// token can publish billing events past the ingest authentication.
func TestEmbeddedNATSRequiresToken(t *testing.T) {
	integration(t)
	_, url := fakeWatcher(t, false)
	tokenFile := filepath.Join(t.TempDir(), "nats-token")
	os.WriteFile(tokenFile, []byte("nats-secret-token\n"), 0o600)
	cfg := testConfig(t, url)
	cfg.NATSTokenFile = tokenFile
	b := startBridge(t, cfg, "natsauth")
	a := events.Assignment{AgentSerial: "NA-1", OrganizationID: 1, PresetID: 1}
	env, err := events.NewEnvelope(events.CameraAssigned, "", "NA-1", time.Now(), a)
	if err != nil {
		t.Fatal(err)
	}
	anonymous := strings.Replace(b.NATS, "nats-secret-token@", "", 1)
	if anonymous == b.NATS {
		t.Fatalf("bridge URL %q does not carry the token", redactURL(b.NATS))
	}
	if err := publishOne(t.Context(), anonymous, env); err == nil {
		t.Fatal("published to the embedded NATS without its token")
	}
	if err := publishOne(t.Context(), b.NATS, env); err != nil {
		t.Fatalf("publish with the token: %v", err)
	}
}
