package store

import (
	"encoding/json"
	"path/filepath"
	"slices"
	"strconv"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
)

func cameraKeys(t *testing.T, db *DB, sub string) []string {
	t.Helper()
	var keys []string
	if err := db.View(func(tx *Tx) error {
		cams, err := tx.SubscriberCameras(sub)
		for _, c := range cams {
			keys = append(keys, c.Key())
		}
		return err
	}); err != nil {
		t.Fatal(err)
	}
	slices.Sort(keys)
	return keys
}

func TestSubscriberIndexFollowsOwner(t *testing.T) {
	db, path := openTemp(t)
	put := func(c Camera) {
		t.Helper()
		if err := db.Update(func(tx *Tx) error { return tx.PutCamera(c) }); err != nil {
			t.Fatal(err)
		}
	}
	put(Camera{Serial: "SN-1", Billing: &Billing{SubscriberID: "S1"}})
	put(Camera{CameraID: "C-1", Added: &Added{SubscriberID: "S1"}})
	put(Camera{Serial: "SN-2", Billing: &Billing{SubscriberID: "S10"}})
	if got := cameraKeys(t, db, "S1"); !slices.Equal(got, []string{AddedKey("C-1"), "SN-1"}) {
		t.Errorf("S1 cameras %q", got)
	}
	put(Camera{Serial: "SN-1", Billing: &Billing{SubscriberID: "S2"}}) // handed over
	if got := cameraKeys(t, db, "S1"); !slices.Equal(got, []string{AddedKey("C-1")}) {
		t.Errorf("S1 cameras after hand-over %q", got)
	}
	if got := cameraKeys(t, db, "S2"); !slices.Equal(got, []string{"SN-1"}) {
		t.Errorf("S2 cameras %q", got)
	}
	want := Subscriber{ID: "S1", UserID: 7, Profile: &Profile{Login: "l", OrganizationID: 2, EventID: "e", Time: time.Unix(5, 0).UTC()}}
	if err := db.Update(func(tx *Tx) error { return tx.PutSubscriber(want) }); err != nil {
		t.Fatal(err)
	}
	db.Close()
	db2, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db2.Close()
	var got Subscriber
	if err := db2.View(func(tx *Tx) error {
		var err error
		got, _, err = tx.Subscriber("S1")
		return err
	}); err != nil {
		t.Fatal(err)
	}
	if got.UserID != 7 || got.Profile.Login != "l" || !got.Profile.Time.Equal(want.Profile.Time) {
		t.Errorf("after reopen %+v", got)
	}
}

