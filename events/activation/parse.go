package activation

import (
	"bytes"
	"fmt"
	"io"
	"math"
	"mime"
	"strings"
	"unicode/utf8"
)

// Defaults for the zero fields of Limits.
const (
	DefaultMaxRows       = 100000
	DefaultMaxFieldBytes = 8192
	DefaultMaxBodyBytes  = 32 << 20
)

// MaxJSONDepth bounds JSON nesting. An activation row is a flat object, so
// anything deeper is junk, and refusing it early keeps a hostile body from
// costing stack or time.
const MaxJSONDepth = 64

// MaxRawBytes bounds Rejected.Raw so a huge bad row cannot bloat a reply.
const MaxRawBytes = 2048

// Format names reported in Result.Format.
const (
	FormatCSV  = "csv"
	FormatJSON = "json"
)

// Limits bounds what one push may cost. Zero fields take the defaults.
type Limits struct {
	// MaxRows is the most data rows a push may carry (default 100000).
	MaxRows int
	// MaxFieldBytes is the longest value a known field may have (default
	// 8192). Rows are also checked by Row.Validate, which uses the default,
	// so raising it only makes sense together with the consumers.
	MaxFieldBytes int
	// MaxBodyBytes is the most Parse reads from the body (default 32 MiB).
	// The HTTP layer caps the body too; this keeps Parse safe on its own.
	MaxBodyBytes int64
}

func (l *Limits) setDefaults() {
	if l.MaxRows <= 0 {
		l.MaxRows = DefaultMaxRows
	}
	if l.MaxFieldBytes <= 0 {
		l.MaxFieldBytes = DefaultMaxFieldBytes
	}
	if l.MaxBodyBytes <= 0 {
		l.MaxBodyBytes = DefaultMaxBodyBytes
	}
}

// Parsed is one valid row of a push.
type Parsed struct {
	// Index is the 1-based data row: for CSV the record after the header
	// (blank records not counted), for JSON the list element.
	Index int
	// Line is the CSV line where the record starts, 0 for JSON.
	Line int
	Row  Row
}

// Rejected is one row that cannot be used, kept so the operator can see and
// fix it while the other rows of the push go ahead.
type Rejected struct {
	Index int
	Line  int
	// Raw is the record as sent (CSV cells re-joined, or the JSON element)
	// with agent_key and agent_pin masked, cut to MaxRawBytes.
	Raw string
	// Reason names the field, says what is wrong and how to fix it. It
	// never contains a secret.
	Reason string
}

// Result is what Parse made of a push.
type Result struct {
	Format   string
	Rows     []Parsed
	Rejected []Rejected
}

// BodyError means the push as a whole is unusable, so the sender has to fix
// and resend it; rows are not worth looking at.
type BodyError struct {
	Reason string
}

func (e *BodyError) Error() string {
	return "bad activation push: " + e.Reason +
		" (expected CSV with a header line naming agent_serial, or JSON: a list of objects or one object)"
}

func bodyErr(format string, args ...any) *BodyError {
	return &BodyError{Reason: fmt.Sprintf(format, args...)}
}

var utf8BOM = []byte{0xEF, 0xBB, 0xBF}

// Parse reads a whole push. contentType is the request's Content-Type: CSV
// and JSON types decide the format, anything else (empty, text/plain,
// application/octet-stream) lets the body decide.
//
// Parse returns a *BodyError when the body as a whole cannot be read: empty,
// over MaxBodyBytes or MaxRows, invalid JSON, JSON nested deeper than
// MaxJSONDepth, or a CSV header that is broken or lacks agent_serial. A
// failing reader gives a wrapped read error instead, which is not the
// sender's fault. Single bad rows go to Result.Rejected and the other rows
// are still returned.
func Parse(body io.Reader, contentType string, lim Limits) (Result, error) {
	lim.setDefaults()
	readLimit := lim.MaxBodyBytes
	if readLimit < math.MaxInt64 {
		readLimit++ // one byte more tells a body at the limit from one over it
	}
	data, err := io.ReadAll(io.LimitReader(body, readLimit))
	if err != nil {
		return Result{}, fmt.Errorf("read activation push: %w", err)
	}
	if int64(len(data)) > lim.MaxBodyBytes {
		return Result{}, bodyErr("push is larger than %d bytes: split it", lim.MaxBodyBytes)
	}
	data = bytes.TrimPrefix(data, utf8BOM)
	format := formatOf(contentType, data)
	if len(bytes.TrimSpace(data)) == 0 {
		return Result{Format: format}, bodyErr("push is empty")
	}
	if format == FormatJSON {
		return parseJSON(data, lim)
	}
	return parseCSV(data, lim)
}

// formatOf trusts an explicit CSV or JSON content type and sniffs the body
// otherwise, since the activation server's content type is unconfirmed.
func formatOf(contentType string, data []byte) string {
	mt, _, err := mime.ParseMediaType(contentType)
	if err != nil {
		mt, _, _ = strings.Cut(contentType, ";")
		mt = strings.ToLower(strings.TrimSpace(mt))
	}
	switch {
	case mt == "text/csv" || mt == "application/csv" || mt == "text/comma-separated-values":
		return FormatCSV
	case mt == "application/json" || mt == "text/json" || strings.HasSuffix(mt, "+json"):
		return FormatJSON
	}
	if looksJSON(data) {
		return FormatJSON
	}
	return FormatCSV
}

