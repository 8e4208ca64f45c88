package handlers

import (
	"context"
	"encoding/json"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/watcherbridge/watcherbridge/events"
	"github.com/watcherbridge/watcherbridge/events/activation"
	"github.com/watcherbridge/watcherbridge/watcherclient"
)

// auditDir is an in-memory Watcher directory.
type auditDir struct {
	mu     sync.Mutex
	users  map[int64]watcherclient.User
	grants map[[3]int64]watcherclient.FolderPermission
	next   int64
}

func newAuditDir() *auditDir {
	return &auditDir{users: map[int64]watcherclient.User{}, grants: map[[3]int64]watcherclient.FolderPermission{}, next: 100}
}

func (d *auditDir) FindUserByLogin(_ context.Context, login string) (watcherclient.User, bool, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	for _, u := range d.users {
		if u.Login == login {
			return u, true, nil
		}
	}
	return watcherclient.User{}, false, nil
}

func (d *auditDir) CreateUser(_ context.Context, u watcherclient.User) (watcherclient.User, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.next++
	u.ID, u.Password = d.next, ""
	d.users[u.ID] = u
	return u, nil
}

func (d *auditDir) UpdateUser(_ context.Context, id int64, fields any) (watcherclient.User, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	u := fields.(watcherclient.User)
	u.ID, u.Password = id, ""
	d.users[id] = u
	return u, nil
}

func (d *auditDir) GrantFolder(_ context.Context, org, folder int64, p watcherclient.FolderPermission) (watcherclient.FolderPermission, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.grants[[3]int64{org, folder, p.UserID}] = p
	return p, nil
}

func (d *auditDir) RevokeFolder(_ context.Context, org, folder, user int64) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	delete(d.grants, [3]int64{org, folder, user})
	return nil
}

func (d *auditDir) ListUsers(_ context.Context, opts watcherclient.ListOptions) ([]watcherclient.User, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	var out []watcherclient.User
	for _, u := range d.users {
		out = append(out, u)
	}
	slices.SortFunc(out, func(x, y watcherclient.User) int { return int(x.ID - y.ID) })
	if opts.Offset >= len(out) {
		return nil, nil
	}
	return out[opts.Offset:min(len(out), opts.Offset+opts.Limit)], nil
}

// auditLog is one parsed audit line.
type auditLog struct {
	Message   string   `json:"message"`
	Subject   string   `json:"subject"`
	Cause     string   `json:"cause"`
	Action    string   `json:"action"`
	EventID   string   `json:"event_id"`
	EventType string   `json:"event_type"`
	Problem   string   `json:"problem"`
	Camera    string   `json:"camera"`
	UserID    int64    `json:"user_id"`
	Login     string   `json:"login"`
	Org       int64    `json:"organization_id"`
	Folder    int64    `json:"folder_id"`
	Changed   []string `json:"changed"`
}

func auditLines(t *testing.T, buf *syncBuf, msg string) []auditLog {
	t.Helper()
	var out []auditLog
	for _, l := range strings.Split(strings.TrimSpace(buf.String()), "\n") {
		if l == "" {
			continue
		}
		var a auditLog
		if err := json.Unmarshal([]byte(l), &a); err != nil {
			t.Fatalf("%v: %s", err, l)
		}
		if a.Message == msg {
			out = append(out, a)
		}
	}
	return out
}

const auditPassword = "pw-must-not-be-logged"

func subEvent(t *testing.T, typ, id string, at time.Time, data any) events.Envelope {
	t.Helper()
	env, err := events.NewEnvelope(typ, id, "sub-1", at, data)
	if err != nil {
		t.Fatal(err)
	}
	return env
}

func auditRig(t *testing.T) (*rig, *auditDir, *syncBuf) {
	buf := &syncBuf{}
	log := zerolog.New(buf)
	dir := newAuditDir()
	return newRig(t, ApplierConfig{Unassigned: Default, Directory: dir, Log: &log}), dir, buf
}

