package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/rs/zerolog"

	"github.com/watcherbridge/watcherbridge/events"
	"github.com/watcherbridge/watcherbridge/handlers"
	"github.com/watcherbridge/watcherbridge/watcherclient"
	"github.com/watcherbridge/watcherbridge/watcherclient/watchertest"
)

const (
	testAPIKey = "test-api-key"
	// examplesDir is deploy/examples seen from this package's directory,
	// where `go test` runs.
	examplesDir = "../../deploy/examples"
	// settle bounds every wait for the bridge to converge; generous because
	// the suite runs with -race on small machines.
	settle = 60 * time.Second
)

// integration skips t under -short: these tests start JetStream and HTTP
// servers.
func integration(t *testing.T) {
	t.Helper()
	if testing.Short() {
		t.Skip("integration test: skipped with -short")
	}
}

// fakeWatcher starts an in-process Watcher on loopback. With prepare, it gets
// the organizations (2, 3) and presets (2, 3) the sample inventory names,
// exactly as the demo prepares it.
func fakeWatcher(t *testing.T, prepare bool) (*watchertest.Server, string) {
	t.Helper()
	fake := watchertest.New(watchertest.Options{APIKey: testAPIKey})
	srv := httptest.NewServer(fake.Handler())
	t.Cleanup(srv.Close)
	if prepare {
		if err := prepareWatcher(t.Context(), srv.URL, testAPIKey); err != nil {
			t.Fatalf("prepare fake Watcher: %v", err)
		}
	}
	return fake, srv.URL
}

// testConfig is a bridge on embedded JetStream in a fresh data dir, quick to
// redeliver what a shutdown abandons.
func testConfig(t *testing.T, watcherURL string) serveConfig {
	t.Helper()
	return serveConfig{
		DataDir:            t.TempDir(),
		Listen:             "127.0.0.1:0",
		EmbeddedNATSListen: "127.0.0.1:0",
		WatcherURL:         watcherURL,
		watcherAPIKey:      testAPIKey,
		Unassigned:         handlers.Hold,
		MaxBodyBytes:       32 << 20,
		LogFormat:          "json",
		LogLevel:           "debug",
		ShutdownTimeout:    5 * time.Second,
		Concurrency:        8,
		MaxAckPending:      64,
		AckWait:            2 * time.Second,
		BatchSize:          64,
		BatchDelay:         5 * time.Millisecond,
		MaxDeliveries:      5,
		DeadLetterMaxAge:   time.Hour,
		Replicas:           1,
		WatcherTimeout:     5 * time.Second,
		// Tests of the edge itself set credentials; the others push
		// without, as --insecure-no-auth allows.
		InsecureNoAuth: true,
	}
}

// logSink keeps a bridge's log in memory and prints it only when the test
// failed. Unlike a testing writer it stays safe for goroutines that log
// after the test has returned.
type logSink struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (s *logSink) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.buf.Write(p)
}

func (s *logSink) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.buf.String()
}

// secretsInTests are secret values (or their common prefixes) that the
// scenario tests hand to the bridge: the Watcher API key, the sample
// agent_keys, ingest tokens. None may ever appear in a bridge's log.
var secretsInTests = []string{testAPIKey, "ak-demo-", "ak-crash-secret-", "old-rotated-key", "token-one", "token-two", "wrong-token-value"}

// testLogger keeps a bridge's log in memory, prints it when the test failed,
// and fails the test if any secret of secretsInTests was logged.
func testLogger(t *testing.T, name string) zerolog.Logger {
	t.Helper()
	sink := &logSink{}
	t.Cleanup(func() {
		logged := sink.String()
		for _, secret := range secretsInTests {
			if strings.Contains(logged, secret) {
				t.Errorf("bridge %s logged the secret %q", name, secret)
			}
		}
		if t.Failed() {
			t.Logf("log of bridge %s:\n%s", name, logged)
		}
	})
	return zerolog.New(sink).Level(zerolog.DebugLevel).With().Timestamp().Str("bridge", name).Logger()
}

// bridge is one running serve.
type bridge struct {
	addrs
	cancel context.CancelFunc
	done   chan error
	once   sync.Once
	err    error
}

