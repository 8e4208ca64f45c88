package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/watcherbridge/watcherbridge/events"
	"github.com/watcherbridge/watcherbridge/handlers"
	"github.com/watcherbridge/watcherbridge/watcherclient"
	"github.com/watcherbridge/watcherbridge/watcherclient/watchertest"
)

// The scenario tests run one flow of Flussonic's billing integration guide
// each, through a whole in-process bridge (embedded JetStream, the state
// file) and the fake Watcher, and assert what Watcher ends up holding.

const testPlans = `
plans:
  basic:
    preset_id: 2
    ptz_allowed: false
    suspension: disable_cameras
    dvr_depth: 7
  premium:
    preset_id: 3
    ptz_allowed: true
    suspension: readonly_and_disable_cameras
    dvr_depth: 30
  shared:
    preset_id: 2
    suspension: revoke_folders
  strict:
    preset_id: 3
    suspension: disable_user
`

// sharedFolder is the folder of shared cameras created in organization 2 (folders 1-3 are the roots of organizations 1-3).
const sharedFolder = 4

// billingRig is a prepared fake Watcher and a bridge with the test plans.
type billingRig struct {
	fake *watchertest.Server
	url  string // of the fake Watcher
	b    *bridge
	js   jetstream.JetStream
	t0   time.Time
	seq  int
}

func startBilling(t *testing.T, name string) *billingRig {
	t.Helper()
	integration(t)
	fake, url := fakeWatcher(t, true)
	wc, err := watcherclient.New(watcherclient.Config{BaseURL: url, APIKey: testAPIKey})
	if err != nil {
		t.Fatal(err)
	}
	f, err := wc.CreateFolder(t.Context(), 2, watcherclient.Folder{Title: "Intercoms"})
	if err != nil || f.ID != sharedFolder {
		t.Fatalf("create shared folder: %+v %v", f, err)
	}
	cfg := testConfig(t, url)
	cfg.Plans = writeFile(t, "plans.yaml", testPlans)
	b := startBridge(t, cfg, name)
	return &billingRig{fake: fake, url: url, b: b, js: jsClient(t, b.NATS), t0: time.Now().Add(-time.Hour).Truncate(time.Second)}
}

// ev builds an event stamped i minutes after the rig's start time.
func (r *billingRig) ev(t *testing.T, typ string, minute int, p events.Payload) events.Envelope {
	t.Helper()
	r.seq++
	env, err := events.NewEvent(typ, fmt.Sprintf("%s-%s-%d", t.Name(), typ, r.seq), r.t0.Add(time.Duration(minute)*time.Minute), p)
	if err != nil {
		t.Fatal(err)
	}
	env.Source = "urn:billing:test"
	return env
}

func (r *billingRig) publish(t *testing.T, envs ...events.Envelope) {
	t.Helper()
	for _, env := range envs {
		if err := publishOne(t.Context(), r.b.NATS, env); err != nil {
			t.Fatalf("publish %s: %v", env.Type, err)
		}
	}
	r.settle(t)
}

// settle waits until the worker acknowledged the last message of every
// topic. Consumer info alone (waitIdle) can show nothing pending for a
// moment after a publish, before the consumer has noticed the message.
func (r *billingRig) settle(t *testing.T) {
	t.Helper()
	eventually(t, settle, "every published event handled", func() error {
		s, err := r.js.Stream(t.Context(), events.Stream)
		if err != nil {
			return err
		}
		for _, topic := range events.Topics() {
			last, err := s.GetLastMsgForSubject(t.Context(), topic)
			if errors.Is(err, jetstream.ErrMsgNotFound) {
				continue
			}
			if err != nil {
				return err
			}
			c, err := s.Consumer(t.Context(), events.ConsumerName(topic))
			if err != nil {
				return err
			}
			info, err := c.Info(t.Context())
			if err != nil {
				return err
			}
			if info.AckFloor.Stream < last.Sequence {
				return fmt.Errorf("%s: acked up to %d, last message %d", topic, info.AckFloor.Stream, last.Sequence)
			}
		}
		return consumersIdle(t.Context(), r.js)
	})
}

// activate pushes one activation row (with PTZ) for serial and waits.
func (r *billingRig) activate(t *testing.T, serial string) {
	t.Helper()
	push(t, r.b, "text/csv", []byte("agent_model,agent_serial,agent_id,agent_key,stream_url,can_ptz\nIRIS,"+serial+",ag-"+serial+",ak-demo-"+serial+",rtsp://10.9.0.1/"+serial+",1\n"))
	r.settle(t)
}

func (r *billingRig) user(t *testing.T, login string) watcherclient.User {
	t.Helper()
	for _, u := range r.fake.Users() {
		if u.Login == login {
			return u
		}
	}
	t.Fatalf("Watcher has no user %q", login)
	return watcherclient.User{}
}

