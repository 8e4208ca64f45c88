package handlers

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/rs/zerolog"

	"github.com/watcherbridge/watcherbridge/events"
	"github.com/watcherbridge/watcherbridge/handlers/plans"
	"github.com/watcherbridge/watcherbridge/store"
	"github.com/watcherbridge/watcherbridge/watcherclient"
)

// Subscriber-level events (subscriber.*, plan.changed, payment.*) run in
// the same applier goroutine as camera events, inside the same groups.
// One goroutine owning every record keeps the two kinds from racing: a
// plan change and a camera assignment touching the same camera are merged
// into one desired state and one import, and no two Watcher calls about
// one object are ever in flight at once. Subscriber events are rare next
// to camera events, so handling their user and folder calls one after the
// other costs little; their camera changes join the group's import.

// Directory is the part of Watcher holding users and folder permissions.
type Directory interface {
	FindUserByLogin(ctx context.Context, login string) (watcherclient.User, bool, error)
	CreateUser(ctx context.Context, u watcherclient.User) (watcherclient.User, error)
	UpdateUser(ctx context.Context, id int64, fields any) (watcherclient.User, error)
	GrantFolder(ctx context.Context, org, folder int64, p watcherclient.FolderPermission) (watcherclient.FolderPermission, error)
	RevokeFolder(ctx context.Context, org, folder, user int64) error
}

// subWork is one subscriber touched by a group.
type subWork struct {
	orig    store.Subscriber // as loaded, to roll back on failure
	rec     store.Subscriber
	reqs    []*request
	changed bool
	// password is the plain password of the newest profile event of the
	// group; it is sent to Watcher and never stored.
	password string
	// wrote is set when a Watcher call was made for the subscriber,
	// directly or through one of its cameras.
	wrote bool
	err   error
	// group is every subscriber of the group, so a claim on a login or a
	// Watcher user made earlier in the same group counts.
	group map[string]*subWork
	// cause says why Watcher is written, for the audit lines; the zero
	// value means the live events of reqs.
	cause auditCause
}

// auditCause is why the bridge wrote to Watcher, as told by the audit
// lines (one Info line per Watcher write).
type auditCause struct {
	kind string // "event" (live; the zero value), "replay" or "reconcile"
	// ev is the event that caused the write: the live or replayed one.
	ev *events.Envelope
	// problem and changed are what a reconciliation found: missing or
	// different, and the fields Watcher held differently.
	problem string
	changed []string
}

func (c auditCause) kindName() string {
	if c.kind == "" {
		return "event"
	}
	return c.kind
}

// auditMessages are the audit lines' messages by cause and write.
var auditMessages = map[string]map[string]string{
	"event": {
		"user create": "user created in Watcher", "user update": "user updated in Watcher",
		"folder grant": "folder access granted", "folder revoke": "folder access revoked",
	},
	"replay": {
		"user create": "user re-sent by replay", "user update": "user re-sent by replay",
		"folder grant": "folder access re-sent by replay", "folder revoke": "folder access re-sent by replay",
		"camera": "camera re-sent by replay",
	},
	"reconcile": {
		"user create": "user fixed by reconcile", "user update": "user fixed by reconcile",
		"folder grant": "folder access fixed by reconcile", "folder revoke": "folder access fixed by reconcile",
		"camera": "camera fixed by reconcile",
	},
}

// auditLine starts the Info line of one Watcher write (what is "user
// create", "folder revoke", "camera" and so on), with its subject and
// cause, and returns it with its message; nil when the applier has no
// logger. Callers add the object and the changed field names, never a
// secret's value.
func (a *Applier) auditLine(cause auditCause, what, subject string) (*zerolog.Event, string) {
	if a.cfg.Log == nil {
		return nil, ""
	}
	kind := cause.kindName()
	e := a.cfg.Log.Info().Str("subject", subject)
	if _, action, ok := strings.Cut(what, " "); ok {
		e = e.Str("action", action)
	}
	e = e.Str("cause", kind)
	if cause.ev != nil {
		e = e.Str("event_id", cause.ev.ID).Str("event_type", cause.ev.Type)
	}
	if cause.problem != "" {
		e = e.Str("problem", cause.problem)
	}
	msg := auditMessages[kind][what]
	if msg == "" {
		msg = what + " written to Watcher"
	}
	return e, msg
}

