package handlers

import (
	"encoding/json"
	"slices"

	"context"
	"errors"
	"github.com/rs/zerolog"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/watcherbridge/watcherbridge/events"
	"github.com/watcherbridge/watcherbridge/events/activation"
	"github.com/watcherbridge/watcherbridge/store"
	"github.com/watcherbridge/watcherbridge/watcherclient"
	"github.com/watcherbridge/watcherbridge/watcherclient/watchertest"
)

const testKey = "test-key"

type rig struct {
	fake    *watchertest.Server
	applier *Applier
	db      *store.DB
}

func newRig(t *testing.T, cfg ApplierConfig) *rig {
	t.Helper()
	fake := watchertest.New(watchertest.Options{APIKey: testKey})
	srv := httptest.NewServer(fake.Handler())
	t.Cleanup(srv.Close)
	wc, err := watcherclient.New(watcherclient.Config{BaseURL: srv.URL, APIKey: testKey, Timeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	db, err := store.Open(filepath.Join(t.TempDir(), "state.db"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	a := NewApplier(db, wc, cfg)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { a.Run(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done; db.Close() })
	return &rig{fake: fake, applier: a, db: db}
}

var t0 = time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)

func activated(t *testing.T, serial, agentID string, at time.Time) events.Envelope {
	t.Helper()
	row := activation.Row{AgentSerial: serial, AgentID: agentID, AgentKey: "secret-" + serial, AgentModel: "M1", StreamURL: "rtsp://127.0.0.1/" + serial}
	env, err := events.NewEnvelope(events.CameraActivated, row.ID(), serial, at, row)
	if err != nil {
		t.Fatal(err)
	}
	return env
}

func assigned(t *testing.T, serial string, org, preset int64, title string, at time.Time) events.Envelope {
	t.Helper()
	a := events.Assignment{AgentSerial: serial, OrganizationID: events.ID(org), PresetID: events.ID(preset), SubscriberID: "S", Title: title}
	env, err := events.NewEnvelope(events.CameraAssigned, a.ID(at.String()), serial, at, a)
	if err != nil {
		t.Fatal(err)
	}
	return env
}

func (r *rig) apply(t *testing.T, env events.Envelope) Outcome {
	t.Helper()
	out, err := r.applier.Apply(t.Context(), env)
	if err != nil {
		t.Fatalf("apply %s: %v", env.Type, err)
	}
	return out
}

func TestHoldUntilAssignedThenApplyOnce(t *testing.T) {
	r := newRig(t, ApplierConfig{})
	name := CameraName("SN-1")
	if got := r.apply(t, activated(t, "SN-1", "a1", t0)); got != Held {
		t.Fatalf("activation alone: outcome %s, want held", got)
	}
	if _, ok := r.fake.Camera(name); ok {
		t.Fatal("held camera reached Watcher")
	}
	if got := r.apply(t, assigned(t, "SN-1", 1, 1, "Front door", t0.Add(time.Minute))); got != Applied {
		t.Fatalf("assignment: outcome %s, want applied", got)
	}
	cam, ok := r.fake.Camera(name)
	if !ok || cam.Title != "Front door" || cam.AgentKey != "secret-SN-1" || *cam.OrganizationID != 1 {
		t.Fatalf("camera in Watcher = %+v, %v", cam, ok)
	}
	// The same events again: nothing more reaches Watcher.
	if got := r.apply(t, activated(t, "SN-1", "a1", t0)); got != Duplicate {
		t.Errorf("repeated activation: outcome %s, want duplicate", got)
	}
	if st := r.fake.Stats().Cameras[name]; st.Created != 1 || st.Updated != 0 {
		t.Errorf("stats = %+v, want created once, never updated", st)
	}
}

func TestOlderEventIsStale(t *testing.T) {
	r := newRig(t, ApplierConfig{})
	r.apply(t, activated(t, "SN-2", "a1", t0))
	r.apply(t, assigned(t, "SN-2", 1, 1, "new title", t0.Add(2*time.Minute)))
	if got := r.apply(t, assigned(t, "SN-2", 1, 1, "old title", t0.Add(time.Minute))); got != Stale {
		t.Fatalf("older assignment: outcome %s, want stale", got)
	}
	cam, _ := r.fake.Camera(CameraName("SN-2"))
	if cam.Title != "new title" {
		t.Errorf("title = %q, an older event overrode a newer one", cam.Title)
	}
	// A newer activation (camera handed over) replaces the old one but
	// keeps billing's half.
	if got := r.apply(t, activated(t, "SN-2", "a2", t0.Add(3*time.Minute))); got != Applied {
		t.Fatalf("new activation: outcome %s, want applied", got)
	}
	cam, _ = r.fake.Camera(CameraName("SN-2"))
	if cam.AgentID != "a2" || cam.Title != "new title" {
		t.Errorf("after re-activation: agent_id %q title %q", cam.AgentID, cam.Title)
	}
}

func TestUnassignedDefaultSendsWithoutOwner(t *testing.T) {
	r := newRig(t, ApplierConfig{Unassigned: Default})
	if got := r.apply(t, activated(t, "SN-3", "a1", t0)); got != Applied {
		t.Fatalf("outcome %s, want applied", got)
	}
	cam, ok := r.fake.Camera(CameraName("SN-3"))
	if !ok || cam.OrganizationID == nil || *cam.OrganizationID != 1 {
		t.Fatalf("camera = %+v: want it in Watcher's default organization", cam)
	}
}

func TestRowErrorFailsOnlyThatCamera(t *testing.T) {
	r := newRig(t, ApplierConfig{MaxDelay: 200 * time.Millisecond})
	bad := CameraName("SN-BAD")
	r.fake.SetFault(watchertest.Fault{RowError: map[string]string{bad: "stream_url refused"}})
	envs := []events.Envelope{
		activated(t, "SN-BAD", "a", t0), assigned(t, "SN-BAD", 1, 1, "x", t0),
		activated(t, "SN-OK", "b", t0), assigned(t, "SN-OK", 1, 1, "y", t0),
	}
	errs := make([]error, len(envs))
	var wg sync.WaitGroup
	for i, env := range envs {
		wg.Go(func() { _, errs[i] = r.applier.Apply(t.Context(), env) })
	}
	wg.Wait()
	if _, ok := r.fake.Camera(CameraName("SN-OK")); !ok {
		t.Error("good camera of the same group did not reach Watcher")
	}
	var perm *PermanentError
	failed := 0
	for _, err := range errs {
		if err != nil {
			if !errors.As(err, &perm) {
				t.Errorf("error %v is not permanent", err)
			}
			failed++
		}
	}
	if failed == 0 {
		t.Fatal("no event of the rejected camera failed")
	}
	if perm.WatcherStatus != 200 || perm.WatcherBody != "stream_url refused" {
		t.Errorf("permanent error = %+v, want Watcher's row message", perm)
	}
}

func TestTransientFailureKeepsNothing(t *testing.T) {
	r := newRig(t, ApplierConfig{})
	r.fake.SetFault(watchertest.Fault{Status: 503, Count: 1, PathPrefix: "/cameras/import"})
	r.apply(t, activated(t, "SN-4", "a", t0))
	as := assigned(t, "SN-4", 1, 1, "t", t0)
	_, err := r.applier.Apply(t.Context(), as)
	if err == nil || IsPermanent(err) || !watcherclient.IsTransient(err) {
		t.Fatalf("error %v: want a transient one", err)
	}
	// Redelivery of the same event now succeeds: it was not marked seen.
	if got := r.apply(t, as); got != Applied {
		t.Fatalf("retry: outcome %s, want applied", got)
	}
}

func TestConcurrentEventsShareImports(t *testing.T) {
	r := newRig(t, ApplierConfig{Unassigned: Default, MaxDelay: 50 * time.Millisecond})
	const n = 200
	var wg sync.WaitGroup
	for i := range n {
		serial := "G-" + string(rune('A'+i%26)) + string(rune('A'+i/26))
		wg.Go(func() {
			if _, err := r.applier.Apply(t.Context(), activated(t, serial, "a", t0)); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	st := r.fake.Stats()
	if len(r.fake.Cameras()) != n {
		t.Fatalf("%d cameras in Watcher, want %d", len(r.fake.Cameras()), n)
	}
	if calls := st.Endpoints["POST /cameras/import"]; calls >= n/4 {
		t.Errorf("%d import calls for %d concurrent events: group commit is not grouping", calls, n)
	}
}

func TestInvalidEventIsPermanent(t *testing.T) {
	r := newRig(t, ApplierConfig{})
	env, _ := events.NewEnvelope(events.CameraAssigned, "x1", "s", t0, map[string]any{"agent_serial": "SN"})
	_, err := r.applier.Apply(t.Context(), env)
	if !IsPermanent(err) {
		t.Fatalf("assignment without organization: %v, want a permanent error", err)
	}
	env.Type = "camera.exploded"
	if _, err := r.applier.Apply(t.Context(), env); !IsPermanent(err) {
		t.Fatalf("unknown type: %v, want a permanent error", err)
	}
}

func TestCameraName(t *testing.T) {
	tests := []struct{ give, want string }{
		{give: "sn-0001", want: "agent-sn-0001"},
		{give: "a.b_c", want: "agent-a.b_c"},
	}
	for _, tt := range tests {
		if got := CameraName(tt.give); got != tt.want {
			t.Errorf("CameraName(%q) = %q, want %q", tt.give, got, tt.want)
		}
	}
	if CameraName("SN-1") == CameraName("sn-1") {
		t.Error("serials differing in case share a Watcher name")
	}
	if CameraName("a/b") == CameraName("a-b") || CameraName("a/b") == CameraName("a b") {
		t.Error("serials differing in punctuation share a Watcher name")
	}
	if CameraName("SN-1") != CameraName("SN-1") {
		t.Error("name is not deterministic")
	}
}

func TestAbonentSignNeedsNoAssignment(t *testing.T) {
	r := newRig(t, ApplierConfig{Unassigned: Hold})
	row := activation.Row{AgentSerial: "SN-5", AgentID: "a", AgentKey: "k", StreamURL: "rtsp://127.0.0.1/x", AbonentSign: "123456789012345678901234567890"}
	env, err := events.NewEnvelope(events.CameraActivated, row.ID(), "SN-5", t0, row)
	if err != nil {
		t.Fatal(err)
	}
	if got := r.apply(t, env); got != Applied {
		t.Fatalf("outcome %s, want applied: abonent_sign already names the owner", got)
	}
	cam, ok := r.fake.Camera(CameraName("SN-5"))
	if !ok || cam.AbonentSign != row.AbonentSign {
		t.Fatalf("camera = %+v, want abonent_sign forwarded", cam)
	}
}

func TestWatcherReplyQuotingAgentKeyIsMasked(t *testing.T) {
	r := newRig(t, ApplierConfig{Unassigned: Default})
	r.fake.SetFault(watchertest.Fault{RowError: map[string]string{CameraName("SN-K"): "bad row agent_key=secret-SN-K"}})
	_, err := r.applier.Apply(t.Context(), activated(t, "SN-K", "a", t0))
	var perm *PermanentError
	if !errors.As(err, &perm) {
		t.Fatalf("error %v, want permanent", err)
	}
	if strings.Contains(err.Error(), "secret-SN-K") || strings.Contains(perm.WatcherBody, "secret-SN-K") {
		t.Fatalf("agent_key leaked into the error: %q / %q", err, perm.WatcherBody)
	}
}

func TestRefusedKeyIsRetriedAndReported(t *testing.T) {
	r := newRig(t, ApplierConfig{Unassigned: Default})
	r.fake.SetFault(watchertest.Fault{Status: 403, Count: 1, PathPrefix: "/cameras/import"})
	env := activated(t, "SN-403", "a", t0)
	_, err := r.applier.Apply(t.Context(), env)
	if err == nil || IsPermanent(err) || !IsRetryable(err) {
		t.Fatalf("403 from Watcher: %v, want a retryable, non-permanent error", err)
	}
	if !strings.Contains(err.Error(), "--watcher-api-key-file") || r.applier.Health() == nil {
		t.Fatalf("error %q / health %v: want the fix named and the bridge unhealthy", err, r.applier.Health())
	}
	if got := r.apply(t, env); got != Applied {
		t.Fatalf("after the key works again: outcome %s, want applied", got)
	}
	if r.applier.Health() != nil {
		t.Errorf("health still failing after a successful call: %v", r.applier.Health())
	}
}

func TestReactivationClearsOldStreamDetails(t *testing.T) {
	r := newRig(t, ApplierConfig{Unassigned: Default})
	first := activation.Row{AgentSerial: "SN-6", AgentID: "a1", AgentKey: "k1", StreamURL: "rtsp://127.0.0.1/a", SubstreamURL: "rtsp://127.0.0.1/a-sub", OnvifURL: "http://127.0.0.1/onvif"}
	env, _ := events.NewEnvelope(events.CameraActivated, first.ID(), "SN-6", t0, first)
	r.apply(t, env)
	second := activation.Row{AgentSerial: "SN-6", AgentID: "a2", AgentKey: "k2", StreamURL: "rtsp://127.0.0.1/b"}
	env, _ = events.NewEnvelope(events.CameraActivated, second.ID(), "SN-6", t0.Add(time.Minute), second)
	r.apply(t, env)
	cam, _ := r.fake.Camera(CameraName("SN-6"))
	if cam.AgentID != "a2" || cam.StreamURL != "rtsp://127.0.0.1/b" || cam.SubstreamURL != "" || cam.OnvifURL != "" {
		t.Fatalf("after re-activation: %+v: the previous owner's stream details must be gone", cam)
	}
}

func TestAppliedChangeIsLoggedWithFields(t *testing.T) {
	var buf syncBuf
	log := zerolog.New(&buf)
	r := newRig(t, ApplierConfig{Unassigned: Default, Log: &log})
	r.apply(t, activated(t, "SN-LOG", "a1", t0))
	r.apply(t, activated(t, "SN-LOG", "a2", t0.Add(time.Minute)))
	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	if len(lines) != 2 {
		t.Fatalf("%d log lines, want one per applied change:\n%s", len(lines), buf.String())
	}
	var second struct {
		Subject   string   `json:"subject"`
		EventType string   `json:"event_type"`
		Changed   []string `json:"changed"`
	}
	if err := json.Unmarshal([]byte(lines[1]), &second); err != nil {
		t.Fatal(err)
	}
	// The new activation changes agent_id, agent_key (hash only) and the stream url.
	if second.Subject != "SN-LOG" || second.EventType != "camera.activated" || !slices.Contains(second.Changed, "agent_id") || slices.Contains(second.Changed, "title") {
		t.Errorf("second change logged %+v, want agent_id among the changed fields and not title", second)
	}
	if strings.Contains(buf.String(), "secret-SN-LOG") {
		t.Error("agent_key value logged")
	}
}

type syncBuf struct {
	mu sync.Mutex
	b  strings.Builder
}

func (s *syncBuf) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuf) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