func looksJSON(data []byte) bool {
	t := bytes.TrimLeft(data, " \t\r\n")
	return len(t) > 0 && (t[0] == '[' || t[0] == '{')
}

// valueKind records how a JSON value was typed, because "true" sent as a
// string and true sent as a boolean mean different things for some fields.
type valueKind int

const (
	valString valueKind = iota
	valNumber
	valBool
)

type value struct {
	text string
	kind valueKind
}

// isKnown reports whether a normalized input name is one Parse reads.
func isKnown(name string) bool {
	switch name {
	case FieldAgentSerial, FieldAgentID, FieldAgentKey, FieldAgentPin, FieldAgentModel,
		FieldStreamURL, FieldSubstreamURL, FieldThumbnails, FieldOnvifURL, FieldOnvifProfile,
		FieldCanPTZ, FieldPTZ, FieldOnvifPTZ, FieldAbonentSign:
		return true
	}
	return false
}

func normName(s string) string { return strings.ToLower(strings.TrimSpace(s)) }

// buildRow turns the known fields of one record into a validated Row. The
// same code serves CSV and JSON so both formats give equal rows and ids.
func buildRow(vals map[string]value, maxField int) (Row, error) {
	for _, name := range []string{
		FieldAgentSerial, FieldAgentID, FieldAgentKey, FieldAgentPin, FieldAgentModel,
		FieldStreamURL, FieldSubstreamURL, FieldThumbnails, FieldOnvifURL, FieldOnvifProfile,
		FieldCanPTZ, FieldPTZ, FieldOnvifPTZ, FieldAbonentSign,
	} {
		v, ok := vals[name]
		if !ok {
			continue
		}
		if len(v.text) > maxField {
			return Row{}, rowErr(name, "is %d bytes long, over the limit of %d: shorten it or leave it out", len(v.text), maxField)
		}
		if !utf8.ValidString(v.text) {
			return Row{}, rowErr(name, "is not valid UTF-8: send text encoded as UTF-8")
		}
	}
	var r Row
	var err error
	text := func(name string) string {
		if err != nil {
			return ""
		}
		v, ok := vals[name]
		if !ok {
			return ""
		}
		if v.kind == valBool {
			err = rowErr(name, "is true or false: send it as text")
			return ""
		}
		return strings.TrimSpace(v.text)
	}
	r.AgentSerial = text(FieldAgentSerial)
	r.AgentID = text(FieldAgentID)
	r.AgentKey = text(FieldAgentKey)
	r.AgentPin = text(FieldAgentPin)
	r.AgentModel = text(FieldAgentModel)
	r.StreamURL = text(FieldStreamURL)
	r.SubstreamURL = text(FieldSubstreamURL)
	r.OnvifURL = text(FieldOnvifURL)
	r.OnvifProfile = text(FieldOnvifProfile)
	r.AbonentSign = text(FieldAbonentSign)
	if err != nil {
		return Row{}, err
	}
	if v, ok := vals[FieldThumbnails]; ok {
		// Watcher's import also takes thumbnails as a switch (0/1 or a
		// boolean); that is not a snapshot URL, so it counts as absent.
		t := strings.TrimSpace(v.text)
		switch {
		case v.kind == valBool:
		case t == "0" || t == "1":
		case v.kind == valString && (strings.EqualFold(t, "true") || strings.EqualFold(t, "false")):
		default:
			r.Thumbnails = t
		}
	}
	if r.PTZ, err = ptzOf(vals); err != nil {
		return Row{}, err
	}
	if err := r.validate(maxField); err != nil {
		return Row{}, err
	}
	return r, nil
}

// parseFlag reads the boolean spellings seen in the wild.
func parseFlag(s string) (v, ok bool) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "1", "true", "yes":
		return true, true
	case "0", "false", "no":
		return false, true
	}
	return false, false
}

// ptzOf merges the three names PTZ goes by. Senders mostly use one; when
// several disagree there is no telling which one is right.
func ptzOf(vals map[string]value) (*bool, error) {
	var got *bool
	var from string
	for _, name := range []string{FieldCanPTZ, FieldPTZ, FieldOnvifPTZ} {
		v, ok := vals[name]
		if !ok {
			continue
		}
		b, ok := parseFlag(v.text)
		if !ok {
			return nil, rowErr(name, "is not a yes/no value: send 0 or 1, true or false, or yes or no")
		}
		if got != nil && *got != b {
			return nil, rowErr(name, "disagrees with %s (%t vs %t): send only one of can_ptz, ptz and onvif_ptz", from, b, *got)
		}
		if got == nil {
			got, from = &b, name
		}
	}
	return got, nil
}

// truncateRaw cuts s to MaxRawBytes on a rune boundary and marks the cut.
func truncateRaw(s string) string {
	if len(s) <= MaxRawBytes {
		return s
	}
	const mark = "..."
	n := MaxRawBytes - len(mark)
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n] + mark
}
