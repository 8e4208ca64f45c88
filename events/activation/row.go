// Package activation reads the pushes of the camera vendor's activation
// server: a CSV or JSON body listing freshly activated cameras. It turns a
// body into validated rows, one per camera, and explains every row it has
// to reject, so that one bad camera never blocks the others in a push the
// server would otherwise resend forever.
package activation

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Field names as the activation server spells them (watcher-api.md §8).
const (
	FieldAgentSerial  = "agent_serial"
	FieldAgentID      = "agent_id"
	FieldAgentKey     = "agent_key"
	FieldAgentPin     = "agent_pin"
	FieldAgentModel   = "agent_model"
	FieldStreamURL    = "stream_url"
	FieldSubstreamURL = "substream_url"
	FieldThumbnails   = "thumbnails"
	FieldOnvifURL     = "onvif_url"
	FieldOnvifProfile = "onvif_profile"
	FieldCanPTZ       = "can_ptz"
	FieldPTZ          = "ptz"
	FieldOnvifPTZ     = "onvif_ptz"
	FieldAbonentSign  = "abonent_sign"
)

// MaxSerialBytes bounds agent_serial, which becomes part of keys and names
// downstream, much tighter than the other fields.
const MaxSerialBytes = 128

// masked replaces secret values wherever a row or record is shown.
const masked = "***"

// Row is one activated camera as the activation server reported it; it is
// the payload of a camera.activated event. Empty strings mean the field was
// absent, so a row pushed as CSV and the same row pushed as JSON are equal.
type Row struct {
	AgentSerial  string `json:"agent_serial"`
	AgentID      string `json:"agent_id,omitempty"`
	AgentKey     string `json:"agent_key,omitempty"` // secret: never in errors or reasons
	AgentPin     string `json:"agent_pin,omitempty"` // older layout's secret
	AgentModel   string `json:"agent_model,omitempty"`
	StreamURL    string `json:"stream_url,omitempty"`
	SubstreamURL string `json:"substream_url,omitempty"`
	Thumbnails   string `json:"thumbnails,omitempty"` // snapshot URL
	OnvifURL     string `json:"onvif_url,omitempty"`
	OnvifProfile string `json:"onvif_profile,omitempty"`
	PTZ          *bool  `json:"can_ptz,omitempty"`
	// AbonentSign is an integer that can exceed int64, so it stays a
	// decimal digit string.
	AbonentSign string `json:"abonent_sign,omitempty"`
}

// RowError says why a row is unusable. Error returns the whole reason, which
// names Field and says how to fix it, and never quotes a secret.
type RowError struct {
	Field  string
	Reason string
}

func (e *RowError) Error() string { return e.Reason }

func rowErr(field, format string, args ...any) *RowError {
	return &RowError{Field: field, Reason: field + " " + fmt.Sprintf(format, args...)}
}

// fieldKind says what a text field may hold, so Validate can check each
// field the same way wherever the row came from.
type fieldKind int

const (
	kindIdent    fieldKind = iota // identifiers and secrets: no control characters at all
	kindFreeText                  // free text: tabs and line breaks allowed
	kindURL                       // must parse as a URL with scheme and host
	kindInteger                   // decimal digits, optional leading '-'
)

type textField struct {
	name  string
	value string
	kind  fieldKind
}

// textFields lists the row's string fields in canonical order; ID hashes
// them in this order, so it must never change.
func (r Row) textFields() []textField {
	return []textField{
		{FieldAgentSerial, r.AgentSerial, kindIdent},
		{FieldAgentID, r.AgentID, kindIdent},
		{FieldAgentKey, r.AgentKey, kindIdent},
		{FieldAgentPin, r.AgentPin, kindIdent},
		{FieldAgentModel, r.AgentModel, kindFreeText},
		{FieldStreamURL, r.StreamURL, kindURL},
		{FieldSubstreamURL, r.SubstreamURL, kindURL},
		{FieldThumbnails, r.Thumbnails, kindURL},
		{FieldOnvifURL, r.OnvifURL, kindURL},
		{FieldOnvifProfile, r.OnvifProfile, kindFreeText},
		{FieldAbonentSign, r.AbonentSign, kindInteger},
	}
}