func (r *billingRig) camera(t *testing.T, name string) watcherclient.Camera {
	t.Helper()
	c, ok := r.fake.Camera(name)
	if !ok {
		t.Fatalf("Watcher has no camera %s", name)
	}
	return c
}

func boolOf(p *bool) bool { return p != nil && *p }

func subscriber(id, login string, plan string) *events.SubscriberProfile {
	return &events.SubscriberProfile{SubscriberID: id, Login: login, Password: "pw-" + login, Name: "Subscriber " + id, OrganizationID: 2, PlanID: plan}
}

func TestScenarioAgentCameraSold(t *testing.T) {
	r := startBilling(t, "agent-sold")
	const serial = "IRIS-SOLD-01"
	r.publish(t,
		r.ev(t, events.SubscriberCreated, 0, subscriber("SUB-1", "ivanova", "basic")),
		r.ev(t, events.CameraAssigned, 1, &events.Assignment{AgentSerial: serial, OrganizationID: 2, PlanID: "basic", SubscriberID: "SUB-1", Title: "Ivanova: door"}),
	)
	if _, ok := r.fake.Camera(handlers.CameraName(serial)); ok {
		t.Fatalf("camera in Watcher before activation")
	}
	r.activate(t, serial)
	c := r.camera(t, handlers.CameraName(serial))
	if err := ownerIs(2, 2, "Ivanova: door")(c); err != nil {
		t.Error(err)
	}
	if boolOf(c.CanPTZ) || !boolOf(c.Enabled) {
		t.Errorf("can_ptz %v enabled %v, want PTZ forbidden by plan basic and enabled", boolOf(c.CanPTZ), boolOf(c.Enabled))
	}
	u := r.user(t, "ivanova")
	if !boolOf(u.Enabled) || u.Password != "pw-ivanova" || u.OrganizationID == nil || *u.OrganizationID != 2 {
		t.Errorf("user %+v", u)
	}
	camerasCreatedOnce(t, r.fake, []string{handlers.CameraName(serial)})
	if st := r.fake.Stats(); st.Cameras[handlers.CameraName(serial)].Updated != 0 || st.Endpoints["POST /users"] != 1 {
		t.Errorf("stats %+v", st)
	}
	r.b.stop(t)
}

func TestScenarioNoAgentCameraAdded(t *testing.T) {
	r := startBilling(t, "no-agent")
	add := &events.CameraAddition{CameraID: "CAM-77", Title: "Garden", StreamURL: "rtsp://10.9.1.7/main", SubstreamURL: "rtsp://10.9.1.7/sub", OrganizationID: 2, PlanID: "premium", SubscriberID: "SUB-2"}
	r.publish(t, r.ev(t, events.SubscriberCreated, 0, subscriber("SUB-2", "petrov", "premium")), r.ev(t, events.CameraAdded, 1, add))
	name := handlers.AddedCameraName("CAM-77")
	c := r.camera(t, name)
	if err := ownerIs(2, 3, "Garden")(c); err != nil {
		t.Error(err)
	}
	if c.StreamURL != add.StreamURL || c.SubstreamURL != add.SubstreamURL || !boolOf(c.Enabled) {
		t.Errorf("camera %+v", c)
	}
	camerasCreatedOnce(t, r.fake, []string{name})
	// The same camera again (billing retries with a new id) changes nothing.
	before := r.fake.Stats().Writes
	r.publish(t, r.ev(t, events.CameraAdded, 2, add))
	if w := r.fake.Stats().Writes; w != before {
		t.Errorf("writes %d -> %d for an unchanged camera.added", before, w)
	}
	r.b.stop(t)
}

func TestScenarioSharedFolderSuspended(t *testing.T) {
	r := startBilling(t, "shared-folder")
	grant := &events.FolderAccess{SubscriberID: "SUB-3", OrganizationID: 2, FolderID: sharedFolder, CanViewDVR: true}
	r.publish(t,
		r.ev(t, events.SubscriberFolderGranted, 1, grant),
		r.ev(t, events.SubscriberCreated, 0, subscriber("SUB-3", "sidorov", "shared")),
	)
	uid := r.user(t, "sidorov").ID
	want := []watcherclient.FolderPermission{{UserID: uid, CanViewDVR: true}}
	if got := r.fake.FolderPermissions(2, sharedFolder); !reflect.DeepEqual(got, want) {
		t.Fatalf("after grant: %+v, want %+v", got, want)
	}
	r.publish(t, r.ev(t, events.PaymentOverdue, 2, &events.Payment{SubscriberID: "SUB-3", InvoiceID: "INV-1"}))
	if got := r.fake.FolderPermissions(2, sharedFolder); len(got) != 0 {
		t.Errorf("overdue with revoke_folders: permissions %+v, want none", got)
	}
	if !boolOf(r.user(t, "sidorov").Enabled) {
		t.Errorf("revoke_folders must not disable the user")
	}
	r.publish(t, r.ev(t, events.PaymentReceived, 3, &events.Payment{SubscriberID: "SUB-3", InvoiceID: "INV-1"}))
	if got := r.fake.FolderPermissions(2, sharedFolder); !reflect.DeepEqual(got, want) {
		t.Errorf("after payment: %+v, want %+v", got, want)
	}
	st := r.fake.Stats()
	if st.Endpoints["POST /organizations/{org}/folders/{folder}/users"] != 2 || st.Endpoints["DELETE /organizations/{org}/folders/{folder}/users/{user}"] != 1 {
		t.Errorf("folder calls %v, want 2 grants and 1 revoke", st.Endpoints)
	}
	r.b.stop(t)
}