// subCause is the cause of the subscriber's writes: the one set by a
// replay or reconciliation, else the newest live event of the group that
// was not stale.
func subCause(sw *subWork) auditCause {
	if sw.cause.kind != "" {
		return sw.cause
	}
	c := auditCause{kind: "event"}
	for _, r := range sw.reqs {
		if r.outcome != Stale {
			c.ev = &r.ev
		}
	}
	if c.ev == nil && len(sw.reqs) > 0 {
		c.ev = &sw.reqs[len(sw.reqs)-1].ev
	}
	return c
}

// maskedUser is the user as sent, without the password, for the record
// and the audit lines.
func maskedUser(u watcherclient.User) json.RawMessage {
	u.Password = ""
	b, _ := json.Marshal(u)
	return b
}

// userChanged names the fields of the user sent that differ from what was
// last sent (all of them when that is unknown), and password when a new
// one was sent; reconcile names what Watcher held differently instead.
func userChanged(sw *subWork, cause auditCause, masked json.RawMessage, passwordSent bool) []string {
	var out []string
	if cause.problem == "different" {
		out = slices.Clone(cause.changed)
	} else {
		var prev json.RawMessage
		if sw.orig.AppliedUser != nil && cause.problem == "" {
			prev = sw.orig.AppliedUser.Fields
		}
		out = changedFields(&store.Applied{Fields: prev}, "", masked)
	}
	if passwordSent && !slices.Contains(out, "password") {
		if p := sw.orig.Profile; p == nil || sw.rec.Profile == nil || p.PasswordHash != sw.rec.Profile.PasswordHash || cause.problem != "" {
			out = append(out, "password")
		}
	}
	slices.Sort(out)
	if out == nil {
		out = []string{}
	}
	return out
}

// folderChanged names what a grant changes next to the previous applied
// mark: access itself, or the permissions that differ.
func folderChanged(prev string, g store.FolderGrant, user int64) []string {
	var dvr, ptz bool
	var was int64
	if n, _ := fmt.Sscanf(prev, "granted:%d:%t:%t", &was, &dvr, &ptz); n != 3 || was != user {
		return []string{"access", "can_use_ptz", "can_view_dvr"}
	}
	out := []string{}
	if ptz != g.CanUsePTZ {
		out = append(out, "can_use_ptz")
	}
	if dvr != g.CanViewDVR {
		out = append(out, "can_view_dvr")
	}
	return out
}

// isSubscriberEvent tells the events keyed by subscriber.
func isSubscriberEvent(typ string) bool {
	switch typ {
	case events.SubscriberCreated, events.SubscriberUpdated, events.SubscriberDeleted,
		events.SubscriberFolderGranted, events.SubscriberFolderRevoked,
		events.PlanChanged, events.PaymentOverdue, events.PaymentReceived:
		return true
	}
	return false
}

// mergeSubscriber folds r into rec, one field at a time; false means r is
// older than what rec holds for every field it carries.
func mergeSubscriber(rec *store.Subscriber, r *request) bool {
	ev := r.ev
	switch p := r.payload.(type) {
	case *events.SubscriberProfile:
		applied := false
		if cur := rec.Profile; cur == nil || newer(ev, cur.Time, cur.EventID) {
			prof := &store.Profile{Login: p.Login, Name: p.Name, OrganizationID: int64(p.OrganizationID), EventID: ev.ID, Time: ev.Time}
			if p.Password != "" {
				prof.PasswordHash = passwordHash(rec.ID, p.Password)
			} else if cur != nil {
				prof.PasswordHash = cur.PasswordHash
			}
			rec.Profile = prof
			applied = true
		}
		if p.PlanID != "" && rec.AddPlan(store.PlanRef{PlanID: p.PlanID, EventID: ev.ID, Time: ev.Time}) {
			applied = true
		}
		// Kept apart from the profile: a subscriber.created older than the
		// profile still decides whether a deletion was undone.
		if ev.Type == events.SubscriberCreated && (rec.Created == nil || newer(ev, rec.Created.Time, rec.Created.EventID)) {
			rec.Created = &store.Mark{EventID: ev.ID, Time: ev.Time}
			applied = true
		}
		return applied
	case *events.SubscriberDeletion:
		if cur := rec.Deleted; cur != nil && !newer(ev, cur.Time, cur.EventID) {
			return false
		}
		rec.Deleted = &store.Mark{EventID: ev.ID, Time: ev.Time}
	case *events.FolderAccess:
		key := store.FolderKey{OrganizationID: int64(p.OrganizationID), FolderID: int64(p.FolderID)}
		g := rec.Folder(key)
		if g == nil {
			rec.Folders = append(rec.Folders, store.FolderGrant{FolderKey: key})
			g = &rec.Folders[len(rec.Folders)-1]
		} else if !newer(ev, g.Time, g.EventID) {
			return false
		}
		g.Granted = ev.Type == events.SubscriberFolderGranted
		g.CanViewDVR, g.CanUsePTZ = g.Granted && p.CanViewDVR, g.Granted && p.CanUsePTZ
		g.EventID, g.Time = ev.ID, ev.Time
	case *events.PlanChange:
		return rec.AddPlan(store.PlanRef{PlanID: p.PlanID, EventID: ev.ID, Time: ev.Time})
	case *events.Payment:
		if cur := rec.Payment; cur != nil && !newer(ev, cur.Time, cur.EventID) {
			return false
		}
		rec.Payment = &store.PaymentState{Overdue: ev.Type == events.PaymentOverdue, InvoiceID: p.InvoiceID, EventID: ev.ID, Time: ev.Time}
	}
	return true
}