// startBridge runs serve in a goroutine and returns once it is ready. The
// bridge is stopped at cleanup if the test did not stop it.
func startBridge(t *testing.T, cfg serveConfig, name string) *bridge {
	t.Helper()
	log := testLogger(t, name)
	ctx, cancel := context.WithCancel(t.Context())
	b := &bridge{cancel: cancel, done: make(chan error, 1)}
	ready := make(chan addrs, 1)
	go func() { b.done <- serve(ctx, cfg, log, func(a addrs) { ready <- a }) }()
	select {
	case b.addrs = <-ready:
	case err := <-b.done:
		cancel()
		t.Fatalf("bridge %s did not start: %v", name, err)
	case <-time.After(settle):
		cancel()
		t.Fatalf("bridge %s did not start within %s", name, settle)
	}
	t.Cleanup(func() {
		if err := b.wait(); err != nil {
			t.Errorf("bridge %s: serve returned %v at shutdown, want nil", name, err)
		}
	})
	return b
}

// wait cancels the bridge and returns what serve returned.
func (b *bridge) wait() error {
	b.once.Do(func() {
		b.cancel()
		select {
		case b.err = <-b.done:
		case <-time.After(settle):
			b.err = fmt.Errorf("serve did not return within %s of cancel", settle)
		}
	})
	return b.err
}

// stop cancels the bridge and asserts that serve returns nil.
func (b *bridge) stop(t *testing.T) {
	t.Helper()
	if err := b.wait(); err != nil {
		t.Fatalf("serve returned %v at shutdown, want nil", err)
	}
}

func (b *bridge) url(path string) string { return "http://" + b.HTTP + path }

// httpReply is what an HTTP call answered.
type httpReply struct {
	Status int
	Header http.Header
	Body   []byte
}

func doHTTP(t *testing.T, method, url, contentType string, body []byte) httpReply {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), method, url, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("%s %s: read reply: %v", method, url, err)
	}
	return httpReply{Status: resp.StatusCode, Header: resp.Header, Body: raw}
}

// push POSTs body to /activations and requires a 200.
func push(t *testing.T, b *bridge, contentType string, body []byte) handlers.IngestReply {
	t.Helper()
	r := doHTTP(t, http.MethodPost, b.url("/activations"), contentType, body)
	if r.Status != http.StatusOK {
		t.Fatalf("POST /activations: HTTP %d: %s", r.Status, r.Body)
	}
	var reply handlers.IngestReply
	if err := json.Unmarshal(r.Body, &reply); err != nil {
		t.Fatalf("POST /activations reply %s: %v", r.Body, err)
	}
	return reply
}

