package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestStoreBackupWhileRunning takes a backup through the running bridge's
// admin endpoint (never opening the live file) and verifies it.
func TestStoreBackupWhileRunning(t *testing.T) {
	integration(t)
	fake, url := fakeWatcher(t, true)
	cfg := testConfig(t, url)
	cfg.AdminListen = "127.0.0.1:0"
	cfg.Inventory = filepath.Join(examplesDir, "inventory.csv")
	b := startBridge(t, cfg, "backup")
	push(t, b, "text/csv", readFile(t, filepath.Join(examplesDir, "activation.csv")))
	want, _ := sampleWant(t)
	eventually(t, settle, "sample cameras in Watcher", func() error { return checkCameras(fake, want) })

	file := filepath.Join(t.TempDir(), "copy.db")
	var out, errOut bytes.Buffer
	env := func(string) string { return "" }
	if err := run(t.Context(), []string{"store", "backup", file, "--admin-url", "http://" + b.Admin}, env, &out, &errOut); err != nil {
		t.Fatalf("store backup: %v\n%s", err, errOut.String())
	}
	var got struct {
		OK      bool `json:"ok"`
		Summary struct {
			Cameras int `json:"cameras"`
			Applied int `json:"applied"`
		} `json:"summary"`
	}
	if err := json.Unmarshal(out.Bytes(), &got); err != nil {
		t.Fatalf("backup output %q: %v", out.String(), err)
	}
	// 4 activated + 1 stock-only record; 3 applied (one is held).
	if !got.OK || got.Summary.Cameras != 5 || got.Summary.Applied != 3 {
		t.Errorf("backup summary = %+v, want 5 cameras, 3 applied", got)
	}
	out.Reset()
	if err := run(t.Context(), []string{"store", "verify", file}, env, &out, &errOut); err != nil {
		t.Fatalf("store verify of the backup: %v", err)
	}

	garbage := filepath.Join(t.TempDir(), "garbage.db")
	os.WriteFile(garbage, bytes.Repeat([]byte{1}, 16384), 0o600)
	if err := run(t.Context(), []string{"store", "verify", garbage}, env, &out, &errOut); err == nil {
		t.Error("store verify accepted garbage")
	}
	err := run(t.Context(), []string{"store", "backup", filepath.Join(t.TempDir(), "x.db"), "--admin-url", "http://127.0.0.1:1"}, env, &out, &errOut)
	if err == nil || !strings.Contains(err.Error(), "--admin-url") {
		t.Errorf("backup from a stopped bridge: %v, want an error naming --admin-url", err)
	}
}