// passwordHash lets the record notice a new password without keeping it.
func passwordHash(subscriber, password string) string {
	sum := sha256.Sum256([]byte("watcherbridge-password\x00" + subscriber + "\x00" + password))
	return hex.EncodeToString(sum[:16])
}

// subscriberDeleted tells whether subscriber.deleted is newer than every
// subscriber.created. Only billing creating the subscriber again undoes a
// deletion; a subscriber.updated after it changes the stored profile (and
// the disabled user's name) but enables nothing.
func subscriberDeleted(s *store.Subscriber) bool {
	d := s.Deleted
	if d == nil {
		return false
	}
	return s.Created == nil || later(d.Time, d.EventID, s.Created.Time, s.Created.EventID)
}

// loginConflict refuses a profile event giving the subscriber a login
// whose Watcher user belongs to another subscriber: the bridge finds users
// by login, so it would take over (password, organization, enabled) the
// other subscriber's user. The check counts claims stored and those made
// earlier in the same group; a deleted subscriber keeps its login.
func loginConflict(tx *store.Tx, sw *subWork, r *request) error {
	p, ok := r.payload.(*events.SubscriberProfile)
	if !ok {
		return nil
	}
	if cur := sw.rec.Profile; cur != nil && (cur.Login == p.Login || !newer(r.ev, cur.Time, cur.EventID)) {
		return nil // its own login already, or stale: the merge decides
	}
	owner, _ := tx.LoginOwner(p.Login)
	if o := sw.group[owner]; o != nil && (o.rec.Profile == nil || o.rec.Profile.Login != p.Login) {
		owner = "" // renamed earlier in this group
	}
	for id, o := range sw.group {
		if o.rec.Profile != nil && o.rec.Profile.Login == p.Login {
			owner = id
		}
	}
	if owner == "" || owner == sw.rec.ID {
		return nil
	}
	return &PermanentError{Reason: fmt.Sprintf("subscriber %s: login %q already belongs to subscriber %s (one Watcher user per subscriber); nothing was changed in Watcher: fix the login in billing and publish the event again", sw.rec.ID, p.Login, owner)}
}

// userOwner returns the subscriber other than sw mapped to Watcher user
// id, or "".
func (a *Applier) userOwner(sw *subWork, id int64) (string, error) {
	for other, o := range sw.group {
		if other != sw.rec.ID && o.rec.UserID == id {
			return other, nil
		}
	}
	var owner string
	err := a.db.View(func(tx *store.Tx) error {
		owner, _ = tx.UserOwner(id)
		return nil
	})
	if owner == sw.rec.ID {
		owner = ""
	}
	return owner, err
}

// suspensionPolicy is the policy of the subscriber's current suspension:
// the policy of the plan in force when the payment became overdue (so a
// plan change during the suspension does not change what is undone), or
// the plans file's default when no plan was known then.
func suspensionPolicy(s *store.Subscriber, ps *plans.Set) (plans.Policy, bool) {
	if s.Payment == nil || !s.Payment.Overdue {
		return "", false
	}
	if ref := s.PlanAt(s.Payment.Time); ref != nil {
		if p, ok := ps.Get(ref.PlanID); ok {
			return p.Suspension, true
		}
	}
	if ps != nil {
		return ps.DefaultSuspension, true
	}
	return plans.DisableUser, true
}