func TestScenarioPlanChange(t *testing.T) {
	r := startBilling(t, "plan-change")
	const serial = "IRIS-PLAN-01"
	r.publish(t,
		r.ev(t, events.SubscriberCreated, 0, subscriber("SUB-4", "kuznetsova", "basic")),
		r.ev(t, events.CameraAssigned, 1, &events.Assignment{AgentSerial: serial, OrganizationID: 2, PlanID: "basic", SubscriberID: "SUB-4", Title: "Kuznetsova: hall"}),
		r.ev(t, events.CameraAdded, 1, &events.CameraAddition{CameraID: "CAM-4", StreamURL: "rtsp://10.9.4.1/main", OrganizationID: 2, PlanID: "basic", SubscriberID: "SUB-4"}),
	)
	r.activate(t, serial)
	agent, added := handlers.CameraName(serial), handlers.AddedCameraName("CAM-4")
	for _, n := range []string{agent, added} {
		if c := r.camera(t, n); !ptrEq(c.PresetID, 2) || boolOf(c.CanPTZ) {
			t.Errorf("%s on basic: preset %s can_ptz %v", n, fmtPtr(c.PresetID), boolOf(c.CanPTZ))
		}
	}
	r.publish(t, r.ev(t, events.PlanChanged, 5, &events.PlanChange{SubscriberID: "SUB-4", PlanID: "premium"}))
	for _, n := range []string{agent, added} {
		if c := r.camera(t, n); !ptrEq(c.PresetID, 3) {
			t.Errorf("%s after plan.changed to premium: preset %s, want 3", n, fmtPtr(c.PresetID))
		}
	}
	if c := r.camera(t, agent); !boolOf(c.CanPTZ) {
		t.Errorf("premium allows PTZ: the camera's own can_ptz (1) must come back")
	}
	// An older plan change arriving late is skipped.
	r.publish(t, r.ev(t, events.PlanChanged, 3, &events.PlanChange{SubscriberID: "SUB-4", PlanID: "basic"}))
	if c := r.camera(t, agent); !ptrEq(c.PresetID, 3) {
		t.Errorf("a stale plan.changed was applied: preset %s", fmtPtr(c.PresetID))
	}
	camerasCreatedOnce(t, r.fake, []string{agent, added})
	r.b.stop(t)
}

// watcherView is what a subscriber's objects look like in Watcher.
type watcherView struct {
	Users   []string
	Cameras []string
	Folders []watcherclient.FolderPermission
}

func viewWatcher(fake *watchertest.Server) watcherView {
	var v watcherView
	for _, u := range fake.Users() {
		v.Users = append(v.Users, fmt.Sprintf("%s org=%s enabled=%v readonly=%v", u.Login, fmtPtr(u.OrganizationID), boolOf(u.Enabled), boolOf(u.Readonly)))
	}
	for _, c := range fake.Cameras() {
		v.Cameras = append(v.Cameras, fmt.Sprintf("%s org=%s preset=%s enabled=%v ptz=%v title=%q", c.Name, fmtPtr(c.OrganizationID), fmtPtr(c.PresetID), boolOf(c.Enabled), boolOf(c.CanPTZ), c.Title))
	}
	v.Folders = fake.FolderPermissions(2, sharedFolder)
	return v
}

