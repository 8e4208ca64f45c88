package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestDemo keeps the README's first command true: the demo on the sample
// files ends with every camera as expected.
func TestDemo(t *testing.T) {
	var out, errOut bytes.Buffer
	getenv := func(string) string { return "" }
	err := run(t.Context(), []string{"demo", "--examples", "../../deploy/examples", "--data-dir", t.TempDir()}, getenv, &out, &errOut)
	if err != nil {
		t.Fatalf("demo failed: %v\nstdout:\n%s\nstderr:\n%s", err, out.String(), errOut.String())
	}
	for _, want := range []string{"accepted 4, duplicate 0, rejected 0", "accepted 0, duplicate 4", "(held: not sold yet)", "OK: 4 cameras"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("demo output lacks %q:\n%s", want, out.String())
		}
	}
}

func TestServeConfigErrorsNameTheFix(t *testing.T) {
	tests := []struct {
		give []string
		want string
	}{
		{give: []string{}, want: "--watcher-url is required"},
		{give: []string{"--watcher-url", "http://127.0.0.1:1"}, want: "--watcher-api-key-file"},
		{give: []string{"--watcher-url", "http://127.0.0.1:1", "--watcher-api-key", "k", "--insecure-no-auth", "--unassigned", "maybe"}, want: "want hold or default"},
		{give: []string{"--watcher-url", "http://127.0.0.1:1", "--watcher-api-key-file", "/nonexistent/key"}, want: "--watcher-api-key-file"},
		{give: []string{"--watcher-url", "http://127.0.0.1:1", "--watcher-api-key", "k"}, want: "--ingest-token-file"},
		{give: []string{"--watcher-url", "http://127.0.0.1:1", "--watcher-api-key", "k", "--insecure-no-auth", "--tls-cert", "c.pem"}, want: "--tls-key"},
	}
	for _, tt := range tests {
		_, err := loadServeConfig(tt.give, func(string) string { return "" }, &bytes.Buffer{})
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("loadServeConfig(%q) = %v, want an error containing %q", tt.give, err, tt.want)
		}
	}
}

func TestEnvironmentSetsFlags(t *testing.T) {
	env := map[string]string{
		"WATCHERBRIDGE_WATCHER_URL":      "http://127.0.0.1:1",
		"WATCHERBRIDGE_WATCHER_API_KEY":  "from-env",
		"WATCHERBRIDGE_UNASSIGNED":       "default",
		"WATCHERBRIDGE_INSECURE_NO_AUTH": "true",
	}
	cfg, err := loadServeConfig([]string{"--unassigned", "hold"}, func(k string) string { return env[k] }, &bytes.Buffer{})
	if err != nil {
		t.Fatal(err)
	}
	if cfg.WatcherURL != "http://127.0.0.1:1" || cfg.watcherAPIKey != "from-env" {
		t.Errorf("environment not applied: %+v", cfg)
	}
	if cfg.Unassigned != "hold" {
		t.Errorf("unassigned = %q: the command line must win over the environment", cfg.Unassigned)
	}
}

func TestHelpDoesNotShowKeyFromEnvironment(t *testing.T) {
	var errOut bytes.Buffer
	env := map[string]string{"WATCHERBRIDGE_WATCHER_API_KEY": "super-secret-key"}
	_ = run(t.Context(), []string{"serve", "-h"}, func(k string) string { return env[k] }, &bytes.Buffer{}, &errOut)
	if strings.Contains(errOut.String(), "super-secret-key") {
		t.Fatalf("serve -h printed the API key:\n%s", errOut.String())
	}
	if !strings.Contains(errOut.String(), "WATCHERBRIDGE_WATCHER_API_KEY_FILE") {
		t.Errorf("serve -h does not list the environment variables:\n%s", errOut.String())
	}
}

func TestDamagedKeyFileIsRefused(t *testing.T) {
	path := filepath.Join(t.TempDir(), "key")
	os.WriteFile(path, []byte("WKEY-rotated\x00Echo\r\nX-Injected: 1"), 0o600)
	if _, err := readSecretFile(path); err == nil || !strings.Contains(err.Error(), "cannot be part of a key") {
		t.Fatalf("damaged key file: %v, want a refusal naming the problem", err)
	}
	os.WriteFile(path, []byte("good-key-123\n"), 0o600)
	if k, err := readSecretFile(path); err != nil || k != "good-key-123" {
		t.Fatalf("good key file: %q, %v", k, err)
	}
}
