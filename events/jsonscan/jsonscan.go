// Package jsonscan walks the members of a JSON object (and the elements of
// an array) and validates JSON without decoding it,
// for the hot paths where encoding/json's reflection showed in profiles:
// reading an event's id, the fields of a flat object, a pushed row.
package jsonscan

// Members calls fn with the key and the raw text of each member of the
// object b, in order, until fn returns false. It reports false when b is
// not an object it can walk (a key with escapes, unbalanced text) or fn
// stopped it; callers then fall back to encoding/json. It does not
// validate: callers that need valid JSON check it first (Valid).
func Members(b []byte, fn func(key string, val []byte) bool) bool {
	return items(b, '{', '}', func(i int) int {
		if i >= len(b) || b[i] != '"' {
			return -1
		}
		end, escaped := stringEnd(b, i)
		if end < 0 || escaped {
			return -1
		}
		key := string(b[i+1 : end-1])
		i = skipSpace(b, end)
		if i >= len(b) || b[i] != ':' {
			return -1
		}
		i = skipSpace(b, i+1)
		end = valueEnd(b, i)
		if end <= i || !fn(key, b[i:end]) {
			return -1
		}
		return end
	})
}

// Elements calls fn with the raw text of each element of the array b, in
// order, until fn returns false. It reports false when b is not an array
// it can walk or fn stopped it. Like Members, it does not validate.
func Elements(b []byte, fn func(val []byte) bool) bool {
	return items(b, '[', ']', func(i int) int {
		end := valueEnd(b, i)
		if end <= i || !fn(b[i:end]) {
			return -1
		}
		return end
	})
}

// items walks the object or array b, delimited by open and close: item
// reads the member or element starting at i and returns the index after
// it, or -1 to stop the walk. It reports whether the walk reached the
// closing bracket with only space after it.
func items(b []byte, open, close byte, item func(i int) int) bool {
	i := skipSpace(b, 0)
	if i >= len(b) || b[i] != open {
		return false
	}
	i = skipSpace(b, i+1)
	if i < len(b) && b[i] == close {
		return skipSpace(b, i+1) == len(b)
	}
	for {
		end := item(i)
		if end < 0 {
			return false
		}
		i = skipSpace(b, end)
		if i >= len(b) {
			return false
		}
		switch b[i] {
		case ',':
			i = skipSpace(b, i+1)
		case close:
			return skipSpace(b, i+1) == len(b)
		default:
			return false
		}
	}
}

// Plain reports whether the raw string value v has no escapes, so that its
// text between the quotes is its value.
func Plain(v []byte) bool {
	if len(v) < 2 || v[0] != '"' {
		return false
	}
	end, escaped := stringEnd(v, 0)
	return end == len(v) && !escaped
}

func isSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' }

func skipSpace(b []byte, i int) int {
	for i < len(b) && isSpace(b[i]) {
		i++
	}
	return i
}

// stringEnd returns the index just after the string starting at b[i], -1
// when it does not end, and whether it holds escapes.
func stringEnd(b []byte, i int) (end int, escaped bool) {
	for j := i + 1; j < len(b); j++ {
		switch b[j] {
		case '\\':
			escaped = true
			j++
		case '"':
			return j + 1, escaped
		}
	}
	return -1, escaped
}

// valueEnd returns the index just after the value starting at b[i], or -1.
func valueEnd(b []byte, i int) int {
	if i >= len(b) {
		return -1
	}
	switch b[i] {
	case '"':
		end, _ := stringEnd(b, i)
		return end
	case '{', '[':
		depth := 0
		for ; i < len(b); i++ {
			switch b[i] {
			case '"':
				end, _ := stringEnd(b, i)
				if end < 0 {
					return -1
				}
				i = end - 1
			case '{', '[':
				depth++
			case '}', ']':
				if depth--; depth == 0 {
					return i + 1
				}
			}
		}
		return -1
	default:
		j := i
		for j < len(b) && b[j] != ',' && b[j] != '}' && b[j] != ']' && !isSpace(b[j]) {
			j++
		}
		return j
	}
}
