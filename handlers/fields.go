package handlers

import (
	"encoding/json"
	"sort"

	"github.com/watcherbridge/watcherbridge/events/jsonscan"
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
// values; jsonscan reads the objects the camera encoder writes, anything it
// cannot walk goes to encoding/json.
func flatFields(obj []byte) map[string]string {
	m := make(map[string]string, 16)
	if jsonscan.Members(obj, func(k string, v []byte) bool {
		m[k] = string(v)
		return true
	}) {
		return m
	}
	var raw map[string]json.RawMessage
	_ = json.Unmarshal(obj, &raw)
	m = make(map[string]string, len(raw))
	for k, v := range raw {
		m[k] = string(v)
	}
	return m
}
