package activation

import (
	"reflect"
	"testing"
)

// flatValues is a fast path of tokenValues: wherever it answers, it must
// answer the same.
func FuzzFlatValuesAgreesWithTokenValues(f *testing.F) {
	for _, s := range []string{
		`{"agent_serial":"SN-1","agent_key":"k","can_ptz":true,"dvr_depth":3,"x":null}`,
		`{ "agent_serial" : "SN\u00e9\"1" , "agent_id" : "  " }`,
		`{"agent_serial":"a","agent_serial":"b"}`,
		`{"agent_serial":{"nested":1}}`,
		`{"Agent-Serial":"x","unknown":[1,2]}`,
		`{}`, `[]`, `{"a":tru}`, "{\"agent_serial\":\"\xff\"}",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		fast, ferr, ok := flatValues(raw)
		if !ok {
			return
		}
		slow, serr := tokenValues(raw)
		if (ferr == nil) != (serr == nil) || (ferr != nil && ferr.Error() != serr.Error()) {
			t.Fatalf("%q: errors differ: fast %v, token %v", raw, ferr, serr)
		}
		if ferr == nil && !reflect.DeepEqual(fast, slow) {
			t.Fatalf("%q:\nfast  %v\ntoken %v", raw, fast, slow)
		}
	})
}
