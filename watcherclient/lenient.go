package watcherclient

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"reflect"
	"strconv"
	"strings"
)

// decodeLenient fills the struct dst points to from a JSON object, matching
// fields by their json tag and coercing the loose types Watcher and billing
// scripts produce: integers and floats as numbers or numeric strings,
// booleans as true/false, "true"/"false", 0/1 or "0"/"1", strings from
// numbers. Unknown fields are ignored. Nested values that implement
// json.Unmarshaler decode themselves.
func decodeLenient(data []byte, dst any) error {
	data = bytes.TrimSpace(data)
	if bytes.Equal(data, []byte("null")) {
		return nil
	}
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(data, &fields); err != nil {
		return err
	}
	v := reflect.ValueOf(dst).Elem()
	t := v.Type()
	for i := range t.NumField() {
		name, _, _ := strings.Cut(t.Field(i).Tag.Get("json"), ",")
		if name == "" || name == "-" {
			continue
		}
		raw, ok := fields[name]
		if !ok {
			continue
		}
		if err := setLenient(v.Field(i), raw); err != nil {
			return fmt.Errorf("field %s: %w", name, err)
		}
	}
	return nil
}

func setLenient(v reflect.Value, raw json.RawMessage) error {
	raw = bytes.TrimSpace(raw)
	isNull := bytes.Equal(raw, []byte("null"))
	if v.Kind() == reflect.Pointer {
		if isNull {
			v.SetZero()
			return nil
		}
		p := reflect.New(v.Type().Elem())
		if err := setLenient(p.Elem(), raw); err != nil {
			return err
		}
		v.Set(p)
		return nil
	}
	if isNull {
		v.SetZero()
		return nil
	}
	if u, ok := v.Addr().Interface().(json.Unmarshaler); ok {
		return u.UnmarshalJSON(raw)
	}
	switch v.Kind() {
	case reflect.String:
		s, err := lenientString(raw)
		v.SetString(s)
		return err
	case reflect.Bool:
		b, err := lenientBool(raw)
		v.SetBool(b)
		return err
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		n, err := lenientInt(raw)
		if err == nil && v.OverflowInt(n) {
			err = fmt.Errorf("%d out of range", n)
		}
		if err == nil {
			v.SetInt(n)
		}
		return err
	case reflect.Float32, reflect.Float64:
		f, err := lenientFloat(raw)
		v.SetFloat(f)
		return err
	case reflect.Slice:
		if v.Type().Elem().Kind() == reflect.Uint8 {
			break
		}
		var items []json.RawMessage
		if err := json.Unmarshal(raw, &items); err != nil {
			return err
		}
		s := reflect.MakeSlice(v.Type(), len(items), len(items))
		for i, item := range items {
			if err := setLenient(s.Index(i), item); err != nil {
				return fmt.Errorf("item %d: %w", i, err)
			}
		}
		v.Set(s)
		return nil
	case reflect.Struct:
		return decodeLenient(raw, v.Addr().Interface())
	}
	return json.Unmarshal(raw, v.Addr().Interface())
}

// unquote returns the content of a JSON string, or raw itself for other
// JSON values, so "3" and 3 look alike to the number parsers.
func unquote(raw json.RawMessage) string {
	if len(raw) > 0 && raw[0] == '"' {
		var s string
		if json.Unmarshal(raw, &s) == nil {
			return strings.TrimSpace(s)
		}
	}
	return string(raw)
}

func lenientString(raw json.RawMessage) (string, error) {
	if len(raw) > 0 && raw[0] == '"' {
		var s string
		err := json.Unmarshal(raw, &s)
		return s, err
	}
	if len(raw) > 0 && (raw[0] == '-' || raw[0] >= '0' && raw[0] <= '9') {
		return string(raw), nil // e.g. abonent_sign sent as an integer
	}
	return "", fmt.Errorf("want a string, got %.40s", raw)
}

func lenientBool(raw json.RawMessage) (bool, error) {
	switch strings.ToLower(unquote(raw)) {
	case "true", "1":
		return true, nil
	case "false", "0", "":
		return false, nil
	}
	return false, fmt.Errorf("want a boolean, got %.40s", raw)
}

func lenientInt(raw json.RawMessage) (int64, error) {
	s := unquote(raw)
	if s == "" {
		return 0, nil
	}
	if n, err := strconv.ParseInt(s, 10, 64); err == nil {
		return n, nil
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil || f != math.Trunc(f) || math.Abs(f) > 1<<53 {
		return 0, fmt.Errorf("want an integer, got %.40s", raw)
	}
	return int64(f), nil
}

func lenientFloat(raw json.RawMessage) (float64, error) {
	s := unquote(raw)
	if s == "" {
		return 0, nil
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil || math.IsInf(f, 0) || math.IsNaN(f) {
		return 0, fmt.Errorf("want a number, got %.40s", raw)
	}
	return f, nil
}
