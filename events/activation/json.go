package activation

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/watcherbridge/watcherbridge/events/jsonscan"
)

func parseJSON(data []byte, lim Limits) (Result, error) {
	res := Result{Format: FormatJSON}
	// Checked over the raw bytes before any decoding, so a hostile
	// document costs one linear scan and no recursion.
	if tooDeep(data, MaxJSONDepth) {
		return res, bodyErr("the JSON is nested deeper than %d levels: send a flat list of objects", MaxJSONDepth)
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	trimmed := bytes.TrimLeft(data, " \t\r\n")
	switch trimmed[0] {
	case '{':
		var raw json.RawMessage
		if err := dec.Decode(&raw); err != nil {
			return Result{Format: FormatJSON}, jsonBodyErr(err)
		}
		if err := expectEnd(dec); err != nil {
			return Result{Format: FormatJSON}, err
		}
		addElement(&res, 1, raw, lim, false)
		return res, nil
	case '[':
	default:
		if kind := kindOf(trimmed); kind != "not JSON" {
			return res, bodyErr("the JSON document is %s: send a list of objects or one object", kind)
		}
		return res, bodyErr("the body is not JSON: send JSON, or send CSV with Content-Type text/csv")
	}

	if res, ok := validElements(data, lim); ok {
		return res, nil
	}
	return decodeElements(dec, lim)
}

// decodeElements reads a list with the decoder, which explains what is
// wrong with it; dec is past nothing yet.
func decodeElements(dec *json.Decoder, lim Limits) (Result, error) {
	res := Result{Format: FormatJSON}
	if _, err := dec.Token(); err != nil { // the opening '['
		return res, jsonBodyErr(err)
	}
	// Elements are decoded one at a time, so memory follows the largest
	// element rather than the number of elements.
	for index := 1; dec.More(); index++ {
		if index > lim.MaxRows {
			return Result{Format: FormatJSON}, bodyErr("push has more than %d rows: split it", lim.MaxRows)
		}
		var raw json.RawMessage
		if err := dec.Decode(&raw); err != nil {
			return Result{Format: FormatJSON}, jsonBodyErr(err)
		}
		addElement(&res, index, raw, lim, false)
	}
	if _, err := dec.Token(); err != nil { // the closing ']'
		return Result{Format: FormatJSON}, jsonBodyErr(err)
	}
	if err := expectEnd(dec); err != nil {
		return Result{Format: FormatJSON}, err
	}
	return res, nil
}

// validElements reads a list that is valid JSON (jsonscan.Valid) by
// walking it: the decoder's Token and Decode, each validating and copying
// every element again, were most of a JSON push's parsing time after the
// elements themselves were read by flatValues. ok is false for anything
// else, and parseJSON then reads the list with the decoder, which
// explains what is wrong.
func validElements(data []byte, lim Limits) (res Result, ok bool) {
	res.Format = FormatJSON
	if !jsonscan.Valid(data) {
		return res, false
	}
	index, tooMany := 0, false
	walked := jsonscan.Elements(data, func(raw []byte) bool {
		if index++; index > lim.MaxRows {
			tooMany = true
			return false
		}
		addElement(&res, index, raw, lim, true)
		return true
	})
	if tooMany {
		// The decoder path gives the same answer, with no rows kept.
		return Result{Format: FormatJSON}, false
	}
	return res, walked
}

func expectEnd(dec *json.Decoder) error {
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return bodyErr("there is more data after the JSON document: send one list or one object")
	}
	return nil
}

func jsonBodyErr(err error) error {
	var se *json.SyntaxError
	switch {
	case errors.As(err, &se):
		return bodyErr("invalid JSON at byte %d (%v): fix the syntax", se.Offset, se)
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return bodyErr("the JSON ends too early: the body seems cut off")
	}
	return bodyErr("invalid JSON (%v): fix the syntax", err)
}

// tooDeep reports whether brackets nest deeper than max, skipping strings.
func tooDeep(data []byte, max int) bool {
	depth := 0
	inString, escaped := false, false
	for _, c := range data {
		if inString {
			switch {
			case escaped:
				escaped = false
			case c == '\\':
				escaped = true
			case c == '"':
				inString = false
			}
			continue
		}
		switch c {
		case '"':
			inString = true
		case '[', '{':
			depth++
			if depth > max {
				return true
			}
		case ']', '}':
			depth--
		}
	}
	return false
}

// kindOf names the JSON type a value starts with, for reasons.
func kindOf(raw []byte) string {
	if len(raw) == 0 {
		return "empty"
	}
	switch c := raw[0]; {
	case c == '{':
		return "an object"
	case c == '[':
		return "a list"
	case c == '"':
		return "a string"
	case c == 't' || c == 'f':
		return "a boolean"
	case c == 'n':
		return "null"
	case c == '-' || c >= '0' && c <= '9':
		return "a number"
	}
	return "not JSON"
}

// addElement reads one element of a push; valid says raw is known to be
// valid JSON.
func addElement(res *Result, index int, raw json.RawMessage, lim Limits, valid bool) {
	vals, err := objectValues(raw, valid)
	var row Row
	if err == nil {
		row, err = buildRow(vals, lim.MaxFieldBytes)
	}
	if err != nil {
		res.Rejected = append(res.Rejected, Rejected{Index: index, Raw: maskJSON(raw), Reason: err.Error()})
		return
	}
	res.Rows = append(res.Rows, Parsed{Index: index, Row: row})
}

