package main

import (
	"bytes"
	"strings"
	"testing"

	"github.com/watcherbridge/watcherbridge/handlers/plans"
	"github.com/watcherbridge/watcherbridge/watcherclient"
)

func TestPresetsSync(t *testing.T) {
	fake, url := fakeWatcher(t, true) // presets 2 (7 days) and 3 (30 days)
	set, err := plans.Load(strings.NewReader(`
plans:
  basic:   {preset_id: 2, suspension: disable_cameras, dvr_depth: 14}
  premium: {preset_id: 3, suspension: disable_user, dvr_depth: 30}
  shared:  {preset_title: "Shared cameras", suspension: revoke_folders, dvr_depth: 3}
`))
	if err != nil {
		t.Fatal(err)
	}
	wc, err := watcherclient.New(watcherclient.Config{BaseURL: url, APIKey: testAPIKey})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		dryRun  bool
		want    []string
		changes int
	}{
		{name: "dry run", dryRun: true, changes: 2, want: []string{
			`would update preset "Basic: 7 days archive" (id 2) for plan "basic": dvr_depth 7 days -> 14 days`,
			`would create preset "Shared cameras" (dvr_depth 3 days) for plan "shared"`}},
		{name: "sync", changes: 2, want: []string{
			`update preset "Basic: 7 days archive" (id 2) for plan "basic": dvr_depth 7 days -> 14 days`,
			`created preset "Shared cameras" (id 4, dvr_depth 3 days) for plan "shared"`}},
		{name: "again", changes: 0, want: []string{"presets already match the plans file"}},
	}
	for _, tt := range tests {
		writes := fake.Stats().Writes
		var out bytes.Buffer
		n, err := syncPresets(t.Context(), wc, set, tt.dryRun, &out)
		if err != nil {
			t.Fatalf("%s: %v", tt.name, err)
		}
		if got := strings.Split(strings.TrimSpace(out.String()), "\n"); n != tt.changes || strings.Join(got, "\n") != strings.Join(tt.want, "\n") {
			t.Errorf("%s: %d changes, printed\n%s\nwant %d:\n%s", tt.name, n, out.String(), tt.changes, strings.Join(tt.want, "\n"))
		}
		if wrote := fake.Stats().Writes - writes; (tt.dryRun || tt.changes == 0) && wrote != 0 {
			t.Errorf("%s wrote %d times to Watcher", tt.name, wrote)
		}
	}
	ps := fake.Presets()
	if len(ps) != 4 || ps[3].Title != "Shared cameras" || ps[3].IsAdjustable == nil || *ps[3].IsAdjustable || *ps[1].DVRDepth != 14 {
		t.Errorf("presets after sync: %+v", ps)
	}
}
