package watcherclient

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"
)

// MarshalJSON writes the camera as encoding/json would write its fields,
// byte for byte, plus the fields named in Clear as empty strings; with
// Clear the keys are sorted, as they were when this went through a map.
//
// It is written out by hand because the applier encodes every camera it
// touches (to fingerprint it and to import it): in the end-to-end profile of
// `make bench` the reflective encoder, and the map round trip for Clear,
// were a quarter of the bridge's CPU.
func (c Camera) MarshalJSON() ([]byte, error) {
	var f fieldWriter
	f.str("name", c.Name)
	f.str("title", c.Title)
	f.str("comment", c.Comment)
	f.str("stream_url", c.StreamURL)
	f.str("substream_url", c.SubstreamURL)
	f.str("thumbnails_url", c.ThumbnailsURL)
	f.str("onvif_url", c.OnvifURL)
	f.str("onvif_profile", c.OnvifProfile)
	f.boolean("can_ptz", c.CanPTZ)
	f.boolean("onvif_ptz", c.OnvifPTZ)
	f.boolean("enabled", c.Enabled)
	f.boolean("static", c.Static)
	f.integer("organization_id", c.OrganizationID)
	f.integer("preset_id", c.PresetID)
	f.integer("folder_id", c.FolderID)
	if c.DVRDepth != nil {
		v, err := appendFloat(nil, *c.DVRDepth)
		if err != nil {
			return nil, err
		}
		f.raw("dvr_depth", v)
	}
	f.str("agent_serial", c.AgentSerial)
	f.str("agent_id", c.AgentID)
	f.str("agent_key", c.AgentKey)
	f.str("agent_model", c.AgentModel)
	f.str("abonent_sign", c.AbonentSign)
	f.str("extrenal_id", c.ExternalID)
	if c.Preset != nil {
		v, err := json.Marshal(c.Preset)
		if err != nil {
			return nil, err
		}
		f.raw("preset", v)
	}
	if len(c.Clear) > 0 {
		for _, k := range c.Clear {
			if !f.has(k) {
				f.raw(k, []byte(`""`))
			}
		}
		slices.SortFunc(f.fields, func(a, b field) int { return strings.Compare(a.key, b.key) })
	}
	return f.encode(), nil
}

type field struct {
	key string
	val []byte // encoded JSON value
}

// fieldWriter collects the fields that encoding/json's omitempty would keep.
type fieldWriter struct {
	fields []field
	size   int
}

func (f *fieldWriter) raw(key string, val []byte) {
	f.fields = append(f.fields, field{key, val})
	f.size += len(key) + len(val) + 4
}

func (f *fieldWriter) str(key, v string) {
	if v != "" {
		f.raw(key, appendString(make([]byte, 0, len(v)+2), v))
	}
}

func (f *fieldWriter) boolean(key string, v *bool) {
	if v != nil {
		f.raw(key, strconv.AppendBool(nil, *v))
	}
}

func (f *fieldWriter) integer(key string, v *int64) {
	if v != nil {
		f.raw(key, strconv.AppendInt(nil, *v, 10))
	}
}

func (f *fieldWriter) has(key string) bool {
	for _, fl := range f.fields {
		if fl.key == key {
			return true
		}
	}
	return false
}

func (f *fieldWriter) encode() []byte {
	b := make([]byte, 0, f.size+2)
	b = append(b, '{')
	for i, fl := range f.fields {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendString(b, fl.key)
		b = append(b, ':')
		b = append(b, fl.val...)
	}
	return append(b, '}')
}

const hex = "0123456789abcdef"

// appendString quotes s exactly as encoding/json does with its default HTML
// escaping: <, > and & as \u00XX, U+2028 and U+2029 escaped, invalid UTF-8
// replaced by U+FFFD.
func appendString(b []byte, s string) []byte {
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		if c := s[i]; c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' && c != '<' && c != '>' && c != '&' {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '\\', '"':
				b = append(b, '\\', c)
			case '\b':
				b = append(b, '\\', 'b')
			case '\f':
				b = append(b, '\\', 'f')
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			default:
				b = append(b, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xF])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
			i += size
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			b = append(b, s[start:i]...)
			b = append(b, '\\', 'u', '2', '0', '2', hex[r&0xF])
			i += size
			start = i
			continue
		}
		i += size
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}

// appendFloat formats f as encoding/json does for a float64.
func appendFloat(b []byte, f float64) ([]byte, error) {
	if math.IsInf(f, 0) || math.IsNaN(f) {
		return nil, errors.New("json: unsupported value: " + strconv.FormatFloat(f, 'g', -1, 64))
	}
	format := byte('f')
	if abs := math.Abs(f); abs != 0 && (abs < 1e-6 || abs >= 1e21) {
		format = 'e'
	}
	b = strconv.AppendFloat(b, f, format, -1, 64)
	if format == 'e' {
		// Clean up e-09 to e-9, as encoding/json does.
		if n := len(b); n >= 4 && b[n-4] == 'e' && b[n-3] == '-' && b[n-2] == '0' {
			b[n-2] = b[n-1]
			b = b[:n-1]
		}
	}
	return b, nil
}

// encodeCameras is the JSON array of rows. Each row's MarshalJSON output is
// valid and compact already; json.Marshal would scan it all again, which
// was a tenth of the applier's time with imports of 1,000 rows.
func encodeCameras(rows []Camera) (encodedBody, error) {
	b := make([]byte, 0, 512*len(rows)+2)
	b = append(b, '[')
	for i, r := range rows {
		if i > 0 {
			b = append(b, ',')
		}
		row, err := r.MarshalJSON()
		if err != nil {
			return nil, fmt.Errorf("row %d (%s): %w", i, r.Name, err)
		}
		b = append(b, row...)
	}
	return append(b, ']'), nil
}
