package plans

import (
	"fmt"
	"os"
	"strings"
	"testing"
)

func load(t *testing.T, s string) (*Set, error) {
	t.Helper()
	return Load(strings.NewReader(s))
}

func TestLoadSample(t *testing.T) {
	t.Parallel()
	f, err := os.Open("testdata/plans.yaml")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	s, err := Load(f)
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(s.IDs(), ","); got != "basic,premium,shared,strict" {
		t.Errorf("IDs = %s", got)
	}
	basic, ok := s.Get("basic")
	if !ok || basic.PresetID != 2 || basic.PTZ() || basic.Suspension != DisableCameras || basic.DVRDepth == nil || *basic.DVRDepth != 7 {
		t.Errorf("basic = %+v", basic)
	}
	if strict, _ := s.Get("strict"); !strict.PTZ() {
		t.Errorf("ptz_allowed left out must allow PTZ")
	}
	if u := s.Unresolved(); len(u) != 1 || u[0].ID != "shared" {
		t.Errorf("Unresolved = %+v, want [shared]", u)
	}
	if err := s.Resolve(map[string][]int64{"Shared cameras": {9}}); err != nil {
		t.Fatal(err)
	}
	if p, _ := s.Get("shared"); p.PresetID != 9 {
		t.Errorf("shared resolved to preset %d, want 9", p.PresetID)
	}
}

func TestLoadJSON(t *testing.T) {
	t.Parallel()
	s, err := load(t, `{"plans": {"p1": {"preset_id": 4, "suspension": "revoke_folders", "ptz_allowed": false}}}`)
	if err != nil {
		t.Fatal(err)
	}
	if p, _ := s.Get("p1"); p.PresetID != 4 || p.PTZ() || !p.Suspension.RevokesFolders() {
		t.Errorf("p1 = %+v", p)
	}
	if s.DefaultSuspension != DisableUser {
		t.Errorf("DefaultSuspension = %q, want disable_user", s.DefaultSuspension)
	}
}

func TestLoadErrorsNamePlanAndField(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		give string
		want []string
	}{
		{name: "bad policy", give: "plans:\n  gold:\n    preset_id: 2\n    suspension: disable\n", want: []string{`plan "gold"`, "suspension", `"disable"`, "disable_user"}},
		{name: "missing policy", give: "plans:\n  gold:\n    preset_id: 2\n", want: []string{`plan "gold"`, "suspension: missing"}},
		{name: "no preset", give: "plans:\n  gold:\n    suspension: disable_user\n", want: []string{`plan "gold"`, "preset_id: missing"}},
		{name: "negative depth", give: "plans:\n  gold:\n    preset_id: 1\n    suspension: disable_user\n    dvr_depth: -1\n", want: []string{`plan "gold"`, "dvr_depth"}},
		{name: "wrong type", give: "plans:\n  gold:\n    preset_id: two\n    suspension: disable_user\n", want: []string{`plan "gold"`, "preset_id", "string"}},
		{name: "misspelt key", give: "plans:\n  gold:\n    preset_id: 1\n    suspension: disable_user\n    ptz: false\n", want: []string{`unknown field "ptz"`}},
		{name: "empty", give: "", want: []string{"no plans"}},
		{name: "not yaml", give: "plans: [", want: []string{"not YAML or JSON"}},
		{name: "bad default", give: "default_suspension: nope\nplans:\n  a:\n    preset_id: 1\n    suspension: disable_user\n", want: []string{"default_suspension", `"nope"`}},
		{name: "two bad plans", give: "plans:\n  a:\n    preset_id: 1\n  b:\n    suspension: x\n", want: []string{`plan "a": suspension`, `plan "b": preset_id`, `plan "b": suspension`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := load(t, tt.give)
			if err == nil {
				t.Fatalf("Load accepted %q", tt.give)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
		})
	}
}

func TestLookupUnknown(t *testing.T) {
	t.Parallel()
	s, err := load(t, "plans:\n  a:\n    preset_id: 1\n    suspension: disable_user\n")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Lookup("gold"); err == nil || !strings.Contains(err.Error(), `"gold"`) {
		t.Errorf("Lookup(gold) = %v, want an error naming the plan", err)
	}
	var none *Set
	if _, err := none.Lookup("gold"); err == nil || !strings.Contains(err.Error(), "without a plans file") {
		t.Errorf("nil set Lookup = %v", err)
	}
}

func TestResolveReportsMissingAndAmbiguous(t *testing.T) {
	t.Parallel()
	s, err := load(t, "plans:\n  a:\n    preset_title: A\n    suspension: disable_user\n  b:\n    preset_title: B\n    suspension: disable_user\n")
	if err != nil {
		t.Fatal(err)
	}
	err = s.Resolve(map[string][]int64{"B": {4, 5}})
	for _, w := range []string{`plan "a": preset_title`, "no Watcher preset", `plan "b": preset_title`, "2 Watcher presets"} {
		if err == nil || !strings.Contains(err.Error(), w) {
			t.Errorf("Resolve error %v does not contain %q", err, w)
		}
	}
}

func TestPlanKeysYAMLWouldNotKeepAreRefused(t *testing.T) {
	t.Parallel()
	tests := []struct {
		give    string
		wantErr bool
	}{
		{give: "y", wantErr: true},
		{give: "no", wantErr: true},
		{give: "on", wantErr: true},
		{give: "OFF", wantErr: true},
		{give: "true", wantErr: true},
		{give: "null", wantErr: true},
		{give: "1.0", wantErr: true},
		{give: "0x10", wantErr: true},
		{give: "010", wantErr: true},
		{give: "2026-01-01", wantErr: true},
		{give: `"no"`},
		{give: "'off'"},
		{give: "42"},
		{give: "basic"},
		{give: "2026-basic"},
	}
	for _, tt := range tests {
		t.Run(tt.give, func(t *testing.T) {
			t.Parallel()
			s, err := load(t, "plans:\n  "+tt.give+":\n    preset_id: 2\n    suspension: disable_user\n")
			if tt.wantErr {
				if err == nil || !strings.Contains(err.Error(), fmt.Sprintf("plan %q", tt.give)) || !strings.Contains(err.Error(), "quote it") {
					t.Errorf("Load = %v, want an error naming plan %q and telling to quote it", err, tt.give)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if id := strings.Trim(tt.give, `"'`); strings.Join(s.IDs(), ",") != id {
				t.Errorf("IDs = %v, want [%s]", s.IDs(), id)
			}
		})
	}
}
