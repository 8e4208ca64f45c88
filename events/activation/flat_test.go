package activation

import (
	"bytes"
	"encoding/json"
	"reflect"
	"strings"
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

// validElements is a fast path of decodeElements: wherever it answers, it
// must answer the same, rows, rejections and their order.
func FuzzValidElementsAgreesWithDecoder(f *testing.F) {
	for _, s := range []string{
		`[{"agent_serial":"SN-1","agent_key":"k"},{"agent_serial":"SN-2","dvr_depth":3}]`,
		` [ {"agent_serial":"a"} , 5 , "x" , [1] , {"agent_serial":{"n":1}} , null ] `,
		`[]`, `[{}]`, `[{"agent_serial":"SN\u00e9"}]`, `[{"a":1},]`, `[{"agent_serial":"x"}] []`,
		`[` + strings.Repeat(`{"agent_serial":"s"},`, 25) + `{"agent_serial":"t"}]`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		fast, ok := validElements(data, fuzzLimits())
		if !ok {
			return
		}
		dec := json.NewDecoder(bytes.NewReader(data))
		dec.UseNumber()
		slow, err := decodeElements(dec, fuzzLimits())
		if err != nil {
			t.Fatalf("%q: the fast path read it, the decoder refused it: %v", data, err)
		}
		if !reflect.DeepEqual(fast, slow) {
			t.Fatalf("%q:\nfast    %+v\ndecoder %+v", data, fast, slow)
		}
	})
}
