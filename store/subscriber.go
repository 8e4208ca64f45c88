package store

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	bolt "go.etcd.io/bbolt"
)

var (
	bucketSubscribers = []byte("subscribers")
	// bucketSubscriberCameras indexes cameras by subscriber: key
	// subscriber id, NUL, camera key; empty value. PutCamera keeps it.
	bucketSubscriberCameras = []byte("subscriber_cameras")
	// bucketSubscriberOwners maps what may belong to one subscriber only
	// to that subscriber's id: "login\x00<login>" and "user\x00<Watcher
	// user id>". PutSubscriber keeps it; the applier refuses a profile
	// whose login another subscriber holds.
	bucketSubscriberOwners = []byte("subscriber_owners")
)

// Subscriber is everything the bridge knows about one billing subscriber.
// Each part billing can change keeps the time and id of the event that set
// it, so an older event about the same part is skipped whatever order
// events arrive in.
type Subscriber struct {
	ID string `json:"id"`
	// Profile is what subscriber.created/updated said last.
	Profile *Profile `json:"profile,omitempty"`
	// UserID is the Watcher user of the subscriber, once created or found.
	UserID int64 `json:"user_id,omitempty"`
	// Plans is the history of the subscriber's plan (plan.changed, or
	// plan_id on subscriber.created/updated), oldest first. The last is
	// the current plan; a suspension follows the plan in force when the
	// payment became overdue, whatever order the events arrived in.
	Plans []PlanRef `json:"plans,omitempty"`
	// Payment is what payment.overdue/received said last.
	Payment *PaymentState `json:"payment,omitempty"`
	// Suspension is set while the subscriber is suspended for non-payment:
	// the policy in force when it began (a later plan change does not
	// alter what is undone) and exactly what it changed in Watcher.
	Suspension *Suspension `json:"suspension,omitempty"`
	// LastSuspension is the last lifted suspension, for inspection.
	LastSuspension *Suspension `json:"last_suspension,omitempty"`
	// Created is the newest subscriber.created. It alone undoes a
	// deletion: a subscriber.updated newer than Deleted changes the
	// profile, not the deletion.
	Created *Mark `json:"created,omitempty"`
	// Deleted is set by subscriber.deleted; a newer Created undoes it.
	Deleted *Mark `json:"deleted,omitempty"`
	// Folders are the folder permissions billing granted or revoked.
	Folders []FolderGrant `json:"folders,omitempty"`
	// AppliedUser is what Watcher was last told about the user.
	AppliedUser *Applied   `json:"applied_user,omitempty"`
	Recent      []EventRef `json:"recent,omitempty"`
}

// Profile is the subscriber's Watcher user as billing describes it. The
// password itself is never stored, only a hash to notice a new one.
type Profile struct {
	Login          string    `json:"login"`
	Name           string    `json:"name,omitempty"`
	OrganizationID int64     `json:"organization_id"`
	PasswordHash   string    `json:"password_hash,omitempty"`
	EventID        string    `json:"event_id"`
	Time           time.Time `json:"time"`
}

// PlanRef is a plan and the event that set it.
type PlanRef struct {
	PlanID  string    `json:"plan_id"`
	EventID string    `json:"event_id"`
	Time    time.Time `json:"time"`
}

// PaymentState is whether the subscriber is behind on payment.
type PaymentState struct {
	Overdue   bool      `json:"overdue"`
	InvoiceID string    `json:"invoice_id,omitempty"`
	EventID   string    `json:"event_id"`
	Time      time.Time `json:"time"`
}

// Mark is an event that set a state.
type Mark struct {
	EventID string    `json:"event_id"`
	Time    time.Time `json:"time"`
}

// Suspension records a suspension for non-payment.
type Suspension struct {
	Policy  string    `json:"policy"`
	PlanID  string    `json:"plan_id,omitempty"`
	EventID string    `json:"event_id"`
	Since   time.Time `json:"since"`
	// Changed is what the suspension changed in Watcher, filled in once it
	// has been applied.
	Changed    *SuspensionChanges `json:"changed,omitempty"`
	LiftedBy   string             `json:"lifted_by,omitempty"`
	LiftedAt   time.Time          `json:"lifted_at,omitzero"`
	LiftReason string             `json:"lift_reason,omitempty"`
}

// SuspensionChanges lists exactly what a suspension changed.
type SuspensionChanges struct {
	UserDisabled bool        `json:"user_disabled,omitempty"`
	UserReadonly bool        `json:"user_readonly,omitempty"`
	Cameras      []string    `json:"cameras_disabled,omitempty"` // Watcher camera names
	Folders      []FolderKey `json:"folders_revoked,omitempty"`
}

// FolderKey names a folder.
type FolderKey struct {
	OrganizationID int64 `json:"organization_id"`
	FolderID       int64 `json:"folder_id"`
}

// FolderGrant is billing's last word on one folder permission.
type FolderGrant struct {
	FolderKey
	Granted    bool      `json:"granted"`
	CanViewDVR bool      `json:"can_view_dvr,omitempty"`
	CanUsePTZ  bool      `json:"can_use_ptz,omitempty"`
	EventID    string    `json:"event_id"`
	Time       time.Time `json:"time"`
	// Applied is the hash of the permission last sent to Watcher.
	Applied string `json:"applied,omitempty"`
}

