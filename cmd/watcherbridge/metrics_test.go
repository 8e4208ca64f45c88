package main

import (
	"errors"
	"net/http"
	"strings"
	"testing"
)

// TestMetricsCountWhatHappened: after the sample push, /metrics shows the
// events applied, the rows ingested, the Watcher calls by endpoint and
// status, the consumers' lag and the state file's size.
func TestMetricsCountWhatHappened(t *testing.T) {
	integration(t)
	_, b, _ := startSample(t)
	want := []string{
		`watcherbridge_ingest_rows_total{result="accepted"} 4`,
		`watcherbridge_events_total{outcome="applied",topic="camera.activated"}`,
		`watcherbridge_events_total{outcome="held",topic="camera.activated"} 1`,
		`watcherbridge_watcher_requests_total{endpoint="POST /cameras/import",status="200"}`,
		`watcherbridge_watcher_request_duration_seconds_count{endpoint="POST /cameras/import"}`,
		`watcherbridge_consumer_pending_messages{topic="camera.assigned"} 0`,
		`watcherbridge_dead_letters 0`,
		`watcherbridge_watcher_circuit_open 0`,
		`watcherbridge_store_bytes `,
	}
	var body string
	eventually(t, settle, "metrics", func() error {
		r := doHTTP(t, http.MethodGet, b.url("/metrics"), "", nil)
		body = string(r.Body)
		for _, w := range want {
			if !strings.Contains(body, w) {
				return errors.New("missing " + w)
			}
		}
		return nil
	})
	if strings.Contains(body, testAPIKey) || strings.Contains(body, "ak-demo-") {
		t.Error("a secret appeared in /metrics")
	}
}
