package events

import (
	"errors"
	"strings"
	"testing"
	"time"
)

func TestDecodeStructuredAndBinary(t *testing.T) {
	structured := []byte(`{"specversion":"1.0","id":"e1","source":"urn:billing","type":"camera.assigned","time":"2026-01-01T00:00:00Z","subject":"SN","data":{"agent_serial":"SN","organization_id":"2","preset_id":3}}`)
	env, err := Decode(structured, nil)
	if err != nil {
		t.Fatal(err)
	}
	var a Assignment
	if err := env.DecodeData(&a); err != nil {
		t.Fatal(err)
	}
	if a.OrganizationID != 2 || a.PresetID != 3 || env.ID != "e1" {
		t.Errorf("decoded %+v %+v", env, a)
	}
	hdr := map[string]string{"ce-specversion": "1.0", "ce-id": "e2", "ce-source": "urn:billing", "ce-type": "camera.assigned", "ce-time": "2026-01-01T00:00:00Z", "content-type": "application/json"}
	env, err = Decode([]byte(`{"agent_serial":"SN","organization_id":2,"preset_id":3}`), func(k string) string { return hdr[k] })
	if err != nil {
		t.Fatal(err)
	}
	if env.ID != "e2" || env.Type != "camera.assigned" || env.Time.IsZero() {
		t.Errorf("binary mode decoded %+v", env)
	}
}

func TestDecodeRejectsWithReason(t *testing.T) {
	tests := []struct {
		give string
		want string
	}{
		{give: `not json`, want: "not a CloudEvents JSON envelope"},
		{give: `{"specversion":"0.3","id":"x","source":"s","type":"t","time":"2026-01-01T00:00:00Z","data":{}}`, want: "specversion"},
		{give: `{"specversion":"1.0","source":"s","type":"t","time":"2026-01-01T00:00:00Z","data":{}}`, want: "id: missing"},
		{give: `{"specversion":"1.0","id":"x","source":"s","type":"t","data":{}}`, want: "time: missing"},
		{give: `{"specversion":"1.0","id":"x","source":"s","type":"t","time":"2026-01-01T00:00:00Z"}`, want: "data: missing"},
		{give: `{"specversion":"1.0","id":"x","source":"s","type":"t","time":"2026-01-01T00:00:00Z","data":{}} {}`, want: "trailing data"},
		{give: `{"specversion":"1.0","id":"evt-7","source":"s","type":"t","time":"yesterday","data":{}}`, want: `invalid event evt-7: time: "yesterday" is not an RFC 3339 time`},
	}
	for _, tt := range tests {
		_, err := Decode([]byte(tt.give), nil)
		var inv *InvalidError
		if !errors.As(err, &inv) || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("Decode(%s) = %v, want an InvalidError containing %q", tt.give, err, tt.want)
		}
	}
}

func TestAssignmentValidate(t *testing.T) {
	tests := []struct {
		give Assignment
		want string
	}{
		{give: Assignment{OrganizationID: 1, PresetID: 1}, want: "agent_serial"},
		{give: Assignment{AgentSerial: "S", PresetID: 1}, want: "organization_id"},
		{give: Assignment{AgentSerial: "S", OrganizationID: 1}, want: "preset_id"},
		{give: Assignment{AgentSerial: "S", OrganizationID: 1, PresetID: 1}, want: ""},
	}
	for _, tt := range tests {
		err := tt.give.Validate()
		if tt.want == "" && err != nil || tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)) {
			t.Errorf("Validate(%+v) = %v, want %q", tt.give, err, tt.want)
		}
	}
}

func TestParseInventory(t *testing.T) {
	in := "\ufeffTitle,agent_serial,organization_id,preset_id,subscriber_id,extra\n" +
		"Front,SN-1,2,3,S1,x\n" +
		"Bad,SN-2,two,3,S1,x\n" +
		"NoOrg,SN-3,,3,S1,x\n"
	rows, bad, err := ParseInventory(strings.NewReader(in))
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != 1 || rows[0].Assignment.AgentSerial != "SN-1" || rows[0].Assignment.OrganizationID != 2 || rows[0].Assignment.Title != "Front" {
		t.Errorf("rows = %+v", rows)
	}
	if len(bad) != 2 || bad[0].Line != 3 || !strings.Contains(bad[0].Reason, "organization_id") || bad[1].Line != 4 {
		t.Errorf("bad = %+v, want lines 3 and 4 naming the field", bad)
	}
	if _, _, err := ParseInventory(strings.NewReader("serial,org\nA,1\n")); err == nil || !strings.Contains(err.Error(), "agent_serial") {
		t.Errorf("header without agent_serial: %v", err)
	}
}

func TestAssignmentIDDependsOnContentAndVersion(t *testing.T) {
	a := Assignment{AgentSerial: "S", OrganizationID: 1, PresetID: 1}
	b := a
	b.Title = "x"
	if a.ID("v1") != a.ID("v1") || a.ID("v1") == b.ID("v1") || a.ID("v1") == a.ID("v2") {
		t.Error("assignment ids must be stable for equal content and differ otherwise")
	}
}

func TestBackoffGrowsAndIsBounded(t *testing.T) {
	b := Backoff{Base: 100 * time.Millisecond, Max: time.Second}
	for n := uint64(1); n < 20; n++ {
		d := b.WaitTime(n)
		if d < 50*time.Millisecond || d > time.Second {
			t.Fatalf("WaitTime(%d) = %v, outside [base/2, max]", n, d)
		}
	}
	if b.WaitTime(10) < 500*time.Millisecond {
		t.Error("late retries should wait near the maximum")
	}
}