func TestScenarioSuspensionPolicies(t *testing.T) {
	tests := []struct {
		plan         string
		wantUser     string // after overdue
		wantDisabled bool   // cameras disabled while overdue
	}{
		{plan: "strict", wantUser: "enabled=false readonly=false", wantDisabled: false},
		{plan: "basic", wantUser: "enabled=true readonly=false", wantDisabled: true},
		{plan: "premium", wantUser: "enabled=true readonly=true", wantDisabled: true},
	}
	for _, tt := range tests {
		t.Run(tt.plan, func(t *testing.T) {
			r := startBilling(t, "suspend-"+tt.plan)
			const serial, returned = "IRIS-SUSP-01", "IRIS-SUSP-02"
			r.publish(t,
				r.ev(t, events.SubscriberCreated, 0, subscriber("SUB-5", "smirnov", tt.plan)),
				r.ev(t, events.CameraAssigned, 1, &events.Assignment{AgentSerial: serial, OrganizationID: 2, PlanID: tt.plan, SubscriberID: "SUB-5"}),
				r.ev(t, events.CameraAssigned, 1, &events.Assignment{AgentSerial: returned, OrganizationID: 2, PlanID: tt.plan, SubscriberID: "SUB-5"}),
				r.ev(t, events.CameraUnassigned, 2, &events.CameraUnassignment{AgentSerial: returned, Reason: "returned"}),
			)
			r.activate(t, serial)
			r.activate(t, returned)
			if boolOf(r.camera(t, handlers.CameraName(returned)).Enabled) {
				t.Fatalf("unassigned camera is enabled")
			}
			before := viewWatcher(r.fake)

			r.publish(t, r.ev(t, events.PaymentOverdue, 10, &events.Payment{SubscriberID: "SUB-5"}))
			if u := viewWatcher(r.fake).Users[0]; !strings.HasSuffix(u, tt.wantUser) {
				t.Errorf("user while overdue: %s, want %s", u, tt.wantUser)
			}
			if got := boolOf(r.camera(t, handlers.CameraName(serial)).Enabled); got == tt.wantDisabled {
				t.Errorf("camera enabled=%v while overdue, want %v", got, !tt.wantDisabled)
			}
			// A plan change during the suspension does not change what is undone.
			r.publish(t, r.ev(t, events.PlanChanged, 11, &events.PlanChange{SubscriberID: "SUB-5", PlanID: "shared"}))
			r.publish(t, r.ev(t, events.PlanChanged, 12, &events.PlanChange{SubscriberID: "SUB-5", PlanID: tt.plan}))

			r.publish(t, r.ev(t, events.PaymentReceived, 20, &events.Payment{SubscriberID: "SUB-5"}))
			if after := viewWatcher(r.fake); !reflect.DeepEqual(after, before) {
				t.Errorf("after payment.received Watcher differs from before the suspension:\n got %+v\nwant %+v", after, before)
			}
			if boolOf(r.camera(t, handlers.CameraName(returned)).Enabled) {
				t.Errorf("the camera disabled for another reason (returned) was enabled by payment.received")
			}
			camerasCreatedOnce(t, r.fake, cameraNames([]string{serial, returned}))
			if n := r.fake.Stats().Endpoints["POST /users"]; n != 1 {
				t.Errorf("users created %d times, want 1", n)
			}
			r.b.stop(t)
		})
	}
}

func TestScenarioSubscriberDeleted(t *testing.T) {
	r := startBilling(t, "deleted")
	const serial = "IRIS-DEL-01"
	r.publish(t,
		r.ev(t, events.SubscriberCreated, 0, subscriber("SUB-6", "volkov", "basic")),
		r.ev(t, events.CameraAssigned, 1, &events.Assignment{AgentSerial: serial, OrganizationID: 2, PlanID: "basic", SubscriberID: "SUB-6"}),
	)
	r.activate(t, serial)
	r.publish(t, r.ev(t, events.SubscriberDeleted, 5, &events.SubscriberDeletion{SubscriberID: "SUB-6"}))
	if boolOf(r.user(t, "volkov").Enabled) || boolOf(r.camera(t, handlers.CameraName(serial)).Enabled) {
		t.Errorf("subscriber.deleted must disable the user and the camera: %+v", viewWatcher(r.fake))
	}
	if st := r.fake.Stats(); st.Endpoints["DELETE /users/{id}"] != 0 || st.Cameras[handlers.CameraName(serial)].Deleted != 0 {
		t.Errorf("subscriber.deleted deleted something: %+v", st)
	}
	r.b.stop(t)
}