// MaxPlanHistory bounds the plan history kept per subscriber.
const MaxPlanHistory = 32

// CurrentPlan is the newest plan, or nil.
func (s *Subscriber) CurrentPlan() *PlanRef {
	if len(s.Plans) == 0 {
		return nil
	}
	return &s.Plans[len(s.Plans)-1]
}

// PlanAt is the plan in force at t: the newest set at or before t; nil
// when none was.
func (s *Subscriber) PlanAt(t time.Time) *PlanRef {
	for i := len(s.Plans) - 1; i >= 0; i-- {
		if !s.Plans[i].Time.After(t) {
			return &s.Plans[i]
		}
	}
	return nil
}

// AddPlan inserts p into the history in time order (ties by event id)
// and reports whether it became the current plan. An event already in the
// history changes nothing.
func (s *Subscriber) AddPlan(p PlanRef) (current bool) {
	for _, h := range s.Plans {
		if h.EventID == p.EventID {
			return false
		}
	}
	i := len(s.Plans)
	for i > 0 && planBefore(p, s.Plans[i-1]) {
		i--
	}
	s.Plans = append(s.Plans[:i], append([]PlanRef{p}, s.Plans[i:]...)...)
	if n := len(s.Plans); n > MaxPlanHistory {
		s.Plans = append(s.Plans[:0], s.Plans[n-MaxPlanHistory:]...)
	}
	return s.Plans[len(s.Plans)-1].EventID == p.EventID
}

func planBefore(a, b PlanRef) bool {
	if !a.Time.Equal(b.Time) {
		return a.Time.Before(b.Time)
	}
	return a.EventID < b.EventID
}

// Folder returns the grant of key, or nil.
func (s *Subscriber) Folder(key FolderKey) *FolderGrant {
	for i := range s.Folders {
		if s.Folders[i].FolderKey == key {
			return &s.Folders[i]
		}
	}
	return nil
}

// Touch appends ev to the subscriber's history, dropping the oldest.
func (s *Subscriber) Touch(ev EventRef) {
	s.Recent = append(s.Recent, ev)
	if n := len(s.Recent); n > MaxRecent {
		s.Recent = append(s.Recent[:0], s.Recent[n-MaxRecent:]...)
	}
}

// Clone returns a deep copy, so a change can be rolled back.
func (s Subscriber) Clone() Subscriber {
	b, _ := json.Marshal(s)
	var out Subscriber
	_ = json.Unmarshal(b, &out)
	return out
}

// Subscriber returns the record of id; ok is false when none exists.
func (t *Tx) Subscriber(id string) (s Subscriber, ok bool, err error) {
	b := t.tx.Bucket(bucketSubscribers)
	if b == nil {
		return Subscriber{}, false, nil
	}
	raw := b.Get([]byte(id))
	if raw == nil {
		return Subscriber{}, false, nil
	}
	if err := json.Unmarshal(raw, &s); err != nil {
		return Subscriber{}, false, fmt.Errorf("decode subscriber %q: %w", id, err)
	}
	return s, true, nil
}

// PutSubscriber stores s under its id, and moves its claims on a login
// and a Watcher user (see LoginOwner, UserOwner) to what s now holds.
func (t *Tx) PutSubscriber(s Subscriber) error {
	if s.ID == "" {
		return errors.New("put subscriber: empty id")
	}
	raw, err := json.Marshal(s)
	if err != nil {
		return fmt.Errorf("encode subscriber %q: %w", s.ID, err)
	}
	prev, _, err := t.Subscriber(s.ID)
	if err != nil {
		return err
	}
	if err := reclaim(t.tx, s.ID, ownerKeys(prev), ownerKeys(s)); err != nil {
		return err
	}
	return t.tx.Bucket(bucketSubscribers).Put([]byte(s.ID), raw)
}

// LoginOwner returns the subscriber whose Watcher user has login; ok is
// false when no subscriber has it.
func (t *Tx) LoginOwner(login string) (id string, ok bool) {
	return t.owner(loginKey(login))
}

// UserOwner returns the subscriber mapped to the Watcher user with id
// user; ok is false when none is.
func (t *Tx) UserOwner(user int64) (id string, ok bool) {
	return t.owner(userKey(user))
}

func (t *Tx) owner(key []byte) (string, bool) {
	b := t.tx.Bucket(bucketSubscriberOwners)
	if b == nil || key == nil {
		return "", false
	}
	v := b.Get(key)
	return string(v), v != nil
}

func loginKey(login string) []byte {
	if login == "" {
		return nil
	}
	return append([]byte("login\x00"), login...)
}

func userKey(user int64) []byte {
	if user == 0 {
		return nil
	}
	return fmt.Appendf([]byte("user\x00"), "%d", user)
}

