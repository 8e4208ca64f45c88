package events

//go:generate go test -run ^TestSchemasAreCurrent$ -update-schemas .

import (
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// Payload is the typed data of one event type: it validates itself and
// names the subject (camera or subscriber) its event is about.
type Payload interface {
	Validate() error
	Subject() string
}

// NewPayload returns an empty payload of event type typ, ready to decode
// into; ok is false for a type the bridge does not handle.
func NewPayload(typ string) (p Payload, ok bool) {
	switch typ {
	case CameraActivated:
		return nil, false // activation rows live in events/activation
	case CameraAssigned:
		return &Assignment{}, true
	case CameraUnassigned:
		return &CameraUnassignment{}, true
	case CameraAdded:
		return &CameraAddition{}, true
	case SubscriberCreated, SubscriberUpdated:
		return &SubscriberProfile{}, true
	case SubscriberDeleted:
		return &SubscriberDeletion{}, true
	case SubscriberFolderGranted, SubscriberFolderRevoked:
		return &FolderAccess{}, true
	case PlanChanged:
		return &PlanChange{}, true
	case PaymentOverdue, PaymentReceived:
		return &Payment{}, true
	}
	return nil, false
}

// DecodePayload decodes and validates the data of env into the payload of
// its type. Every failure is an *InvalidError naming the event and field.
func DecodePayload(env Envelope) (Payload, error) {
	p, ok := NewPayload(env.Type)
	if !ok {
		return nil, &InvalidError{EventID: env.ID, Field: "type", Reason: fmt.Sprintf("%q is not an event type this bridge handles (known: %s)", env.Type, strings.Join(Topics(), ", "))}
	}
	if err := env.DecodeData(p); err != nil {
		return nil, err
	}
	if err := p.Validate(); err != nil {
		var inv *InvalidError
		if errors.As(err, &inv) {
			inv.EventID = env.ID
		}
		return nil, err
	}
	return p, nil
}

// NewEvent wraps a validated payload in an envelope of type typ whose
// subject is the payload's. id may be empty (a random one is made); a zero
// time means now.
func NewEvent(typ, id string, at time.Time, p Payload) (Envelope, error) {
	want, ok := NewPayload(typ)
	if !ok {
		return Envelope{}, &InvalidError{EventID: id, Field: "type", Reason: fmt.Sprintf("%q is not an event type this bridge handles", typ)}
	}
	if fmt.Sprintf("%T", want) != fmt.Sprintf("%T", p) {
		return Envelope{}, fmt.Errorf("event %s carries %T, not %T", typ, want, p)
	}
	if err := p.Validate(); err != nil {
		return Envelope{}, err
	}
	return NewEnvelope(typ, id, p.Subject(), at, p)
}

// Subject is the camera serial.
func (a Assignment) Subject() string { return a.AgentSerial }

// CameraUnassignment is the payload of camera.unassigned: the camera was
// returned or taken from its subscriber. It names the camera by its serial
// (an Agent camera) or by billing's camera id (a camera.added one).
type CameraUnassignment struct {
	AgentSerial string `json:"agent_serial,omitempty"`
	CameraID    string `json:"camera_id,omitempty"`
	// Reason is kept on the camera's record and shown in its history,
	// e.g. "returned", "stolen", "contract ended".
	Reason string `json:"reason,omitempty"`
}

// Validate reports the first unusable field.
func (u CameraUnassignment) Validate() error {
	if err := oneCamera(u.AgentSerial, u.CameraID); err != nil {
		return err
	}
	return checkText("reason", u.Reason, 1024, false)
}

// Subject is the serial or the camera id.
func (u CameraUnassignment) Subject() string { return firstOf(u.AgentSerial, u.CameraID) }

// CameraAddition is the payload of camera.added: a camera without the
// Agent (RTSP/ONVIF) that billing adds for a subscriber. Billing's camera
// id decides the Watcher name, so the same camera is never created twice.
type CameraAddition struct {
	CameraID       string `json:"camera_id"`
	Title          string `json:"title,omitempty"`
	StreamURL      string `json:"stream_url"`
	SubstreamURL   string `json:"substream_url,omitempty"`
	OnvifURL       string `json:"onvif_url,omitempty"`
	OrganizationID ID     `json:"organization_id"`
	PresetID       ID     `json:"preset_id,omitempty"`
	PlanID         string `json:"plan_id,omitempty"`
	SubscriberID   string `json:"subscriber_id,omitempty"`
}

// Validate reports the first unusable field.
func (c CameraAddition) Validate() error {
	if err := checkText("camera_id", c.CameraID, 256, true); err != nil {
		return err
	}
	if err := checkURL("stream_url", c.StreamURL, true); err != nil {
		return err
	}
	for _, f := range []struct{ name, v string }{{"substream_url", c.SubstreamURL}, {"onvif_url", c.OnvifURL}} {
		if err := checkURL(f.name, f.v, false); err != nil {
			return err
		}
	}
	if err := checkText("title", c.Title, 1024, false); err != nil {
		return err
	}
	if err := checkText("subscriber_id", c.SubscriberID, 256, false); err != nil {
		return err
	}
	return checkOwner(c.OrganizationID, c.PresetID, c.PlanID)
}

// Subject is billing's camera id.
func (c CameraAddition) Subject() string { return c.CameraID }

// SubscriberProfile is the payload of subscriber.created and
// subscriber.updated: the Watcher user the subscriber must have.
type SubscriberProfile struct {
	SubscriberID string `json:"subscriber_id"`
	Login        string `json:"login"`
	// Password is optional (providers with an external authorization
	// backend have none to send). It is passed to Watcher and never
	// stored or logged by the bridge.
	Password       string `json:"password,omitempty"`
	Name           string `json:"name,omitempty"`
	OrganizationID ID     `json:"organization_id"`
	PlanID         string `json:"plan_id,omitempty"`
}

// Validate reports the first unusable field.
func (s SubscriberProfile) Validate() error {
	if err := checkText("subscriber_id", s.SubscriberID, 256, true); err != nil {
		return err
	}
	if err := checkText("login", s.Login, 256, true); err != nil {
		return err
	}
	if strings.TrimSpace(s.Login) != s.Login {
		return &InvalidError{Field: "login", Reason: "has leading or trailing spaces"}
	}
	if err := checkText("password", s.Password, 1024, false); err != nil {
		return &InvalidError{Field: "password", Reason: "must be valid UTF-8 without control characters, at most 1024 bytes"}
	}
	if err := checkText("name", s.Name, 1024, false); err != nil {
		return err
	}
	if s.OrganizationID <= 0 {
		return &InvalidError{Field: "organization_id", Reason: "missing or not positive: give the Watcher organization id of the subscriber"}
	}
	return checkText("plan_id", s.PlanID, 256, false)
}

// Subject is the subscriber id.
func (s SubscriberProfile) Subject() string { return s.SubscriberID }

// SubscriberDeletion is the payload of subscriber.deleted.
type SubscriberDeletion struct {
	SubscriberID string `json:"subscriber_id"`
}

// Validate reports the first unusable field.
func (s SubscriberDeletion) Validate() error {
	return checkText("subscriber_id", s.SubscriberID, 256, true)
}

// Subject is the subscriber id.
func (s SubscriberDeletion) Subject() string { return s.SubscriberID }

// FolderAccess is the payload of subscriber.folder_granted and
// subscriber.folder_revoked: the subscriber's permission on a folder of
// shared cameras. The permission flags matter only when granting.
type FolderAccess struct {
	SubscriberID   string `json:"subscriber_id"`
	OrganizationID ID     `json:"organization_id"`
	FolderID       ID     `json:"folder_id"`
	CanViewDVR     bool   `json:"can_view_dvr,omitempty"`
	CanUsePTZ      bool   `json:"can_use_ptz,omitempty"`
}

// Validate reports the first unusable field.
func (f FolderAccess) Validate() error {
	if err := checkText("subscriber_id", f.SubscriberID, 256, true); err != nil {
		return err
	}
	if f.OrganizationID <= 0 {
		return &InvalidError{Field: "organization_id", Reason: "missing or not positive: the organization holding the folder"}
	}
	if f.FolderID <= 0 {
		return &InvalidError{Field: "folder_id", Reason: "missing or not positive: the Watcher folder id"}
	}
	return nil
}

// Subject is the subscriber id.
func (f FolderAccess) Subject() string { return f.SubscriberID }

// PlanChange is the payload of plan.changed.
type PlanChange struct {
	SubscriberID string `json:"subscriber_id"`
	PlanID       string `json:"plan_id"`
}

// Validate reports the first unusable field.
func (p PlanChange) Validate() error {
	if err := checkText("subscriber_id", p.SubscriberID, 256, true); err != nil {
		return err
	}
	return checkText("plan_id", p.PlanID, 256, true)
}

// Subject is the subscriber id.
func (p PlanChange) Subject() string { return p.SubscriberID }

// Payment is the payload of payment.overdue and payment.received.
type Payment struct {
	SubscriberID string `json:"subscriber_id"`
	// InvoiceID is billing's reference, kept in the subscriber's history.
	InvoiceID string `json:"invoice_id,omitempty"`
}

// Validate reports the first unusable field.
func (p Payment) Validate() error {
	if err := checkText("subscriber_id", p.SubscriberID, 256, true); err != nil {
		return err
	}
	return checkText("invoice_id", p.InvoiceID, 256, false)
}

// Subject is the subscriber id.
func (p Payment) Subject() string { return p.SubscriberID }

// Typed constructors, one per topic.

// NewCameraAssigned builds a camera.assigned event.
func NewCameraAssigned(id string, at time.Time, p Assignment) (Envelope, error) {
	return NewEvent(CameraAssigned, id, at, &p)
}

// NewCameraUnassigned builds a camera.unassigned event.
func NewCameraUnassigned(id string, at time.Time, p CameraUnassignment) (Envelope, error) {
	return NewEvent(CameraUnassigned, id, at, &p)
}

// NewCameraAdded builds a camera.added event.
func NewCameraAdded(id string, at time.Time, p CameraAddition) (Envelope, error) {
	return NewEvent(CameraAdded, id, at, &p)
}

// NewSubscriberCreated builds a subscriber.created event.
func NewSubscriberCreated(id string, at time.Time, p SubscriberProfile) (Envelope, error) {
	return NewEvent(SubscriberCreated, id, at, &p)
}

// NewSubscriberUpdated builds a subscriber.updated event.
func NewSubscriberUpdated(id string, at time.Time, p SubscriberProfile) (Envelope, error) {
	return NewEvent(SubscriberUpdated, id, at, &p)
}

// NewSubscriberDeleted builds a subscriber.deleted event.
func NewSubscriberDeleted(id string, at time.Time, p SubscriberDeletion) (Envelope, error) {
	return NewEvent(SubscriberDeleted, id, at, &p)
}

// NewFolderGranted builds a subscriber.folder_granted event.
func NewFolderGranted(id string, at time.Time, p FolderAccess) (Envelope, error) {
	return NewEvent(SubscriberFolderGranted, id, at, &p)
}

// NewFolderRevoked builds a subscriber.folder_revoked event.
func NewFolderRevoked(id string, at time.Time, p FolderAccess) (Envelope, error) {
	return NewEvent(SubscriberFolderRevoked, id, at, &p)
}

// NewPlanChanged builds a plan.changed event.
func NewPlanChanged(id string, at time.Time, p PlanChange) (Envelope, error) {
	return NewEvent(PlanChanged, id, at, &p)
}

// NewPaymentOverdue builds a payment.overdue event.
func NewPaymentOverdue(id string, at time.Time, p Payment) (Envelope, error) {
	return NewEvent(PaymentOverdue, id, at, &p)
}

// NewPaymentReceived builds a payment.received event.
func NewPaymentReceived(id string, at time.Time, p Payment) (Envelope, error) {
	return NewEvent(PaymentReceived, id, at, &p)
}

// checkText validates a free-text or identifier field: valid UTF-8, no
// control characters, at most max bytes, present when required.
func checkText(field, v string, max int, required bool) error {
	switch {
	case strings.TrimSpace(v) == "" && required:
		return &InvalidError{Field: field, Reason: "missing"}
	case !utf8.ValidString(v):
		return &InvalidError{Field: field, Reason: "is not valid UTF-8"}
	case len(v) > max:
		return &InvalidError{Field: field, Reason: fmt.Sprintf("longer than %d bytes", max)}
	case strings.ContainsFunc(v, unicode.IsControl):
		return &InvalidError{Field: field, Reason: "contains control characters"}
	}
	return nil
}

func checkURL(field, v string, required bool) error {
	if err := checkText(field, v, 2048, required); err != nil {
		return err
	}
	if v == "" {
		return nil
	}
	u, err := url.Parse(v)
	if err != nil || u.Scheme == "" || (u.Host == "" && u.Opaque == "") {
		return &InvalidError{Field: field, Reason: fmt.Sprintf("%q is not a URL with a scheme and host, e.g. rtsp://10.0.0.5/main", v)}
	}
	return nil
}

func checkOwner(org, preset ID, plan string) error {
	switch {
	case org <= 0:
		return &InvalidError{Field: "organization_id", Reason: "missing or not positive: give the Watcher organization id of the subscriber"}
	case preset < 0:
		return &InvalidError{Field: "preset_id", Reason: "negative"}
	case preset == 0 && plan == "":
		return &InvalidError{Field: "preset_id", Reason: "missing: give preset_id, or plan_id when a plans file maps plans to presets"}
	}
	return checkText("plan_id", plan, 256, false)
}

func oneCamera(serial, cameraID string) error {
	switch {
	case serial == "" && cameraID == "":
		return &InvalidError{Field: "agent_serial", Reason: "missing: name the camera by agent_serial (an Agent camera) or camera_id (a camera.added one)"}
	case serial != "" && cameraID != "":
		return &InvalidError{Field: "camera_id", Reason: "give agent_serial or camera_id, not both"}
	case serial != "":
		return checkText("agent_serial", serial, 256, true)
	}
	return checkText("camera_id", cameraID, 256, true)
}

func firstOf(s ...string) string {
	for _, v := range s {
		if v != "" {
			return v
		}
	}
	return ""
}
