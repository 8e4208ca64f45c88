package events

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// ID is a Watcher object id (organization, preset). Billing systems send ids
// as JSON numbers or as numeric strings, so both are accepted.
type ID int64

// UnmarshalJSON accepts 7, "7" and null.
func (id *ID) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	if bytes.Equal(b, []byte("null")) {
		return nil
	}
	s := string(b)
	if len(b) > 0 && b[0] == '"' {
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
		s = strings.TrimSpace(s)
		if s == "" {
			*id = 0
			return nil
		}
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return fmt.Errorf("%s is not an integer id", b)
	}
	*id = ID(n)
	return nil
}

// Assignment is the payload of camera.assigned: billing links a camera serial
// to a subscriber, the subscriber's organization and a preset (or a plan that
// names one).
type Assignment struct {
	AgentSerial    string `json:"agent_serial"`
	OrganizationID ID     `json:"organization_id"`
	PresetID       ID     `json:"preset_id,omitempty"`
	PlanID         string `json:"plan_id,omitempty"`
	SubscriberID   string `json:"subscriber_id,omitempty"`
	Title          string `json:"title,omitempty"`
}

// Validate reports the first field that makes the assignment unusable.
func (a Assignment) Validate() error {
	switch {
	case strings.TrimSpace(a.AgentSerial) == "":
		return &InvalidError{Field: "agent_serial", Reason: "missing: name the camera's serial number"}
	case strings.ContainsFunc(a.AgentSerial, unicode.IsControl):
		return &InvalidError{Field: "agent_serial", Reason: "contains control characters"}
	case !utf8.ValidString(a.AgentSerial) || !utf8.ValidString(a.Title) || !utf8.ValidString(a.SubscriberID):
		return &InvalidError{Field: "data", Reason: "contains invalid UTF-8"}
	case a.OrganizationID <= 0:
		return &InvalidError{Field: "organization_id", Reason: "missing or not positive: give the Watcher organization id of the subscriber"}
	case a.PresetID < 0:
		return &InvalidError{Field: "preset_id", Reason: "negative"}
	case a.PresetID == 0 && a.PlanID == "":
		return &InvalidError{Field: "preset_id", Reason: "missing: give preset_id (or plan_id when a plans file maps plans to presets)"}
	case len(a.Title) > 1024:
		return &InvalidError{Field: "title", Reason: "longer than 1024 bytes"}
	}
	return nil
}

// ID derives an event id from the assignment's content and the time billing
// stated for it, so that publishing the same inventory twice is a duplicate
// while a later, different assignment of the same serial is not.
func (a Assignment) ID(version string) string {
	b, _ := json.Marshal(a)
	return contentID("asg-", append(b, version...))
}
