package main

import (
	"bufio"
	"bytes"
	"context"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestParseConfig(t *testing.T) {
	t.Parallel()
	keyFile := filepath.Join(t.TempDir(), "key")
	if err := os.WriteFile(keyFile, []byte("from-file\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name       string
		args       []string
		env        map[string]string
		wantErr    string
		wantKey    string
		wantListen string
	}{
		{name: "no key", wantErr: "--api-key"},
		{name: "flag key", args: []string{"--api-key", "k"}, wantKey: "k", wantListen: "127.0.0.1:8081"},
		{name: "env", env: map[string]string{"FAKEWATCHER_API_KEY": "e", "FAKEWATCHER_LISTEN": ":9"}, wantKey: "e", wantListen: ":9"},
		{name: "key file wins", args: []string{"--api-key", "k", "--api-key-file", keyFile}, wantKey: "from-file", wantListen: "127.0.0.1:8081"},
		{name: "missing key file", args: []string{"--api-key-file", keyFile + ".nope"}, wantErr: "--api-key-file"},
		{name: "bad fault", args: []string{"--api-key", "k", "--fault-rate", "2"}, wantErr: "rate"},
		{name: "stray argument", args: []string{"--api-key", "k", "extra"}, wantErr: "unexpected"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			cfg, err := parseConfig(tt.args, func(k string) string { return tt.env[k] }, io.Discard)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("error = %v, want containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if cfg.apiKey != tt.wantKey || cfg.listen != tt.wantListen {
				t.Errorf("config = %+v, want key %q listen %q", cfg, tt.wantKey, tt.wantListen)
			}
		})
	}
}

// syncBuffer is a bytes.Buffer safe to read while run writes to it.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func TestRunServesAndShutsDown(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	stdoutR, stdoutW := io.Pipe()
	stderr := &syncBuffer{}
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, []string{"--listen", "127.0.0.1:0", "--api-key", "topsecret"}, func(string) string { return "" }, stdoutW, stderr)
		stdoutW.Close()
	}()

	line, err := bufio.NewReader(stdoutR).ReadString('\n')
	if err != nil {
		t.Fatalf("reading the ready line: %v (stderr: %s)", err, stderr)
	}
	addr, ok := strings.CutPrefix(strings.TrimSpace(line), "fakewatcher listening on ")
	if !ok {
		t.Fatalf("ready line = %q", line)
	}
	go io.Copy(io.Discard, stdoutR)

	req, _ := http.NewRequestWithContext(t.Context(), "GET", "http://"+addr+"/vsaas/api/v2/cameras", nil)
	req.Header.Set("x-vsaas-api-key", "topsecret")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || strings.TrimSpace(string(body)) != "[]" {
		t.Errorf("GET /cameras = %d %s", resp.StatusCode, body)
	}

	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("run: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("run did not return after cancel")
	}
	logs := stderr.String()
	if !strings.Contains(logs, "GET /vsaas/api/v2/cameras 200") {
		t.Errorf("request not logged: %s", logs)
	}
	if strings.Contains(logs, "topsecret") {
		t.Errorf("log leaks the API key: %s", logs)
	}
}