func TestUserAndFolderWritesAreLogged(t *testing.T) {
	r, _, buf := auditRig(t)
	r.apply(t, subEvent(t, events.SubscriberCreated, "ev-create", t0,
		events.SubscriberProfile{SubscriberID: "sub-1", Login: "alice", Password: auditPassword, Name: "Alice", OrganizationID: 7}))
	r.apply(t, subEvent(t, events.SubscriberUpdated, "ev-rename", t0.Add(time.Minute),
		events.SubscriberProfile{SubscriberID: "sub-1", Login: "alice", Name: "Alice B", OrganizationID: 7}))
	r.apply(t, subEvent(t, events.SubscriberFolderGranted, "ev-grant", t0.Add(2*time.Minute),
		events.FolderAccess{SubscriberID: "sub-1", OrganizationID: 7, FolderID: 3, CanViewDVR: true}))
	r.apply(t, subEvent(t, events.SubscriberFolderRevoked, "ev-revoke", t0.Add(3*time.Minute),
		events.FolderAccess{SubscriberID: "sub-1", OrganizationID: 7, FolderID: 3}))

	created := auditLines(t, buf, "user created in Watcher")
	if len(created) != 1 {
		t.Fatalf("%d user created lines:\n%s", len(created), buf.String())
	}
	c := created[0]
	if c.Subject != "sub-1" || c.Login != "alice" || c.UserID == 0 || c.Org != 7 || c.Cause != "event" ||
		c.EventID != "ev-create" || c.EventType != events.SubscriberCreated ||
		!slices.Contains(c.Changed, "login") || !slices.Contains(c.Changed, "password") {
		t.Errorf("user created line %+v", c)
	}
	updated := auditLines(t, buf, "user updated in Watcher")
	if len(updated) != 1 || !slices.Equal(updated[0].Changed, []string{"name"}) || updated[0].EventID != "ev-rename" || updated[0].EventType != events.SubscriberUpdated {
		t.Errorf("user updated lines %+v, want one changing name only (no new password)", updated)
	}
	granted := auditLines(t, buf, "folder access granted")
	if len(granted) != 1 || granted[0].Folder != 3 || granted[0].Org != 7 || granted[0].UserID != c.UserID ||
		granted[0].Login != "alice" || granted[0].EventID != "ev-grant" || !slices.Contains(granted[0].Changed, "access") {
		t.Errorf("folder granted lines %+v", granted)
	}
	revoked := auditLines(t, buf, "folder access revoked")
	if len(revoked) != 1 || revoked[0].Folder != 3 || revoked[0].EventID != "ev-revoke" || revoked[0].EventType != events.SubscriberFolderRevoked {
		t.Errorf("folder revoked lines %+v", revoked)
	}
	if strings.Contains(buf.String(), auditPassword) {
		t.Error("password logged")
	}
}

type sliceSource []events.Envelope

func (s sliceSource) Events(_ context.Context, _ ReplayQuery, fn func(StoredEvent) error) error {
	for i, env := range s {
		b, err := env.Encode()
		if err != nil {
			return err
		}
		if err := fn(StoredEvent{Seq: uint64(i + 1), Pending: uint64(len(s) - i - 1), Data: b}); err != nil {
			return err
		}
	}
	return nil
}