// Validate reports whether the row can become a camera.activated event. It
// is run on every parsed row and again on rows that arrive inside events,
// with the default field limit, so both paths accept the same rows. The
// returned error is a *RowError.
func (r Row) Validate() error {
	return r.validate(DefaultMaxFieldBytes)
}

func (r Row) validate(maxField int) error {
	for _, f := range r.textFields() {
		if err := checkText(f, maxField); err != nil {
			return err
		}
	}
	switch {
	case r.AgentSerial == "":
		return rowErr(FieldAgentSerial, "is missing: every row needs the camera serial number")
	case strings.TrimSpace(r.AgentSerial) != r.AgentSerial:
		return rowErr(FieldAgentSerial, "has leading or trailing spaces: send the serial number alone")
	case len(r.AgentSerial) > MaxSerialBytes:
		return rowErr(FieldAgentSerial, "is %d bytes long, over the limit of %d: send the serial number alone", len(r.AgentSerial), MaxSerialBytes)
	}
	return nil
}

func checkText(f textField, maxField int) error {
	if f.value == "" {
		return nil
	}
	if len(f.value) > maxField {
		return rowErr(f.name, "is %d bytes long, over the limit of %d: shorten it or leave it out", len(f.value), maxField)
	}
	if !utf8.ValidString(f.value) {
		return rowErr(f.name, "is not valid UTF-8: send text encoded as UTF-8")
	}
	for _, c := range f.value {
		if unicode.IsControl(c) && (f.kind != kindFreeText || (c != '\t' && c != '\n' && c != '\r')) {
			return rowErr(f.name, "contains control characters: remove them")
		}
	}
	switch f.kind {
	case kindURL:
		u, err := url.Parse(f.value)
		if err != nil || u.Scheme == "" || u.Host == "" {
			return rowErr(f.name, "is not a URL with a scheme and host: send a full URL such as rtsp://host/path, or leave it out")
		}
	case kindInteger:
		if !isInteger(f.value) {
			return rowErr(f.name, "is not a whole number: send decimal digits only, optionally with a leading '-'")
		}
	}
	return nil
}

func isInteger(s string) bool {
	s = strings.TrimPrefix(s, "-")
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// ID derives the event id from the row's content, so the activation server
// resending the same camera, in either format and in any column order,
// yields the same id and is deduplicated, while a camera whose data changed
// (a new agent_id or key after a handover) yields a new event.
//
// Every field is hashed, the secrets included, because a new key must give
// a new event. The id is a truncated SHA-256 and is safe to log, but with
// all other fields known a short agent_pin could be guessed from it, so
// treat ids of rows with a pin as no more public than the row itself.
func (r Row) ID() string {
	// One buffer hashed at once: the same bytes as writing each field to
	// the hash through fmt, at a fraction of the cost (ingest computes an id
	// for every row of a push).
	buf := make([]byte, 0, 512)
	for _, f := range r.textFields() {
		buf = appendCanon(buf, f.name, f.value)
	}
	ptz := ""
	if r.PTZ != nil {
		ptz = strconv.FormatBool(*r.PTZ)
	}
	buf = appendCanon(buf, FieldCanPTZ, ptz)
	sum := sha256.Sum256(buf)
	return "act-" + hex.EncodeToString(sum[:16])
}

// appendCanon length-prefixes name and value so that no two different rows
// share an encoding.
func appendCanon(b []byte, name, value string) []byte {
	b = strconv.AppendInt(b, int64(len(name)), 10)
	b = append(b, ':')
	b = append(b, name...)
	b = strconv.AppendInt(b, int64(len(value)), 10)
	b = append(b, ':')
	return append(b, value...)
}

// Redacted returns a copy that is safe to display or log: the secrets are
// replaced by "***" when present, so an operator still sees that they were
// sent.
func (r Row) Redacted() Row {
	if r.AgentKey != "" {
		r.AgentKey = masked
	}
	if r.AgentPin != "" {
		r.AgentPin = masked
	}
	if r.PTZ != nil {
		v := *r.PTZ
		r.PTZ = &v
	}
	return r
}

// isSecret reports whether a field name (already normalized) holds a secret.
func isSecret(name string) bool {
	return name == FieldAgentKey || name == FieldAgentPin
}
