package watchertest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"maps"
	"math"
	"slices"
	"strconv"
	"strings"
)

// record is one stored object as it goes over the wire: field name to a
// normalised value (string, bool, int64, float64, []int64, json.RawMessage,
// a nested map, or nil for JSON null).
type record map[string]any

// kind is the type of a writable field; 0 means the field is not writable
// and is ignored, as Watcher ignores unknown fields.
type kind int

const (
	kString kind = iota + 1
	kBool
	kInt
	kFloat
	kIntList
	kRaw
)

func cameraField(name string) kind {
	switch name {
	case "title", "comment", "stream_url", "substream_url", "thumbnails_url", "onvif_url", "onvif_profile",
		"postal_address", "coordinates", "folder_coordinates", "vision_alg", "vision_areas",
		"agent_id", "agent_key", "agent_model", "agent_serial", "agent_pin", "extrenal_id", "abonent_sign",
		"access", "owner", "dvr_path":
		return kString
	case "enabled", "static", "thumbnails", "onvif_ptz", "can_ptz", "motion_detector_enabled",
		"video_only", "vision_enabled", "dvr_enabled", "dvr_protected":
		return kBool
	case "organization_id", "folder_id", "preset_id", "streamer_id", "group_id", "dvr_space",
		"dvr_lock_days", "vision_gpu":
		return kInt
	case "dvr_depth":
		return kFloat
	}
	return 0
}

func userField(name string) kind {
	switch name {
	case "login", "password", "name", "note", "notification_email", "phone", "apikey",
		"authorized_ip", "external_id", "locale":
		return kString
	case "enabled", "readonly", "is_admin", "monitoring", "can_edit_organizations",
		"can_edit_settings", "can_view_organizations":
		return kBool
	case "organization_id", "max_sessions", "domain_id":
		return kInt
	case "organizations":
		return kIntList
	}
	return 0
}

func presetField(name string) kind {
	switch name {
	case "title":
		return kString
	case "is_adjustable", "is_default", "is_deleted":
		return kBool
	case "dvr_space", "dvr_lock_days":
		return kInt
	case "dvr_depth":
		return kFloat
	case "vision_params":
		return kRaw
	}
	return 0
}

func orgField(name string) kind {
	switch name {
	case "title", "note":
		return kString
	case "camera_limit", "user_limit", "dvr_limit", "owner_id":
		return kInt
	}
	return 0
}

func folderField(name string) kind {
	switch name {
	case "title", "coordinates":
		return kString
	case "parent_id", "order_num":
		return kInt
	}
	return 0
}

func permissionField(name string) kind {
	switch name {
	case "can_view_dvr", "can_use_ptz", "can_use_actions":
		return kBool
	case "user_id":
		return kInt
	}
	return 0
}

func memberField(name string) kind {
	switch name {
	case "can_view_organization_stats", "can_edit_organization_cameras", "can_edit_organization_users",
		"can_view_organization_plists", "can_edit_organization_plists":
		return kBool
	case "user_id":
		return kInt
	case "folders_permissions":
		return kIntList
	}
	return 0
}

// validationError is a bad request body; handlers answer it with 400.
type validationError struct{ msg string }

func (e *validationError) Error() string { return e.msg }

func invalid(format string, args ...any) error {
	return &validationError{msg: fmt.Sprintf(format, args...)}
}

// parseFields coerces the writable fields of in according to schema. Fields
// are checked in name order so the first error is stable.
func parseFields(in map[string]json.RawMessage, schema func(string) kind) (record, error) {
	out := record{}
	for _, name := range slices.Sorted(maps.Keys(in)) {
		k := schema(name)
		if k == 0 {
			continue
		}
		v, err := coerce(k, in[name])
		if err != nil {
			return nil, invalid("%s: %v", name, err)
		}
		out[name] = v
	}
	return out, nil
}

