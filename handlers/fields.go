package handlers

import (
	"encoding/json"
	"sort"

	"github.com/watcherbridge/watcherbridge/store"
)

// changedFields names the fields of the desired state that differ from what
// was last applied (all of them for a new camera). Secrets are compared by
// the hash only and named, never shown.
//
// Values are compared as the JSON text the camera encoder wrote, which is
// canonical for these flat objects; decoding both sides into maps was a
// tenth of the applier's time in the end-to-end profile.
func changedFields(prev *store.Applied, hash string, masked json.RawMessage) []string {
	now := flatFields(masked)
	var before map[string]string
	if prev != nil {
		before = flatFields(prev.Fields)
	}
	var out []string
	for k, v := range now {
		if b, ok := before[k]; !ok || b != v {
			out = append(out, k)
		}
	}
	for k := range before {
		if _, ok := now[k]; !ok {
			out = append(out, k)
		}
	}
	if len(out) == 0 && prev != nil && prev.Hash != hash {
		out = append(out, "agent_key")
	}
	sort.Strings(out)
	return out
}

// flatFields splits a JSON object into its keys and the raw text of their
// values. It reads the flat, compact objects the camera encoder writes
// directly, and leaves anything else (escaped keys, nested values, spaces)
// to encoding/json.
func flatFields(obj []byte) map[string]string {
	if m, ok := scanFlat(obj); ok {
		return m
	}
	var raw map[string]json.RawMessage
	_ = json.Unmarshal(obj, &raw)
	m := make(map[string]string, len(raw))
	for k, v := range raw {
		m[k] = string(v)
	}
	return m
}

func scanFlat(b []byte) (map[string]string, bool) {
	if len(b) < 2 || b[0] != '{' || b[len(b)-1] != '}' {
		return nil, false
	}
	m := make(map[string]string, 16)
	i := 1
	if b[i] == '}' {
		return m, i == len(b)-1
	}
	for {
		// Key: a plain string without escapes.
		if i >= len(b) || b[i] != '"' {
			return nil, false
		}
		j := i + 1
		for j < len(b) && b[j] != '"' {
			if b[j] == '\\' {
				return nil, false
			}
			j++
		}
		if j+1 >= len(b) || b[j+1] != ':' {
			return nil, false
		}
		key := string(b[i+1 : j])
		i = j + 2
		// Value: a string (escapes skipped over) or a literal.
		start := i
		if i < len(b) && b[i] == '"' {
			i++
			for i < len(b) && b[i] != '"' {
				if b[i] == '\\' {
					i++
				}
				i++
			}
			i++
		} else {
			for i < len(b) && b[i] != ',' && b[i] != '}' {
				switch b[i] {
				case '{', '[', '"', ' ', '\n', '\t', '\r':
					return nil, false
				}
				i++
			}
		}
		if i >= len(b) || start == i {
			return nil, false
		}
		m[key] = string(b[start:i])
		switch b[i] {
		case ',':
			i++
		case '}':
			return m, i == len(b)-1
		default:
			return nil, false
		}
	}
}
