package events

import (
	"encoding/json"
	"strings"
	"unicode/utf8"
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
	// json.Valid is a plain scan, cheap next to decoding; past it, the
	// walk below only has to find member boundaries.
	i := skipWS(body, 0)
	if i >= len(body) || body[i] != '{' || !json.Valid(body) {
		return "", false
	}
	i++
	found := false
	for {
		i = skipWS(body, i)
		if i >= len(body) || body[i] != '"' {
			return "", false
		}
		key, next, plain := scanString(body, i)
		if next < 0 || !plain {
			return "", false // an escaped key might spell "id"
		}
		i = skipWS(body, next)
		if i >= len(body) || body[i] != ':' {
			return "", false
		}
		i = skipWS(body, i+1)
		// encoding/json matches member names without regard to case and
		// keeps the last of several: only a single one is trusted.
		if strings.EqualFold(key, "id") {
			if found || i >= len(body) || body[i] != '"' {
				return "", false
			}
			v, _, vplain := scanString(body, i)
			if !vplain || v == "" || !utf8.ValidString(v) {
				return "", false // an id with escapes is left to the decoder
			}
			id, found = v, true
		}
		if i = skipValue(body, i); i < 0 {
			return "", false
		}
		i = skipWS(body, i)
		switch {
		case i < len(body) && body[i] == ',':
			i++
		case i < len(body) && body[i] == '}':
			return id, found
		default:
			return "", false
		}
	}
}

func skipWS(b []byte, i int) int {
	for i < len(b) && (b[i] == ' ' || b[i] == '\t' || b[i] == '\n' || b[i] == '\r') {
		i++
	}
	return i
}

// scanString reads the string starting at b[i] (a quote); plain is false
// when it holds escapes (s is then not its value). next is -1 when the
// string does not end.
func scanString(b []byte, i int) (s string, next int, plain bool) {
	plain = true
	for j := i + 1; j < len(b); j++ {
		switch b[j] {
		case '\\':
			plain = false
			j++
		case '"':
			return string(b[i+1 : j]), j + 1, plain
		}
	}
	return "", -1, false
}

// skipValue returns the index just after the value starting at b[i], or -1.
func skipValue(b []byte, i int) int {
	if i >= len(b) {
		return -1
	}
	switch b[i] {
	case '"':
		_, next, _ := scanString(b, i)
		return next
	case '{', '[':
		depth := 0
		for ; i < len(b); i++ {
			switch b[i] {
			case '"':
				_, next, _ := scanString(b, i)
				if next < 0 {
					return -1
				}
				i = next - 1
			case '{', '[':
				depth++
			case '}', ']':
				depth--
				if depth == 0 {
					return i + 1
				}
			}
		}
		return -1
	default:
		for i < len(b) && b[i] != ',' && b[i] != '}' && b[i] != ' ' && b[i] != '\t' && b[i] != '\n' && b[i] != '\r' {
			i++
		}
		return i
	}
}
