package store

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/watcherbridge/watcherbridge/events/activation"
)

func openTemp(t *testing.T) (*DB, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "state.db")
	db, err := Open(path, Options{LockTimeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db, path
}

func TestCameraSurvivesReopen(t *testing.T) {
	db, path := openTemp(t)
	want := Camera{
		Serial:     "SN-1",
		Activation: &Activation{Row: activation.Row{AgentSerial: "SN-1", AgentID: "a1", AgentKey: "k"}, EventID: "e1", Time: time.Unix(100, 0).UTC()},
		Billing:    &Billing{OrganizationID: 2, PresetID: 3, SubscriberID: "S1", EventID: "e2", Time: time.Unix(200, 0).UTC()},
	}
	if err := db.Update(func(tx *Tx) error {
		if err := tx.PutCamera(want); err != nil {
			return err
		}
		return tx.MarkSeen("e1", time.Now())
	}); err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	db2, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db2.Close()
	err = db2.View(func(tx *Tx) error {
		got, ok, err := tx.Camera("SN-1")
		if err != nil || !ok {
			t.Fatalf("camera after reopen: ok=%v err=%v", ok, err)
		}
		if got.Activation.Row.AgentID != "a1" || got.Billing.OrganizationID != 2 || !got.Activation.Time.Equal(want.Activation.Time) {
			t.Errorf("camera after reopen = %+v", got)
		}
		if !tx.Seen("e1") || tx.Seen("e2") {
			t.Errorf("ledger after reopen: e1 seen=%v e2 seen=%v, want true false", tx.Seen("e1"), tx.Seen("e2"))
		}
		_, ok, _ = tx.Camera("nope")
		if ok {
			t.Error("unknown serial found")
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func TestLockedFileNamesHolder(t *testing.T) {
	_, path := openTemp(t)
	_, err := Open(path, Options{LockTimeout: 100 * time.Millisecond})
	var locked *LockedError
	if !errors.As(err, &locked) {
		t.Fatalf("second open: got %v, want a LockedError", err)
	}
	if locked.PID != os.Getpid() {
		t.Errorf("holder pid = %d, want this process %d", locked.PID, os.Getpid())
	}
	if !strings.Contains(err.Error(), path) || !strings.Contains(err.Error(), "--data-dir") {
		t.Errorf("error %q should name the file and the fix", err)
	}
}

func TestNewerFormatIsRefused(t *testing.T) {
	db, path := openTemp(t)
	if err := db.bolt.Update(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketMeta).Put(keyVersion, []byte("99"))
	}); err != nil {
		t.Fatal(err)
	}
	db.Close()
	_, err := Open(path, Options{})
	if err == nil || !strings.Contains(err.Error(), "newer watcherbridge") {
		t.Fatalf("open of a version-99 file: got %v, want a refusal asking for a newer build", err)
	}
}

func TestBackupIsVerifiable(t *testing.T) {
	db, _ := openTemp(t)
	if err := db.Update(func(tx *Tx) error {
		for _, s := range []string{"A", "B"} {
			if err := tx.PutCamera(Camera{Serial: s, Applied: &Applied{Hash: "h"}}); err != nil {
				return err
			}
		}
		return tx.MarkSeen("e", time.Now())
	}); err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if _, err := db.Backup(&buf); err != nil {
		t.Fatal(err)
	}
	copyPath := filepath.Join(t.TempDir(), "backup.db")
	if err := os.WriteFile(copyPath, buf.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	sum, err := Verify(copyPath)
	if err != nil {
		t.Fatal(err)
	}
	if sum.Cameras != 2 || sum.Applied != 2 || sum.Events != 1 {
		t.Errorf("summary = %+v, want 2 cameras, 2 applied, 1 event", sum)
	}
	garbage := filepath.Join(t.TempDir(), "garbage.db")
	os.WriteFile(garbage, bytes.Repeat([]byte{0xAB}, 8192), 0o600)
	if _, err := Verify(garbage); err == nil {
		t.Error("Verify accepted a file of garbage")
	}
}

func TestTouchKeepsNewest(t *testing.T) {
	var c Camera
	for i := range MaxRecent + 3 {
		c.Touch(EventRef{ID: string(rune('a' + i))})
	}
	if len(c.Recent) != MaxRecent || c.Recent[0].ID != "d" || c.Recent[MaxRecent-1].ID != string(rune('a'+MaxRecent+2)) {
		t.Errorf("recent = %+v", c.Recent)
	}
}

func TestVerifyReportsDamageInsteadOfCrashing(t *testing.T) {
	db, _ := openTemp(t)
	if err := db.Update(func(tx *Tx) error {
		for i := range 2000 {
			if err := tx.PutCamera(Camera{Serial: fmt.Sprintf("S-%05d", i), Applied: &Applied{Hash: strings.Repeat("h", 200)}}); err != nil {
				return err
			}
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if _, err := db.Backup(&buf); err != nil {
		t.Fatal(err)
	}
	good := buf.Bytes()
	tests := []struct {
		name string
		give func([]byte) []byte
	}{
		{name: "truncated", give: func(b []byte) []byte { return b[:100000] }},
		{name: "truncated to pages", give: func(b []byte) []byte { return b[:len(b)/2/4096*4096] }},
		{name: "middle page header overwritten", give: func(b []byte) []byte {
			off := len(b) / 2 / 4096 * 4096
			copy(b[off:], bytes.Repeat([]byte{0xde, 0xad, 0xbe, 0xef}, 4))
			return b
		}},
		{name: "page 2 overwritten", give: func(b []byte) []byte {
			copy(b[8192:], []byte{0xde, 0xad, 0xbe, 0xef, 0xde, 0xad, 0xbe, 0xef})
			return b
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "bad.db")
			os.WriteFile(path, tt.give(bytes.Clone(good)), 0o600)
			if _, err := Verify(path); err == nil {
				t.Fatal("Verify accepted a damaged copy")
			}
		})
	}
}

// TestMigrationFromVersion3CompactsRecords: a version 3 file (JSON camera
// records, event ids as ledger keys) opens with every camera reading as
// it did, the ledger and indexes answering as before, in binary records a
// backup of which verifies.
func TestMigrationFromVersion3CompactsRecords(t *testing.T) {
	// Many chunks, so that each transaction resumes where the one before
	// stopped.
	defer func(n int) { migrateChunk = n }(migrateChunk)
	migrateChunk = 37
	path := filepath.Join(t.TempDir(), "v3.db")
	at := time.Date(2026, 12, 3, 18, 33, 30, 123456789, time.UTC)
	ptz := true
	cams := []Camera{
		benchCamera(1, at),
		{
			Serial: "IRIS-1",
			Activation: &Activation{Row: activation.Row{AgentSerial: "IRIS-1", AgentID: "a1", AgentKey: "k1", AgentModel: "IRIS", StreamURL: "rtsp://h/main?a=1&b=2", PTZ: &ptz},
				EventID: "act-00112233445566778899aabbccddeeff", Time: at},
			Billing:    &Billing{OrganizationID: 2, PresetID: 3, PlanID: "basic", SubscriberID: "SUB-1", Title: "Ivanova: <porch>", EventID: "asg-1", Time: at.Add(time.Minute)},
			Unassigned: &Unassignment{Reason: "unassigned by billing", EventID: "evt-2", Time: at.Add(-time.Hour)},
			Applied: &Applied{Hash: "86ff6b326ccd84398185ee6254cbfdd5", EventID: "asg-1", At: at.Add(2 * time.Minute),
				Fields: json.RawMessage(`{"agent_key":"***","organization_id":2,"preset_id":3,"stream_url":"rtsp://h/main?a=1\u0026b=2","title":"Ivanova: \u003cporch\u003e"}`)},
			Recent: []EventRef{{ID: "act-00112233445566778899aabbccddeeff", Type: "camera.activated", Time: at, Outcome: "held"},
				{ID: "asg-1", Type: "camera.assigned", Time: at.Add(time.Minute), Outcome: "applied"}},
		},
		{CameraID: "C-7", Added: &Added{Title: "gate", StreamURL: "rtsp://g", OrganizationID: 2, SubscriberID: "SUB-1", EventID: "add-7", Time: at}},
	}
	r := rand.New(rand.NewPCG(3, 4))
	for len(cams) < 600 {
		var c Camera
		fill(t, r, reflect.ValueOf(&c).Elem())
		c.Serial, c.CameraID = fmt.Sprintf("RND-%04d", len(cams)), ""
		if !json.Valid(c.Applied.Fields) { // version 3 could not have stored it
			c.Applied.Fields = json.RawMessage(sampleFields[0])
		}
		cams = append(cams, c)
	}
	b, err := bolt.Open(path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	ids := []string{"act-00112233445566778899aabbccddeeff", "asg-1", "evt-2", "add-7", "a billing id of another shape"}
	want := map[string]Camera{}
	err = b.Update(func(tx *bolt.Tx) error {
		meta, _ := tx.CreateBucket(bucketMeta)
		for _, n := range [][]byte{bucketSubscribers, bucketSubscriberOwners} {
			_, _ = tx.CreateBucket(n)
		}
		camsB, _ := tx.CreateBucket(bucketCameras)
		idx, _ := tx.CreateBucket(bucketSubscriberCameras)
		for _, c := range cams {
			raw, err := json.Marshal(c)
			if err != nil {
				return err
			}
			var v3 Camera // what a version 3 build read back
			if err := json.Unmarshal(raw, &v3); err != nil {
				return err
			}
			want[c.Key()] = v3
			if err := camsB.Put([]byte(c.Key()), raw); err != nil {
				return err
			}
			if sub := c.SubscriberID(); sub != "" {
				if err := idx.Put(indexKey(sub, c.Key()), nil); err != nil {
					return err
				}
			}
		}
		evs, _ := tx.CreateBucket(bucketEventsV3)
		for _, id := range ids {
			if err := evs.Put([]byte(id), make([]byte, 8)); err != nil {
				return err
			}
		}
		return meta.Put(keyVersion, []byte("3"))
	})
	b.Close()
	if err != nil {
		t.Fatal(err)
	}

	// A version 3 backup still verifies (read only, so not migrated).
	if sum, err := Verify(path); err != nil || sum.Cameras != len(cams) || sum.Events != len(ids) {
		t.Errorf("verify of the version 3 file: %+v, %v", sum, err)
	}

	// The file as a migration cut short left it: copied while the second
	// chunk is being written, the first committed.
	cutPath := filepath.Join(t.TempDir(), "cut.db")
	var logged []string
	logCut := func(msg string) {
		logged = append(logged, msg)
		if len(logged) == 3 { // the start, then one line per chunk
			raw, err := os.ReadFile(path)
			if err != nil {
				t.Error(err)
			}
			if err := os.WriteFile(cutPath, raw, 0o600); err != nil {
				t.Error(err)
			}
		}
	}
	for i := range 2 { // migrated, then reopened as it is
		opts := Options{}
		if i == 0 {
			opts.Log = logCut
		}
		db, err := Open(path, opts)
		if err != nil {
			t.Fatal(err)
		}
		got := map[string]Camera{}
		err = db.View(func(tx *Tx) error {
			if v := string(tx.tx.Bucket(bucketMeta).Get(keyVersion)); v != strconv.Itoa(FormatVersion) {
				t.Errorf("format version %s after migration", v)
			}
			for _, id := range ids {
				if !tx.Seen(id) {
					t.Errorf("event %q not seen after migration", id)
				}
			}
			if tx.Seen("evt-never") {
				t.Error("an unknown event is seen")
			}
			if raw := tx.tx.Bucket(bucketCameras).Get([]byte("IRIS-1")); len(raw) == 0 || raw[0] != recordCamera {
				t.Errorf("IRIS-1 still stored as %.20q", raw)
			}
			return tx.EachCamera(func(c Camera) error {
				got[c.Key()] = c
				return nil
			})
		})
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != len(want) {
			t.Errorf("%d cameras after migration, want %d", len(got), len(want))
		}
		for k, w := range want {
			if g := got[k]; !reflect.DeepEqual(g, w) {
				t.Errorf("camera %q after migration:\n got %+v\nwant %+v", k, g, w)
			}
		}
		if keys := cameraKeys(t, db, "SUB-1"); !slices.Equal(keys, []string{AddedKey("C-7"), "IRIS-1"}) {
			t.Errorf("SUB-1 cameras after migration %q", keys)
		}
		var buf bytes.Buffer
		if _, err := db.Backup(&buf); err != nil {
			t.Fatal(err)
		}
		db.Close()
		copyPath := filepath.Join(t.TempDir(), "backup.db")
		if err := os.WriteFile(copyPath, buf.Bytes(), 0o600); err != nil {
			t.Fatal(err)
		}
		sum, err := Verify(copyPath)
		if err != nil || sum.Cameras != len(cams) || sum.Events != len(ids) {
			t.Errorf("verify of the migrated file: %+v, %v", sum, err)
		}
	}
	if len(logged) < 3 || !strings.HasPrefix(logged[0], "migrating state file") || !strings.Contains(logged[len(logged)-1], "migrated to format 4") {
		t.Errorf("migration log: %q; want its start, progress and end", logged)
	}

	// A file cut short already says format 4, so that a build reading up
	// to format 3 refuses it by name instead of reading binary records as
	// JSON; this build resumes it to the same content.
	cut, err := bolt.Open(cutPath, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	_ = cut.View(func(tx *bolt.Tx) error {
		m := tx.Bucket(bucketMeta)
		if v := string(m.Get(keyVersion)); v != "4" || m.Get(keyMigrating) == nil || m.Get(keyCompacted) == nil {
			t.Errorf("file cut short mid-migration: format %q, pending %q, cameras done up to %q; want 4 and both marks", v, m.Get(keyMigrating), m.Get(keyCompacted))
		}
		return nil
	})
	cut.Close()
	var resumed []string
	db, err := Open(cutPath, Options{Log: func(m string) { resumed = append(resumed, m) }})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if len(resumed) == 0 || !strings.HasPrefix(resumed[0], "resuming the migration") {
		t.Errorf("resumed migration log: %q", resumed)
	}
	got := map[string]Camera{}
	err = db.View(func(tx *Tx) error {
		if tx.tx.Bucket(bucketMeta).Get(keyMigrating) != nil || tx.tx.Bucket(bucketEventsV3) != nil {
			t.Error("the resumed migration left its mark or the old ledger behind")
		}
		for _, id := range ids {
			if !tx.Seen(id) {
				t.Errorf("event %q not seen after the resumed migration", id)
			}
		}
		return tx.EachCamera(func(c Camera) error {
			got[c.Key()] = c
			return nil
		})
	})
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("the resumed migration gives %d cameras differing from an uninterrupted one (%d)", len(got), len(want))
	}
}