// scenarioEvents is a whole subscriber life: creation, cameras of both
// kinds, a shared folder, a plan change, a suspension and its end.
func scenarioEvents(t *testing.T, r *billingRig) []events.Envelope {
	return []events.Envelope{
		r.ev(t, events.SubscriberCreated, 0, subscriber("SUB-7", "orlova", "basic")),
		r.ev(t, events.CameraAssigned, 1, &events.Assignment{AgentSerial: "IRIS-MIX-01", OrganizationID: 2, PlanID: "basic", SubscriberID: "SUB-7", Title: "Orlova: porch"}),
		r.ev(t, events.CameraAdded, 2, &events.CameraAddition{CameraID: "CAM-MIX", StreamURL: "rtsp://10.9.7.1/main", OrganizationID: 2, PlanID: "basic", SubscriberID: "SUB-7"}),
		r.ev(t, events.SubscriberFolderGranted, 3, &events.FolderAccess{SubscriberID: "SUB-7", OrganizationID: 2, FolderID: sharedFolder}),
		r.ev(t, events.PlanChanged, 4, &events.PlanChange{SubscriberID: "SUB-7", PlanID: "premium"}),
		r.ev(t, events.SubscriberUpdated, 5, &events.SubscriberProfile{SubscriberID: "SUB-7", Login: "orlova", Name: "Olga Orlova", OrganizationID: 2}),
		r.ev(t, events.PaymentOverdue, 6, &events.Payment{SubscriberID: "SUB-7"}),
		r.ev(t, events.PaymentReceived, 7, &events.Payment{SubscriberID: "SUB-7"}),
		r.ev(t, events.PaymentOverdue, 8, &events.Payment{SubscriberID: "SUB-7"}),
	}
}

func TestScenarioShuffledAndDuplicatedConverges(t *testing.T) {
	inOrder := startBilling(t, "in-order")
	evs := scenarioEvents(t, inOrder)
	inOrder.publish(t, evs...)
	inOrder.activate(t, "IRIS-MIX-01")
	want := viewWatcher(inOrder.fake)
	if len(want.Cameras) != 2 || len(want.Users) != 1 {
		t.Fatalf("in-order result %+v", want)
	}

	shuffled := startBilling(t, "shuffled")
	evs = scenarioEvents(t, shuffled)
	twice := append(slices.Clone(evs), evs...)
	rand.Shuffle(len(twice), func(i, j int) { twice[i], twice[j] = twice[j], twice[i] })
	shuffled.activate(t, "IRIS-MIX-01")
	for _, env := range twice {
		// Published without Nats-Msg-Id, so JetStream keeps both copies
		// and the bridge's own ledger must drop the second.
		data, err := env.Encode()
		if err != nil {
			t.Fatal(err)
		}
		if _, err := shuffled.js.Publish(t.Context(), env.Type, data); err != nil {
			t.Fatal(err)
		}
	}
	shuffled.settle(t)
	if got := viewWatcher(shuffled.fake); !reflect.DeepEqual(got, want) {
		t.Errorf("shuffled and duplicated delivery:\n got %+v\nwant %+v", got, want)
	}
	camerasCreatedOnce(t, shuffled.fake, []string{handlers.CameraName("IRIS-MIX-01"), handlers.AddedCameraName("CAM-MIX")})
	if n := shuffled.fake.Stats().Endpoints["POST /users"]; n != 1 {
		t.Errorf("user created %d times, want 1", n)
	}

	// Everything again: no Watcher write at all.
	before := shuffled.fake.Stats().Writes
	for _, env := range twice {
		data, _ := env.Encode()
		if _, err := shuffled.js.Publish(t.Context(), env.Type, data); err != nil {
			t.Fatal(err)
		}
	}
	shuffled.settle(t)
	if w := shuffled.fake.Stats().Writes; w != before {
		t.Errorf("replaying every event wrote %d times to Watcher, want 0", w-before)
	}
	inOrder.b.stop(t)
	shuffled.b.stop(t)
}

