package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/watcherbridge/watcherbridge/events"
	"github.com/watcherbridge/watcherbridge/handlers"
	"github.com/watcherbridge/watcherbridge/watcherclient"
	"github.com/watcherbridge/watcherbridge/watcherclient/watchertest"
)

// TestReconcileFindsAndFixesDrift: a camera deleted in Watcher, a camera
// and a user edited by hand, and a camera the bridge does not know; the
// scheduled reconciliation exports the drift as metrics, reconcile
// reports each kind, --fix restores the desired state and leaves the
// unknown camera alone.
func TestReconcileFindsAndFixesDrift(t *testing.T) {
	r := startOpsRig(t, "reconcile", func(c *serveConfig) { c.ReconcileEvery = 50 * time.Millisecond })
	const one, two = "IRIS-REC-01", "IRIS-REC-02"
	r.publish(t,
		r.ev(t, events.SubscriberCreated, 0, subscriber("SUB-C1", "smirnova", "basic")),
		r.ev(t, events.CameraAssigned, 1, &events.Assignment{AgentSerial: one, OrganizationID: 2, PlanID: "basic", SubscriberID: "SUB-C1", Title: "Smirnova: hall"}),
		r.ev(t, events.CameraAssigned, 1, &events.Assignment{AgentSerial: two, OrganizationID: 2, PlanID: "basic", SubscriberID: "SUB-C1", Title: "Smirnova: garage"}),
	)
	r.activate(t, one)
	r.activate(t, two)
	if out := mustRun(t, "reconcile", r.adminURL()); !strings.Contains(out, "No drift") {
		t.Fatalf("reconcile before any drift:\n%s", out)
	}

	wc, err := watcherclient.New(watcherclient.Config{BaseURL: r.cfg.WatcherURL, APIKey: testAPIKey})
	if err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()
	if err := wc.DeleteCamera(ctx, handlers.CameraName(one)); err != nil {
		t.Fatal(err)
	}
	if _, err := wc.UpdateCamera(ctx, handlers.CameraName(two), map[string]any{"title": "edited by hand", "enabled": false}); err != nil {
		t.Fatal(err)
	}
	org := int64(2)
	if _, err := wc.CreateCamera(ctx, watcherclient.Camera{Name: "hand-made", Title: "Made by hand", StreamURL: "rtsp://10.9.9.9/x", OrganizationID: &org}); err != nil {
		t.Fatal(err)
	}
	user := r.user(t, "smirnova")
	if _, err := wc.UpdateUser(ctx, user.ID, map[string]any{"name": "Renamed", "enabled": false}); err != nil {
		t.Fatal(err)
	}

	eventually(t, settle, "drift metrics", func() error {
		m := doHTTP(t, http.MethodGet, r.b.url("/metrics"), "", nil)
		for _, want := range []string{
			`watcherbridge_reconcile_drift{kind="camera",problem="missing"} 1`,
			`watcherbridge_reconcile_drift{kind="camera",problem="different"} 1`,
			`watcherbridge_reconcile_drift{kind="camera",problem="unknown"} 1`,
			`watcherbridge_reconcile_drift{kind="user",problem="different"} 1`,
		} {
			if !strings.Contains(string(m.Body), want) {
				return fmt.Errorf("/metrics lacks %s", want)
			}
		}
		return nil
	})

	writes := r.fake.Stats().Writes
	report := mustRun(t, "reconcile", r.adminURL())
	t.Logf("reconcile:\n%s", report)
	for _, want := range []string{
		"camera  " + one, "missing",
		"camera  " + two, "different", "title: edited by hand -> Smirnova: garage", "enabled: false -> true",
		"hand-made", "unknown (not touched)",
		"user    SUB-C1", "name: Renamed -> Subscriber SUB-C1",
		"1 missing, 2 different, 1 unknown.", "Run with --fix",
	} {
		if !strings.Contains(report, want) {
			t.Errorf("reconcile report lacks %q", want)
		}
	}
	if got := r.fake.Stats().Writes; got != writes {
		t.Errorf("reconcile without --fix wrote to Watcher %d times", got-writes)
	}
	var es exitStatus
	if _, err := runCmd(t, "reconcile", "--exit-code", r.adminURL()); !errors.As(err, &es) || es.code != 3 || !strings.Contains(err.Error(), "1 missing, 2 different") {
		t.Errorf("reconcile --exit-code with drift: %v; want exit status 3 naming the drift", err)
	}
	if out := mustRun(t, "reconcile", "--organization", "3", r.adminURL()); !strings.Contains(out, "No drift") {
		t.Errorf("reconcile of organization 3 should see none of organization 2's drift:\n%s", out)
	}

	fixed := mustRun(t, "reconcile", "--fix", r.adminURL())
	t.Logf("reconcile --fix:\n%s", fixed)
	for _, want := range []string{"1 missing, 2 different, 1 unknown.", "camera " + one + " (" + handlers.CameraName(one) + "): updated", "user SUB-C1 (smirnova): updated", ", 0 failed."} {
		if !strings.Contains(fixed, want) {
			t.Errorf("reconcile --fix output lacks %q", want)
		}
	}
	if err := ownerIs(2, 2, "Smirnova: hall")(r.camera(t, handlers.CameraName(one))); err != nil {
		t.Errorf("deleted camera not restored: %v", err)
	}
	c := r.camera(t, handlers.CameraName(two))
	if c.Title != "Smirnova: garage" || !boolOf(c.Enabled) {
		t.Errorf("edited camera not restored: title %q enabled %v", c.Title, boolOf(c.Enabled))
	}
	if u := r.user(t, "smirnova"); u.Name != "Subscriber SUB-C1" || !boolOf(u.Enabled) {
		t.Errorf("edited user not restored: %+v", u)
	}
	if _, ok := r.fake.Camera("hand-made"); !ok {
		t.Errorf("reconcile --fix touched the camera it does not know")
	}
	var res handlers.ReconcileResult
	if err := json.Unmarshal([]byte(mustRun(t, "reconcile", "--output", "json", r.adminURL())), &res); err != nil {
		t.Fatal(err)
	}
	if res.Missing != 0 || res.Different != 0 || res.Unknown != 1 || res.Fixed {
		t.Errorf("reconcile after --fix: %+v", res)
	}
	mustRun(t, "reconcile", "--exit-code", r.adminURL()) // no drift left: status 0

	// A fix Watcher refuses leaves the drift: an error (status 1) in
	// either output format, never success.
	if _, err := wc.UpdateCamera(ctx, handlers.CameraName(two), map[string]any{"title": "edited again"}); err != nil {
		t.Fatal(err)
	}
	r.fake.SetFault(watchertest.Fault{RowError: map[string]string{handlers.CameraName(two): "refused for the test"}})
	for _, format := range []string{"table", "json"} {
		out, err := runCmd(t, "reconcile", "--fix", "--exit-code", "--output", format, r.adminURL())
		var es exitStatus
		if err == nil || errors.As(err, &es) || !strings.Contains(err.Error(), "1 fixes failed") {
			t.Errorf("reconcile --fix --output %s with a refused fix: %v; want the error naming the failed fix\n%s", format, err, out)
		}
	}
	r.fake.ClearFault()
	r.b.stop(t)
}
