package activation

import (
	"strings"
	"testing"
)

func TestRowValidate(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		give Row
		want string // "" for valid, else a substring of the error
	}{
		{name: "full", give: fullRow()},
		{name: "serial only", give: Row{AgentSerial: "S1"}},
		{name: "free text may hold line breaks", give: Row{AgentSerial: "S1", AgentModel: "a\tb\nc"}},
		{name: "missing serial", give: Row{AgentModel: "x"}, want: "agent_serial is missing"},
		{name: "untrimmed serial", give: Row{AgentSerial: " S1"}, want: "agent_serial has leading or trailing spaces"},
		{name: "serial of 128 bytes", give: Row{AgentSerial: strings.Repeat("s", 128)}},
		{name: "serial of 129 bytes", give: Row{AgentSerial: strings.Repeat("s", 129)}, want: "agent_serial is 129 bytes long, over the limit of 128"},
		{name: "control character in serial", give: Row{AgentSerial: "S\x001"}, want: "agent_serial contains control characters"},
		{name: "line break in key", give: Row{AgentSerial: "S1", AgentKey: "k\n"}, want: "agent_key contains control characters"},
		{name: "invalid UTF-8", give: Row{AgentSerial: "S1", AgentID: "\xff"}, want: "agent_id is not valid UTF-8"},
		{name: "field too long", give: Row{AgentSerial: "S1", OnvifProfile: strings.Repeat("p", 8193)}, want: "onvif_profile is 8193 bytes long, over the limit of 8192"},
		{name: "thumbnails switch is no URL", give: Row{AgentSerial: "S1", Thumbnails: "1"}, want: "thumbnails is not a URL"},
		{name: "url without host", give: Row{AgentSerial: "S1", OnvifURL: "http:///x"}, want: "onvif_url is not a URL"},
		{name: "url without scheme", give: Row{AgentSerial: "S1", SubstreamURL: "//h/x"}, want: "substream_url is not a URL"},
		{name: "any scheme with host", give: Row{AgentSerial: "S1", StreamURL: "srt://h:9000"}},
		{name: "negative abonent_sign", give: Row{AgentSerial: "S1", AbonentSign: "-1"}},
		{name: "lone minus", give: Row{AgentSerial: "S1", AbonentSign: "-"}, want: "abonent_sign is not a whole number"},
		{name: "exponent", give: Row{AgentSerial: "S1", AbonentSign: "1e5"}, want: "abonent_sign is not a whole number"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got := ""
			if err := tt.give.Validate(); err != nil {
				got = err.Error()
			}
			if (tt.want == "") != (got == "") || !strings.Contains(got, tt.want) {
				t.Errorf("Validate() = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestRowIDSameCamera(t *testing.T) {
	t.Parallel()
	want := fullRow().ID()
	tests := []struct {
		name        string
		give        string
		contentType string
	}{
		{name: "csv", give: lines(fullHeader, fullLine)},
		{name: "csv reordered with ptz as true and padding", give: lines(
			"agent_key,ptz,agent_serial,agent_id,agent_model,stream_url,substream_url,thumbnails,onvif_url,onvif_profile,abonent_sign,title,agent_pin",
			sampleKey+",true, SN0001 ,ag-1,Cam X1,rtsp://10.0.0.5/main,rtsp://10.0.0.5/sub,http://10.0.0.5/snap.jpg,http://10.0.0.5/onvif/device_service,Profile_1,123456789012345678901234567890,Hall,")},
		{name: "json", give: "[" + fullJSON + "]"},
		{name: "json single object, strings, onvif_ptz yes, nulls", give: `{"onvif_ptz":"yes","agent_pin":null,"abonent_sign":"123456789012345678901234567890","agent_serial":"SN0001",` +
			`"agent_id":"ag-1","agent_key":"` + sampleKey + `","agent_model":"Cam X1","stream_url":"rtsp://10.0.0.5/main","substream_url":"rtsp://10.0.0.5/sub",` +
			`"thumbnails":"http://10.0.0.5/snap.jpg","onvif_url":"http://10.0.0.5/onvif/device_service","onvif_profile":"Profile_1"}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			res, err := Parse(strings.NewReader(tt.give), tt.contentType, Limits{})
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			if len(res.Rows) != 1 {
				t.Fatalf("got %d rows, %+v rejected; want 1 row", len(res.Rows), res.Rejected)
			}
			if got := res.Rows[0].Row.ID(); got != want {
				t.Errorf("ID() = %q, want %q", got, want)
			}
		})
	}
}

func TestRowIDChangesWithEveryField(t *testing.T) {
	t.Parallel()
	base := fullRow()
	tests := []struct {
		name string
		give func(*Row)
	}{
		{name: "agent_serial", give: func(r *Row) { r.AgentSerial = "SN0002" }},
		{name: "agent_id", give: func(r *Row) { r.AgentID = "ag-2" }},
		{name: "agent_key", give: func(r *Row) { r.AgentKey = "other" }},
		{name: "agent_pin", give: func(r *Row) { r.AgentPin = "1234" }},
		{name: "agent_model", give: func(r *Row) { r.AgentModel = "" }},
		{name: "stream_url", give: func(r *Row) { r.StreamURL = "rtsp://10.0.0.6/main" }},
		{name: "substream_url", give: func(r *Row) { r.SubstreamURL = "" }},
		{name: "thumbnails", give: func(r *Row) { r.Thumbnails = "http://x/y" }},
		{name: "onvif_url", give: func(r *Row) { r.OnvifURL = "http://x/y" }},
		{name: "onvif_profile", give: func(r *Row) { r.OnvifProfile = "Profile_2" }},
		{name: "ptz false", give: func(r *Row) { r.PTZ = ptr(false) }},
		{name: "ptz absent", give: func(r *Row) { r.PTZ = nil }},
		{name: "abonent_sign", give: func(r *Row) { r.AbonentSign = "1" }},
		{name: "value moved to another field", give: func(r *Row) { r.AgentID, r.AgentModel = r.AgentModel, r.AgentID }},
	}
	seen := map[string]string{base.ID(): "base"}
	for _, tt := range tests {
		r := base
		tt.give(&r)
		got := r.ID()
		if prev, dup := seen[got]; dup {
			t.Errorf("changing %s gives the id of %s: %s", tt.name, prev, got)
		}
		seen[got] = tt.name
	}
	if got := base.ID(); !strings.HasPrefix(got, "act-") || len(got) != 36 {
		t.Errorf("ID() = %q, want act- and 32 hex digits", got)
	}
}

func TestRowRedacted(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		give Row
		want Row
	}{
		{name: "secrets masked", give: Row{AgentSerial: "S1", AgentKey: sampleKey, AgentPin: samplePin}, want: Row{AgentSerial: "S1", AgentKey: "***", AgentPin: "***"}},
		{name: "absent secrets stay absent", give: Row{AgentSerial: "S1", PTZ: ptr(true)}, want: Row{AgentSerial: "S1", PTZ: ptr(true)}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got := tt.give.Redacted()
			if got.AgentKey != tt.want.AgentKey || got.AgentPin != tt.want.AgentPin || got.AgentSerial != tt.want.AgentSerial || (got.PTZ == nil) != (tt.want.PTZ == nil) {
				t.Errorf("Redacted() = %+v, want %+v", got, tt.want)
			}
		})
	}
	orig := Row{AgentSerial: "S1", AgentKey: sampleKey, PTZ: ptr(true)}
	red := orig.Redacted()
	*red.PTZ = false
	if orig.AgentKey != sampleKey || !*orig.PTZ {
		t.Errorf("Redacted changed the original row: %+v", orig)
	}
}