func TestScenarioInvalidEvents(t *testing.T) {
	r := startBilling(t, "invalid")
	valid := r.ev(t, events.PlanChanged, 0, &events.PlanChange{SubscriberID: "SUB-8", PlanID: "basic"})
	raw := func(typ string, data string) []byte {
		return []byte(`{"specversion":"1.0","id":"bad-` + typ + `","source":"urn:billing","type":"` + typ + `","time":"2026-01-01T00:00:00Z","data":` + data + `}`)
	}
	tests := []struct {
		name    string
		subject string
		body    []byte
		reason  string
	}{
		{name: "bad envelope", subject: events.PlanChanged, body: []byte(`{"id": 1}`), reason: "not a CloudEvents JSON envelope"},
		{name: "missing field", subject: events.PaymentOverdue, body: raw(events.PaymentOverdue, `{"invoice_id":"X"}`), reason: "subscriber_id"},
		{name: "unknown plan", subject: events.PlanChanged, body: raw(events.PlanChanged, `{"subscriber_id":"SUB-8","plan_id":"gold"}`), reason: `unknown plan "gold"`},
		{name: "unknown plan on camera", subject: events.CameraAssigned, body: raw(events.CameraAssigned, `{"agent_serial":"X-1","organization_id":2,"plan_id":"gold"}`), reason: `unknown plan "gold"`},
	}
	for _, tt := range tests {
		t.Run("http "+tt.name, func(t *testing.T) {
			resp := doHTTP(t, http.MethodPost, r.b.url("/events"), handlers.ContentTypeCloudEvent, tt.body)
			if resp.Status != http.StatusBadRequest || !strings.Contains(string(resp.Body), strings.ReplaceAll(tt.reason, `"`, `\"`)) {
				t.Errorf("POST /events: HTTP %d %s, want 400 naming %q", resp.Status, resp.Body, tt.reason)
			}
		})
	}
	t.Run("http unknown type", func(t *testing.T) {
		resp := doHTTP(t, http.MethodPost, r.b.url("/events"), handlers.ContentTypeCloudEvent, raw("camera.exploded", `{}`))
		if resp.Status != http.StatusBadRequest || !strings.Contains(string(resp.Body), "camera.exploded") {
			t.Errorf("HTTP %d %s", resp.Status, resp.Body)
		}
	})
	for _, tt := range tests {
		if _, err := r.js.Publish(t.Context(), tt.subject, tt.body); err != nil {
			t.Fatal(err)
		}
	}
	// The sentinel arrives after the invalid ones and is applied.
	r.publish(t, valid)
	eventually(t, settle, "dead letters", func() error {
		if n := deadLetterCount(t, r.js); n != uint64(len(tests)) {
			return fmt.Errorf("%d dead letters, want %d", n, len(tests))
		}
		return nil
	})
	for _, tt := range tests {
		dl, err := lastDeadLetter(t.Context(), r.js, events.DeadLetterSubject(tt.subject))
		if err != nil {
			t.Fatalf("%s: %v", tt.name, err)
		}
		_ = dl
	}
	seenReasons := deadLetterReasons(t, r.js)
	for _, tt := range tests {
		if !slices.ContainsFunc(seenReasons, func(s string) bool { return strings.Contains(s, tt.reason) }) {
			t.Errorf("no dead letter names %q; reasons: %q", tt.reason, seenReasons)
		}
	}
	r.settle(t)
	if n := deadLetterCount(t, r.js); n != uint64(len(tests)) {
		t.Errorf("%d dead letters after idle, want %d (no retry loop)", n, len(tests))
	}
	r.b.stop(t)
}

