package watcherclient

import (
	"bytes"
	"encoding/json"
	"reflect"
	"testing"
	"unicode/utf8"
)

// referenceJSON is how a camera was encoded before MarshalJSON was written
// out by hand: encoding/json, and a map round trip to add Clear's fields.
// Fingerprints of what was applied were taken over it, so any difference
// would re-send every camera once.
func referenceJSON(c Camera) ([]byte, error) {
	type plain Camera
	b, err := json.Marshal(plain(c))
	if err != nil || len(c.Clear) == 0 {
		return b, err
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, err
	}
	for _, k := range c.Clear {
		if _, ok := m[k]; !ok {
			m[k] = ""
		}
	}
	return json.Marshal(m)
}

func ptr[T any](v T) *T { return &v }

func TestCameraJSONMatchesEncodingJSON(t *testing.T) {
	cams := []Camera{
		{},
		{Name: "cam-1", Title: "Entrance <main> & \"back\"", StreamURL: "rtsp://10.0.0.1:554/main?a=1&b=2",
			CanPTZ: ptr(true), Enabled: ptr(false), OrganizationID: ptr(int64(7)), PresetID: ptr(int64(-3)),
			DVRDepth: ptr(2.5), AgentSerial: "S\u2028N\u2029", AgentKey: "k\x01\t\n\r\b\f\\", ExternalID: "x"},
		{Name: "a", DVRDepth: ptr(1e-7), FolderID: ptr(int64(1 << 40))},
		{Name: "b", DVRDepth: ptr(1e21), Comment: "bad \xff utf8 é 日本"},
		{Name: "c", DVRDepth: ptr(0.0), Static: ptr(true), OnvifPTZ: ptr(false)},
		{Name: "d", SubstreamURL: "rtsp://x/sub", Clear: []string{"substream_url", "onvif_url", "thumbnails_url", "onvif_profile", "agent_model"},
			Enabled: ptr(true), OrganizationID: ptr(int64(12)), DVRDepth: ptr(30.0)},
		{Name: "e", Preset: &Preset{ID: 4, Title: "p"}},
	}
	for i, c := range cams {
		want, err := referenceJSON(c)
		if err != nil {
			t.Fatal(err)
		}
		got, err := json.Marshal(c)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, want) {
			t.Errorf("camera %d:\n got %s\nwant %s", i, got, want)
		}
	}
}

func FuzzCameraJSON(f *testing.F) {
	f.Add("cam", "title <&>", "rtsp://h/x", "key\u2028", 2.5, int64(3), true, false)
	f.Fuzz(func(t *testing.T, name, title, url, key string, depth float64, org int64, ptz, clear bool) {
		c := Camera{Name: name, Title: title, StreamURL: url, AgentKey: key, DVRDepth: &depth, OrganizationID: &org, CanPTZ: &ptz}
		if clear {
			c.Clear = []string{"substream_url", "title"}
		}
		want, werr := referenceJSON(c)
		got, gerr := c.MarshalJSON()
		if (werr == nil) != (gerr == nil) {
			t.Fatalf("errors differ: %v vs %v", gerr, werr)
		}
		if werr != nil {
			return
		}
		if !utf8.ValidString(name) || !utf8.ValidString(title) || !utf8.ValidString(url) || !utf8.ValidString(key) {
			// The map round trip turned \ufffd escapes into the character
			// itself; the meaning is the same, and rows with invalid UTF-8
			// are refused before they get here.
			var g, w map[string]any
			if json.Unmarshal(got, &g) != nil || json.Unmarshal(want, &w) != nil || !reflect.DeepEqual(g, w) {
				t.Fatalf("\n got %s\nwant %s", got, want)
			}
			return
		}
		if !bytes.Equal(got, want) {
			t.Fatalf("\n got %s\nwant %s", got, want)
		}
	})
}
