package plans

import (
	"bytes"
	"os"
	"testing"
)

// FuzzLoadPlans feeds arbitrary documents to Load: it must never panic,
// and whatever it accepts must be valid by its own rules.
func FuzzLoadPlans(f *testing.F) {
	sample, err := os.ReadFile("testdata/plans.yaml")
	if err != nil {
		f.Fatal(err)
	}
	for _, seed := range []string{
		string(sample),
		`{"plans": {"p1": {"preset_id": 4, "suspension": "revoke_folders", "ptz_allowed": false}}}`,
		"plans:\n  gold:\n    preset_id: 2\n    suspension: disable\n",
		"plans:\n  gold:\n    preset_id: two\n",
		"default_suspension: nope\nplans: {}\n",
		"plans:\n  a:\n    preset_id: 1\n    suspension: disable_user\n    dvr_depth: 1e400\n",
		"plans: [",
		"",
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, doc []byte) {
		s, err := Load(bytes.NewReader(doc))
		if err != nil {
			if s != nil {
				t.Fatalf("Load returned a set and an error %v", err)
			}
			return
		}
		if s.Len() == 0 || !s.DefaultSuspension.Valid() {
			t.Fatalf("accepted an empty or invalid set: %+v", s)
		}
		for _, id := range s.IDs() {
			p, ok := s.Get(id)
			if !ok || p.ID != id || !p.Suspension.Valid() || (p.PresetID <= 0 && p.PresetTitle == "") {
				t.Fatalf("accepted invalid plan %q: %+v", id, p)
			}
			if p.DVRDepth != nil && (*p.DVRDepth < 0 || *p.DVRDepth > 36500) {
				t.Fatalf("accepted dvr_depth %v", *p.DVRDepth)
			}
		}
	})
}
