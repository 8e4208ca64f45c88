package main

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/watcherbridge/watcherbridge/events"
	"github.com/watcherbridge/watcherbridge/handlers"
	"github.com/watcherbridge/watcherbridge/watcherclient/watchertest"
)

// TestUnclassifiedFailureIsBounded: a failure nobody classified (here
// Watcher answering 200 with a body that is not an import reply) is retried
// --max-deliveries times, then dead-lettered with every delivery's error.
func TestUnclassifiedFailureIsBounded(t *testing.T) {
	integration(t)
	fake, url := fakeWatcher(t, false)
	fake.SetFault(watchertest.Fault{Status: 200, Body: "<html>maintenance</html>", PathPrefix: "/cameras/import"})
	cfg := testConfig(t, url)
	cfg.Unassigned = handlers.Default
	cfg.MaxDeliveries = 3
	b := startBridge(t, cfg, "poison")
	push(t, b, "application/json", []byte(`[{"agent_serial":"POISON-1","stream_url":"rtsp://127.0.0.1/p"}]`))
	js := jsClient(t, b.NATS)
	var history []events.Attempt
	eventually(t, settle, "dead letter with history", func() error {
		m, err := lastDeadLetter(t.Context(), js, events.DeadLetterSubject(events.CameraActivated))
		if err != nil {
			return err
		}
		history = nil
		return json.Unmarshal([]byte(m.Header.Get(events.HdrHistory)), &history)
	})
	if len(history) != 3 {
		t.Fatalf("history has %d deliveries, want 3: %+v", len(history), history)
	}
	for i, a := range history {
		if a.Delivery != uint64(i+1) || a.Error == "" {
			t.Errorf("attempt %d = %+v", i, a)
		}
	}
	m, _ := lastDeadLetter(t.Context(), js, events.DeadLetterSubject(events.CameraActivated))
	if reason := m.Header.Get(events.HdrReason); !strings.Contains(reason, "gave up after 3 deliveries") {
		t.Errorf("reason %q should say it gave up after 3 deliveries", reason)
	}
	// Faulted requests count in Requests (not in Endpoints); the bridge
	// calls nothing else here.
	if n := fake.Stats().Requests; n != 3 {
		t.Errorf("%d Watcher calls for a message bounded to 3 deliveries, want 3", n)
	}
}