// coerce turns one JSON value into the normalised Go value of kind k,
// accepting the loose forms Watcher tolerates: numeric strings, 0/1 and
// "true"/"false" booleans, and "" as null for non-string fields.
func coerce(k kind, raw json.RawMessage) (any, error) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || string(raw) == "null" {
		return nil, nil
	}
	if k == kRaw {
		var buf bytes.Buffer
		if err := json.Compact(&buf, raw); err != nil {
			return nil, err
		}
		return json.RawMessage(buf.Bytes()), nil
	}
	if k == kIntList {
		var items []json.RawMessage
		if err := json.Unmarshal(raw, &items); err != nil {
			return nil, fmt.Errorf("must be a list of integers")
		}
		list := make([]int64, 0, len(items))
		for _, item := range items {
			v, err := coerce(kInt, item)
			if err != nil || v == nil {
				return nil, fmt.Errorf("must be a list of integers")
			}
			list = append(list, v.(int64))
		}
		return list, nil
	}
	isString := raw[0] == '"'
	text := string(raw)
	if isString {
		if err := json.Unmarshal(raw, &text); err != nil {
			return nil, err
		}
	}
	if k == kString {
		if isString || isNumber(text) {
			return text, nil
		}
		return nil, fmt.Errorf("must be a string")
	}
	text = strings.TrimSpace(text)
	if text == "" && isString {
		return nil, nil
	}
	if (raw[0] == '{' || raw[0] == '[') && !isString {
		return nil, fmt.Errorf("must be a %s", kindName(k))
	}
	switch k {
	case kBool:
		switch strings.ToLower(text) {
		case "true", "1":
			return true, nil
		case "false", "0":
			return false, nil
		}
	case kInt:
		if n, err := strconv.ParseInt(text, 10, 64); err == nil {
			return n, nil
		}
		if f, err := strconv.ParseFloat(text, 64); err == nil && f == math.Trunc(f) && math.Abs(f) < 1<<53 {
			return int64(f), nil
		}
	case kFloat:
		if f, err := strconv.ParseFloat(text, 64); err == nil && !math.IsInf(f, 0) && !math.IsNaN(f) {
			return f, nil
		}
	}
	return nil, fmt.Errorf("must be a %s, got %.40q", kindName(k), text)
}

func isNumber(s string) bool {
	_, err := strconv.ParseFloat(s, 64)
	return err == nil
}

func kindName(k kind) string {
	switch k {
	case kBool:
		return "boolean"
	case kInt:
		return "integer"
	case kFloat:
		return "number"
	}
	return "value"
}

// isBoolText reports whether s is one of the boolean spellings Watcher
// accepts; import uses it to tell a thumbnails flag from a snapshot URL.
func isBoolText(s string) bool {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "true", "false", "0", "1":
		return true
	}
	return false
}

// clone copies a record deeply enough that stored state never aliases
// values handed out or merged in.
func (r record) clone() record {
	out := make(record, len(r))
	for k, v := range r {
		switch v := v.(type) {
		case []int64:
			out[k] = slices.Clone(v)
		case record:
			out[k] = v.clone()
		default:
			out[k] = v
		}
	}
	return out
}

// merged returns r with the fields of patch applied.
func (r record) merged(patch record) record {
	out := r.clone()
	maps.Copy(out, patch.clone())
	return out
}

func (r record) str(name string) string {
	s, _ := r[name].(string)
	return s
}

func (r record) int(name string) (int64, bool) {
	n, ok := r[name].(int64)
	return n, ok
}

func (r record) bool(name string) bool {
	b, _ := r[name].(bool)
	return b
}

// decodeObject parses a JSON object body; anything else is a 400.
func decodeObject(body []byte) (map[string]json.RawMessage, error) {
	var in map[string]json.RawMessage
	if len(bytes.TrimSpace(body)) == 0 {
		return map[string]json.RawMessage{}, nil
	}
	if err := json.Unmarshal(body, &in); err != nil || in == nil {
		return nil, invalid("body must be a JSON object")
	}
	return in, nil
}