func TestMigrationFromVersion1IndexesCameras(t *testing.T) {
	path := filepath.Join(t.TempDir(), "v1.db")
	b, err := bolt.Open(path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	err = b.Update(func(tx *bolt.Tx) error {
		meta, _ := tx.CreateBucket(bucketMeta)
		cams, _ := tx.CreateBucket(bucketCameras)
		_, _ = tx.CreateBucket(bucketEventsV3)
		raw, _ := json.Marshal(Camera{Serial: "OLD-1", Billing: &Billing{SubscriberID: "S9"}})
		if err := cams.Put([]byte("OLD-1"), raw); err != nil {
			return err
		}
		return meta.Put(keyVersion, []byte("1"))
	})
	b.Close()
	if err != nil {
		t.Fatal(err)
	}
	db, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if got := cameraKeys(t, db, "S9"); !slices.Equal(got, []string{"OLD-1"}) {
		t.Errorf("migrated index for S9: %q", got)
	}
	_ = db.View(func(tx *Tx) error {
		if v := string(tx.tx.Bucket(bucketMeta).Get(keyVersion)); v != strconv.Itoa(FormatVersion) {
			t.Errorf("format version %s after migration", v)
		}
		return nil
	})
}

func TestPlanHistory(t *testing.T) {
	t.Parallel()
	var s Subscriber
	at := func(m int) time.Time { return time.Unix(int64(m*60), 0).UTC() }
	if !s.AddPlan(PlanRef{PlanID: "b", EventID: "2", Time: at(2)}) {
		t.Error("first plan is current")
	}
	if s.AddPlan(PlanRef{PlanID: "a", EventID: "1", Time: at(1)}) {
		t.Error("an older plan became current")
	}
	if s.AddPlan(PlanRef{PlanID: "a", EventID: "1", Time: at(1)}) {
		t.Error("a duplicate changed the history")
	}
	if cur := s.CurrentPlan(); cur.PlanID != "b" || len(s.Plans) != 2 {
		t.Errorf("current %+v, history %+v", cur, s.Plans)
	}
	if p := s.PlanAt(at(1)); p == nil || p.PlanID != "a" {
		t.Errorf("plan at minute 1: %+v", p)
	}
	if p := s.PlanAt(at(0)); p != nil {
		t.Errorf("plan before any: %+v", p)
	}
}

func TestSubscriberOwnersFollowLoginAndUser(t *testing.T) {
	db, _ := openTemp(t)
	put := func(s Subscriber) {
		t.Helper()
		if err := db.Update(func(tx *Tx) error { return tx.PutSubscriber(s) }); err != nil {
			t.Fatal(err)
		}
	}
	owners := func() (login, user, other string) {
		t.Helper()
		_ = db.View(func(tx *Tx) error {
			login, _ = tx.LoginOwner("ivanova")
			user, _ = tx.UserOwner(2)
			other, _ = tx.LoginOwner("petrova")
			return nil
		})
		return login, user, other
	}
	put(Subscriber{ID: "SUB-2", UserID: 2, Profile: &Profile{Login: "ivanova"}})
	put(Subscriber{ID: "SUB-14", UserID: 9, Profile: &Profile{Login: "ivanova"}}) // must not steal
	if l, u, _ := owners(); l != "SUB-2" || u != "SUB-2" {
		t.Errorf("owners %q %q, want SUB-2 twice", l, u)
	}
	put(Subscriber{ID: "SUB-2", UserID: 2, Profile: &Profile{Login: "petrova"}}) // renamed
	if l, u, o := owners(); l != "" || u != "SUB-2" || o != "SUB-2" {
		t.Errorf("after rename: ivanova %q, user 2 %q, petrova %q", l, u, o)
	}
}

func TestMigrationFromVersion2IndexesOwnersAndCreated(t *testing.T) {
	path := filepath.Join(t.TempDir(), "v2.db")
	b, err := bolt.Open(path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	at := time.Unix(600, 0).UTC()
	err = b.Update(func(tx *bolt.Tx) error {
		meta, _ := tx.CreateBucket(bucketMeta)
		for _, n := range [][]byte{bucketCameras, bucketEventsV3, bucketSubscriberCameras} {
			_, _ = tx.CreateBucket(n)
		}
		subs, _ := tx.CreateBucket(bucketSubscribers)
		raw, _ := json.Marshal(Subscriber{ID: "S1", UserID: 4, Profile: &Profile{Login: "l1"},
			Recent: []EventRef{{ID: "c1", Type: "subscriber.created", Time: at}, {ID: "u1", Type: "subscriber.updated", Time: at.Add(time.Minute)}}})
		if err := subs.Put([]byte("S1"), raw); err != nil {
			return err
		}
		return meta.Put(keyVersion, []byte("2"))
	})
	b.Close()
	if err != nil {
		t.Fatal(err)
	}
	db, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	_ = db.View(func(tx *Tx) error {
		if id, _ := tx.LoginOwner("l1"); id != "S1" {
			t.Errorf("login l1 owned by %q", id)
		}
		if id, _ := tx.UserOwner(4); id != "S1" {
			t.Errorf("user 4 owned by %q", id)
		}
		s, _, _ := tx.Subscriber("S1")
		if s.Created == nil || s.Created.EventID != "c1" {
			t.Errorf("created %+v, want c1", s.Created)
		}
		return nil
	})
}