func readFile(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func writeFile(t *testing.T, name, content string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// eventually polls cond until it returns nil, failing the test with cond's
// last error after d.
func eventually(t *testing.T, d time.Duration, what string, cond func() error) {
	t.Helper()
	if err := waitFor(t.Context(), d, cond); err != nil {
		t.Fatalf("%s: not reached within %s: %v", what, d, err)
	}
}

// assign publishes a camera.assigned event as billing would, stamped at.
func assign(t *testing.T, natsURL string, a events.Assignment, at time.Time) {
	t.Helper()
	env, err := events.NewEnvelope(events.CameraAssigned, "", a.AgentSerial, at, a)
	if err != nil {
		t.Fatal(err)
	}
	env.Source = "urn:billing:test"
	if err := publishOne(t.Context(), natsURL, env); err != nil {
		t.Fatalf("publish camera.assigned %s: %v", a.AgentSerial, err)
	}
}

// sampleAssignments is the sample inventory as billing's events.
func sampleAssignments(t *testing.T) []events.Assignment {
	t.Helper()
	rows, bad, err := events.ParseInventory(bytes.NewReader(readFile(t, filepath.Join(examplesDir, "inventory.csv"))))
	if err != nil || len(bad) > 0 {
		t.Fatalf("sample inventory: %v %v", err, bad)
	}
	out := make([]events.Assignment, 0, len(rows))
	for _, r := range rows {
		out = append(out, r.Assignment)
	}
	return out
}

// sampleWant is what Watcher must hold after the sample push: the owner
// fields of each sold, activated serial, and the activated serials held.
func sampleWant(t *testing.T) (map[string]watcherclient.Camera, []string) {
	t.Helper()
	want, held, err := demoExpectations(examplesDir)
	if err != nil {
		t.Fatal(err)
	}
	return want, held
}

// jsClient is a JetStream client of the test itself.
func jsClient(t *testing.T, natsURL string) jetstream.JetStream {
	t.Helper()
	nc, err := nats.Connect(natsURL, nats.Name("watcherbridge-test"))
	if err != nil {
		t.Fatalf("connect %s: %v", natsURL, err)
	}
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	return js
}

// consumersIdle reports nil once every worker consumer has delivered every
// message of its topic and got each one acknowledged: the bridge has
// finished with everything published so far.
func consumersIdle(ctx context.Context, js jetstream.JetStream) error {
	s, err := js.Stream(ctx, events.Stream)
	if err != nil {
		return err
	}
	for _, topic := range events.Topics() {
		c, err := s.Consumer(ctx, events.ConsumerName(topic))
		if err != nil {
			return err
		}
		info, err := c.Info(ctx)
		if err != nil {
			return err
		}
		if info.NumPending != 0 || info.NumAckPending != 0 {
			return fmt.Errorf("consumer %s: %d pending, %d awaiting ack", topic, info.NumPending, info.NumAckPending)
		}
	}
	return nil
}

func waitIdle(t *testing.T, js jetstream.JetStream) {
	t.Helper()
	eventually(t, settle, "worker consumers idle", func() error { return consumersIdle(t.Context(), js) })
}

// lastDeadLetter reads the newest message on subject from DEADLETTER.
func lastDeadLetter(ctx context.Context, js jetstream.JetStream, subject string) (*jetstream.RawStreamMsg, error) {
	s, err := js.Stream(ctx, events.DeadLetterStream)
	if err != nil {
		return nil, err
	}
	return s.GetLastMsgForSubject(ctx, subject)
}

// deadLetterCount is how many messages DEADLETTER holds.
func deadLetterCount(t *testing.T, js jetstream.JetStream) uint64 {
	t.Helper()
	s, err := js.Stream(t.Context(), events.DeadLetterStream)
	if err != nil {
		t.Fatal(err)
	}
	info, err := s.Info(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	return info.State.Msgs
}

// camerasCreatedOnce fails unless every named camera was created exactly
// once.
func camerasCreatedOnce(t *testing.T, fake *watchertest.Server, names []string) {
	t.Helper()
	stats := fake.Stats()
	for _, n := range names {
		if got := stats.Cameras[n].Created; got != 1 {
			t.Errorf("camera %s: Created = %d, want 1", n, got)
		}
	}
}

func cameraNames(serials []string) []string {
	out := make([]string, len(serials))
	for i, s := range serials {
		out[i] = handlers.CameraName(s)
	}
	return out
}

func keys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	return out
}

// hasCamera is a wait condition: the camera of serial exists and passes check.
func hasCamera(fake *watchertest.Server, serial string, check func(watcherclient.Camera) error) func() error {
	return func() error {
		c, ok := fake.Camera(handlers.CameraName(serial))
		if !ok {
			return fmt.Errorf("camera %s is not in Watcher", serial)
		}
		if check == nil {
			return nil
		}
		return check(c)
	}
}

func ptrEq(p *int64, want int64) bool { return p != nil && *p == want }

func ownerIs(org, preset int64, title string) func(watcherclient.Camera) error {
	return func(c watcherclient.Camera) error {
		var bad []string
		if !ptrEq(c.OrganizationID, org) {
			bad = append(bad, fmt.Sprintf("organization_id %s, want %d", fmtPtr(c.OrganizationID), org))
		}
		if !ptrEq(c.PresetID, preset) {
			bad = append(bad, fmt.Sprintf("preset_id %s, want %d", fmtPtr(c.PresetID), preset))
		}
		if title != "" && c.Title != title {
			bad = append(bad, fmt.Sprintf("title %q, want %q", c.Title, title))
		}
		if len(bad) > 0 {
			return fmt.Errorf("camera %s: %s", c.Name, strings.Join(bad, ", "))
		}
		return nil
	}
}

func fmtPtr(p *int64) string {
	if p == nil {
		return "<nil>"
	}
	return fmt.Sprint(*p)
}

var errNotYet = errors.New("not yet")
