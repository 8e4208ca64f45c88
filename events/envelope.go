package events

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"
)

// SpecVersion is the CloudEvents version of every envelope.
const SpecVersion = "1.0"

// DefaultSource names the bridge as the producer of events it publishes
// itself (ingest, inventory, the publish command).
const DefaultSource = "urn:watcherbridge"

// Envelope is a CloudEvents 1.0 event in structured JSON mode. Data stays
// raw until a handler asks for its typed payload, so an event of a type this
// version does not know can still be stored, dead-lettered and replayed
// intact.
type Envelope struct {
	SpecVersion     string          `json:"specversion"`
	ID              string          `json:"id"`
	Source          string          `json:"source"`
	Type            string          `json:"type"`
	Time            time.Time       `json:"time"`
	Subject         string          `json:"subject,omitempty"`
	DataContentType string          `json:"datacontenttype,omitempty"`
	Data            json.RawMessage `json:"data"`
}

// InvalidError says why an event can never be applied: which field of which
// event, and what to change. It is permanent: retrying cannot help.
type InvalidError struct {
	EventID string
	Field   string
	Reason  string
}

func (e *InvalidError) Error() string {
	id := e.EventID
	if id == "" {
		id = "(no id)"
	}
	if e.Field == "" {
		return fmt.Sprintf("invalid event %s: %s", id, e.Reason)
	}
	return fmt.Sprintf("invalid event %s: %s: %s", id, e.Field, e.Reason)
}

// Permanent marks the error as one that retrying cannot fix.
func (e *InvalidError) Permanent() bool { return true }

// NewEnvelope builds a valid envelope around data. id may be empty, in which
// case a random one is made; a content-derived id is better wherever the same
// fact can be sent twice.
func NewEnvelope(typ, id, subject string, t time.Time, data any) (Envelope, error) {
	raw, err := json.Marshal(data)
	if err != nil {
		return Envelope{}, fmt.Errorf("encode %s data: %w", typ, err)
	}
	if id == "" {
		id = RandomID()
	}
	if t.IsZero() {
		t = time.Now()
	}
	env := Envelope{
		SpecVersion:     SpecVersion,
		ID:              id,
		Source:          DefaultSource,
		Type:            typ,
		Time:            t.UTC(),
		Subject:         subject,
		DataContentType: "application/json",
		Data:            raw,
	}
	return env, env.Validate()
}

// RandomID returns a fresh event id for events that have no natural one.
func RandomID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return "evt-" + hex.EncodeToString(b[:])
}

// Validate checks the attributes CloudEvents requires and the ones the bridge
// relies on (time decides ordering, so it is required here).
func (e Envelope) Validate() error {
	bad := func(field, reason string) error { return &InvalidError{EventID: e.ID, Field: field, Reason: reason} }
	switch {
	case e.SpecVersion != SpecVersion:
		return bad("specversion", fmt.Sprintf("got %q, want %q", e.SpecVersion, SpecVersion))
	case e.ID == "":
		return bad("id", "missing: every event needs a unique id (billing's own id is best)")
	case len(e.ID) > 256:
		return bad("id", "longer than 256 bytes")
	case e.Source == "":
		return bad("source", "missing: name the system that produced the event, e.g. urn:billing")
	case e.Type == "":
		return bad("type", "missing: set it to the topic, e.g. camera.assigned")
	case e.Time.IsZero():
		return bad("time", "missing: set the RFC 3339 time the fact became true in billing; it decides ordering")
	case len(bytes.TrimSpace(e.Data)) == 0 || bytes.Equal(bytes.TrimSpace(e.Data), []byte("null")):
		return bad("data", "missing: the event payload is required")
	}
	if ct := e.DataContentType; ct != "" && !strings.Contains(ct, "json") {
		return bad("datacontenttype", fmt.Sprintf("%q is not JSON; send application/json data", ct))
	}
	return nil
}

// Encode returns the structured-mode JSON of the envelope.
func (e Envelope) Encode() ([]byte, error) {
	return json.Marshal(e)
}

// Header is read access to message headers (NATS or HTTP), so Decode does not
// depend on either library.
type Header func(key string) string

// Decode reads an envelope from a message body and its headers: structured
// mode (the body is the envelope), or binary mode (ce-* headers carry the
// attributes and the body is the data).
func Decode(body []byte, header Header) (Envelope, error) {
	if header != nil && header("ce-specversion") != "" {
		return decodeBinary(body, header)
	}
	var env Envelope
	dec := json.NewDecoder(bytes.NewReader(body))
	if err := dec.Decode(&env); err != nil {
		return Envelope{}, envelopeError(body, err)
	}
	if dec.More() {
		return Envelope{}, &InvalidError{EventID: env.ID, Reason: "trailing data after the envelope"}
	}
	return env, env.Validate()
}

// envelopeError describes a body that does not decode as an envelope,
// naming the event's id when the body gives one and the field at fault
// when it is the time.
func envelopeError(body []byte, err error) error {
	var probe struct {
		ID   any             `json:"id"`
		Time json.RawMessage `json:"time"`
	}
	_ = json.Unmarshal(body, &probe)
	id, _ := probe.ID.(string)
	var pe *time.ParseError
	if errors.As(err, &pe) {
		return &InvalidError{EventID: id, Field: "time", Reason: fmt.Sprintf("%s is not an RFC 3339 time, e.g. 2026-12-03T10:03:00Z", probe.Time)}
	}
	return &InvalidError{EventID: id, Reason: fmt.Sprintf("body is not a CloudEvents JSON envelope: %v", err)}
}

func decodeBinary(body []byte, header Header) (Envelope, error) {
	env := Envelope{
		SpecVersion:     header("ce-specversion"),
		ID:              header("ce-id"),
		Source:          header("ce-source"),
		Type:            header("ce-type"),
		Subject:         header("ce-subject"),
		DataContentType: header("content-type"),
		Data:            json.RawMessage(body),
	}
	if env.DataContentType == "" {
		env.DataContentType = header("ce-datacontenttype")
	}
	if ts := header("ce-time"); ts != "" {
		t, err := time.Parse(time.RFC3339Nano, ts)
		if err != nil {
			return env, &InvalidError{EventID: env.ID, Field: "ce-time", Reason: fmt.Sprintf("%q is not an RFC 3339 time", ts)}
		}
		env.Time = t
	}
	if !json.Valid(body) {
		return env, &InvalidError{EventID: env.ID, Field: "data", Reason: "body is not valid JSON"}
	}
	return env, env.Validate()
}

// DecodeData unmarshals the payload into v, rejecting unknown fields is not
// done on purpose: billing may send more than this version understands.
func (e Envelope) DecodeData(v any) error {
	if err := json.Unmarshal(e.Data, v); err != nil {
		return &InvalidError{EventID: e.ID, Field: "data", Reason: fmt.Sprintf("does not match the %s schema: %v", e.Type, err)}
	}
	return nil
}
