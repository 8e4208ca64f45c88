package jsonscan

import (
	"reflect"
	"testing"
)

func TestMembersWalksTopLevelOnly(t *testing.T) {
	var keys, vals []string
	ok := Members([]byte(` {"a" : "x\"}" , "b":{"id":[1,"]"]},"c":-1.5e3 ,"d":null} `), func(k string, v []byte) bool {
		keys, vals = append(keys, k), append(vals, string(v))
		return true
	})
	if !ok || !reflect.DeepEqual(keys, []string{"a", "b", "c", "d"}) ||
		!reflect.DeepEqual(vals, []string{`"x\"}"`, `{"id":[1,"]"]}`, `-1.5e3`, `null`}) {
		t.Fatalf("ok=%v keys=%q vals=%q", ok, keys, vals)
	}
	for _, bad := range []string{`[]`, `{"a\n":1}`, `{"a":1`, `{"a":1}x`, `{"a" 1}`, `{"a":"open}`} {
		if Members([]byte(bad), func(string, []byte) bool { return true }) {
			t.Errorf("%s walked; want false", bad)
		}
	}
	if Members([]byte(`{"a":1,"b":2}`), func(k string, _ []byte) bool { return k != "b" }) {
		t.Error("a walk fn stopped must report false")
	}
	if !Plain([]byte(`"abc"`)) || Plain([]byte(`"a\"b"`)) || Plain([]byte(`5`)) {
		t.Error("Plain")
	}
}

func TestElementsWalksTopLevelOnly(t *testing.T) {
	var vals []string
	ok := Elements([]byte(` [ {"a":[1,"]"]} , "x,]" ,-2, [] ,null] `), func(v []byte) bool {
		vals = append(vals, string(v))
		return true
	})
	if !ok || !reflect.DeepEqual(vals, []string{`{"a":[1,"]"]}`, `"x,]"`, `-2`, `[]`, `null`}) {
		t.Fatalf("ok=%v vals=%q", ok, vals)
	}
	if !Elements([]byte(` [ ] `), func([]byte) bool { t.Fatal("an element in []"); return true }) {
		t.Error("[] not walked")
	}
	for _, bad := range []string{`{}`, `[1`, `[1]x`, `[1 2]`, `["open]`} {
		if Elements([]byte(bad), func([]byte) bool { return true }) {
			t.Errorf("%s walked; want false", bad)
		}
	}
	if Elements([]byte(`[1,2]`), func(v []byte) bool { return string(v) != "2" }) {
		t.Error("a walk fn stopped must report false")
	}
}