// objectValues collects the known fields of one element. null counts as
// absent; nested objects and lists in known fields are refused.
func objectValues(raw json.RawMessage, valid bool) (map[string]value, error) {
	if !valid {
		if vals, err, ok := flatValues(raw); ok {
			return vals, err
		}
	} else if vals, err, ok := flatValidValues(raw); ok {
		return vals, err
	}
	return tokenValues(raw)
}

// tokenValues is objectValues read token by token, with an explanation of
// anything wrong.
func tokenValues(raw json.RawMessage) (map[string]value, error) {
	if kind := kindOf(raw); kind != "an object" {
		return nil, fmt.Errorf("element is %s, not an object: send each camera as a JSON object with agent_serial", kind)
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	if _, err := dec.Token(); err != nil {
		return nil, fmt.Errorf("element is not a valid JSON object: %w", err)
	}
	vals := make(map[string]value)
	seen := make(map[string]bool)
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, fmt.Errorf("element is not a valid JSON object: %w", err)
		}
		key, _ := tok.(string)
		var v json.RawMessage
		if err := dec.Decode(&v); err != nil {
			return nil, fmt.Errorf("element is not a valid JSON object: %w", err)
		}
		if err := addValue(vals, seen, key, v); err != nil {
			return nil, err
		}
	}
	return vals, nil
}

// maskJSON re-encodes an element for display with the values of agent_key
// and agent_pin masked at any depth. It stops once the text is long enough
// to be cut, so a huge element costs little.
func maskJSON(raw []byte) string {
	type frame struct {
		obj, wantKey bool
		n            int
	}
	var (
		b     strings.Builder
		stack []frame
	)
	// next writes the separator before an item and reports whether the
	// item is an object key.
	next := func() bool {
		if len(stack) == 0 {
			return false
		}
		f := &stack[len(stack)-1]
		if f.obj && !f.wantKey {
			b.WriteByte(':')
			f.wantKey = true
			return false
		}
		if f.n > 0 {
			b.WriteByte(',')
		}
		f.n++
		if f.obj {
			f.wantKey = false
			return true
		}
		return false
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	for b.Len() <= MaxRawBytes {
		tok, err := dec.Token()
		if err != nil {
			break
		}
		if d, ok := tok.(json.Delim); ok && (d == ']' || d == '}') {
			if len(stack) > 0 {
				stack = stack[:len(stack)-1]
			}
			b.WriteByte(byte(d))
			continue
		}
		isKey := next()
		switch t := tok.(type) {
		case json.Delim:
			b.WriteByte(byte(t))
			stack = append(stack, frame{obj: t == '{', wantKey: true})
		case string:
			q, _ := json.Marshal(t)
			b.Write(q)
			if isKey && isSecret(normName(t)) {
				var secret json.RawMessage
				if err := dec.Decode(&secret); err != nil {
					return truncateRaw(b.String())
				}
				next()
				if s := string(secret); s == "null" || s == `""` {
					b.WriteString(s)
				} else {
					b.WriteString(`"` + masked + `"`)
				}
			}
		case json.Number:
			b.WriteString(t.String())
		case bool:
			b.WriteString(strconv.FormatBool(t))
		case nil:
			b.WriteString("null")
		}
	}
	return truncateRaw(b.String())
}

// flatValues is objectValues for the common element: valid JSON, an object
// whose keys have no escapes. It walks the members directly; ok is false
// for anything else, which objectValues then reads token by token (and
// explains, when it is wrong). The token reader cost about 40 µs per row, most of a JSON push's
// time until its 200.
func flatValues(raw []byte) (vals map[string]value, err error, ok bool) {
	if !jsonscan.Valid(raw) {
		return nil, nil, false
	}
	return flatValidValues(raw)
}

// flatValidValues is flatValues for raw known to be valid JSON.
func flatValidValues(raw []byte) (vals map[string]value, err error, ok bool) {
	// Elements come without surrounding space, from the decoder and from
	// jsonscan.Elements.
	if len(raw) < 2 || raw[0] != '{' || raw[len(raw)-1] != '}' {
		return nil, nil, false
	}
	vals = make(map[string]value, 12)
	seen := make(map[string]bool, 12)
	walked := jsonscan.Members(raw, func(key string, v []byte) bool {
		err = addValue(vals, seen, key, v)
		return err == nil
	})
	if err != nil {
		return nil, err, true
	}
	return vals, nil, walked
}

// addValue records the member key, with raw value v, of a pushed row:
// null counts as absent; nested objects and lists in known fields are
// refused.
func addValue(vals map[string]value, seen map[string]bool, key string, v []byte) error {
	name := normName(key)
	if !isKnown(name) {
		return nil
	}
	if seen[name] {
		return rowErr(name, "appears more than once in the object: send it once")
	}
	seen[name] = true
	switch v[0] {
	case 'n':
	case 't', 'f':
		vals[name] = value{text: string(v), kind: valBool}
	case '"':
		if !utf8.Valid(v) {
			return rowErr(name, "is not valid UTF-8: send text encoded as UTF-8")
		}
		text := string(v[1 : len(v)-1])
		if !jsonscan.Plain(v) {
			if err := json.Unmarshal(v, &text); err != nil {
				return rowErr(name, "is not a valid JSON string: fix its escapes")
			}
		}
		if strings.TrimSpace(text) != "" {
			vals[name] = value{text: text, kind: valString}
		}
	case '{', '[':
		return rowErr(name, "is %s: send a string or a number", kindOf(v))
	default:
		vals[name] = value{text: string(v), kind: valNumber}
	}
	return nil
}
