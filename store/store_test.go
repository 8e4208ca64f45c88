package store

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
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