func TestReplayWritesAreLogged(t *testing.T) {
	r, _, buf := auditRig(t)
	row := activation.Row{AgentSerial: "SN-RP", AgentID: "a1", AgentKey: "secret-SN-RP", StreamURL: "rtsp://127.0.0.1/a"}
	cam, _ := events.NewEnvelope(events.CameraActivated, "ev-cam", "SN-RP", t0, row)
	profile := subEvent(t, events.SubscriberCreated, "ev-sub", t0,
		events.SubscriberProfile{SubscriberID: "sub-1", Login: "bob", Password: auditPassword, OrganizationID: 7})
	r.apply(t, cam)
	r.apply(t, profile)

	rp := NewReplayer(r.applier, sliceSource{cam, profile}, zerolog.Nop())
	res, err := rp.Replay(context.Background(), ReplayQuery{Topic: events.Topics()[0], ReplayOptions: ReplayOptions{Force: true}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if res.Cameras != 1 || res.Users != 1 {
		t.Fatalf("replay result %+v", res)
	}
	cams := auditLines(t, buf, "camera re-sent by replay")
	if len(cams) != 1 || cams[0].Subject != "SN-RP" || cams[0].Camera != CameraName("SN-RP") || cams[0].Cause != "replay" ||
		cams[0].EventID != "ev-cam" || cams[0].EventType != events.CameraActivated || cams[0].Changed == nil {
		t.Errorf("camera replay lines %+v\n%s", cams, buf.String())
	}
	users := auditLines(t, buf, "user re-sent by replay")
	if len(users) != 1 || users[0].Subject != "sub-1" || users[0].Login != "bob" || users[0].Cause != "replay" ||
		users[0].EventID != "ev-sub" || users[0].EventType != events.SubscriberCreated {
		t.Errorf("user replay lines %+v", users)
	}
	if s := buf.String(); strings.Contains(s, auditPassword) || strings.Contains(s, "secret-SN-RP") {
		t.Error("secret logged")
	}
}

type auditReader struct {
	cams *watcherclient.Client
	dir  *auditDir
}

func (a auditReader) ListCameras(ctx context.Context, o watcherclient.ListOptions) ([]watcherclient.Camera, error) {
	return a.cams.ListCameras(ctx, o)
}

func (a auditReader) ListUsers(ctx context.Context, o watcherclient.ListOptions) ([]watcherclient.User, error) {
	return a.dir.ListUsers(ctx, o)
}

func TestReconcileFixesAreLogged(t *testing.T) {
	r, dir, buf := auditRig(t)
	row := activation.Row{AgentSerial: "SN-RC", AgentID: "a1", AgentKey: "secret-SN-RC", StreamURL: "rtsp://127.0.0.1/a"}
	cam, _ := events.NewEnvelope(events.CameraActivated, "ev-cam", "SN-RC", t0, row)
	r.apply(t, cam)
	r.apply(t, subEvent(t, events.SubscriberCreated, "ev-sub", t0,
		events.SubscriberProfile{SubscriberID: "sub-1", Login: "carol", Password: auditPassword, Name: "Carol", OrganizationID: 7}))

	// Watcher drifts: the camera is deleted, the user renamed by hand.
	wc := r.applier.watcher.(*watcherclient.Client)
	if err := wc.DeleteCamera(context.Background(), CameraName("SN-RC")); err != nil {
		t.Fatal(err)
	}
	dir.mu.Lock()
	for id, u := range dir.users {
		u.Name = "renamed"
		dir.users[id] = u
	}
	dir.mu.Unlock()

	rc := NewReconciler(r.applier, auditReader{cams: wc, dir: dir}, zerolog.Nop())
	res, err := rc.Reconcile(context.Background(), ReconcileQuery{Fix: true})
	if err != nil || res.Errors != 0 {
		t.Fatalf("reconcile: %v %+v", err, res)
	}
	cams := auditLines(t, buf, "camera fixed by reconcile")
	if len(cams) != 1 || cams[0].Subject != "SN-RC" || cams[0].Camera != CameraName("SN-RC") || cams[0].Cause != "reconcile" || cams[0].Problem != "missing" ||
		!slices.Contains(cams[0].Changed, "stream_url") {
		t.Errorf("camera reconcile lines %+v\n%s", cams, buf.String())
	}
	users := auditLines(t, buf, "user fixed by reconcile")
	if len(users) != 1 || users[0].Subject != "sub-1" || users[0].Login != "carol" || users[0].Problem != "different" ||
		!slices.Equal(users[0].Changed, []string{"name"}) || users[0].EventID != "" {
		t.Errorf("user reconcile lines %+v\n%s", users, buf.String())
	}
	if s := buf.String(); strings.Contains(s, auditPassword) || strings.Contains(s, "secret-SN-RC") {
		t.Error("secret logged")
	}
}

func TestAuditNeedsNoLogger(t *testing.T) {
	r := newRig(t, ApplierConfig{Unassigned: Default, Directory: newAuditDir()})
	r.apply(t, subEvent(t, events.SubscriberCreated, "ev-create", t0,
		events.SubscriberProfile{SubscriberID: "sub-1", Login: "dave", OrganizationID: 7}))
}

func TestScheduledReconcileSuggestsFixOnlyForWhatItFixes(t *testing.T) {
	var buf syncBuf
	rc := &Reconciler{log: zerolog.New(&buf)}
	rc.logScheduled(ReconcileResult{Unknown: 2}, nil)
	if s := buf.String(); strings.Contains(s, "--fix") && !strings.Contains(s, "leaves them alone") || !strings.Contains(s, `"unknown":2`) {
		t.Errorf("unknown cameras only: %s", s)
	}
	if strings.Contains(buf.String(), "run watcherbridge reconcile --fix") {
		t.Errorf("asks to run --fix for unknown cameras only: %s", buf.String())
	}
	buf = syncBuf{}
	rc.log = zerolog.New(&buf)
	rc.logScheduled(ReconcileResult{Missing: 1, Unknown: 2}, nil)
	if !strings.Contains(buf.String(), "run watcherbridge reconcile --fix") {
		t.Errorf("missing objects: %s", buf.String())
	}
}
