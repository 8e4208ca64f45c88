package store

import (
	"encoding/json"
	"time"

	"github.com/watcherbridge/watcherbridge/events/activation"
)

// Camera is everything the bridge knows about one camera. The serial is the
// key because it never changes; agent_id does when a camera changes hands.
type Camera struct {
	// Serial identifies an Agent camera; empty for a camera billing added
	// without the Agent, which CameraID identifies instead.
	Serial     string        `json:"serial"`
	CameraID   string        `json:"camera_id,omitempty"`
	Added      *Added        `json:"added,omitempty"`
	Activation *Activation   `json:"activation,omitempty"`
	Unassigned *Unassignment `json:"unassigned,omitempty"`
	Billing    *Billing      `json:"billing,omitempty"`
	Applied    *Applied      `json:"applied,omitempty"`
	Recent     []EventRef    `json:"recent,omitempty"`
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

// Unassignment is why and when billing took a camera back
// (camera.unassigned). The owner fields stay on the record; the camera is
// disabled until an assignment newer than this one.
type Unassignment struct {
	Reason  string    `json:"reason,omitempty"`
	EventID string    `json:"event_id"`
	Time    time.Time `json:"time"`
}

// Added is a camera without the Agent as billing described it
// (camera.added): its stream and its owner.
type Added struct {
	Title          string    `json:"title,omitempty"`
	StreamURL      string    `json:"stream_url"`
	SubstreamURL   string    `json:"substream_url,omitempty"`
	OnvifURL       string    `json:"onvif_url,omitempty"`
	OrganizationID int64     `json:"organization_id"`
	PresetID       int64     `json:"preset_id,omitempty"`
	PlanID         string    `json:"plan_id,omitempty"`
	SubscriberID   string    `json:"subscriber_id,omitempty"`
	EventID        string    `json:"event_id"`
	Time           time.Time `json:"time"`
}

// AddedKey is the store key of the camera billing added with id. It starts
// with a NUL byte, which no serial can contain, so the two kinds of
// cameras share one bucket without clashing.
func AddedKey(cameraID string) string { return addedPrefix + cameraID }

const addedPrefix = "\x00added:"

// Key is the record's key in the store: the serial, or AddedKey.
func (c Camera) Key() string {
	if c.Serial == "" && c.CameraID != "" {
		return AddedKey(c.CameraID)
	}
	return c.Serial
}

// SubscriberID is the subscriber the camera belongs to, if any.
func (c Camera) SubscriberID() string {
	switch {
	case c.Billing != nil:
		return c.Billing.SubscriberID
	case c.Added != nil:
		return c.Added.SubscriberID
	}
	return ""
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