// desiredUser is the Watcher user the subscriber should have, with the
// fields the bridge owns, and its fingerprint; ok is false before billing
// described the user.
func desiredUser(s *store.Subscriber, ps *plans.Set) (u watcherclient.User, hash string, ok bool) {
	p := s.Profile
	if p == nil {
		return u, "", false
	}
	pol, suspended := suspensionPolicy(s, ps)
	enabled := !subscriberDeleted(s) && !(suspended && pol.DisablesUser())
	readonly := suspended && pol.ReadonlyUser()
	org := p.OrganizationID
	// organizations is sent whole, so a new organization_id also ends the
	// membership of the old one.
	u = watcherclient.User{Login: p.Login, Name: p.Name, OrganizationID: &org, Organizations: []int64{org}, Enabled: &enabled, Readonly: &readonly}
	b, _ := json.Marshal(struct {
		U watcherclient.User
		P string
	}{u, p.PasswordHash})
	sum := sha256.Sum256(b)
	return u, hex.EncodeToString(sum[:16]), true
}

// folderWanted tells whether a folder permission should exist now: not
// while the subscriber is deleted (a subscriber.created grants it again).
func folderWanted(s *store.Subscriber, g store.FolderGrant, ps *plans.Set) bool {
	if !g.Granted || subscriberDeleted(s) {
		return false
	}
	pol, suspended := suspensionPolicy(s, ps)
	return !(suspended && pol.RevokesFolders())
}

func folderHash(g store.FolderGrant, want bool, user int64) string {
	if !want {
		return fmt.Sprintf("revoked:%d", user)
	}
	return fmt.Sprintf("granted:%d:%t:%t", user, g.CanViewDVR, g.CanUsePTZ)
}

// syncSubscriber brings the subscriber's user and folder permissions in
// Watcher in line with the record, calling Watcher only for what differs
// from what it was last told.
func (a *Applier) syncSubscriber(ctx context.Context, sw *subWork) error {
	rec := &sw.rec
	dir := a.cfg.Directory
	if dir == nil {
		return &PermanentError{Reason: "the bridge has no Watcher directory client for subscriber events"}
	}
	if u, hash, ok := desiredUser(rec, a.cfg.Plans); ok && (rec.UserID == 0 || rec.AppliedUser == nil || rec.AppliedUser.Hash != hash) {
		masked := maskedUser(u)
		if sw.password != "" {
			u.Password = sw.password
		}
		id, created, err := a.putUser(ctx, sw, u)
		if err != nil {
			return err
		}
		cause := subCause(sw)
		what := "user update"
		if created {
			what = "user create"
		}
		if e, msg := a.auditLine(cause, what, rec.ID); e != nil {
			e.Int64("user_id", id).Str("login", u.Login).Int64("organization_id", *u.OrganizationID).
				Strs("changed", userChanged(sw, cause, masked, u.Password != "")).Msg(msg)
		}
		rec.UserID = id
		rec.AppliedUser = &store.Applied{Hash: hash, Fields: masked, EventID: lastEventID(sw), At: a.now()}
		sw.wrote = true
	}
	if rec.UserID == 0 {
		return nil // folders wait for the user
	}
	for i := range rec.Folders {
		g := &rec.Folders[i]
		want := folderWanted(rec, *g, a.cfg.Plans)
		h := folderHash(*g, want, rec.UserID)
		if g.Applied == h {
			continue
		}
		var err error
		var audit *zerolog.Event
		var msg string
		cause := subCause(sw)
		cause.problem, cause.changed = "", nil // reconcile compares users, not folders
		if want {
			_, err = dir.GrantFolder(ctx, g.OrganizationID, g.FolderID, watcherclient.FolderPermission{UserID: rec.UserID, CanViewDVR: g.CanViewDVR, CanUsePTZ: g.CanUsePTZ})
			if audit, msg = a.auditLine(cause, "folder grant", rec.ID); audit != nil {
				prev := ""
				if pg := sw.orig.Folder(g.FolderKey); pg != nil {
					prev = pg.Applied
				}
				audit = audit.Bool("can_view_dvr", g.CanViewDVR).Bool("can_use_ptz", g.CanUsePTZ).
					Strs("changed", folderChanged(prev, *g, rec.UserID))
			}
		} else if g.Applied != "" { // never granted by us: nothing to revoke
			err = dir.RevokeFolder(ctx, g.OrganizationID, g.FolderID, rec.UserID)
			if watcherclient.IsNotFound(err) {
				err = nil // already without access: Watcher did not change
			} else if audit, msg = a.auditLine(cause, "folder revoke", rec.ID); audit != nil {
				audit = audit.Strs("changed", []string{"access"})
			}
		}
		if err != nil {
			return classifyDirectory(fmt.Sprintf("folder %d of organization %d for subscriber %s", g.FolderID, g.OrganizationID, rec.ID), err)
		}
		if audit != nil {
			audit.Int64("user_id", rec.UserID).Str("login", userLogin(rec)).Int64("organization_id", g.OrganizationID).
				Int64("folder_id", g.FolderID).Msg(msg)
		}
		if want || g.Applied != "" {
			sw.wrote = true
		}
		g.Applied = h
	}
	return nil
}