// ownerKeys are the claims s holds.
func ownerKeys(s Subscriber) [][]byte {
	var keys [][]byte
	if s.Profile != nil {
		keys = append(keys, loginKey(s.Profile.Login))
	}
	if k := userKey(s.UserID); k != nil {
		keys = append(keys, k)
	}
	return keys
}

// reclaim releases the claims of subscriber id in old that new lacks and
// takes those of new that nobody holds; a claim held by another
// subscriber is left to it.
func reclaim(tx *bolt.Tx, id string, old, new [][]byte) error {
	b := tx.Bucket(bucketSubscriberOwners)
	for _, k := range old {
		if k == nil || slices.ContainsFunc(new, func(n []byte) bool { return bytes.Equal(n, k) }) {
			continue
		}
		if string(b.Get(k)) == id {
			if err := b.Delete(k); err != nil {
				return err
			}
		}
	}
	for _, k := range new {
		if k == nil || b.Get(k) != nil {
			continue
		}
		if err := b.Put(k, []byte(id)); err != nil {
			return err
		}
	}
	return nil
}

// EachSubscriber calls fn for every subscriber in id order.
func (t *Tx) EachSubscriber(fn func(Subscriber) error) error {
	b := t.tx.Bucket(bucketSubscribers)
	if b == nil {
		return nil
	}
	return b.ForEach(func(k, v []byte) error {
		var s Subscriber
		if err := json.Unmarshal(v, &s); err != nil {
			return fmt.Errorf("decode subscriber %q: %w", k, err)
		}
		return fn(s)
	})
}

// SubscriberCameras returns the cameras whose owner is subscriber id.
func (t *Tx) SubscriberCameras(id string) ([]Camera, error) {
	b := t.tx.Bucket(bucketSubscriberCameras)
	if b == nil || id == "" {
		return nil, nil
	}
	prefix := append([]byte(id), 0)
	var out []Camera
	c := b.Cursor()
	for k, _ := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, _ = c.Next() {
		key := string(k[len(prefix):])
		cam, ok, err := t.Camera(key)
		if err != nil {
			return nil, err
		}
		if ok {
			out = append(out, cam)
		}
	}
	return out, nil
}

// reindexCamera moves key's index entry from the subscriber old to new.
func reindexCamera(tx *bolt.Tx, key, old, new string) error {
	if old == new {
		return nil
	}
	b := tx.Bucket(bucketSubscriberCameras)
	if old != "" {
		if err := b.Delete(indexKey(old, key)); err != nil {
			return err
		}
	}
	if new != "" {
		return b.Put(indexKey(new, key), nil)
	}
	return nil
}

func indexKey(sub, cam string) []byte {
	k := make([]byte, 0, len(sub)+1+len(cam))
	k = append(k, sub...)
	k = append(k, 0)
	return append(k, cam...)
}

// addSubscriberIndex is the migration from version 1: the subscriber
// bucket and the index of every existing camera by its subscriber.
func addSubscriberIndex(tx *bolt.Tx) error {
	for _, name := range [][]byte{bucketSubscribers, bucketSubscriberCameras} {
		if _, err := tx.CreateBucketIfNotExists(name); err != nil {
			return err
		}
	}
	cams := tx.Bucket(bucketCameras)
	if cams == nil {
		return nil
	}
	return cams.ForEach(func(k, v []byte) error {
		var c Camera
		if err := json.Unmarshal(v, &c); err != nil {
			return fmt.Errorf("decode camera %q: %w", k, err)
		}
		return reindexCamera(tx, string(k), "", c.SubscriberID())
	})
}

// addSubscriberOwners is the migration from version 2: the index of
// logins and Watcher users by subscriber (the first subscriber in id
// order keeps a claim two of them hold), and Created, which older builds
// did not keep, from the subscriber.created events still in the history.
func addSubscriberOwners(tx *bolt.Tx) error {
	if _, err := tx.CreateBucketIfNotExists(bucketSubscriberOwners); err != nil {
		return err
	}
	subs := tx.Bucket(bucketSubscribers)
	if subs == nil {
		return nil
	}
	var recs []Subscriber
	if err := subs.ForEach(func(k, v []byte) error {
		var s Subscriber
		if err := json.Unmarshal(v, &s); err != nil {
			return fmt.Errorf("decode subscriber %q: %w", k, err)
		}
		recs = append(recs, s)
		return nil
	}); err != nil {
		return err
	}
	for _, s := range recs {
		if err := reclaim(tx, s.ID, nil, ownerKeys(s)); err != nil {
			return err
		}
		if s.Created != nil {
			continue
		}
		for _, ev := range s.Recent {
			if ev.Type == "subscriber.created" && (s.Created == nil || ev.Time.After(s.Created.Time) ||
				(ev.Time.Equal(s.Created.Time) && ev.ID > s.Created.EventID)) {
				s.Created = &Mark{EventID: ev.ID, Time: ev.Time}
			}
		}
		if s.Created == nil {
			continue
		}
		raw, err := json.Marshal(s)
		if err != nil {
			return fmt.Errorf("encode subscriber %q: %w", s.ID, err)
		}
		if err := subs.Put([]byte(s.ID), raw); err != nil {
			return err
		}
	}
	return nil
}
