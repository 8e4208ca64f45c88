package handlers

import (
	"encoding/json"
	"reflect"
	"testing"

	"github.com/watcherbridge/watcherbridge/store"
	"github.com/watcherbridge/watcherbridge/watcherclient"
)

// flatFields must read what the camera encoder writes exactly as
// encoding/json would, and anything else through encoding/json.
func TestFlatFieldsAgreesWithEncodingJSON(t *testing.T) {
	yes, org := true, int64(4)
	depth := 1.5
	cam, _ := watcherclient.Camera{Name: "agent-x", Title: `quote " and \ and <tag>`, CanPTZ: &yes,
		OrganizationID: &org, DVRDepth: &depth, Clear: []string{"onvif_url"}}.MarshalJSON()
	for _, obj := range []string{string(cam), `{}`, `{"a":{"b":1},"c":"d"}`, `{ "a" : 1 }`, `{"k\"ey":"v"}`, `{"a":[1,2]}`, `not json`} {
		var raw map[string]json.RawMessage
		_ = json.Unmarshal([]byte(obj), &raw)
		want := map[string]string{}
		for k, v := range raw {
			want[k] = string(v)
		}
		if got := flatFields([]byte(obj)); !reflect.DeepEqual(got, want) {
			t.Errorf("%s:\n got %v\nwant %v", obj, got, want)
		}
	}
}

func TestChangedFieldsNamesWhatDiffers(t *testing.T) {
	prev := &store.Applied{Hash: "h1", Fields: json.RawMessage(`{"name":"a","title":"old","enabled":true,"agent_key":"***"}`)}
	got := changedFields(prev, "h2", json.RawMessage(`{"name":"a","title":"new","agent_key":"***","preset_id":3}`))
	if want := []string{"enabled", "preset_id", "title"}; !reflect.DeepEqual(got, want) {
		t.Fatalf("changed %v, want %v", got, want)
	}
	// Only the hash moved: the secret changed.
	if got := changedFields(prev, "h2", prev.Fields); !reflect.DeepEqual(got, []string{"agent_key"}) {
		t.Fatalf("changed %v, want [agent_key]", got)
	}
	if got := changedFields(nil, "h", json.RawMessage(`{"name":"a","title":"t"}`)); !reflect.DeepEqual(got, []string{"name", "title"}) {
		t.Fatalf("new camera: changed %v", got)
	}
}
