package watcherclient

import (
	"bytes"
	"encoding/json"
	"fmt"
	"sort"
	"strconv"
	"strings"
)

// ImportResult is the reply of POST /cameras/import. Watcher only reports
// counts and per-row errors, never the names it generated, so rows should
// always carry a name.
type ImportResult struct {
	Created, Updated, Deleted int
	// Errors maps a row reference (a 0-based row index in our fake, possibly
	// a camera name elsewhere) to Watcher's description of what was wrong.
	Errors map[string]json.RawMessage
}

// UnmarshalJSON accepts the current {"created","updated","deleted","errors"}
// shape with numbers or numeric strings, and the legacy interchange shape
// {"zc","zu","cameras","success"}. An errors array is kept under "#i" keys,
// which RowErrors attributes only through a "name" inside the entry.
func (r *ImportResult) UnmarshalJSON(b []byte) error {
	var wire struct {
		Created int             `json:"created"`
		Updated int             `json:"updated"`
		Deleted int             `json:"deleted"`
		ZC      int             `json:"zc"`
		ZU      int             `json:"zu"`
		Errors  json.RawMessage `json:"errors"`
	}
	if err := decodeLenient(b, &wire); err != nil {
		return err
	}
	*r = ImportResult{
		Created: wire.Created + wire.ZC,
		Updated: wire.Updated + wire.ZU,
		Deleted: wire.Deleted,
		Errors:  map[string]json.RawMessage{},
	}
	raw := bytes.TrimSpace(wire.Errors)
	switch {
	case len(raw) == 0 || bytes.Equal(raw, []byte("null")):
	case raw[0] == '{':
		if err := json.Unmarshal(raw, &r.Errors); err != nil {
			return fmt.Errorf("errors: %w", err)
		}
	case raw[0] == '[':
		var list []json.RawMessage
		if err := json.Unmarshal(raw, &list); err != nil {
			return fmt.Errorf("errors: %w", err)
		}
		for i, e := range list {
			r.Errors["#"+strconv.Itoa(i)] = e
		}
	default:
		r.Errors["#0"] = raw
	}
	return nil
}

// RowErrors attributes each entry of r.Errors to the index of the row in
// rows (the slice that was sent) it names: by a decimal 0-based row index,
// by a key equal to a row's Name, or by a "name" field inside the entry.
// Values become short human-readable messages. An entry that matches no row,
// or matches by index and by name different rows, is an error: the caller
// cannot tell which rows were applied and should treat the batch as failed.
func (r ImportResult) RowErrors(rows []Camera) (map[int]string, error) {
	byName := make(map[string][]int, len(rows))
	for i, row := range rows {
		if row.Name != "" {
			byName[row.Name] = append(byName[row.Name], i)
		}
	}
	out := make(map[int]string, len(r.Errors))
	keys := make([]string, 0, len(r.Errors))
	for k := range r.Errors {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, key := range keys {
		val := r.Errors[key]
		idx, err := attribute(key, val, len(rows), byName)
		if err != nil {
			return nil, fmt.Errorf("watcher import error %q: %s: %w", key, errorText(val), err)
		}
		msg := errorText(val)
		for _, i := range idx {
			if prev, ok := out[i]; ok && prev != msg {
				msg = prev + "; " + msg
			}
			out[i] = msg
		}
	}
	return out, nil
}

func attribute(key string, val json.RawMessage, n int, byName map[string][]int) ([]int, error) {
	var byIndex []int
	if i, err := strconv.Atoi(key); err == nil && i >= 0 && i < n && strconv.Itoa(i) == key {
		byIndex = []int{i}
	}
	named := byName[key]
	if len(named) == 0 {
		var inner struct {
			Name string `json:"name"`
		}
		if json.Unmarshal(val, &inner) == nil && inner.Name != "" {
			named = byName[inner.Name]
		}
	}
	switch {
	case byIndex != nil && named != nil && !(len(named) == 1 && named[0] == byIndex[0]):
		return nil, fmt.Errorf("ambiguous: row %d by index, row %d by name", byIndex[0], named[0])
	case byIndex != nil:
		return byIndex, nil
	case named != nil:
		return named, nil
	}
	return nil, fmt.Errorf("matches none of the %d rows sent", n)
}

// errorText renders an errors value compactly: a string as is, an object by
// its message field, a list joined, anything else as compact JSON.
func errorText(raw json.RawMessage) string {
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return clip(s)
	}
	var obj map[string]json.RawMessage
	if json.Unmarshal(raw, &obj) == nil {
		for _, k := range []string{"error_message", "message", "error", "errors"} {
			if v, ok := obj[k]; ok {
				return errorText(v)
			}
		}
	}
	var list []json.RawMessage
	if json.Unmarshal(raw, &list) == nil {
		parts := make([]string, len(list))
		for i, v := range list {
			parts[i] = errorText(v)
		}
		return clip(strings.Join(parts, "; "))
	}
	var buf bytes.Buffer
	if json.Compact(&buf, raw) == nil {
		return clip(buf.String())
	}
	return clip(string(raw))
}

func clip(s string) string {
	s = strings.Join(strings.Fields(s), " ")
	return truncate(s, 200)
}
