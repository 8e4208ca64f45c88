package main

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/watcherbridge/watcherbridge/events"
	"github.com/watcherbridge/watcherbridge/handlers"
	"github.com/watcherbridge/watcherbridge/watcherclient"
)

// opsRig is a billing rig whose bridge serves the admin API, and the
// configuration it was started with (to restart it).
type opsRig struct {
	*billingRig
	cfg serveConfig
}

// startOpsRig is startBilling with the admin listener on, for the
// operators' commands. mutate, if set, changes the configuration first.
func startOpsRig(t *testing.T, name string, mutate func(*serveConfig)) *opsRig {
	t.Helper()
	integration(t)
	fake, url := fakeWatcher(t, true)
	wc, err := watcherclient.New(watcherclient.Config{BaseURL: url, APIKey: testAPIKey})
	if err != nil {
		t.Fatal(err)
	}
	if f, err := wc.CreateFolder(t.Context(), 2, watcherclient.Folder{Title: "Intercoms"}); err != nil || f.ID != sharedFolder {
		t.Fatalf("create shared folder: %+v %v", f, err)
	}
	cfg := testConfig(t, url)
	cfg.Plans = writeFile(t, "plans.yaml", testPlans)
	cfg.AdminListen = "127.0.0.1:0"
	if mutate != nil {
		mutate(&cfg)
	}
	b := startBridge(t, cfg, name)
	return &opsRig{billingRig: &billingRig{fake: fake, b: b, js: jsClient(t, b.NATS), t0: time.Now().Add(-time.Hour).Truncate(time.Second)}, cfg: cfg}
}

// restart stops the bridge and starts it again on the same data dir,
// after mutate changed its configuration.
func (r *opsRig) restart(t *testing.T, name string, mutate func(*serveConfig)) {
	t.Helper()
	r.b.stop(t)
	if mutate != nil {
		mutate(&r.cfg)
	}
	r.b = startBridge(t, r.cfg, name)
	r.js = jsClient(t, r.b.NATS)
}

func (r *opsRig) adminURL() string { return "--admin-url=http://" + r.b.Admin }

// TestInspectCameraSubscriberAndStatus: camera show and subscriber show
// print the merged record, what each source said, the applied state, the
// suspension and the last events, with secrets masked; status reports the
// consumers, dead letters, state file and Watcher.
func TestInspectCameraSubscriberAndStatus(t *testing.T) {
	r := startOpsRig(t, "inspect", nil)
	const serial = "IRIS-INSP-01"
	r.publish(t,
		r.ev(t, events.SubscriberCreated, 0, subscriber("SUB-I1", "sidorova", "basic")),
		r.ev(t, events.CameraAssigned, 1, &events.Assignment{AgentSerial: serial, OrganizationID: 2, PlanID: "basic", SubscriberID: "SUB-I1", Title: "Sidorova: porch"}),
	)
	r.activate(t, serial)
	r.publish(t, r.ev(t, events.PaymentOverdue, 2, &events.Payment{SubscriberID: "SUB-I1", InvoiceID: "INV-9"}))

	cam := mustRun(t, "camera", "show", serial, r.adminURL())
	t.Logf("camera show:\n%s", cam)
	for _, want := range []string{"Camera " + serial, handlers.CameraName(serial), "Activation:", "agent_key ***", "Billing:", "Sidorova: porch",
		"SUB-I1: plan basic, suspended since", "disable_cameras", "Applied:     in sync", "Recent events", events.CameraAssigned, events.CameraActivated, "applied"} {
		if !strings.Contains(cam, want) {
			t.Errorf("camera show lacks %q", want)
		}
	}
	var cv handlers.CameraView
	if err := json.Unmarshal([]byte(mustRun(t, "camera", "show", serial, r.adminURL(), "--output", "json")), &cv); err != nil {
		t.Fatal(err)
	}
	var desired watcherclient.Camera
	if err := json.Unmarshal(cv.Desired, &desired); err != nil || desired.Enabled == nil || *desired.Enabled || desired.AgentKey != handlers.Masked {
		t.Errorf("desired %s (%v): want the camera disabled by the suspension, agent_key masked", cv.Desired, err)
	}
	if !cv.InSync || cv.Subscriber == nil || cv.Subscriber.Suspension == nil || len(cv.Recent) < 2 {
		t.Errorf("camera view %+v", cv)
	}

	sub := mustRun(t, "subscriber", "show", "SUB-I1", r.adminURL())
	t.Logf("subscriber show:\n%s", sub)
	for _, want := range []string{"Subscriber SUB-I1", "login sidorova", "password set", "Watcher user: id", "in sync", "Plan:        basic",
		"Payment:     OVERDUE", "Suspension:  disable_cameras", "1 camera(s) disabled", serial, "false", events.PaymentOverdue} {
		if !strings.Contains(sub, want) {
			t.Errorf("subscriber show lacks %q", want)
		}
	}
	rawSub := mustRun(t, "subscriber", "show", "SUB-I1", r.adminURL(), "--output", "json")
	for _, secret := range []string{"pw-sidorova", "ak-demo-"} {
		if strings.Contains(cam+sub+rawSub, secret) {
			t.Errorf("inspection shows the secret %q", secret)
		}
	}
	if !strings.Contains(rawSub, `"password_hash": "***"`) {
		t.Errorf("subscriber JSON does not mask the password hash:\n%s", rawSub)
	}
	if out, err := runCmd(t, "camera", "show", "NO-SUCH", r.adminURL()); err == nil || !strings.Contains(err.Error(), "no camera") {
		t.Errorf("camera show of an unknown serial: %v %q", err, out)
	}

	status := mustRun(t, "status", r.adminURL())
	t.Logf("status:\n%s", status)
	for _, want := range []string{"Watcher:       reachable, circuit closed", "Dead letters:  0", "1 cameras (1 applied), 1 subscribers", events.CameraActivated, events.PaymentOverdue} {
		if !strings.Contains(status, want) {
			t.Errorf("status lacks %q", want)
		}
	}
	var st handlers.Status
	if err := json.Unmarshal([]byte(mustRun(t, "status", r.adminURL(), "--output=json")), &st); err != nil {
		t.Fatal(err)
	}
	if len(st.Consumers) != len(events.Topics()) || st.DeadLetters == nil || *st.DeadLetters != 0 || st.Store.Bytes == 0 || !st.Watcher.Reachable || len(st.Errors) != 0 {
		t.Errorf("status %+v", st)
	}
	r.b.stop(t)
	if _, err := runCmd(t, "status", r.adminURL()); err == nil || !strings.Contains(err.Error(), "is it running") {
		t.Errorf("status of a stopped bridge: %v, want an error asking whether it runs", err)
	}
}
