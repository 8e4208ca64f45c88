package handlers

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"

	"github.com/watcherbridge/watcherbridge/store"
)

func TestMaskJSON(t *testing.T) {
	t.Parallel()
	tests := []struct {
		give        string
		want        string
		wantSecrets int
	}{
		{give: `{"agent_key":"ak-1","x":1}`, want: `{"agent_key":"***","x":1}`, wantSecrets: 1},
		{give: `{"data":{"password":"pw","login":"l"},"list":[{"Agent_Key":"k2"}]}`, want: `{"data":{"login":"l","password":"***"},"list":[{"Agent_Key":"***"}]}`, wantSecrets: 2},
		{give: `{"agent_key":""}`, want: `{"agent_key":""}`},
		{give: `{"n":12345678901234567890}`, want: `{"n":12345678901234567890}`},
		{give: `not json agent_key=1`, want: `not json agent_key=1`},
	}
	for _, tt := range tests {
		got, secrets := MaskJSON([]byte(tt.give))
		if string(got) != tt.want || len(secrets) != tt.wantSecrets {
			t.Errorf("MaskJSON(%s) = %s, %d secrets; want %s, %d", tt.give, got, len(secrets), tt.want, tt.wantSecrets)
		}
	}
	if got := MaskText(`watcher said "ak-secret-9" is bad`, []string{"ak-secret-9"}); got != `watcher said "***" is bad` {
		t.Errorf("MaskText = %q", got)
	}
}

// slowStreams stands for a broker that does not answer: each call waits
// for its context.
type slowStreams struct{}

func (slowStreams) Consumers(ctx context.Context) ([]ConsumerLag, error) {
	<-ctx.Done()
	return nil, ctx.Err()
}

func (slowStreams) DeadLetters(ctx context.Context) (uint64, error) {
	<-ctx.Done()
	return 0, ctx.Err()
}

// TestStatusBlamesNATSNotWatcher: with NATS down, status says so and still
// finds Watcher reachable, instead of spending the Watcher probe's time on
// the broker.
func TestStatusBlamesNATSNotWatcher(t *testing.T) {
	db, err := store.Open(filepath.Join(t.TempDir(), "s.db"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	api := NewAdminAPI(AdminAPIConfig{
		DB:      db,
		Streams: slowStreams{},
		NATS:    func() error { return errors.New("not connected to NATS (RECONNECTING)") },
		Probe:   func(ctx context.Context) error { return ctx.Err() },
	})
	mux := http.NewServeMux()
	api.Register(mux)
	rec := httptest.NewRecorder()
	mux.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/admin/status", nil))
	var st Status
	if err := json.Unmarshal(rec.Body.Bytes(), &st); err != nil {
		t.Fatalf("status reply %s: %v", rec.Body.String(), err)
	}
	if !strings.Contains(st.NATS, "RECONNECTING") || !st.Watcher.Reachable {
		t.Fatalf("status = %+v: want NATS reported down and Watcher reachable", st)
	}
}
