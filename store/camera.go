package store

import (
	"encoding/json"
	"time"

	"github.com/watcherbridge/watcherbridge/events/activation"
)

// Camera is everything the bridge knows about one camera. The serial is the
// key because it never changes; agent_id does when a camera changes hands.
type Camera struct {
	Serial     string      `json:"serial"`
	Activation *Activation `json:"activation,omitempty"`
	Billing    *Billing    `json:"billing,omitempty"`
	Applied    *Applied    `json:"applied,omitempty"`
	Recent     []EventRef  `json:"recent,omitempty"`
}

// Activation is what the activation server said last.
type Activation struct {
	Row     activation.Row `json:"row"`
	EventID string         `json:"event_id"`
	Time    time.Time      `json:"time"`
}

// Billing is what billing said last about the camera's owner.
type Billing struct {
	OrganizationID int64     `json:"organization_id"`
	PresetID       int64     `json:"preset_id,omitempty"`
	PlanID         string    `json:"plan_id,omitempty"`
	SubscriberID   string    `json:"subscriber_id,omitempty"`
	Title          string    `json:"title,omitempty"`
	EventID        string    `json:"event_id"`
	Time           time.Time `json:"time"`
}

// Applied is what Watcher was last told, so an unchanged desired state is
// not sent again.
type Applied struct {
	// Hash identifies the whole desired state that was sent, secrets
	// included, so a new agent_key is a change.
	Hash string `json:"hash"`
	// Fields is the state sent, with secrets masked, for inspection and
	// diffs.
	Fields  json.RawMessage `json:"fields,omitempty"`
	EventID string          `json:"event_id"`
	At      time.Time       `json:"at"`
}

// EventRef is one event that touched a record, newest last.
type EventRef struct {
	ID      string    `json:"id"`
	Type    string    `json:"type"`
	Time    time.Time `json:"time"`
	Outcome string    `json:"outcome"`
}

// MaxRecent bounds the history kept per record.
const MaxRecent = 10

// Touch appends ev to the record's history, dropping the oldest entries.
func (c *Camera) Touch(ev EventRef) {
	c.Recent = append(c.Recent, ev)
	if n := len(c.Recent); n > MaxRecent {
		c.Recent = append(c.Recent[:0], c.Recent[n-MaxRecent:]...)
	}
}
