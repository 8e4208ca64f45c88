package main

import (
	"bytes"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/watcherbridge/watcherbridge/handlers"
	"github.com/watcherbridge/watcherbridge/watcherclient"
)

// TestHostileInput sends the pushes an attacker or a broken sender would:
// each gets a clear answer naming the problem, the process survives, and
// the valid rows of a push are still accepted and reach Watcher.
func TestHostileInput(t *testing.T) {
	integration(t)
	fake, url := fakeWatcher(t, false)
	cfg := testConfig(t, url)
	cfg.Unassigned = handlers.Default
	b := startBridge(t, cfg, "hostile")

	var million bytes.Buffer
	million.WriteString("agent_serial\n")
	for i := range 1_000_000 {
		fmt.Fprintf(&million, "M%d\n", i)
	}
	tests := []struct {
		name        string
		contentType string
		body        []byte
		wantStatus  int
		wantText    string // in the reason or error
		wantGood    string // serial of a valid row that must reach Watcher
	}{
		{name: "invalid UTF-8", contentType: "text/csv", body: []byte("agent_serial,agent_model\nBAD-UTF,\xff\xfe\nGOOD-UTF,m\n"),
			wantStatus: http.StatusOK, wantText: "UTF-8", wantGood: "GOOD-UTF"},
		{name: "megabyte field", contentType: "text/csv", body: []byte("agent_serial,agent_model\nBIG," + strings.Repeat("x", 1<<20) + "\nGOOD-BIG,m\n"),
			wantStatus: http.StatusOK, wantText: "agent_model", wantGood: "GOOD-BIG"},
		{name: "unbalanced quotes", contentType: "text/csv", body: []byte("agent_serial,agent_model\nGOOD-Q,m\nQ,\"open\n"),
			wantStatus: http.StatusOK, wantText: "quote", wantGood: "GOOD-Q"},
		{name: "deep JSON", contentType: "application/json", body: []byte(strings.Repeat("[", 1000) + strings.Repeat("]", 1000)),
			wantStatus: http.StatusBadRequest, wantText: "deep"},
		{name: "a million rows", contentType: "text/csv", body: million.Bytes(),
			wantStatus: http.StatusBadRequest, wantText: "split"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := doHTTP(t, http.MethodPost, b.url("/activations"), tt.contentType, tt.body)
			if r.Status != tt.wantStatus || !strings.Contains(strings.ToLower(string(r.Body)), strings.ToLower(tt.wantText)) {
				t.Fatalf("HTTP %d %s, want %d mentioning %q", r.Status, truncate(r.Body), tt.wantStatus, tt.wantText)
			}
			if tt.wantGood != "" {
				eventually(t, settle, "valid row of the push in Watcher", hasCamera(fake, tt.wantGood, func(watcherclient.Camera) error { return nil }))
			}
		})
	}
	if r := doHTTP(t, http.MethodGet, b.url("/healthz"), "", nil); r.Status != http.StatusOK {
		t.Fatalf("bridge unhealthy after hostile input: %d", r.Status)
	}
}

func truncate(b []byte) string {
	if len(b) > 300 {
		return string(b[:300]) + "…"
	}
	return string(b)
}
