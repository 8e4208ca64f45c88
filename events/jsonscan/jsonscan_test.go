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
