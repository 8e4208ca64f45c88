package events

import (
	"encoding/json"
	"testing"
	"time"
)

// PeekID must find the id Decode finds, or say it cannot tell; it must
// never name another id.
func FuzzPeekIDAgreesWithDecode(f *testing.F) {
	env, _ := NewEnvelope(CameraAssigned, "asg-1", "SN-1", time.Unix(0, 0), map[string]any{"agent_serial": "SN-1", "nested": map[string]any{"id": "not-this", "s": "}{\"]["}})
	good, _ := env.Encode()
	f.Add(good)
	f.Add([]byte(`{"data":{"id":"inner"},"id":"outer","specversion":"1.0"}`))
	f.Add([]byte(`{"id":"a\"b"}`))
	f.Add([]byte(` { "type" : "x" , "id" : "evt-2" } `))
	f.Add([]byte(`{"id":"a","ID":"b"}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		id, ok := PeekID(body, nil)
		if !ok {
			return
		}
		var probe struct {
			ID any `json:"id"`
		}
		if err := json.Unmarshal(body, &probe); err != nil {
			return // not an envelope the decoder would accept
		}
		if s, _ := probe.ID.(string); s != id {
			t.Fatalf("%q: PeekID says %q, the decoder %v", body, id, probe.ID)
		}
	})
}

func TestPeekIDFindsTheTopLevelID(t *testing.T) {
	for body, want := range map[string]string{
		`{"data":{"id":"inner"},"id":"outer"}`:         "outer",
		`{"specversion":"1.0","id":"evt-1","data":{}}`: "evt-1",
		`{"data":["id",{"x":"\"}"}],"id":"evt-3"}`:     "evt-3",
	} {
		if got, ok := PeekID([]byte(body), nil); !ok || got != want {
			t.Errorf("%s: got %q %v, want %q", body, got, ok, want)
		}
	}
	if _, ok := PeekID([]byte(`{"id":"a\"b"}`), nil); ok {
		t.Error("an id with escapes must be left to the decoder")
	}
	h := func(k string) string {
		return map[string]string{"ce-specversion": "1.0", "ce-id": "bin-1"}[k]
	}
	if got, ok := PeekID([]byte(`{"id":"body"}`), h); !ok || got != "bin-1" {
		t.Errorf("binary mode: got %q %v, want the ce-id header", got, ok)
	}
}
