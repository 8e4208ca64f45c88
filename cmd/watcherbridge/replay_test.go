package main

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/watcherbridge/watcherbridge/events"
	"github.com/watcherbridge/watcherbridge/handlers"
)

// TestReplay: a wrong plan mapping is fixed and the bridge restarted; a
// dry run prints what would change and changes nothing; the replay fixes
// Watcher without letting an older event override a newer one; a second
// replay calls Watcher for nothing; after Watcher lost its cameras, only
// --force restores them.
func TestReplay(t *testing.T) {
	r := startOpsRig(t, "replay", nil)
	const one, two = "IRIS-REP-01", "IRIS-REP-02"
	r.publish(t,
		r.ev(t, events.SubscriberCreated, 0, subscriber("SUB-R1", "kuznetsova", "basic")),
		r.ev(t, events.CameraAssigned, 1, &events.Assignment{AgentSerial: one, OrganizationID: 2, PlanID: "basic", SubscriberID: "SUB-R1", Title: "Kuznetsova: gate"}),
		r.ev(t, events.CameraAssigned, 3, &events.Assignment{AgentSerial: two, OrganizationID: 2, PlanID: "basic", SubscriberID: "SUB-R1", Title: "Kuznetsova: yard (newer)"}),
	)
	// An older assignment of two arrives late: stale, it changes nothing.
	r.publish(t, r.ev(t, events.CameraAssigned, 2, &events.Assignment{AgentSerial: two, OrganizationID: 2, PlanID: "basic", SubscriberID: "SUB-R1", Title: "Kuznetsova: yard (older)"}))
	r.activate(t, one)
	r.activate(t, two)
	for _, s := range []string{one, two} {
		if c := r.camera(t, handlers.CameraName(s)); !ptrEq(c.PresetID, 2) {
			t.Fatalf("camera %s preset %s before the fix, want 2", s, fmtPtr(c.PresetID))
		}
	}

	// The plan basic should have been preset 3 all along.
	r.restart(t, "replay-fixed", func(c *serveConfig) {
		c.Plans = writeFile(t, "plans.yaml", strings.Replace(testPlans, "basic:\n    preset_id: 2", "basic:\n    preset_id: 3", 1))
	})
	writes := r.fake.Stats().Writes

	dry := mustRun(t, "replay", "--topic", events.CameraAssigned, "--dry-run", r.adminURL())
	t.Logf("replay --dry-run:\n%s", dry)
	for _, want := range []string{"camera " + one + " (" + handlers.CameraName(one) + "): would be updated", "preset_id: 2 -> 3",
		"dry run: 3 events read, 3 matched, 0 merged, 3 stale", "would change 2 cameras"} {
		if !strings.Contains(dry, want) {
			t.Errorf("dry run output lacks %q", want)
		}
	}
	if got := r.fake.Stats().Writes; got != writes {
		t.Errorf("dry run wrote to Watcher %d times", got-writes)
	}
	if show := mustRun(t, "camera", "show", one, r.adminURL()); !strings.Contains(show, "DIFFERS from desired") {
		t.Errorf("after a dry run the store should still hold the old applied state:\n%s", show)
	}

	out := mustRun(t, "replay", "--topic", events.CameraAssigned, r.adminURL())
	t.Logf("replay:\n%s", out)
	if !strings.Contains(out, "changed 2 cameras") || !strings.Contains(out, "camera "+two+" ("+handlers.CameraName(two)+"): updated") {
		t.Errorf("replay output:\n%s", out)
	}
	for s, title := range map[string]string{one: "Kuznetsova: gate", two: "Kuznetsova: yard (newer)"} {
		if err := ownerIs(2, 3, title)(r.camera(t, handlers.CameraName(s))); err != nil {
			t.Errorf("after the replay: %v", err)
		}
	}

	writes = r.fake.Stats().Writes
	again := mustRun(t, "replay", "--topic", events.CameraAssigned, r.adminURL())
	if !strings.Contains(again, "changed 0 cameras") {
		t.Errorf("second replay:\n%s", again)
	}
	if got := r.fake.Stats().Writes; got != writes {
		t.Errorf("second replay wrote to Watcher %d times, want 0", got-writes)
	}

	// Watcher restored from a backup without the cameras.
	r.fake.DeleteAllCameras()
	mustRun(t, "replay", "--topic", events.CameraAssigned, "--subject", one, r.adminURL())
	if _, ok := r.fake.Camera(handlers.CameraName(one)); ok {
		t.Fatalf("a replay without --force recreated a camera the store believes applied")
	}
	var res handlers.ReplayResult
	if err := json.Unmarshal([]byte(mustRun(t, "replay", "--topic", events.CameraAssigned, "--force", "--output", "json", r.adminURL())), &res); err != nil {
		t.Fatal(err)
	}
	if !res.Forced || res.Cameras != 2 || res.Errors != 0 || len(res.Changes) != 2 {
		t.Errorf("forced replay result %+v", res)
	}
	for s, title := range map[string]string{one: "Kuznetsova: gate", two: "Kuznetsova: yard (newer)"} {
		c, ok := r.fake.Camera(handlers.CameraName(s))
		if !ok {
			t.Errorf("--force did not restore camera %s", s)
			continue
		}
		if err := ownerIs(2, 3, title)(c); err != nil || c.AgentKey != "ak-demo-"+s {
			t.Errorf("restored camera %s: %v, agent_key set %t", s, err, c.AgentKey != "")
		}
	}

	// The range flags select events by stream sequence.
	if err := json.Unmarshal([]byte(mustRun(t, "replay", "--topic", events.CameraAssigned, "--from-seq", "3", "--to-seq", "3", "--dry-run", "--output=json", r.adminURL())), &res); err != nil {
		t.Fatal(err)
	}
	if res.Read != 1 || res.Cameras != 0 {
		t.Errorf("replay of sequence 3 alone: %+v", res)
	}
	if _, err := runCmd(t, "replay", "--topic", "no.such", r.adminURL()); err == nil || !strings.Contains(err.Error(), "want one of") {
		t.Errorf("replay of an unknown topic: %v", err)
	}
	r.b.stop(t)
}
