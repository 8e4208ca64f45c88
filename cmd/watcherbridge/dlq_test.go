package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"testing"

	"github.com/watcherbridge/watcherbridge/handlers"
	"github.com/watcherbridge/watcherbridge/watcherclient/watchertest"
)

// runCmd runs the watcherbridge command line and returns its output.
func runCmd(t *testing.T, args ...string) (string, error) {
	t.Helper()
	var out, errOut bytes.Buffer
	err := run(t.Context(), args, func(string) string { return "" }, &out, &errOut)
	if err != nil {
		return out.String() + errOut.String(), err
	}
	return out.String(), nil
}

// mustRun is runCmd that fails the test on an error.
func mustRun(t *testing.T, args ...string) string {
	t.Helper()
	out, err := runCmd(t, args...)
	if err != nil {
		t.Fatalf("watcherbridge %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return out
}

// TestDLQRetryAfterCauseFixed: Watcher refuses a camera for good, so its
// event is dead-lettered; dlq list and show describe it with its secrets
// masked; once the cause is fixed, dlq retry applies it and removes the
// dead letter. dlq drop refuses without a terminal or --yes.
func TestDLQRetryAfterCauseFixed(t *testing.T) {
	integration(t)
	fake, url := fakeWatcher(t, false)
	const bad, secret = "DLQ-0002", "ak-dlq-secret-0002"
	fake.SetFault(watchertest.Fault{PathPrefix: "/cameras/import", RowError: map[string]string{handlers.CameraName(bad): "stream_url is refused by policy"}})
	cfg := testConfig(t, url)
	cfg.Unassigned = handlers.Default
	b := startBridge(t, cfg, "dlq")
	js := jsClient(t, b.NATS)
	nats := "--nats-url=" + b.NATS

	push(t, b, "text/csv", []byte("agent_model,agent_serial,agent_id,agent_key,stream_url\n"+
		"M,DLQ-0001,ag-1,ak-dlq-secret-0001,rtsp://10.60.0.1:554/main\n"+
		"M,"+bad+",ag-2,"+secret+",rtsp://10.60.0.2:554/main\n"))
	eventually(t, settle, "one dead letter", func() error {
		if n := deadLetterCount(t, js); n != 1 {
			return fmt.Errorf("%d dead letters", n)
		}
		return nil
	})

	list := mustRun(t, "dlq", "list", nats)
	if !strings.Contains(list, "camera.activated") || !strings.Contains(list, bad) || !strings.Contains(list, "stream_url is refused") {
		t.Errorf("dlq list does not name the topic, serial and reason:\n%s", list)
	}
	var dls []deadLetter
	if err := json.Unmarshal([]byte(mustRun(t, "dlq", "list", nats, "--output", "json", "--topic", "camera.activated", "--since", "1h")), &dls); err != nil || len(dls) != 1 {
		t.Fatalf("dlq list --output json: %v, %d dead letters", err, len(dls))
	}
	dl := dls[0]
	if dl.EventSubject != bad || !dl.Retryable || dl.WatcherStatus != 200 || len(dl.History) != 1 {
		t.Errorf("dead letter = %+v, want subject %s, retryable, Watcher status 200, one attempt", dl, bad)
	}
	if other := mustRun(t, "dlq", "list", nats, "--topic", "camera.assigned"); !strings.Contains(other, "no dead letters") {
		t.Errorf("dlq list --topic camera.assigned = %q, want none", other)
	}
	id := strconv.FormatUint(dl.ID, 10)

	show := mustRun(t, "dlq", "show", id, nats)
	t.Logf("dlq list:\n%s\ndlq show %s:\n%s", list, id, show)
	for _, want := range []string{"Dead letter " + id, "Topic:       camera.activated", "Last error:", "refused by policy", "Attempts:", "#1", `"agent_key": "***"`, bad} {
		if !strings.Contains(show, want) {
			t.Errorf("dlq show lacks %q:\n%s", want, show)
		}
	}
	all := list + show + mustRun(t, "dlq", "show", id, nats, "--output", "json")
	if strings.Contains(all, "ak-dlq-secret") {
		t.Errorf("dlq output shows an agent_key:\n%s", all)
	}

	// The cause is fixed; the retry goes through the handlers.
	fake.ClearFault()
	out := mustRun(t, "dlq", "retry", id, nats)
	t.Logf("dlq retry %s:\n%s", id, out)
	if !strings.Contains(out, "retried "+id) {
		t.Errorf("dlq retry output: %q", out)
	}
	eventually(t, settle, "retried camera in Watcher", hasCamera(fake, bad, nil))
	waitIdle(t, js)
	if n := deadLetterCount(t, js); n != 0 {
		t.Errorf("DEADLETTER holds %d messages after the retry, want 0", n)
	}
	camerasCreatedOnce(t, fake, cameraNames([]string{"DLQ-0001", bad}))
	if _, err := runCmd(t, "dlq", "show", id, nats); err == nil {
		t.Errorf("dlq show %s succeeded after the retry removed it", id)
	}

	// Drop: refused without a terminal, done with --yes.
	const bad3 = "DLQ-0003"
	fake.SetFault(watchertest.Fault{PathPrefix: "/cameras/import", RowError: map[string]string{handlers.CameraName(bad3): "refused again"}})
	push(t, b, "text/csv", []byte("agent_model,agent_serial,agent_id,agent_key,stream_url\nM,"+bad3+",ag-3,ak-dlq-secret-3,rtsp://10.60.0.3:554/main\n"))
	eventually(t, settle, "second dead letter", func() error {
		if n := deadLetterCount(t, js); n != 1 {
			return fmt.Errorf("%d dead letters", n)
		}
		return nil
	})
	if out, err := runCmd(t, "dlq", "drop", "--all", nats); err == nil || !strings.Contains(err.Error(), "--yes") {
		t.Errorf("dlq drop without --yes off a terminal: %v %q, want a refusal naming --yes", err, out)
	}
	if n := deadLetterCount(t, js); n != 1 {
		t.Fatalf("refused drop removed dead letters: %d left", n)
	}
	var dropped map[string][]uint64
	if err := json.Unmarshal([]byte(mustRun(t, "dlq", "drop", "--all", "--yes", "--output=json", nats)), &dropped); err != nil || len(dropped["dropped"]) != 1 {
		t.Errorf("dlq drop --all --yes: %v %v", dropped, err)
	}
	if n := deadLetterCount(t, js); n != 0 {
		t.Errorf("%d dead letters after drop --all, want 0", n)
	}
	if _, ok := fake.Camera(handlers.CameraName(bad3)); ok {
		t.Errorf("dropped camera %s reached Watcher", bad3)
	}
	b.stop(t)
}