func deadLetterReasons(t *testing.T, js jetstream.JetStream) []string {
	t.Helper()
	s, err := js.Stream(t.Context(), events.DeadLetterStream)
	if err != nil {
		t.Fatal(err)
	}
	info, err := s.Info(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for seq := info.State.FirstSeq; seq <= info.State.LastSeq; seq++ {
		m, err := s.GetMsg(t.Context(), seq)
		if err != nil {
			continue
		}
		out = append(out, m.Header.Get(events.HdrReason))
	}
	return out
}

func TestEventsEndpointModes(t *testing.T) {
	r := startBilling(t, "events-http")
	one := r.ev(t, events.SubscriberCreated, 0, subscriber("SUB-9", "belova", "basic"))
	body, _ := one.Encode()
	resp := doHTTP(t, http.MethodPost, r.b.url("/events"), handlers.ContentTypeCloudEvent, body)
	if resp.Status != http.StatusOK {
		t.Fatalf("structured: HTTP %d %s", resp.Status, resp.Body)
	}
	resp = doHTTP(t, http.MethodPost, r.b.url("/events"), handlers.ContentTypeCloudEvent, body)
	var reply handlers.EventsReply
	if err := json.Unmarshal(resp.Body, &reply); err != nil || reply.Duplicate != 1 {
		t.Errorf("same event again: %s (%v), want duplicate 1", resp.Body, err)
	}

	grant := r.ev(t, events.SubscriberFolderGranted, 1, &events.FolderAccess{SubscriberID: "SUB-9", OrganizationID: 2, FolderID: sharedFolder})
	plan := r.ev(t, events.PlanChanged, 2, &events.PlanChange{SubscriberID: "SUB-9", PlanID: "premium"})
	batch, _ := json.Marshal([]events.Envelope{grant, plan})
	resp = doHTTP(t, http.MethodPost, r.b.url("/events"), handlers.ContentTypeCloudEventBatch, batch)
	if resp.Status != http.StatusOK || !strings.Contains(string(resp.Body), `"accepted": 2`) {
		t.Errorf("batch: HTTP %d %s", resp.Status, resp.Body)
	}

	overdue := r.ev(t, events.PaymentOverdue, 3, &events.Payment{SubscriberID: "SUB-9"})
	req, _ := http.NewRequestWithContext(t.Context(), http.MethodPost, r.b.url("/events"), strings.NewReader(string(overdue.Data)))
	req.Header.Set("Content-Type", "application/json")
	for k, v := range map[string]string{"ce-specversion": "1.0", "ce-id": overdue.ID, "ce-source": "urn:billing", "ce-type": overdue.Type, "ce-time": overdue.Time.Format(time.RFC3339Nano), "ce-subject": "SUB-9"} {
		req.Header.Set(k, v)
	}
	hr, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	hr.Body.Close()
	if hr.StatusCode != http.StatusOK {
		t.Errorf("binary: HTTP %d", hr.StatusCode)
	}
	r.settle(t)
	u := r.user(t, "belova")
	if !boolOf(u.Readonly) {
		t.Errorf("premium's policy made the user read-only? %+v", u)
	}
	if got := r.fake.FolderPermissions(2, sharedFolder); len(got) != 1 || got[0].UserID != u.ID {
		t.Errorf("folder permissions %+v", got)
	}
	r.b.stop(t)
}

// waitDeadLetter waits for a dead letter whose reason contains every part.
func waitDeadLetter(t *testing.T, r *billingRig, parts ...string) {
	t.Helper()
	eventually(t, settle, "dead letter naming "+strings.Join(parts, ", "), func() error {
		for _, reason := range deadLetterReasons(t, r.js) {
			if !slices.ContainsFunc(parts, func(p string) bool { return !strings.Contains(reason, p) }) {
				return nil
			}
		}
		return fmt.Errorf("reasons %q", deadLetterReasons(t, r.js))
	})
}

func TestScenarioLoginOfAnotherSubscriberIsRefused(t *testing.T) {
	r := startBilling(t, "login-taken")
	r.publish(t,
		r.ev(t, events.SubscriberCreated, 0, subscriber("SUB-1", "orlov", "strict")),
		r.ev(t, events.SubscriberCreated, 0, subscriber("SUB-2", "ivanova", "basic")),
	)
	before := viewWatcher(r.fake)
	writes := r.fake.Stats().Writes

	r.publish(t, r.ev(t, events.SubscriberCreated, 1, &events.SubscriberProfile{SubscriberID: "SUB-14", Login: "ivanova", Name: "Impostor", OrganizationID: 3, Password: "hijack"}))
	waitDeadLetter(t, r, "SUB-14", "SUB-2", `"ivanova"`)
	// A subscriber holding another's login must not suspend that user.
	r.publish(t,
		r.ev(t, events.SubscriberCreated, 2, &events.SubscriberProfile{SubscriberID: "SUB-13", Login: "orlov", OrganizationID: 2}),
		r.ev(t, events.PaymentOverdue, 3, &events.Payment{SubscriberID: "SUB-13"}),
	)
	waitDeadLetter(t, r, "SUB-13", "SUB-1", `"orlov"`)
	if got := viewWatcher(r.fake); !reflect.DeepEqual(got, before) {
		t.Errorf("Watcher changed:\n got %+v\nwant %+v", got, before)
	}
	if u := r.user(t, "ivanova"); u.Password != "pw-ivanova" || u.Name != "Subscriber SUB-2" {
		t.Errorf("SUB-2's user was taken over: %+v", u)
	}
	if w := r.fake.Stats().Writes; w != writes {
		t.Errorf("%d Watcher writes for refused subscribers, want 0", w-writes)
	}

	// A Watcher user renamed by hand is still SUB-2's: found by its new
	// login, it is refused to another subscriber too.
	wc, err := watcherclient.New(watcherclient.Config{BaseURL: r.url, APIKey: testAPIKey})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := wc.UpdateUser(t.Context(), r.user(t, "ivanova").ID, map[string]string{"login": "anna"}); err != nil {
		t.Fatal(err)
	}
	writes = r.fake.Stats().Writes
	r.publish(t, r.ev(t, events.SubscriberCreated, 4, &events.SubscriberProfile{SubscriberID: "SUB-15", Login: "anna", OrganizationID: 3, Password: "hijack"}))
	waitDeadLetter(t, r, "SUB-15", "SUB-2", "Watcher user")
	if w := r.fake.Stats().Writes; w != writes {
		t.Errorf("%d Watcher writes for a user of another subscriber, want 0", w-writes)
	}
	r.b.stop(t)
}

func TestScenarioUpdateAfterDeletionKeepsDisabled(t *testing.T) {
	r := startBilling(t, "deleted-updated")
	const serial = "IRIS-DEL-02"
	r.publish(t,
		r.ev(t, events.SubscriberCreated, 0, subscriber("SUB-16", "zaitsev", "basic")),
		r.ev(t, events.CameraAssigned, 1, &events.Assignment{AgentSerial: serial, OrganizationID: 2, PlanID: "basic", SubscriberID: "SUB-16"}),
		r.ev(t, events.SubscriberFolderGranted, 2, &events.FolderAccess{SubscriberID: "SUB-16", OrganizationID: 2, FolderID: sharedFolder}),
	)
	r.activate(t, serial)
	r.publish(t,
		r.ev(t, events.SubscriberDeleted, 5, &events.SubscriberDeletion{SubscriberID: "SUB-16"}),
		r.ev(t, events.SubscriberUpdated, 6, &events.SubscriberProfile{SubscriberID: "SUB-16", Login: "zaitsev", Name: "Ivan Zaitsev", OrganizationID: 2}),
		r.ev(t, events.SubscriberFolderGranted, 7, &events.FolderAccess{SubscriberID: "SUB-16", OrganizationID: 2, FolderID: sharedFolder, CanViewDVR: true}),
	)
	u := r.user(t, "zaitsev")
	if boolOf(u.Enabled) || u.Name != "Ivan Zaitsev" {
		t.Errorf("after subscriber.updated on a deleted subscriber: user enabled=%v name %q, want disabled with the new name", boolOf(u.Enabled), u.Name)
	}
	if boolOf(r.camera(t, handlers.CameraName(serial)).Enabled) {
		t.Errorf("subscriber.updated after subscriber.deleted enabled the camera")
	}
	if got := r.fake.FolderPermissions(2, sharedFolder); len(got) != 0 {
		t.Errorf("folder permissions of a deleted subscriber: %+v, want none", got)
	}
	// Billing creating the subscriber again revives it all.
	r.publish(t, r.ev(t, events.SubscriberCreated, 8, subscriber("SUB-16", "zaitsev", "basic")))
	if !boolOf(r.user(t, "zaitsev").Enabled) || !boolOf(r.camera(t, handlers.CameraName(serial)).Enabled) {
		t.Errorf("subscriber.created after deletion: %+v", viewWatcher(r.fake))
	}
	if got := r.fake.FolderPermissions(2, sharedFolder); len(got) != 1 || !got[0].CanViewDVR {
		t.Errorf("folder permissions after re-creation: %+v, want the last grant", got)
	}
	r.b.stop(t)
}

func TestScenarioPTZAllowedAgainAfterPlanChange(t *testing.T) {
	name := handlers.AddedCameraName("CAM-PTZ")
	evs := func(t *testing.T, r *billingRig) []events.Envelope {
		return []events.Envelope{
			r.ev(t, events.SubscriberCreated, 0, subscriber("SUB-17", "lebedev", "basic")),
			r.ev(t, events.CameraAdded, 1, &events.CameraAddition{CameraID: "CAM-PTZ", StreamURL: "rtsp://10.9.17.1/main", OrganizationID: 2, PlanID: "basic", SubscriberID: "SUB-17"}),
			r.ev(t, events.PlanChanged, 5, &events.PlanChange{SubscriberID: "SUB-17", PlanID: "premium"}),
		}
	}
	inOrder := startBilling(t, "ptz-in-order")
	all := evs(t, inOrder)
	inOrder.publish(t, all[:2]...)
	if boolOf(inOrder.camera(t, name).CanPTZ) {
		t.Fatalf("basic forbids PTZ")
	}
	inOrder.publish(t, all[2])
	if c := inOrder.camera(t, name); !boolOf(c.CanPTZ) || !boolOf(c.OnvifPTZ) {
		t.Errorf("after the move to premium: can_ptz %v onvif_ptz %v, want true", boolOf(c.CanPTZ), boolOf(c.OnvifPTZ))
	}
	want := viewWatcher(inOrder.fake)

	reversed := startBilling(t, "ptz-reversed")
	all = evs(t, reversed)
	slices.Reverse(all)
	reversed.publish(t, all...)
	if got := viewWatcher(reversed.fake); !reflect.DeepEqual(got, want) {
		t.Errorf("reversed delivery:\n got %+v\nwant %+v", got, want)
	}
	inOrder.b.stop(t)
	reversed.b.stop(t)
}

func TestScenarioOrganizationChangeEndsOldMembership(t *testing.T) {
	r := startBilling(t, "org-change")
	r.publish(t, r.ev(t, events.SubscriberCreated, 0, subscriber("SUB-18", "egorova", "basic")))
	moved := subscriber("SUB-18", "egorova", "")
	moved.OrganizationID = 3
	r.publish(t, r.ev(t, events.SubscriberUpdated, 1, moved))
	if u := r.user(t, "egorova"); !ptrEq(u.OrganizationID, 3) || !slices.Equal(u.Organizations, []int64{3}) {
		t.Errorf("after moving to organization 3: organization_id %s organizations %v, want 3 and [3]", fmtPtr(u.OrganizationID), u.Organizations)
	}
	r.b.stop(t)
}

func TestPublishNamesInputThatIsNotJSON(t *testing.T) {
	t.Parallel()
	var out, errOut strings.Builder
	err := runPublish(t.Context(), []string{events.PlanChanged, "--data", "not json"}, func(string) string { return "" }, &out, &errOut)
	if err == nil || !strings.HasPrefix(err.Error(), "--data is not JSON: invalid character") {
		t.Errorf("publish --data 'not json' = %v, want an error starting with %q", err, "--data is not JSON: invalid character")
	}
}