// putUser sends the whole desired user: a PUT when its id is known, else
// it finds the user by exact login (search is a substring match) or
// creates it. A user found that way but mapped to another subscriber is
// refused before any write.
func (a *Applier) putUser(ctx context.Context, sw *subWork, u watcherclient.User) (id int64, created bool, err error) {
	dir := a.cfg.Directory
	id = sw.rec.UserID
	op := "user " + u.Login
	if id != 0 {
		_, err := dir.UpdateUser(ctx, id, u)
		if err == nil {
			return id, false, nil
		}
		if !watcherclient.IsNotFound(err) {
			return 0, false, classifyDirectory(op, err)
		}
		// Deleted in Watcher by hand: find or create it again.
	}
	found, ok, err := dir.FindUserByLogin(ctx, u.Login)
	if err != nil {
		return 0, false, classifyDirectory(op, err)
	}
	if ok {
		owner, err := a.userOwner(sw, found.ID)
		if err != nil {
			return 0, false, err
		}
		if owner != "" {
			return 0, false, &PermanentError{Reason: fmt.Sprintf("subscriber %s: Watcher user %d (login %q) already belongs to subscriber %s; nothing was changed in Watcher", sw.rec.ID, found.ID, u.Login, owner)}
		}
		if _, err := dir.UpdateUser(ctx, found.ID, u); err != nil {
			return 0, false, classifyDirectory(op, err)
		}
		return found.ID, false, nil
	}
	made, err := dir.CreateUser(ctx, u)
	if err != nil {
		return 0, false, classifyDirectory(op, err)
	}
	return made.ID, true, nil
}

// userLogin is the subscriber's login, for the audit lines.
func userLogin(s *store.Subscriber) string {
	if s.Profile == nil {
		return ""
	}
	return s.Profile.Login
}

// classifyDirectory is classifyWatcher for user and folder calls, where a
// 404 names a missing object of the event (a folder billing got wrong),
// not the bridge's URL.
func classifyDirectory(op string, err error) error {
	var api *watcherclient.APIError
	if errors.As(err, &api) && api.Status == 404 {
		return &PermanentError{Reason: "watcher has no " + op, WatcherStatus: 404, WatcherBody: api.Body, Err: err}
	}
	return classifyWatcher(op, err)
}

func lastEventID(sw *subWork) string {
	if len(sw.reqs) == 0 {
		return ""
	}
	return sw.reqs[len(sw.reqs)-1].ev.ID
}

// recordSuspension keeps exactly what the current suspension changed,
// once it has been applied, and moves a lifted one to LastSuspension.
func (a *Applier) recordSuspension(sw *subWork, cams map[string]*work) {
	rec := &sw.rec
	pol, suspended := suspensionPolicy(rec, a.cfg.Plans)
	if !suspended {
		if s := rec.Suspension; s != nil {
			s.LiftedBy, s.LiftedAt = rec.Payment.EventID, rec.Payment.Time
			rec.LastSuspension, rec.Suspension = s, nil
		}
		return
	}
	if s := rec.Suspension; s != nil && s.EventID == rec.Payment.EventID && s.Policy == string(pol) && s.Changed != nil {
		return
	}
	s := &store.Suspension{Policy: string(pol), EventID: rec.Payment.EventID, Since: rec.Payment.Time, Changed: &store.SuspensionChanges{}}
	if ref := rec.PlanAt(rec.Payment.Time); ref != nil {
		s.PlanID = ref.PlanID
	}
	if rec.UserID != 0 && !subscriberDeleted(rec) {
		s.Changed.UserDisabled = pol.DisablesUser()
		s.Changed.UserReadonly = pol.ReadonlyUser()
	}
	if pol.DisablesCameras() {
		for _, w := range cams {
			if w.rec.SubscriberID() == rec.ID && w.desired.Name != "" && !cameraUnassigned(w.rec) && !subscriberDeleted(rec) {
				s.Changed.Cameras = append(s.Changed.Cameras, w.desired.Name)
			}
		}
		slices.Sort(s.Changed.Cameras)
	}
	if pol.RevokesFolders() && rec.UserID != 0 {
		for _, g := range rec.Folders {
			if g.Granted {
				s.Changed.Folders = append(s.Changed.Folders, g.FolderKey)
			}
		}
	}
	rec.Suspension = s
}
