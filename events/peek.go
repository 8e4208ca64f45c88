package events

import (
	"strings"
	"unicode/utf8"

	"github.com/watcherbridge/watcherbridge/events/jsonscan"
)

// PeekID finds an event's id without decoding it: the ce-id header in
// binary mode, the top-level "id" member of a structured envelope. ok is
// false when it cannot tell (the caller then decodes the event).
//
// It exists so that the worker can recognise an event it handled before
// (a replay, a redelivery) from its id alone: decoding the envelope and
// its payload with encoding/json was most of the worker's CPU in a replay
// where every event had been handled.
func PeekID(body []byte, header Header) (id string, ok bool) {
	if header != nil && header("ce-specversion") != "" {
		id = header("ce-id")
		return id, id != ""
	}
	// Validity first (jsonscan.Valid agrees with json.Valid); past it,
	// the walk only has to find member boundaries.
	if !jsonscan.Valid(body) {
		return "", false
	}
	found := false
	walked := jsonscan.Members(body, func(key string, v []byte) bool {
		// encoding/json matches member names without regard to case and
		// keeps the last of several: only a single one is trusted, and an
		// id with escapes is left to the decoder.
		if !strings.EqualFold(key, "id") {
			return true
		}
		if found || !jsonscan.Plain(v) || len(v) == 2 || !utf8.Valid(v) {
			return false
		}
		id, found = string(v[1:len(v)-1]), true
		return true
	})
	return id, walked && found
}
